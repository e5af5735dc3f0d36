//! The journal's payloads: one serde type per kind of entry, built from the
//! domain records, so each entity's journal encoding is written once.
//!
//! The journal hashes the canonical JSON of each payload
//! ([`ets_core::journal::canonical_json`]), so these types fix its bytes:
//! every key is always written (an absent value as `null`), decimals as
//! their `Decimal::to_string()` text (the scale kept: `"120.5000"`), times
//! as [`format_time`] writes them, dates as `YYYY-MM-DD`, uuids hyphenated.
//! Decimals and times go through the modules below rather than the crates'
//! own serde, which features elsewhere in a build could change. Parsing is
//! strict (unknown keys are refused), so a payload that parses and
//! serializes again to the same bytes is exactly one of these.

use chrono::NaiveDate;
use ets_core::journal::format_time;
use ets_core::matching::Side;
use ets_core::{
    CreditCode, Instrument, InstrumentCode, InstrumentKind, Owner, Participant, Posting,
    RegionCode, Role,
};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use uuid::Uuid;

use crate::auctions::{Auction, AuctionBid, AuctionStatus, Source};
use crate::authority::{Pledge, Reclamation};
use crate::command::{Allocation, Invoice, NewCredential, NewSigningKey, Transaction};
use crate::compliance::{Emission, EmissionKind, Period, Surrender, SurrenderKind};
use crate::finance::{Payment, PaymentSource};
use crate::market::{Order, OrderStatus, Trade, TradeMethod};
use crate::negotiated::{Proposal, ProposalStatus};

/// The kinds [`crate::Command`]'s ledger constructors journal under; each
/// carries a [`TransactionPayload`].
pub const LEDGER_KINDS: [&str; 10] = [
    "ledger.allocation",
    "ledger.transfer",
    "cash.deposit",
    "cash.withdrawal",
    "ledger.surrender",
    "ledger.retirement",
    "ledger.reclamation",
    "ledger.hold_placed",
    "ledger.hold_released",
    "ledger.hold_settled",
];

/// Every other kind the engine journals; [`Payload::parse`] names the
/// payload type of each.
pub const ENTITY_KINDS: [&str; 24] = [
    "participant.created",
    "instrument.created",
    "credential.created",
    "credential.revoked",
    "signing_key.created",
    "signing_key.rotated",
    "allocation.created",
    "order.placed",
    "order.cancelled",
    "negotiated.proposed",
    "negotiated.settled",
    "negotiated.rejected",
    "negotiated.cancelled",
    "negotiated.expired",
    "auction.created",
    "auction.bid",
    "auction.cleared",
    "auction.failed",
    "reclamation.created",
    "pledge.created",
    "pledge.released",
    "invoice.paid",
    "emission.recorded",
    "surrender.created",
];

/// A journal entry's payload, typed by its kind.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(untagged)]
pub enum Payload {
    /// `participant.created`.
    ParticipantCreated(ParticipantCreated),
    /// `instrument.created`.
    InstrumentCreated(InstrumentCreated),
    /// `credential.created`.
    CredentialCreated(CredentialCreated),
    /// `credential.revoked`.
    CredentialRevoked(CredentialRevoked),
    /// `person.created`.
    PersonCreated(PersonCreated),
    /// `person.reset`, `person.disabled`.
    PersonChanged(PersonChanged),
    /// `signing_key.created`, `signing_key.rotated`.
    SigningKeyCreated(SigningKeyCreated),
    /// `allocation.created`.
    AllocationCreated(AllocationCreated),
    /// One of [`LEDGER_KINDS`] (or any kind a `LedgerCommand` names).
    Transaction(TransactionPayload),
    /// `order.placed`.
    OrderPlaced(OrderPlaced),
    /// `order.cancelled`.
    OrderCancelled(OrderCancelled),
    /// `negotiated.proposed`.
    ProposalMade(ProposalMade),
    /// `negotiated.settled`, `negotiated.rejected`, `negotiated.cancelled`.
    ProposalAnswered(ProposalAnswered),
    /// `negotiated.expired`.
    ProposalsExpired(ProposalsExpired),
    /// `auction.created`.
    AuctionCreated(AuctionCreated),
    /// `auction.bid`.
    BidPlaced(BidPlaced),
    /// `auction.cleared`, `auction.failed`.
    AuctionClosed(AuctionClosed),
    /// `reclamation.created`.
    ReclamationCreated(ReclamationCreated),
    /// `pledge.created`, `pledge.released`.
    PledgeChanged(PledgeChanged),
    /// `invoice.paid`.
    InvoicePaid(InvoicePaid),
    /// `emission.recorded`.
    EmissionRecorded(EmissionRecorded),
    /// `surrender.created`.
    SurrenderCreated(SurrenderCreated),
}

/// Why a stored payload is not one of [`Payload`]'s.
#[derive(Debug, thiserror::Error)]
pub enum PayloadError {
    /// No payload type is known for this kind.
    #[error("no payload type for journal kind {0:?}")]
    UnknownKind(String),
    /// The payload does not have its kind's shape.
    #[error("a {kind} payload: {source}")]
    Shape {
        /// The entry's kind.
        kind: String,
        /// What serde found wrong.
        source: serde_json::Error,
    },
}

impl Payload {
    /// Reads a stored payload as the type its kind journals: the one table
    /// from kind to type.
    ///
    /// # Errors
    /// [`PayloadError::UnknownKind`] for a kind not in [`ENTITY_KINDS`] or
    /// [`LEDGER_KINDS`]; [`PayloadError::Shape`] when a key is missing,
    /// unknown or of the wrong type.
    pub fn parse(kind: &str, payload: &Value) -> Result<Self, PayloadError> {
        fn read<T: for<'de> Deserialize<'de>>(
            kind: &str,
            payload: &Value,
        ) -> Result<T, PayloadError> {
            T::deserialize(payload).map_err(|source| PayloadError::Shape {
                kind: kind.to_owned(),
                source,
            })
        }
        Ok(match kind {
            "participant.created" => Self::ParticipantCreated(read(kind, payload)?),
            "instrument.created" => Self::InstrumentCreated(read(kind, payload)?),
            "credential.created" => Self::CredentialCreated(read(kind, payload)?),
            "credential.revoked" => Self::CredentialRevoked(read(kind, payload)?),
            "person.created" => Self::PersonCreated(read(kind, payload)?),
            "person.reset" | "person.disabled" => Self::PersonChanged(read(kind, payload)?),
            "signing_key.created" | "signing_key.rotated" => {
                Self::SigningKeyCreated(read(kind, payload)?)
            }
            "allocation.created" => Self::AllocationCreated(read(kind, payload)?),
            "order.placed" => Self::OrderPlaced(read(kind, payload)?),
            "order.cancelled" => Self::OrderCancelled(read(kind, payload)?),
            "negotiated.proposed" => Self::ProposalMade(read(kind, payload)?),
            "negotiated.settled" | "negotiated.rejected" | "negotiated.cancelled" => {
                Self::ProposalAnswered(read(kind, payload)?)
            }
            "negotiated.expired" => Self::ProposalsExpired(read(kind, payload)?),
            "auction.created" => Self::AuctionCreated(read(kind, payload)?),
            "auction.bid" => Self::BidPlaced(read(kind, payload)?),
            "auction.cleared" | "auction.failed" => Self::AuctionClosed(read(kind, payload)?),
            "reclamation.created" => Self::ReclamationCreated(read(kind, payload)?),
            "pledge.created" | "pledge.released" => Self::PledgeChanged(read(kind, payload)?),
            "invoice.paid" => Self::InvoicePaid(read(kind, payload)?),
            "emission.recorded" => Self::EmissionRecorded(read(kind, payload)?),
            "surrender.created" => Self::SurrenderCreated(read(kind, payload)?),
            ledger if LEDGER_KINDS.contains(&ledger) => Self::Transaction(read(kind, payload)?),
            other => return Err(PayloadError::UnknownKind(other.to_owned())),
        })
    }

    /// The payload as the journal stores and hashes it.
    ///
    /// # Panics
    /// Never: every field serializes to JSON.
    #[must_use]
    pub fn to_value(&self) -> Value {
        serde_json::to_value(self).expect("journal payloads serialize")
    }
}

/// One posting of a ledger transaction.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PostingPayload {
    /// The account's owner, as its storage key (`system:reserve`, a uuid).
    #[serde(with = "owner_key")]
    pub owner: Owner,
    /// The account's instrument.
    pub instrument: InstrumentCode,
    /// Change of the balance.
    #[serde(with = "display_text")]
    pub amount: Decimal,
    /// Change of the held amount.
    #[serde(with = "display_text")]
    pub held_change: Decimal,
    /// The balance after it.
    #[serde(with = "display_text")]
    pub balance_after: Decimal,
    /// The account's version after it.
    pub version: i64,
    /// The hold it places, settles or releases.
    pub hold: Option<Uuid>,
}

impl From<&Posting> for PostingPayload {
    fn from(posting: &Posting) -> Self {
        Self {
            owner: posting.account.owner,
            instrument: posting.account.instrument.clone(),
            amount: posting.amount,
            held_change: posting.held_change,
            balance_after: posting.balance_after,
            version: posting.version,
            hold: posting.hold,
        }
    }
}

/// A ledger transaction: the payload of [`LEDGER_KINDS`], and a part of
/// most others.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TransactionPayload {
    /// Its id.
    pub transaction_id: Uuid,
    /// Its reference (bank reference, order id…).
    pub reference: Option<String>,
    /// Its postings, in leg order.
    pub postings: Vec<PostingPayload>,
}

impl From<&Transaction> for TransactionPayload {
    fn from(transaction: &Transaction) -> Self {
        Self {
            transaction_id: transaction.id,
            reference: transaction.reference.clone(),
            postings: transaction
                .postings
                .iter()
                .map(PostingPayload::from)
                .collect(),
        }
    }
}

/// `participant.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ParticipantCreated {
    /// The participant's id.
    pub id: Uuid,
    /// Registered name.
    pub name: String,
    /// Unified social credit code.
    pub credit_code: CreditCode,
    /// Where it operates.
    pub region_code: RegionCode,
    /// Free-text industry.
    pub industry: Option<String>,
}

impl From<&Participant> for ParticipantCreated {
    fn from(participant: &Participant) -> Self {
        Self {
            id: participant.id,
            name: participant.name.clone(),
            credit_code: participant.credit_code.clone(),
            region_code: participant.region_code.clone(),
            industry: participant.industry.clone(),
        }
    }
}

/// `instrument.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InstrumentCreated {
    /// Its code.
    pub code: InstrumentCode,
    /// What it counts.
    pub kind: InstrumentKind,
    /// Pollutant name, for pollutant rights.
    pub pollutant: Option<String>,
    /// Unit of one quantity.
    pub unit: String,
    /// Decimal places allowed in quantities.
    pub scale: u32,
    /// Region of a pollutant right.
    pub region_code: Option<RegionCode>,
    /// Vintage year.
    pub vintage: Option<i32>,
    /// First valid day.
    #[serde(with = "option_display_text")]
    pub valid_from: Option<NaiveDate>,
    /// Last valid day.
    #[serde(with = "option_display_text")]
    pub valid_to: Option<NaiveDate>,
    /// Commission per side.
    #[serde(with = "display_text")]
    pub commission_rate: Decimal,
    /// Allowed deviation from the previous day's VWAP.
    #[serde(with = "option_display_text")]
    pub price_band: Option<Decimal>,
}

impl From<&Instrument> for InstrumentCreated {
    fn from(instrument: &Instrument) -> Self {
        Self {
            code: instrument.code.clone(),
            kind: instrument.kind,
            pollutant: instrument.pollutant.clone(),
            unit: instrument.unit.clone(),
            scale: instrument.scale,
            region_code: instrument.region_code.clone(),
            vintage: instrument.vintage,
            valid_from: instrument.valid_from,
            valid_to: instrument.valid_to,
            commission_rate: instrument.commission_rate,
            price_band: instrument.price_band,
        }
    }
}

/// `credential.created`: the credential without its secret's hash, which
/// is nobody's business.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialCreated {
    /// Public identifier of the client.
    pub client_id: String,
    /// A human name for it.
    pub name: String,
    /// What it may do.
    pub role: Role,
    /// The participant an enterprise credential is bound to.
    pub participant_id: Option<Uuid>,
}

impl From<&NewCredential> for CredentialCreated {
    fn from(credential: &NewCredential) -> Self {
        Self {
            client_id: credential.client_id.clone(),
            name: credential.name.clone(),
            role: credential.role,
            participant_id: credential.participant_id,
        }
    }
}

/// `credential.revoked`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialRevoked {
    /// Which credential.
    pub client_id: String,
}

/// `person.created`: a console person without their password's hash or
/// TOTP secret.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonCreated {
    /// What they log in as.
    pub login: String,
    /// Their name.
    pub name: String,
    /// What they may do.
    pub role: Role,
}

/// `person.reset` (new password and TOTP secret) and `person.disabled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PersonChanged {
    /// Whom.
    pub login: String,
}

/// `signing_key.created` and `signing_key.rotated`: only the public half.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SigningKeyCreated {
    /// Key id.
    pub kid: String,
    /// The public key, lowercase hex.
    pub public_key: String,
}

impl From<&NewSigningKey> for SigningKeyCreated {
    fn from(key: &NewSigningKey) -> Self {
        Self {
            kid: key.kid.clone(),
            public_key: key.public_key.iter().map(|b| format!("{b:02x}")).collect(),
        }
    }
}

/// The invoice of a paid allocation.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoicePayload {
    /// Its id.
    pub invoice_id: Uuid,
    /// What is owed.
    #[serde(with = "display_text")]
    pub amount: Decimal,
    /// When it falls due.
    #[serde(with = "display_text")]
    pub due_date: NaiveDate,
    /// The late surcharge per day (entries written before invoices carried
    /// one have none: theirs is the default).
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "option_display_text"
    )]
    pub daily_rate: Option<Decimal>,
}

impl From<&Invoice> for InvoicePayload {
    fn from(invoice: &Invoice) -> Self {
        Self {
            invoice_id: invoice.id,
            amount: invoice.amount,
            due_date: invoice.due_date,
            daily_rate: Some(invoice.daily_rate),
        }
    }
}

/// `allocation.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AllocationCreated {
    /// The allocation's id.
    pub allocation_id: Uuid,
    /// Who received the rights.
    pub participant_id: Uuid,
    /// Which instrument.
    pub instrument: InstrumentCode,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// `free` or `paid`.
    pub method: String,
    /// CNY per unit per year, for a paid allocation.
    #[serde(with = "option_display_text")]
    pub unit_fee: Option<Decimal>,
    /// Years paid for.
    pub years: Option<u32>,
    /// The paid-use invoice.
    pub invoice: Option<InvoicePayload>,
    /// The transaction that issued the rights.
    pub transaction: TransactionPayload,
}

impl AllocationCreated {
    /// The payload of an allocation and the transaction that issued it.
    #[must_use]
    pub fn new(allocation: &Allocation, transaction: &Transaction) -> Self {
        Self {
            allocation_id: allocation.id,
            participant_id: allocation.participant_id,
            instrument: allocation.instrument.clone(),
            quantity: allocation.quantity,
            method: allocation.method.clone(),
            unit_fee: allocation.unit_fee,
            years: allocation.years,
            invoice: allocation.invoice.as_ref().map(InvoicePayload::from),
            transaction: transaction.into(),
        }
    }
}

/// An order as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPayload {
    /// Its id.
    pub order_id: Uuid,
    /// Whose.
    pub participant_id: Uuid,
    /// What it trades.
    pub instrument: InstrumentCode,
    /// Buy or sell.
    pub side: Side,
    /// Limit price.
    #[serde(with = "display_text")]
    pub price: Decimal,
    /// Quantity asked.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// Quantity filled.
    #[serde(with = "display_text")]
    pub filled: Decimal,
    /// Where it stands.
    pub status: OrderStatus,
    /// What its hold reserved when placed.
    #[serde(with = "display_text")]
    pub hold_amount: Decimal,
    /// Cash paid or received, cumulative.
    #[serde(with = "display_text")]
    pub value: Decimal,
    /// Commission paid, cumulative.
    #[serde(with = "display_text")]
    pub commission: Decimal,
}

impl From<&Order> for OrderPayload {
    fn from(order: &Order) -> Self {
        Self {
            order_id: order.id,
            participant_id: order.participant_id,
            instrument: order.instrument.clone(),
            side: order.side,
            price: order.price,
            quantity: order.quantity,
            filled: order.filled,
            status: order.status,
            hold_amount: order.hold_amount,
            value: order.money.value,
            commission: order.money.commission,
        }
    }
}

/// A trade as journaled (book trades; auctions and negotiated trades
/// journal their own records).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct TradePayload {
    /// Its id.
    pub trade_id: Uuid,
    /// What was traded.
    pub instrument: InstrumentCode,
    /// How.
    pub method: TradeMethod,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// At which price.
    #[serde(with = "display_text")]
    pub price: Decimal,
    /// Cash paid for it.
    #[serde(with = "display_text")]
    pub value: Decimal,
    /// Who bought.
    pub buyer_id: Uuid,
    /// Who sold.
    pub seller_id: Option<Uuid>,
    /// The buy order.
    pub buy_order_id: Option<Uuid>,
    /// The sell order.
    pub sell_order_id: Option<Uuid>,
    /// The buyer's commission.
    #[serde(with = "display_text")]
    pub buyer_commission: Decimal,
    /// The seller's commission.
    #[serde(with = "display_text")]
    pub seller_commission: Decimal,
}

impl From<&Trade> for TradePayload {
    fn from(trade: &Trade) -> Self {
        Self {
            trade_id: trade.id,
            instrument: trade.instrument.clone(),
            method: trade.method,
            quantity: trade.quantity,
            price: trade.price,
            value: trade.value,
            buyer_id: trade.buyer_id,
            seller_id: trade.seller_id,
            buy_order_id: trade.buy_order_id,
            sell_order_id: trade.sell_order_id,
            buyer_commission: trade.buyer_commission,
            seller_commission: trade.seller_commission,
        }
    }
}

/// `order.placed`: the order as it stands after matching, its trades, and
/// the one transaction that holds and settles them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderPlaced {
    /// The incoming order.
    pub order: OrderPayload,
    /// Its fills, in matching order.
    pub trades: Vec<TradePayload>,
    /// The transaction.
    pub transaction: TransactionPayload,
}

impl OrderPlaced {
    /// The payload of a placed order.
    #[must_use]
    pub fn new(order: &Order, trades: &[Trade], transaction: &Transaction) -> Self {
        Self {
            order: order.into(),
            trades: trades.iter().map(TradePayload::from).collect(),
            transaction: transaction.into(),
        }
    }
}

/// `order.cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct OrderCancelled {
    /// The order, cancelled.
    pub order: OrderPayload,
    /// The release of what it held.
    pub transaction: TransactionPayload,
}

impl OrderCancelled {
    /// The payload of a cancelled order.
    #[must_use]
    pub fn new(order: &Order, transaction: &Transaction) -> Self {
        Self {
            order: order.into(),
            transaction: transaction.into(),
        }
    }
}

/// A negotiated trade proposal as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalPayload {
    /// Its id.
    pub proposal_id: Uuid,
    /// Who sells.
    pub seller_id: Uuid,
    /// The named buyer.
    pub buyer_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// CNY per unit.
    #[serde(with = "display_text")]
    pub price: Decimal,
    /// Where it stands.
    pub status: ProposalStatus,
    /// When it lapses.
    #[serde(with = "time_text")]
    pub expires_at: chrono::DateTime<chrono::Utc>,
    /// The trade, once settled.
    pub trade_id: Option<Uuid>,
}

impl From<&Proposal> for ProposalPayload {
    fn from(proposal: &Proposal) -> Self {
        Self {
            proposal_id: proposal.id,
            seller_id: proposal.seller_id,
            buyer_id: proposal.buyer_id,
            instrument: proposal.instrument.clone(),
            quantity: proposal.quantity,
            price: proposal.price,
            status: proposal.status,
            expires_at: proposal.expires_at,
            trade_id: proposal.trade_id,
        }
    }
}

/// `negotiated.proposed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalMade {
    /// The proposal.
    pub proposal: ProposalPayload,
    /// The hold on the seller's rights.
    pub transaction: TransactionPayload,
}

impl ProposalMade {
    /// The payload of a new proposal.
    #[must_use]
    pub fn new(proposal: &Proposal, transaction: &Transaction) -> Self {
        Self {
            proposal: proposal.into(),
            transaction: transaction.into(),
        }
    }
}

/// `negotiated.settled`, `negotiated.rejected`, `negotiated.cancelled`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalAnswered {
    /// The proposal as answered.
    pub proposal: ProposalPayload,
    /// The trade, when accepted (the proposal's `trade_id` again).
    pub trade_id: Option<Uuid>,
    /// The settlement, or the release of the hold.
    pub transaction: TransactionPayload,
}

impl ProposalAnswered {
    /// The payload of an answered proposal.
    #[must_use]
    pub fn new(proposal: &Proposal, transaction: &Transaction) -> Self {
        Self {
            proposal: proposal.into(),
            trade_id: proposal.trade_id,
            transaction: transaction.into(),
        }
    }
}

/// `negotiated.expired`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ProposalsExpired {
    /// The proposals that lapsed.
    pub proposals: Vec<Uuid>,
    /// The release of their holds.
    pub transaction: TransactionPayload,
}

/// An auction as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionPayload {
    /// Its id.
    pub auction_id: Uuid,
    /// What is offered.
    pub instrument: InstrumentCode,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// The lowest price accepted.
    #[serde(with = "display_text")]
    pub reserve_price: Decimal,
    /// From the reserve or newly issued.
    pub source: Source,
    /// Lot size, if any.
    #[serde(with = "option_display_text")]
    pub lot_size: Option<Decimal>,
    /// Largest share one bidder may win, if any.
    #[serde(with = "option_display_text")]
    pub max_bidder_share: Option<Decimal>,
    /// Where it stands.
    pub status: AuctionStatus,
    /// The clearing price, once cleared.
    #[serde(with = "option_display_text")]
    pub clearing_price: Option<Decimal>,
    /// What was sold, once closed.
    #[serde(with = "option_display_text")]
    pub sold_quantity: Option<Decimal>,
}

impl From<&Auction> for AuctionPayload {
    fn from(auction: &Auction) -> Self {
        Self {
            auction_id: auction.id,
            instrument: auction.instrument.clone(),
            quantity: auction.quantity,
            reserve_price: auction.reserve_price,
            source: auction.source,
            lot_size: auction.lot_size,
            max_bidder_share: auction.max_bidder_share,
            status: auction.status,
            clearing_price: auction.clearing_price,
            sold_quantity: auction.sold_quantity,
        }
    }
}

/// A sealed bid as journaled (the journal is the audit trail; the API keeps
/// bids sealed).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidPayload {
    /// Its id.
    pub bid_id: Uuid,
    /// The bidder.
    pub participant_id: Uuid,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// At which price.
    #[serde(with = "display_text")]
    pub price: Decimal,
    /// What it won, once closed.
    #[serde(with = "option_display_text")]
    pub awarded: Option<Decimal>,
}

impl From<&AuctionBid> for BidPayload {
    fn from(bid: &AuctionBid) -> Self {
        Self {
            bid_id: bid.id,
            participant_id: bid.participant_id,
            quantity: bid.quantity,
            price: bid.price,
            awarded: bid.awarded,
        }
    }
}

/// `auction.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionCreated {
    /// The auction.
    pub auction: AuctionPayload,
    /// The hold on the reserve (none for issuance).
    pub transaction: Option<TransactionPayload>,
}

impl AuctionCreated {
    /// The payload of a new auction.
    #[must_use]
    pub fn new(auction: &Auction, transaction: Option<&Transaction>) -> Self {
        Self {
            auction: auction.into(),
            transaction: transaction.map(TransactionPayload::from),
        }
    }
}

/// `auction.bid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct BidPlaced {
    /// The bid.
    pub bid: BidPayload,
    /// The hold on the bidder's cash.
    pub transaction: TransactionPayload,
}

impl BidPlaced {
    /// The payload of a new bid.
    #[must_use]
    pub fn new(bid: &AuctionBid, transaction: &Transaction) -> Self {
        Self {
            bid: bid.into(),
            transaction: transaction.into(),
        }
    }
}

/// `auction.cleared`, `auction.failed`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AuctionClosed {
    /// The auction, closed.
    pub auction: AuctionPayload,
    /// The bids that won something, in bid order.
    pub awards: Vec<BidPayload>,
    /// The settlement and releases (none when nothing moved).
    pub transaction: Option<TransactionPayload>,
}

impl AuctionClosed {
    /// The payload of a close: `bids` are all the auction's bids, with
    /// what each was awarded.
    #[must_use]
    pub fn new(auction: &Auction, bids: &[AuctionBid], transaction: Option<&Transaction>) -> Self {
        Self {
            auction: auction.into(),
            awards: bids
                .iter()
                .filter(|b| b.awarded.is_some_and(|q| q > Decimal::ZERO))
                .map(BidPayload::from)
                .collect(),
            transaction: transaction.map(TransactionPayload::from),
        }
    }
}

/// `reclamation.created`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ReclamationCreated {
    /// Its id.
    pub reclamation_id: Uuid,
    /// From whom.
    pub participant_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// Why.
    pub reason: String,
    /// CNY paid to the participant (zero for none).
    #[serde(with = "display_text")]
    pub compensation: Decimal,
    /// The transaction.
    pub transaction: TransactionPayload,
}

impl ReclamationCreated {
    /// The payload of a reclamation.
    #[must_use]
    pub fn new(reclamation: &Reclamation, transaction: &Transaction) -> Self {
        Self {
            reclamation_id: reclamation.id,
            participant_id: reclamation.participant_id,
            instrument: reclamation.instrument.clone(),
            quantity: reclamation.quantity,
            reason: reclamation.reason.clone(),
            compensation: reclamation.compensation,
            transaction: transaction.into(),
        }
    }
}

/// A pledge as journaled.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PledgePayload {
    /// Its id.
    pub pledge_id: Uuid,
    /// Whose rights.
    pub participant_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// In whose favour.
    pub pledgee: String,
    /// The contract's reference.
    pub reference: String,
    /// `active` or `released`.
    pub status: String,
}

impl From<&Pledge> for PledgePayload {
    fn from(pledge: &Pledge) -> Self {
        Self {
            pledge_id: pledge.id,
            participant_id: pledge.participant_id,
            instrument: pledge.instrument.clone(),
            quantity: pledge.quantity,
            pledgee: pledge.pledgee.clone(),
            reference: pledge.reference.clone(),
            status: pledge.status.clone(),
        }
    }
}

/// `pledge.created`, `pledge.released`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PledgeChanged {
    /// The pledge as it now stands.
    pub pledge: PledgePayload,
    /// The hold placed or released.
    pub transaction: TransactionPayload,
}

impl PledgeChanged {
    /// The payload of a pledge made or released.
    #[must_use]
    pub fn new(pledge: &Pledge, transaction: &Transaction) -> Self {
        Self {
            pledge: pledge.into(),
            transaction: transaction.into(),
        }
    }
}

/// A payment on an invoice, and what is paid of it after.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PaymentPayload {
    /// The payment's id.
    pub payment_id: Uuid,
    /// Which invoice.
    pub invoice_id: Uuid,
    /// Whose.
    pub participant_id: Uuid,
    /// CNY paid.
    #[serde(with = "display_text")]
    pub amount: Decimal,
    /// The part that settled surcharge.
    #[serde(with = "display_text")]
    pub surcharge: Decimal,
    /// The part that settled principal.
    #[serde(with = "display_text")]
    pub principal: Decimal,
    /// `cash_account` or `external`.
    pub source: PaymentSource,
    /// Its reference.
    pub reference: String,
    /// The business date it counts on.
    #[serde(with = "display_text")]
    pub business_date: NaiveDate,
    /// Principal paid of the invoice after it.
    #[serde(with = "display_text")]
    pub invoice_paid: Decimal,
    /// Surcharge paid of the invoice after it.
    #[serde(with = "display_text")]
    pub invoice_surcharge_paid: Decimal,
}

/// `invoice.paid`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct InvoicePaid {
    /// The payment.
    pub payment: PaymentPayload,
    /// The cash moved to fee income (none for an external payment).
    pub transaction: Option<TransactionPayload>,
}

impl InvoicePaid {
    /// The payload of a payment on `invoice` (as it stands after it).
    #[must_use]
    pub fn new(payment: &Payment, invoice: &Invoice, transaction: Option<&Transaction>) -> Self {
        Self {
            payment: PaymentPayload {
                payment_id: payment.id,
                invoice_id: payment.invoice_id,
                participant_id: payment.participant_id,
                amount: payment.amount,
                surcharge: payment.surcharge,
                principal: payment.principal,
                source: payment.source,
                reference: payment.reference.clone(),
                business_date: payment.business_date,
                invoice_paid: invoice.paid,
                invoice_surcharge_paid: invoice.surcharge_paid,
            },
            transaction: transaction.map(TransactionPayload::from),
        }
    }
}

/// `emission.recorded`: a verified emission record, naming the record of
/// the same key it replaces.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct EmissionRecorded {
    /// Its id.
    pub emission_id: Uuid,
    /// Whose emissions.
    pub participant_id: Uuid,
    /// Which year.
    pub period: Period,
    /// `carbon` or `pollutant`.
    pub kind: EmissionKind,
    /// Which pollutant (null for carbon).
    pub pollutant: Option<String>,
    /// How much.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// The record it replaced (null for the first of its key).
    pub replaces: Option<Uuid>,
}

impl From<&Emission> for EmissionRecorded {
    fn from(emission: &Emission) -> Self {
        Self {
            emission_id: emission.id,
            participant_id: emission.participant_id,
            period: emission.period,
            kind: emission.kind,
            pollutant: emission.pollutant.clone(),
            quantity: emission.quantity,
            replaces: emission.replaces,
        }
    }
}

/// `surrender.created`: allowances or offsets handed in for a period.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SurrenderCreated {
    /// Its id.
    pub surrender_id: Uuid,
    /// Who.
    pub participant_id: Uuid,
    /// What.
    pub instrument: InstrumentCode,
    /// `allowance` or `offset`.
    pub kind: SurrenderKind,
    /// How many.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// For which year.
    pub period: Period,
    /// The transfer to the surrendered account.
    pub transaction: TransactionPayload,
}

impl SurrenderCreated {
    /// The payload of a surrender.
    #[must_use]
    pub fn new(surrender: &Surrender, transaction: &Transaction) -> Self {
        Self {
            surrender_id: surrender.id,
            participant_id: surrender.participant_id,
            instrument: surrender.instrument.clone(),
            kind: surrender.kind,
            quantity: surrender.quantity,
            period: surrender.period,
            transaction: transaction.into(),
        }
    }
}

/// A value as its `Display` text, read back with `FromStr`: a decimal as
/// `Decimal::to_string()` writes it (scale kept), a date as `YYYY-MM-DD`.
pub(crate) mod display_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<T: Display, S: Serializer>(
        value: &T,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.collect_str(value)
    }

    pub(crate) fn deserialize<'de, T, D>(deserializer: D) -> Result<T, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        let text = String::deserialize(deserializer)?;
        text.parse().map_err(serde::de::Error::custom)
    }
}

/// An optional value as its `Display` text, or `null` ([`display_text`]).
mod option_display_text {
    use std::fmt::Display;
    use std::str::FromStr;

    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<T: Display, S: Serializer>(
        value: &Option<T>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        match value {
            Some(value) => serializer.collect_str(value),
            None => serializer.serialize_none(),
        }
    }

    pub(super) fn deserialize<'de, T, D>(deserializer: D) -> Result<Option<T>, D::Error>
    where
        T: FromStr<Err: Display>,
        D: Deserializer<'de>,
    {
        Option::<String>::deserialize(deserializer)?
            .map(|text| text.parse().map_err(serde::de::Error::custom))
            .transpose()
    }
}

/// A time as [`format_time`] writes it: UTC, six fractional digits, `Z`.
pub(crate) mod time_text {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    use super::format_time;

    pub(crate) fn serialize<S: Serializer>(
        value: &DateTime<Utc>,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&format_time(*value))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(deserializer)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|at| at.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// An account owner as its storage key: a participant's uuid, or
/// `system:NAME`.
mod owner_key {
    use ets_core::Owner;
    use serde::{Deserialize, Deserializer, Serializer};

    pub(super) fn serialize<S: Serializer>(
        value: &Owner,
        serializer: S,
    ) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&value.storage_key())
    }

    pub(super) fn deserialize<'de, D: Deserializer<'de>>(
        deserializer: D,
    ) -> Result<Owner, D::Error> {
        let text = String::deserialize(deserializer)?;
        Owner::from_storage_key(&text)
            .ok_or_else(|| serde::de::Error::custom(format!("not an account owner: {text}")))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr;

    use ets_core::journal::canonical_json;
    use ets_core::matching::OrderMoney;
    use serde::Serialize;

    use super::*;

    fn dec(text: &str) -> Decimal {
        Decimal::from_str(text).expect("a decimal literal")
    }

    fn order() -> Order {
        let at = "2026-06-01T02:00:00.000123Z".parse().expect("a time");
        Order {
            id: Uuid::from_u128(1),
            participant_id: Uuid::from_u128(2),
            instrument: InstrumentCode::parse("SO2-320500-2026").expect("a code"),
            side: Side::Buy,
            price: dec("221.00"),
            quantity: dec("4.0000"),
            filled: dec("1.5000"),
            hold_amount: dec("885.33"),
            money: OrderMoney {
                exact_value: dec("330.75"),
                value: dec("330.75"),
                commission: dec("0.50"),
            },
            status: OrderStatus::PartiallyFilled,
            seq: 7,
            created_at: at,
            updated_at: at,
        }
    }

    #[test]
    fn an_order_is_journaled_with_its_decimals_as_text_at_their_scale() {
        let payload = serde_json::to_value(OrderPayload::from(&order())).expect("serializes");
        assert_eq!(
            canonical_json(&payload),
            concat!(
                r#"{"commission":"0.50","filled":"1.5000","hold_amount":"885.33","#,
                r#""instrument":"SO2-320500-2026","order_id":"00000000-0000-0000-0000-000000000001","#,
                r#""participant_id":"00000000-0000-0000-0000-000000000002","price":"221.00","#,
                r#""quantity":"4.0000","side":"buy","status":"partially_filled","value":"330.75"}"#
            )
        );
    }

    #[test]
    fn a_proposal_writes_its_expiry_with_six_digits_and_an_unsettled_trade_as_null() {
        let proposal = Proposal {
            id: Uuid::from_u128(3),
            seller_id: Uuid::from_u128(4),
            buyer_id: Uuid::from_u128(5),
            instrument: InstrumentCode::parse("SO2-320500-2026").expect("a code"),
            quantity: dec("1.2500"),
            price: dec("218.50"),
            status: ProposalStatus::Proposed,
            expires_at: "2026-06-02T02:00:00Z".parse().expect("a time"),
            trade_id: None,
            created_at: "2026-06-01T02:00:00Z".parse().expect("a time"),
            updated_at: "2026-06-01T02:00:00Z".parse().expect("a time"),
        };
        let text = canonical_json(
            &serde_json::to_value(ProposalPayload::from(&proposal)).expect("serializes"),
        );
        assert!(
            text.contains(r#""expires_at":"2026-06-02T02:00:00.000000Z""#),
            "{text}"
        );
        assert!(text.contains(r#""trade_id":null"#), "{text}");
    }

    fn name<T: Serialize>(value: T) -> String {
        serde_json::to_value(value)
            .expect("serializes")
            .as_str()
            .expect("a string")
            .to_owned()
    }

    #[test]
    fn every_status_and_side_serializes_as_its_stored_name() {
        for side in [Side::Buy, Side::Sell] {
            assert_eq!(name(side), side.as_str());
        }
        use OrderStatus as O;
        for status in [O::Open, O::PartiallyFilled, O::Filled, O::Cancelled] {
            assert_eq!(name(status), status.as_str());
        }
        use TradeMethod as T;
        for method in [T::OrderBook, T::Negotiated, T::Auction] {
            assert_eq!(name(method), method.as_str());
        }
        use ProposalStatus as P;
        for status in [
            P::Proposed,
            P::Settled,
            P::Rejected,
            P::Cancelled,
            P::Expired,
        ] {
            assert_eq!(name(status), status.as_str());
        }
        for source in [Source::Reserve, Source::Issuance] {
            assert_eq!(name(source), source.as_str());
        }
        use AuctionStatus as A;
        for status in [A::Open, A::Cleared, A::Failed] {
            assert_eq!(name(status), status.as_str());
        }
    }

    #[test]
    fn every_listed_kind_has_a_type_and_others_and_extra_keys_are_refused() {
        for kind in ENTITY_KINDS.iter().chain(LEDGER_KINDS.iter()) {
            let error = Payload::parse(kind, &Value::Null).expect_err("null is no payload");
            assert!(
                matches!(error, PayloadError::Shape { .. }),
                "{kind}: {error}"
            );
        }
        assert!(matches!(
            Payload::parse("ledger.unheard_of", &Value::Null),
            Err(PayloadError::UnknownKind(_))
        ));
        let extra = serde_json::json!({"client_id": "c", "secret_hash": "x"});
        assert!(Payload::parse("credential.revoked", &extra).is_err());
    }
}
