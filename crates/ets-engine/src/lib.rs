//! The ledger's rules over a batch of commands: what a batch needs read,
//! and what applying it changes. Participants, instruments, credentials,
//! allocations, the continuous order book, negotiated trades, sealed-bid
//! auctions, reclamations and pledges all live here, with the figures of a
//! paid-use invoice as of a date ([`invoice`]).
//!
//! Pure like `ets-core`: no async, no database, no clock and no randomness.
//! A caller (the store's writer, or a test) reads what [`Needs`] names into
//! a [`Loaded`], passes the batch's time and entropy for new ids to
//! [`apply_batch`], and persists the [`Changes`] it returns. A test moves
//! the time it passes instead of sleeping. [`Memory`] is such a caller with
//! the whole ledger in memory: the market's tests run on it, and it is the
//! reference for what a backend must load and persist.

pub mod auctions;
pub mod authority;
pub mod batch;
pub mod command;
pub mod compliance;
pub mod finance;
pub mod invoice;
pub mod market;
pub mod memory;
pub mod negotiated;
pub mod payload;
pub mod people;
pub mod settlement;
pub mod stats;

pub use auctions::{Auction, AuctionBid, AuctionStatus, Closed, NewAuction, NewBid, Source};
pub use authority::{NewPledge, NewReclamation, Pledge, RECLAMATION_REASONS, Reclamation};
pub use batch::{Changes, Ids, Loaded, Needs, StoredIdempotency, apply_batch, apply_batch_guarded};
pub use command::{
    Allocation, Command, CommandError, Committed, IdempotencyKey, InstalledKey, Invoice,
    LedgerCommand, NewAllocation, NewCredential, NewPerson, NewSigningKey, Outcome, PaidUse,
    PersonSecrets, Request, Transaction,
};
pub use compliance::{
    ComplianceRow, ComplianceState, ComplianceStatus, Emission, EmissionKey, EmissionKind,
    InvalidPeriod, NewEmission, NewSurrender, Period, PollutantHolding, Surrender, SurrenderKind,
    compliance_rows,
};
pub use finance::{NewPayment, Paid, Payment, PaymentSource, StoredInvoice};
pub use invoice::{
    DEFAULT_DAILY_SURCHARGE_RATE, DEFAULT_PAID_USE_YEARS, FeeSchedule, FeeScheduleError,
    InvoiceFigures, InvoicePayment, InvoiceStatus, InvoiceTerms, PaymentError, PaymentSplit,
    UnknownInvoiceStatus, figures_as_of, split_payment,
};
pub use market::{BookNeed, Market, NewOrder, Order, OrderStatus, Placed, Trade, TradeMethod};
pub use memory::{Memory, StoredCredential};
pub use negotiated::{Answer, NewProposal, Proposal, ProposalStatus, Resolved};
pub use settlement::{
    CashDay, CashPosting, CashTotals, DayTrades, ParticipantSettlement, PostingGroup, Settlement,
    SettlementHead, SettlementTotals, TradeLine, Unreconciled, json_opening, json_trade_line,
    participants_csv, settle_cash, settle_day, trades_csv,
};
