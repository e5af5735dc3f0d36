//! Response bodies: one type per schema of `api-spec/openapi.yaml` that a
//! handler answers, each built from its domain record, so that every
//! entity's HTTP encoding is written once.
//!
//! The encoding's rules, as the contract has them: decimals are strings;
//! prices at [`PRICE_SCALE`] places and money at two; a quantity as the
//! record keeps it, except where a body says otherwise (an order's filled
//! and remaining quantities at its own scale, a book level's at the
//! instrument's); times RFC 3339 in UTC with microseconds ([`time`]); absent
//! values are `null`, except a trade's hidden counterparty, which is left out.

use std::collections::BTreeMap;

use chrono::NaiveDate;
use ets_core::matching::{PRICE_SCALE, Side};
use ets_core::{Decimal, Instrument, InstrumentCode, Participant, Role};
use ets_engine::{
    Allocation, Auction, AuctionBid, ComplianceRow, Emission, Invoice, InvoiceFigures, Order, Paid,
    Period, Placed, Pledge, Proposal, Reclamation, Surrender, Trade, TradeMethod, Transaction,
};
use ets_store::{BookLevel, HistoryItem, Holding};
use serde::Serialize;
use uuid::Uuid;

use crate::dto::{fixed, time};
use crate::extract::Caller;

/// Money: CNY at two places.
const MONEY_SCALE: u32 = 2;

pub(crate) fn price(value: Decimal) -> String {
    fixed(value, PRICE_SCALE)
}

pub(crate) fn money(value: Decimal) -> String {
    fixed(value, MONEY_SCALE)
}

/// `Health`: the process answers.
#[derive(Debug, Serialize)]
pub(crate) struct HealthBody {
    status: &'static str,
}

impl HealthBody {
    pub(crate) const OK: Self = Self { status: "ok" };
}

/// `Readiness`: the database answers.
#[derive(Debug, Serialize)]
pub(crate) struct ReadinessBody {
    status: &'static str,
    database: &'static str,
}

impl ReadinessBody {
    pub(crate) fn ready(database: &'static str) -> Self {
        Self {
            status: "ready",
            database,
        }
    }
}

/// `TokenResponse`.
#[derive(Debug, Serialize)]
pub(crate) struct TokenBody {
    access_token: String,
    token_type: &'static str,
    expires_in: u64,
}

impl From<crate::token::Issued> for TokenBody {
    fn from(issued: crate::token::Issued) -> Self {
        Self {
            access_token: issued.access_token,
            token_type: "Bearer",
            expires_in: issued.expires_in,
        }
    }
}

/// `JournalVerification`.
#[derive(Debug, Serialize)]
pub(crate) struct VerificationBody {
    ok: bool,
    entries: i64,
    head_hash: String,
    first_bad_seq: Option<i64>,
}

impl From<ets_core::Verification> for VerificationBody {
    fn from(verification: ets_core::Verification) -> Self {
        Self {
            ok: verification.ok,
            entries: verification.entries,
            head_hash: verification.head_hash,
            first_bad_seq: verification.first_bad_seq,
        }
    }
}

/// `Checkpoint`: `signature` signs `ets-ledger checkpoint {seq} {head_hash}`.
#[derive(Debug, Serialize)]
pub(crate) struct CheckpointBody {
    pub(crate) seq: i64,
    pub(crate) head_hash: String,
    pub(crate) signed_at: String,
    pub(crate) kid: String,
    pub(crate) signature: String,
}

/// `CredentialCreated`: the one answer that shows a secret.
#[derive(Serialize)]
pub(crate) struct CredentialCreatedBody {
    pub(crate) client_id: String,
    pub(crate) client_secret: String,
    pub(crate) role: Role,
    pub(crate) participant_id: Option<Uuid>,
}

/// `CredentialListing`: a credential as a list shows it, never a secret.
#[derive(Debug, Serialize)]
pub(crate) struct CredentialListingBody {
    client_id: String,
    name: String,
    role: Role,
    participant_id: Option<Uuid>,
    created_at: String,
    revoked_at: Option<String>,
}

impl From<&ets_store::CredentialListing> for CredentialListingBody {
    fn from(c: &ets_store::CredentialListing) -> Self {
        Self {
            client_id: c.client_id.clone(),
            name: c.name.clone(),
            role: c.role,
            participant_id: c.participant_id,
            created_at: time(c.created_at),
            revoked_at: c.revoked_at.map(time),
        }
    }
}

/// `Participant`.
#[derive(Debug, Serialize)]
pub(crate) struct ParticipantBody {
    id: Uuid,
    name: String,
    credit_code: String,
    region_code: String,
    industry: Option<String>,
}

impl From<&Participant> for ParticipantBody {
    fn from(p: &Participant) -> Self {
        Self {
            id: p.id,
            name: p.name.clone(),
            credit_code: p.credit_code.to_string(),
            region_code: p.region_code.to_string(),
            industry: p.industry.clone(),
        }
    }
}

/// `Instrument`: rates without trailing zeros.
#[derive(Debug, Serialize)]
pub(crate) struct InstrumentBody {
    code: InstrumentCode,
    kind: &'static str,
    pollutant: Option<String>,
    unit: String,
    scale: u32,
    region_code: Option<String>,
    vintage: Option<i32>,
    valid_from: Option<NaiveDate>,
    valid_to: Option<NaiveDate>,
    commission_rate: String,
    price_band: Option<String>,
}

impl From<&Instrument> for InstrumentBody {
    fn from(i: &Instrument) -> Self {
        Self {
            code: i.code.clone(),
            kind: i.kind.as_str(),
            pollutant: i.pollutant.clone(),
            unit: i.unit.clone(),
            scale: i.scale,
            region_code: i.region_code.as_ref().map(ToString::to_string),
            vintage: i.vintage,
            valid_from: i.valid_from,
            valid_to: i.valid_to,
            commission_rate: i.commission_rate.normalize().to_string(),
            price_band: i.price_band.map(|b| b.normalize().to_string()),
        }
    }
}

/// `Allocation`, with its paid-use invoice (`null` for a free one).
#[derive(Debug, Serialize)]
pub(crate) struct AllocationBody {
    id: Uuid,
    invoice_id: Option<Uuid>,
    participant_id: Uuid,
    instrument: InstrumentCode,
    quantity: String,
    method: String,
    transaction_id: Uuid,
    invoice: Option<AllocationInvoiceBody>,
}

/// The invoice inside an `Allocation`.
#[derive(Debug, Serialize)]
pub(crate) struct AllocationInvoiceBody {
    id: Uuid,
    amount: String,
    due_date: NaiveDate,
}

impl From<&Allocation> for AllocationBody {
    fn from(a: &Allocation) -> Self {
        Self {
            id: a.id,
            invoice_id: a.invoice.as_ref().map(|i| i.id),
            participant_id: a.participant_id,
            instrument: a.instrument.clone(),
            quantity: a.quantity.to_string(),
            method: a.method.clone(),
            transaction_id: a.transaction_id,
            invoice: a.invoice.as_ref().map(|i| AllocationInvoiceBody {
                id: i.id,
                amount: money(i.amount),
                due_date: i.due_date,
            }),
        }
    }
}

/// `CashMovement`: a deposit or a withdrawal.
#[derive(Debug, Serialize)]
pub(crate) struct CashMovementBody {
    id: Uuid,
    participant_id: Uuid,
    amount: String,
    reference: Option<String>,
    at: String,
}

impl CashMovementBody {
    /// The movement `transaction` made on `participant_id`'s cash; `None`
    /// for a transaction without postings (never one of cash).
    pub(crate) fn new(transaction: &Transaction, participant_id: Uuid) -> Option<Self> {
        let amount = transaction.postings.first()?.amount.abs();
        Some(Self {
            id: transaction.id,
            participant_id,
            amount: money(amount),
            reference: transaction.reference.clone(),
            at: time(transaction.at),
        })
    }
}

/// `Holdings`: a participant's holdings as of an instant.
#[derive(Debug, Serialize)]
pub(crate) struct HoldingsBody {
    pub(crate) participant_id: Uuid,
    pub(crate) as_of: String,
    pub(crate) holdings: Vec<HoldingBody>,
}

/// `Holding`.
#[derive(Debug, Serialize)]
pub(crate) struct HoldingBody {
    instrument: InstrumentCode,
    balance: String,
    available: String,
    held: String,
}

impl From<&Holding> for HoldingBody {
    fn from(h: &Holding) -> Self {
        Self {
            instrument: h.instrument.clone(),
            balance: h.balance.to_string(),
            available: h.available.to_string(),
            held: h.held.to_string(),
        }
    }
}

/// `HistoryItem`: one balance movement.
#[derive(Debug, Serialize)]
pub(crate) struct HistoryItemBody {
    at: String,
    kind: String,
    instrument: InstrumentCode,
    quantity: String,
    balance_after: String,
    reference: String,
}

impl From<&HistoryItem> for HistoryItemBody {
    fn from(i: &HistoryItem) -> Self {
        Self {
            at: time(i.at),
            kind: i.kind.clone(),
            instrument: i.instrument.clone(),
            quantity: i.quantity.to_string(),
            balance_after: i.balance_after.to_string(),
            reference: i.reference.clone(),
        }
    }
}

/// `Order`. Quantities at the order's scale (as stored), prices and money
/// in fen; `held` is what the order still reserves (rights at the order's
/// scale, cash in fen).
#[derive(Debug, Serialize)]
pub(crate) struct OrderBody {
    id: Uuid,
    participant_id: Uuid,
    instrument: InstrumentCode,
    side: &'static str,
    price: String,
    quantity: String,
    filled_quantity: String,
    remaining_quantity: String,
    status: &'static str,
    held: String,
    value: String,
    commission: String,
    created_at: String,
    updated_at: String,
}

impl From<&Order> for OrderBody {
    fn from(order: &Order) -> Self {
        let scale = order.quantity.scale();
        let held_scale = match order.side {
            Side::Sell => scale,
            Side::Buy => MONEY_SCALE,
        };
        Self {
            id: order.id,
            participant_id: order.participant_id,
            instrument: order.instrument.clone(),
            side: order.side.as_str(),
            price: price(order.price),
            quantity: order.quantity.to_string(),
            filled_quantity: fixed(order.filled, scale),
            remaining_quantity: fixed(order.remaining(), scale),
            status: order.status.as_str(),
            held: fixed(order.held(), held_scale),
            value: money(order.money.value),
            commission: money(order.money.commission),
            created_at: time(order.created_at),
            updated_at: time(order.updated_at),
        }
    }
}

/// `OrderPlaced`: the order and the trades it made, in execution order.
#[derive(Debug, Serialize)]
pub(crate) struct OrderPlacedBody {
    #[serde(flatten)]
    order: OrderBody,
    trades: Vec<TradeBody>,
}

impl OrderPlacedBody {
    /// The placed order, its trades as `caller` may see them.
    pub(crate) fn new(placed: &Placed, caller: &Caller) -> Self {
        Self {
            order: OrderBody::from(&placed.order),
            trades: placed
                .trades
                .iter()
                .map(|t| TradeBody::seen_by(t, caller))
                .collect(),
        }
    }
}

/// `Trade`. A counterparty the caller may not see is left out.
#[derive(Debug, Serialize)]
pub(crate) struct TradeBody {
    id: Uuid,
    instrument: InstrumentCode,
    method: &'static str,
    quantity: String,
    price: String,
    value: String,
    buyer_commission: String,
    seller_commission: String,
    executed_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    buyer_participant_id: Option<Uuid>,
    #[serde(skip_serializing_if = "Option::is_none")]
    seller_participant_id: Option<Uuid>,
}

impl TradeBody {
    /// The trade as `caller` may see it: an enterprise sees its own side of
    /// a book or auction trade, never the counterparty.
    pub(crate) fn seen_by(trade: &Trade, caller: &Caller) -> Self {
        let anonymous = caller.role == Role::Enterprise && trade.method != TradeMethod::Negotiated;
        let shown = |participant: Option<Uuid>| {
            participant.filter(|p| !anonymous || Some(*p) == caller.participant_id)
        };
        Self {
            id: trade.id,
            instrument: trade.instrument.clone(),
            method: trade.method.as_str(),
            quantity: trade.quantity.to_string(),
            price: price(trade.price),
            value: money(trade.value),
            buyer_commission: money(trade.buyer_commission),
            seller_commission: money(trade.seller_commission),
            executed_at: time(trade.executed_at),
            buyer_participant_id: shown(Some(trade.buyer_id)),
            seller_participant_id: shown(trade.seller_id),
        }
    }
}

/// `Book`: open quantity per price level, best first; anonymous.
#[derive(Debug, Serialize)]
pub(crate) struct BookBody {
    instrument: InstrumentCode,
    bids: Vec<BookLevelBody>,
    asks: Vec<BookLevelBody>,
}

/// `GET /v1/markets/{instrument}/stats`: one row per business day with
/// trades, prices in fen, the average at four places, quantities at the
/// instrument's scale.
#[derive(Debug, Serialize)]
pub(crate) struct StatsBody {
    instrument: InstrumentCode,
    items: Vec<DayStatsBody>,
}

#[derive(Debug, Serialize)]
struct DayStatsBody {
    date: NaiveDate,
    open: String,
    high: String,
    low: String,
    close: String,
    vwap: String,
    quantity: String,
    value: String,
    trades: u64,
}

impl StatsBody {
    pub(crate) fn new(instrument: &Instrument, days: &[ets_engine::stats::DayStats]) -> Self {
        let items = days
            .iter()
            .map(|day| DayStatsBody {
                date: day.date,
                open: price(day.open),
                high: price(day.high),
                low: price(day.low),
                close: price(day.close),
                vwap: fixed(day.vwap, ets_engine::stats::VWAP_PLACES),
                quantity: fixed(day.quantity, instrument.scale),
                value: money(day.value),
                trades: day.trades,
            })
            .collect();
        Self {
            instrument: instrument.code.clone(),
            items,
        }
    }
}

/// `BookLevel`: the quantity at the instrument's scale.
#[derive(Debug, Serialize)]
pub(crate) struct BookLevelBody {
    price: String,
    quantity: String,
}

impl BookBody {
    /// The book of `instrument`.
    pub(crate) fn new(instrument: &Instrument, book: &ets_store::Book) -> Self {
        let levels = |levels: &[BookLevel]| -> Vec<BookLevelBody> {
            levels
                .iter()
                .map(|l| BookLevelBody {
                    price: price(l.price),
                    quantity: fixed(l.quantity, instrument.scale),
                })
                .collect()
        };
        Self {
            instrument: instrument.code.clone(),
            bids: levels(&book.bids),
            asks: levels(&book.asks),
        }
    }
}

/// `NegotiatedTrade`.
#[derive(Debug, Serialize)]
pub(crate) struct NegotiatedTradeBody {
    id: Uuid,
    seller_participant_id: Uuid,
    buyer_participant_id: Uuid,
    instrument: InstrumentCode,
    quantity: String,
    price: String,
    value: String,
    status: &'static str,
    expires_at: String,
    trade_id: Option<Uuid>,
    created_at: String,
    updated_at: String,
}

impl From<&Proposal> for NegotiatedTradeBody {
    fn from(p: &Proposal) -> Self {
        Self {
            id: p.id,
            seller_participant_id: p.seller_id,
            buyer_participant_id: p.buyer_id,
            instrument: p.instrument.clone(),
            quantity: p.quantity.to_string(),
            price: price(p.price),
            value: money(p.value()),
            status: p.status.as_str(),
            expires_at: time(p.expires_at),
            trade_id: p.trade_id,
            created_at: time(p.created_at),
            updated_at: time(p.updated_at),
        }
    }
}

/// `Auction`, without its bids.
#[derive(Debug, Serialize)]
pub(crate) struct AuctionBody {
    id: Uuid,
    instrument: InstrumentCode,
    quantity: String,
    reserve_price: String,
    source: &'static str,
    lot_size: Option<String>,
    max_bidder_share: Option<String>,
    closes_at: Option<String>,
    status: &'static str,
    clearing_price: Option<String>,
    sold_quantity: Option<String>,
    created_at: String,
    closed_at: Option<String>,
}

impl From<&Auction> for AuctionBody {
    fn from(a: &Auction) -> Self {
        Self {
            id: a.id,
            instrument: a.instrument.clone(),
            quantity: a.quantity.to_string(),
            reserve_price: price(a.reserve_price),
            source: a.source.as_str(),
            lot_size: a.lot_size.map(|d| d.to_string()),
            max_bidder_share: a.max_bidder_share.map(|d| d.to_string()),
            closes_at: a.closes_at.map(time),
            status: a.status.as_str(),
            clearing_price: a.clearing_price.map(price),
            sold_quantity: a.sold_quantity.map(|d| d.to_string()),
            created_at: time(a.created_at),
            closed_at: a.closed_at.map(time),
        }
    }
}

/// `AuctionView`: the auction with the bids and awards a caller may see.
#[derive(Debug, Serialize)]
pub(crate) struct AuctionViewBody {
    #[serde(flatten)]
    auction: AuctionBody,
    bids: Vec<BidBody>,
    awards: Vec<AwardBody>,
}

impl AuctionViewBody {
    /// Staff see every bid and award, an enterprise only its own; awards
    /// are summed per participant, in participant order, zeros left out.
    pub(crate) fn seen_by(auction: &Auction, bids: &[AuctionBid], caller: &Caller) -> Self {
        let visible: Vec<&AuctionBid> = bids
            .iter()
            .filter(|b| {
                caller.role != Role::Enterprise || caller.participant_id == Some(b.participant_id)
            })
            .collect();
        let mut awards: BTreeMap<Uuid, Decimal> = BTreeMap::new();
        for bid in &visible {
            if let Some(awarded) = bid.awarded.filter(|q| *q > Decimal::ZERO) {
                *awards.entry(bid.participant_id).or_default() += awarded;
            }
        }
        Self {
            auction: AuctionBody::from(auction),
            bids: visible.into_iter().map(BidBody::from).collect(),
            awards: awards
                .into_iter()
                .map(|(participant_id, quantity)| AwardBody {
                    participant_id,
                    quantity: quantity.to_string(),
                })
                .collect(),
        }
    }
}

/// `Bid`.
#[derive(Debug, Serialize)]
pub(crate) struct BidBody {
    id: Uuid,
    auction_id: Uuid,
    participant_id: Uuid,
    quantity: String,
    price: String,
    awarded: Option<String>,
    created_at: String,
}

impl From<&AuctionBid> for BidBody {
    fn from(b: &AuctionBid) -> Self {
        Self {
            id: b.id,
            auction_id: b.auction_id,
            participant_id: b.participant_id,
            quantity: b.quantity.to_string(),
            price: price(b.price),
            awarded: b.awarded.map(|d| d.to_string()),
            created_at: time(b.created_at),
        }
    }
}

/// `Award`: what one participant won.
#[derive(Debug, Serialize)]
pub(crate) struct AwardBody {
    participant_id: Uuid,
    quantity: String,
}

/// `Reclamation`.
#[derive(Debug, Serialize)]
pub(crate) struct ReclamationBody {
    id: Uuid,
    participant_id: Uuid,
    instrument: InstrumentCode,
    quantity: String,
    reason: String,
    compensation: String,
    transaction_id: Uuid,
    created_at: String,
}

impl From<&Reclamation> for ReclamationBody {
    fn from(r: &Reclamation) -> Self {
        Self {
            id: r.id,
            participant_id: r.participant_id,
            instrument: r.instrument.clone(),
            quantity: r.quantity.to_string(),
            reason: r.reason.clone(),
            compensation: money(r.compensation),
            transaction_id: r.transaction_id,
            created_at: time(r.created_at),
        }
    }
}

/// `Pledge`.
#[derive(Debug, Serialize)]
pub(crate) struct PledgeBody {
    id: Uuid,
    participant_id: Uuid,
    instrument: InstrumentCode,
    quantity: String,
    pledgee: String,
    reference: String,
    status: String,
    created_at: String,
    released_at: Option<String>,
}

impl From<&Pledge> for PledgeBody {
    fn from(p: &Pledge) -> Self {
        Self {
            id: p.id,
            participant_id: p.participant_id,
            instrument: p.instrument.clone(),
            quantity: p.quantity.to_string(),
            pledgee: p.pledgee.clone(),
            reference: p.reference.clone(),
            status: p.status.clone(),
            created_at: time(p.created_at),
            released_at: p.released_at.map(time),
        }
    }
}

/// An invoice as of an instant (`GET /v1/invoices[/{id}]`, and after a
/// payment): its terms, and the figures `ets_engine::invoice` computes.
#[derive(Debug, Serialize)]
pub(crate) struct InvoiceBody {
    id: Uuid,
    participant_id: Uuid,
    kind: String,
    amount: String,
    paid: String,
    outstanding: String,
    late_fee: String,
    surcharge_paid: String,
    due_date: NaiveDate,
    daily_rate: String,
    status: &'static str,
    created_at: String,
    as_of: String,
}

impl InvoiceBody {
    /// The invoice with its figures as of `as_of`.
    pub(crate) fn new(
        invoice: &Invoice,
        figures: &InvoiceFigures,
        as_of: chrono::DateTime<chrono::Utc>,
    ) -> Self {
        Self {
            id: invoice.id,
            participant_id: invoice.participant_id,
            kind: invoice.kind.clone(),
            amount: money(figures.amount),
            paid: money(figures.paid),
            outstanding: money(figures.outstanding),
            late_fee: money(figures.late_fee),
            surcharge_paid: money(figures.surcharge_paid),
            due_date: invoice.due_date,
            daily_rate: invoice.daily_rate.normalize().to_string(),
            status: figures.status.as_str(),
            created_at: time(invoice.created_at),
            as_of: time(as_of),
        }
    }
}

/// A payment recorded on an invoice, with the invoice just after it.
#[derive(Debug, Serialize)]
pub(crate) struct PaymentBody {
    id: Uuid,
    invoice_id: Uuid,
    participant_id: Uuid,
    amount: String,
    surcharge: String,
    principal: String,
    source: &'static str,
    reference: String,
    transaction_id: Option<Uuid>,
    business_date: NaiveDate,
    at: String,
    invoice: InvoiceBody,
}

impl From<&Paid> for PaymentBody {
    fn from(paid: &Paid) -> Self {
        let p = &paid.payment;
        Self {
            id: p.id,
            invoice_id: p.invoice_id,
            participant_id: p.participant_id,
            amount: money(p.amount),
            surcharge: money(p.surcharge),
            principal: money(p.principal),
            source: p.source.as_str(),
            reference: p.reference.clone(),
            transaction_id: p.transaction_id,
            business_date: p.business_date,
            at: time(p.at),
            invoice: InvoiceBody::new(&paid.invoice, &paid.figures, p.at),
        }
    }
}

/// `Emission`: a verified emission record.
#[derive(Debug, Serialize)]
pub(crate) struct EmissionBody {
    id: Uuid,
    participant_id: Uuid,
    period: String,
    kind: &'static str,
    pollutant: Option<String>,
    quantity: String,
    recorded_at: String,
    replaces: Option<Uuid>,
}

impl From<&Emission> for EmissionBody {
    fn from(e: &Emission) -> Self {
        Self {
            id: e.id,
            participant_id: e.participant_id,
            period: e.period.to_string(),
            kind: e.kind.as_str(),
            pollutant: e.pollutant.clone(),
            quantity: e.quantity.to_string(),
            recorded_at: time(e.recorded_at),
            replaces: e.replaces,
        }
    }
}

/// `Surrender`.
#[derive(Debug, Serialize)]
pub(crate) struct SurrenderBody {
    id: Uuid,
    participant_id: Uuid,
    instrument: InstrumentCode,
    kind: &'static str,
    quantity: String,
    period: String,
    transaction_id: Uuid,
    surrendered_at: String,
}

impl From<&Surrender> for SurrenderBody {
    fn from(s: &Surrender) -> Self {
        Self {
            id: s.id,
            participant_id: s.participant_id,
            instrument: s.instrument.clone(),
            kind: s.kind.as_str(),
            quantity: s.quantity.to_string(),
            period: s.period.to_string(),
            transaction_id: s.transaction_id,
            surrendered_at: time(s.at),
        }
    }
}

/// `ComplianceRow`: one current emission record of a period and what
/// covers it.
#[derive(Debug, Serialize)]
pub(crate) struct ComplianceRowBody {
    period: String,
    participant_id: Uuid,
    participant_name: String,
    kind: &'static str,
    pollutant: Option<String>,
    obligation: String,
    covered: String,
    shortfall: String,
    status: &'static str,
}

impl ComplianceRowBody {
    pub(crate) fn new(period: Period, row: &ComplianceRow, participant_name: String) -> Self {
        Self {
            period: period.to_string(),
            participant_id: row.participant_id,
            participant_name,
            kind: row.kind.as_str(),
            pollutant: row.pollutant.clone(),
            obligation: row.obligation.to_string(),
            covered: row.covered.to_string(),
            shortfall: row.shortfall.to_string(),
            status: row.status.as_str(),
        }
    }
}
