//! The pure core of ets-ledger: value types, accounts, postings, holds and
//! journal hashing. No async, no I/O: commands in, postings or a named error
//! out. Every ledger invariant is checked here so it can be property-tested
//! without a database.

pub mod access;
pub mod account;
pub mod auction;
pub mod audit;
pub mod calendar;
pub mod clock;
pub mod error;
pub mod fees;
pub mod ids;
pub mod instrument;
pub mod journal;
pub mod ledger;
pub mod matching;
pub mod totp;

pub use access::{Participant, Role};
pub use account::{Account, AccountKey, Owner, SystemAccount};
pub use calendar::BusinessZone;
pub use clock::{Clock, ManualClock};
pub use error::LedgerError;
pub use ids::{CreditCode, InstrumentCode, RegionCode};
pub use instrument::{Instrument, InstrumentKind, InstrumentSpec};
pub use journal::{Actor, JournalEntry, JournalHead, Verification, Verifier};
pub use ledger::{Hold, HoldPurpose, HoldStatus, Ledger, Leg, Posting};
pub use rust_decimal::Decimal;
