//! The settlement of one business day (SPEC §5): per participant whose cash
//! moved, the day's opening and closing cash and the columns that lead from
//! one to the other; the day's trades; the columns' totals; and the CSV the
//! finance department opens in Excel.
//!
//! Pure: the store reads each participant's balances at the day's bounds
//! ([`ets_core::BusinessZone::day_bounds`]), its CNY postings in between ([`CashDay`]) and
//! the day's trades, and [`settle_day`] sorts every posting into a column:
//!
//! - postings of a trade's ledger transaction are the trades' own money:
//!   `bought_value`, `sold_value` and `commissions` are summed from the
//!   trades, and those postings must sum to exactly sold − bought −
//!   commissions for each participant;
//! - `cash.deposit` postings are `deposits`, `cash.withdrawal` postings
//!   `withdrawals`, `invoice.paid` postings `fees_paid` (each as a positive
//!   figure when the money moved the usual way);
//! - everything else (a reclamation's compensation, …) is `other`, signed.
//!
//! Then closing = opening − bought + sold − commissions − fees_paid +
//! deposits − withdrawals + other must hold to the fen, or the day is
//! [`Unreconciled`]. Nothing is adjusted to make it balance: a settlement
//! that does not reconcile with the ledger is refused, not printed.
//!
//! Money is CNY in whole fen, written with two places (`"1205.00"`);
//! quantities and prices as the trades keep them; times as
//! [`ets_core::journal::format_time`] writes them; every decimal as a JSON
//! string, and the CSV cells as the same text.

use std::collections::{BTreeMap, HashSet};

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::InstrumentCode;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::market::{Trade, TradeMethod};
use crate::payload::{display_text, time_text};

/// Places of money: CNY in whole fen.
const MONEY_SCALE: u32 = 2;

/// The ledger transaction kind of a deposit from the settlement bank.
const DEPOSIT_KIND: &str = "cash.deposit";
/// The ledger transaction kind of a withdrawal to the settlement bank.
const WITHDRAWAL_KIND: &str = "cash.withdrawal";
/// The ledger transaction kind of an invoice paid from the cash account.
const INVOICE_PAID_KIND: &str = "invoice.paid";

/// The participant columns, in SPEC order: the CSV header and the JSON
/// field names of [`ParticipantSettlement`].
pub const PARTICIPANT_COLUMNS: [&str; 11] = [
    "participant_id",
    "name",
    "opening_cash",
    "bought_value",
    "sold_value",
    "commissions",
    "fees_paid",
    "deposits",
    "withdrawals",
    "other",
    "closing_cash",
];

/// The trade columns, in SPEC order: the CSV header and the JSON field
/// names of [`TradeLine`].
pub const TRADE_COLUMNS: [&str; 11] = [
    "trade_id",
    "executed_at",
    "instrument",
    "method",
    "quantity",
    "price",
    "value",
    "buyer_participant_id",
    "seller_participant_id",
    "buyer_commission",
    "seller_commission",
];

/// One participant's cash on the day, as the store reads it: balances at
/// the start and end of the business day (held cash included) and every
/// posting on its CNY account during the day.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashDay {
    /// Whose cash.
    pub participant_id: Uuid,
    /// The participant's name.
    pub name: String,
    /// The CNY balance at the start of the day.
    pub opening: Decimal,
    /// The CNY balance at the end of the day (or now, for today).
    pub closing: Decimal,
    /// Every posting on its CNY account in between.
    pub postings: Vec<CashPosting>,
}

/// One posting on a participant's CNY account.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashPosting {
    /// The ledger transaction it belongs to.
    pub transaction_id: Uuid,
    /// That transaction's kind (`cash.deposit`, `order.placed`, …).
    pub kind: String,
    /// The signed change of the balance (zero for a hold placed or released).
    pub amount: Decimal,
}

/// The settlement of one business day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Settlement {
    /// The business day (Asia/Shanghai).
    #[serde(with = "display_text")]
    pub date: NaiveDate,
    /// The day's trades, by execution time then id. Written before the
    /// participants: a day's JSON is streamed as its trades are read, and
    /// the rows are known once the last trade has been counted.
    pub trades: Vec<TradeLine>,
    /// One row per participant whose cash moved, by name then id.
    pub participants: Vec<ParticipantSettlement>,
    /// The participant columns summed.
    pub totals: SettlementTotals,
}

/// One participant's day: its columns lead from `opening_cash` to
/// `closing_cash` to the fen ([`ParticipantSettlement::closing_from_columns`]).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ParticipantSettlement {
    /// The participant.
    pub participant_id: Uuid,
    /// Its name.
    pub name: String,
    /// CNY at the start of the day, held cash included.
    #[serde(with = "display_text")]
    pub opening_cash: Decimal,
    /// Value of the day's trades it bought (auction awards included).
    #[serde(with = "display_text")]
    pub bought_value: Decimal,
    /// Value of the day's trades it sold.
    #[serde(with = "display_text")]
    pub sold_value: Decimal,
    /// Commission it paid on the day's trades.
    #[serde(with = "display_text")]
    pub commissions: Decimal,
    /// Invoices it paid from its cash account (surcharge included).
    #[serde(with = "display_text")]
    pub fees_paid: Decimal,
    /// Cash deposited.
    #[serde(with = "display_text")]
    pub deposits: Decimal,
    /// Cash withdrawn.
    #[serde(with = "display_text")]
    pub withdrawals: Decimal,
    /// Every other change (a reclamation's compensation, …), signed.
    #[serde(with = "display_text")]
    pub other: Decimal,
    /// CNY at the end of the day, held cash included.
    #[serde(with = "display_text")]
    pub closing_cash: Decimal,
}

/// One trade of the day.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct TradeLine {
    /// The trade.
    pub trade_id: Uuid,
    /// When it settled.
    #[serde(with = "time_text")]
    pub executed_at: DateTime<Utc>,
    /// What was traded.
    pub instrument: InstrumentCode,
    /// How it came about.
    pub method: TradeMethod,
    /// How much, as the trade keeps it.
    #[serde(with = "display_text")]
    pub quantity: Decimal,
    /// CNY per unit, as the trade keeps it.
    #[serde(with = "display_text")]
    pub price: Decimal,
    /// CNY the buyer paid.
    #[serde(with = "display_text")]
    pub value: Decimal,
    /// Who bought.
    pub buyer_participant_id: Uuid,
    /// Who sold; `null` when the authority sold, in an auction.
    pub seller_participant_id: Option<Uuid>,
    /// The buyer's commission.
    #[serde(with = "display_text")]
    pub buyer_commission: Decimal,
    /// The seller's commission.
    #[serde(with = "display_text")]
    pub seller_commission: Decimal,
}

/// The participant money columns summed over the rows.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SettlementTotals {
    /// Σ `opening_cash`.
    #[serde(with = "display_text")]
    pub opening_cash: Decimal,
    /// Σ `bought_value`.
    #[serde(with = "display_text")]
    pub bought_value: Decimal,
    /// Σ `sold_value`.
    #[serde(with = "display_text")]
    pub sold_value: Decimal,
    /// Σ `commissions`.
    #[serde(with = "display_text")]
    pub commissions: Decimal,
    /// Σ `fees_paid`.
    #[serde(with = "display_text")]
    pub fees_paid: Decimal,
    /// Σ `deposits`.
    #[serde(with = "display_text")]
    pub deposits: Decimal,
    /// Σ `withdrawals`.
    #[serde(with = "display_text")]
    pub withdrawals: Decimal,
    /// Σ `other`.
    #[serde(with = "display_text")]
    pub other: Decimal,
    /// Σ `closing_cash`.
    #[serde(with = "display_text")]
    pub closing_cash: Decimal,
}

/// Why a day's settlement does not reconcile with the ledger. Nothing is
/// settled; the figures read disagree with each other.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Unreconciled {
    /// A cash figure read (a balance, a posting, a trade's value or
    /// commission) is not a whole number of fen.
    #[error("{figure} of {id} is {amount}, not a whole number of fen")]
    NotWholeFen {
        /// The participant or the trade it belongs to.
        id: Uuid,
        /// Which figure.
        figure: &'static str,
        /// The figure.
        amount: Decimal,
    },
    /// A trade names a participant whose cash day was not read.
    #[error("trade {trade_id} names participant {participant_id}, whose cash was not read")]
    MissingCashDay {
        /// The participant.
        participant_id: Uuid,
        /// The trade naming it.
        trade_id: Uuid,
    },
    /// The participant's postings in the trades' ledger transactions do not
    /// sum to `sold_value` − `bought_value` − `commissions` of its trades.
    #[error(
        "participant {participant_id} ({name}): the postings of its trades sum to {postings}, \
         but sold_value − bought_value − commissions of its trades is {trades}"
    )]
    TradeCash {
        /// The participant.
        participant_id: Uuid,
        /// Its name.
        name: String,
        /// What its trades' postings sum to.
        postings: Decimal,
        /// What its trades say they should.
        trades: Decimal,
    },
    /// The columns do not lead from the opening balance to the closing one.
    #[error(
        "participant {participant_id} ({name}): closing_cash is {closing_cash}, \
         but the columns give {columns}"
    )]
    ClosingCash {
        /// The participant.
        participant_id: Uuid,
        /// Its name.
        name: String,
        /// The closing balance read.
        closing_cash: Decimal,
        /// opening − bought + sold − commissions − fees_paid + deposits −
        /// withdrawals + other.
        columns: Decimal,
    },
}

/// The settlement of business day `date` from each participant's cash on
/// the day and the day's trades (every method; none of another day), all in
/// memory: [`DayTrades`], [`CashTotals`] and [`settle_cash`] as the store
/// uses them on a day too large to hold, composed.
///
/// # Panics
/// When a trade is of another business day, a trade's buyer is its seller,
/// or two cash days are of one participant: the caller read them wrongly.
///
/// # Errors
/// [`Unreconciled`], in this order of precedence: `NotWholeFen` for a
/// trade's price, value or commission (the first trade in time order);
/// then as [`settle_cash`].
pub fn settle_day(
    date: NaiveDate,
    cash: Vec<CashDay>,
    trades: &[Trade],
) -> Result<Settlement, Unreconciled> {
    let mut ordered: Vec<&Trade> = trades.iter().collect();
    ordered.sort_by_key(|trade| (trade.executed_at, trade.id));
    let mut day_trades = DayTrades::new(date);
    let mut lines = Vec::with_capacity(ordered.len());
    for trade in ordered {
        lines.push(day_trades.add(trade)?);
    }
    let trade_transactions: HashSet<Uuid> = trades.iter().map(|t| t.transaction_id).collect();
    let totals = cash
        .into_iter()
        .map(|day| {
            let mut totals =
                CashTotals::new(day.participant_id, day.name, day.opening, day.closing);
            for posting in &day.postings {
                let in_trade = trade_transactions.contains(&posting.transaction_id);
                totals.add(&posting.kind, posting.amount, in_trade);
            }
            totals
        })
        .collect();
    let head = settle_cash(totals, &day_trades)?;
    Ok(Settlement {
        date,
        participants: head.participants,
        trades: lines,
        totals: head.totals,
    })
}

/// The day's trades folded one at a time, in time order: each becomes its
/// [`TradeLine`] (money checked to the fen), and each party's bought,
/// sold and commission figures add up. What is kept grows with the
/// participants, not with the trades.
#[derive(Debug, Clone)]
pub struct DayTrades {
    date: NaiveDate,
    figures: BTreeMap<Uuid, TradeFigures>,
    /// Each party in the order it first traded, with that first trade.
    first_trades: Vec<(Uuid, Uuid)>,
}

impl DayTrades {
    /// No trade yet on business day `date`.
    #[must_use]
    pub fn new(date: NaiveDate) -> Self {
        Self {
            date,
            figures: BTreeMap::new(),
            first_trades: Vec::new(),
        }
    }

    /// Adds the day's next trade (in time order, then id) and answers its
    /// line.
    ///
    /// # Panics
    /// When the trade is of another business day or its buyer is its
    /// seller: the caller read it wrongly.
    ///
    /// # Errors
    /// [`Unreconciled::NotWholeFen`] for its price, value or a commission.
    pub fn add(&mut self, trade: &Trade) -> Result<TradeLine, Unreconciled> {
        let line = TradeLine::of(self.date, trade)?;
        self.count(line.buyer_participant_id, line.trade_id, |figures| {
            figures.bought += line.value;
            figures.commissions += line.buyer_commission;
        });
        if let Some(seller) = line.seller_participant_id {
            self.count(seller, line.trade_id, |figures| {
                figures.sold += line.value;
                figures.commissions += line.seller_commission;
            });
        }
        Ok(line)
    }

    fn count(&mut self, party: Uuid, trade_id: Uuid, add: impl FnOnce(&mut TradeFigures)) {
        let figures = self.figures.entry(party).or_insert_with(|| {
            self.first_trades.push((party, trade_id));
            TradeFigures::default()
        });
        add(figures);
    }
}

impl TradeLine {
    /// The line of a trade of business day `date`, its money checked to the
    /// fen.
    ///
    /// # Panics
    /// When the trade is of another business day or its buyer is its
    /// seller.
    ///
    /// # Errors
    /// [`Unreconciled::NotWholeFen`] for its price, value or a commission.
    pub fn of(date: NaiveDate, trade: &Trade) -> Result<Self, Unreconciled> {
        assert_eq!(
            trade.business_date, date,
            "trade {} is of another day",
            trade.id
        );
        assert_ne!(
            Some(trade.buyer_id),
            trade.seller_id,
            "trade {} is a self-trade",
            trade.id
        );
        Ok(Self {
            trade_id: trade.id,
            executed_at: trade.executed_at,
            instrument: trade.instrument.clone(),
            method: trade.method,
            quantity: trade.quantity,
            price: fen(trade.price, trade.id, "price")?,
            value: fen(trade.value, trade.id, "value")?,
            buyer_participant_id: trade.buyer_id,
            seller_participant_id: trade.seller_id,
            buyer_commission: fen(trade.buyer_commission, trade.id, "buyer_commission")?,
            seller_commission: fen(trade.seller_commission, trade.id, "seller_commission")?,
        })
    }
}

/// One participant's cash on the day with its postings summed per column
/// as they are read, one at a time: a day of a million trades is never held
/// posting by posting.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CashTotals {
    /// Whose cash.
    pub participant_id: Uuid,
    /// The participant's name.
    pub name: String,
    /// The CNY balance at the start of the day (held cash included).
    pub opening: Decimal,
    /// The CNY balance at the end of the day (or now, for today).
    pub closing: Decimal,
    sums: PostingSums,
    /// Whether a posting changed the balance.
    moved: bool,
    /// The first posting that is not a whole number of fen.
    not_whole: Option<Decimal>,
}

impl CashTotals {
    /// No posting yet.
    #[must_use]
    pub fn new(participant_id: Uuid, name: String, opening: Decimal, closing: Decimal) -> Self {
        Self {
            participant_id,
            name,
            opening,
            closing,
            sums: PostingSums::default(),
            moved: false,
            not_whole: None,
        }
    }

    /// Adds one posting on its CNY account: `kind` is its ledger
    /// transaction's kind, `in_trade` whether that transaction is one of the
    /// day's trades'. The trades' postings are summed apart, to be checked
    /// against the trades; `cash.deposit`, `cash.withdrawal` and
    /// `invoice.paid` postings are deposits, withdrawals and fees paid (as
    /// positive figures when the money moved the usual way); the rest is
    /// `other`, signed.
    pub fn add(&mut self, kind: &str, amount: Decimal, in_trade: bool) {
        self.add_group(&PostingGroup {
            kind,
            in_trade,
            sum: amount,
            moved: !amount.is_zero(),
            whole_fen: money(amount) == amount,
        });
    }

    /// Adds postings of one kind summed by the database: as [`CashTotals::add`]
    /// for each of them.
    pub fn add_group(&mut self, group: &PostingGroup<'_>) {
        if !group.whole_fen && self.not_whole.is_none() {
            self.not_whole = Some(group.sum);
        }
        self.moved |= group.moved;
        let (sums, amount) = (&mut self.sums, group.sum);
        if group.in_trade {
            sums.trades += amount;
            return;
        }
        match group.kind {
            DEPOSIT_KIND => sums.deposits += amount,
            WITHDRAWAL_KIND => sums.withdrawals -= amount,
            INVOICE_PAID_KIND => sums.fees_paid -= amount,
            _ => sums.other += amount,
        }
    }

    /// Whether a posting changed the balance: only such participants are
    /// listed.
    #[must_use]
    pub fn moved(&self) -> bool {
        self.moved
    }
}

/// Postings of one participant on the day with the same transaction kind,
/// all in the day's trades' transactions or all outside them, summed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct PostingGroup<'a> {
    /// Their ledger transactions' kind.
    pub kind: &'a str,
    /// Whether their transactions are trades'.
    pub in_trade: bool,
    /// Their amounts summed.
    pub sum: Decimal,
    /// Whether one of them changed the balance.
    pub moved: bool,
    /// Whether every one of them is a whole number of fen.
    pub whole_fen: bool,
}

/// A day's participant rows and their totals: the settlement but its
/// trade lines, which [`DayTrades`] gives one by one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SettlementHead {
    /// The business day.
    pub date: NaiveDate,
    /// One row per participant whose cash moved, by name then id.
    pub participants: Vec<ParticipantSettlement>,
    /// The participant columns summed.
    pub totals: SettlementTotals,
}

/// The participant rows of the day whose trades `trades` folded, from each
/// participant's cash totals, every row reconciled.
///
/// # Panics
/// When two cash totals are of one participant.
///
/// # Errors
/// [`Unreconciled`], in this order of precedence: `MissingCashDay` when a
/// party to a trade has no cash totals (the first such party, in the order
/// the parties first traded); then, participant by participant by name
/// then id (listed or not: every one is reconciled), `NotWholeFen` for its
/// balances or a posting, `TradeCash` when its trades' postings disagree
/// with its trades, and `ClosingCash` when its columns do not lead from its
/// opening to its closing balance.
pub fn settle_cash(
    mut cash: Vec<CashTotals>,
    trades: &DayTrades,
) -> Result<SettlementHead, Unreconciled> {
    cash.sort_by(|a, b| (&a.name, a.participant_id).cmp(&(&b.name, b.participant_id)));
    let read: HashSet<Uuid> = cash.iter().map(|day| day.participant_id).collect();
    assert_eq!(read.len(), cash.len(), "one cash day per participant");
    if let Some((participant_id, trade_id)) = trades
        .first_trades
        .iter()
        .find(|(party, _)| !read.contains(party))
    {
        return Err(Unreconciled::MissingCashDay {
            participant_id: *participant_id,
            trade_id: *trade_id,
        });
    }
    let mut participants = Vec::new();
    for day in cash {
        let own = trades
            .figures
            .get(&day.participant_id)
            .copied()
            .unwrap_or_default();
        let moved = day.moved;
        let row = settle_participant(day, own)?;
        if moved {
            participants.push(row);
        }
    }
    let totals = SettlementTotals::of(&participants);
    Ok(SettlementHead {
        date: trades.date,
        participants,
        totals,
    })
}

impl ParticipantSettlement {
    /// The closing balance its columns lead to: `opening_cash` −
    /// `bought_value` + `sold_value` − `commissions` − `fees_paid` +
    /// `deposits` − `withdrawals` + `other`. Equal to `closing_cash` in
    /// every settlement [`settle_day`] returns.
    #[must_use]
    pub fn closing_from_columns(&self) -> Decimal {
        money(
            self.opening_cash - self.bought_value + self.sold_value
                - self.commissions
                - self.fees_paid
                + self.deposits
                - self.withdrawals
                + self.other,
        )
    }
}

impl SettlementTotals {
    /// Each money column summed over `rows`.
    #[must_use]
    pub fn of(rows: &[ParticipantSettlement]) -> Self {
        let sum = |column: fn(&ParticipantSettlement) -> Decimal| {
            money(
                rows.iter()
                    .map(column)
                    .fold(Decimal::ZERO, |total, figure| total + figure),
            )
        };
        Self {
            opening_cash: sum(|row| row.opening_cash),
            bought_value: sum(|row| row.bought_value),
            sold_value: sum(|row| row.sold_value),
            commissions: sum(|row| row.commissions),
            fees_paid: sum(|row| row.fees_paid),
            deposits: sum(|row| row.deposits),
            withdrawals: sum(|row| row.withdrawals),
            other: sum(|row| row.other),
            closing_cash: sum(|row| row.closing_cash),
        }
    }
}

/// What one participant's trades of the day add up to.
#[derive(Debug, Clone, Copy, Default)]
struct TradeFigures {
    bought: Decimal,
    sold: Decimal,
    commissions: Decimal,
}

impl TradeFigures {
    /// The cash its trades moved: sold − bought − commissions.
    fn cash(self) -> Decimal {
        self.sold - self.bought - self.commissions
    }
}

/// A participant's postings of the day, summed per column.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
struct PostingSums {
    /// Postings of the trades' transactions, signed.
    trades: Decimal,
    deposits: Decimal,
    withdrawals: Decimal,
    fees_paid: Decimal,
    other: Decimal,
}

/// One participant's row, reconciled: its trades' postings against its
/// trades, then its columns against its closing balance.
fn settle_participant(
    day: CashTotals,
    trades: TradeFigures,
) -> Result<ParticipantSettlement, Unreconciled> {
    let id = day.participant_id;
    let opening = fen(day.opening, id, "opening_cash")?;
    let closing = fen(day.closing, id, "closing_cash")?;
    if let Some(amount) = day.not_whole {
        return Err(Unreconciled::NotWholeFen {
            id,
            figure: "a posting",
            amount,
        });
    }
    let sums = day.sums;
    if sums.trades != trades.cash() {
        return Err(Unreconciled::TradeCash {
            participant_id: id,
            name: day.name,
            postings: money(sums.trades),
            trades: money(trades.cash()),
        });
    }
    let row = ParticipantSettlement {
        participant_id: id,
        name: day.name,
        opening_cash: money(opening),
        bought_value: money(trades.bought),
        sold_value: money(trades.sold),
        commissions: money(trades.commissions),
        fees_paid: money(sums.fees_paid),
        deposits: money(sums.deposits),
        withdrawals: money(sums.withdrawals),
        other: money(sums.other),
        closing_cash: money(closing),
    };
    let columns = row.closing_from_columns();
    if columns != row.closing_cash {
        return Err(Unreconciled::ClosingCash {
            participant_id: id,
            name: row.name,
            closing_cash: row.closing_cash,
            columns,
        });
    }
    Ok(row)
}

/// `amount` at two places, refused unless it is a whole number of fen.
fn fen(amount: Decimal, id: Uuid, figure: &'static str) -> Result<Decimal, Unreconciled> {
    let fixed = money(amount);
    if fixed == amount {
        Ok(fixed)
    } else {
        Err(Unreconciled::NotWholeFen { id, figure, amount })
    }
}

/// A sum of whole fen written with two places, zero never negative.
fn money(amount: Decimal) -> Decimal {
    let mut fixed = amount;
    fixed.rescale(MONEY_SCALE);
    if fixed.is_zero() {
        fixed.set_sign_positive(true);
    }
    fixed
}

/// The JSON settlement's bytes before its first trade line:
/// `{"date":…,"trades":[`. Followed by each line's [`json_trade_line`] and
/// by [`SettlementHead::json_closing`], the bytes are exactly those of the
/// [`Settlement`] serialized whole.
#[must_use]
pub fn json_opening(date: NaiveDate) -> Vec<u8> {
    let mut out = b"{\"date\":".to_vec();
    out.extend(serde_json::to_vec(&date.to_string()).expect("a date is text"));
    out.extend(b",\"trades\":[");
    out
}

impl SettlementHead {
    /// The JSON settlement's bytes after its last trade line:
    /// `],"participants":[…],"totals":{…}}`.
    #[must_use]
    pub fn json_closing(&self) -> Vec<u8> {
        let mut out = b"],\"participants\":".to_vec();
        out.extend(serde_json::to_vec(&self.participants).expect("rows are text and uuids"));
        out.extend(b",\"totals\":");
        out.extend(serde_json::to_vec(&self.totals).expect("totals are text"));
        out.push(b'}');
        out
    }
}

/// One trade line of the JSON settlement, after a comma unless it is the
/// `first`.
#[must_use]
pub fn json_trade_line(line: &TradeLine, first: bool) -> Vec<u8> {
    let mut out = if first { Vec::new() } else { vec![b','] };
    serde_json::to_writer(&mut out, line).expect("a trade line is text and uuids");
    out
}

/// The participant rows as CSV for Excel: UTF-8 with a byte order mark, a
/// header of [`PARTICIPANT_COLUMNS`], CRLF line ends (RFC 4180), each cell
/// the text of its JSON value (`null` as an empty cell).
#[must_use]
pub fn participants_csv(participants: &[ParticipantSettlement]) -> Vec<u8> {
    csv(&PARTICIPANT_COLUMNS, participants)
}

/// The trade lines as CSV, written like [`participants_csv`] with a header
/// of [`TRADE_COLUMNS`]; an auction's seller is an empty cell.
#[must_use]
pub fn trades_csv(lines: &[TradeLine]) -> Vec<u8> {
    csv(&TRADE_COLUMNS, lines)
}

/// Rows as CSV; each cell is the row's JSON value under its column, so the
/// CSV says exactly what the JSON says.
fn csv<T: Serialize>(columns: &[&str], rows: &[T]) -> Vec<u8> {
    let mut out = String::from("\u{feff}");
    write_record(&mut out, columns.iter().map(|column| (*column).to_owned()));
    for row in rows {
        let value = serde_json::to_value(row).expect("a settlement row is text and uuids");
        let fields = value.as_object().expect("a settlement row is an object");
        assert_eq!(fields.len(), columns.len(), "one column per field");
        write_record(
            &mut out,
            columns.iter().map(|column| {
                let value = fields.get(*column).expect("every column is a field");
                cell_text(value)
            }),
        );
    }
    out.into_bytes()
}

/// A JSON value as a cell: a string as itself, `null` as nothing.
fn cell_text(value: &Value) -> String {
    match value {
        Value::String(text) => text.clone(),
        Value::Null => String::new(),
        other => other.to_string(),
    }
}

/// One CSV record and its CRLF (RFC 4180): a cell with a comma, a quote, CR
/// or LF is quoted, its quotes doubled. Every CSV the ledger writes is
/// written record by record with it.
///
/// A text cell that a spreadsheet would run as a formula (it begins with
/// `=`, `+`, `-`, `@`, a tab or CR, and is not a plain number such as
/// `-12.50`) is written with a leading `'`, which spreadsheets show as text:
/// a participant named `=HYPERLINK(…)` is a name in the file, never a link.
pub fn write_record(out: &mut String, cells: impl Iterator<Item = String>) {
    for (index, cell) in cells.enumerate() {
        if index > 0 {
            out.push(',');
        }
        let cell = if runs_as_formula(&cell) {
            format!("'{cell}")
        } else {
            cell
        };
        if cell.contains([',', '"', '\r', '\n']) {
            out.push('"');
            out.push_str(&cell.replace('"', "\"\""));
            out.push('"');
        } else {
            out.push_str(&cell);
        }
    }
    out.push_str("\r\n");
}

/// Whether a spreadsheet would take `cell` for a formula: it begins with
/// `=`, `+`, `-`, `@`, a tab or CR, and is not a plain decimal.
fn runs_as_formula(cell: &str) -> bool {
    let plain_number = |text: &str| {
        let unsigned = text.strip_prefix('-').unwrap_or(text);
        let (whole, fraction) = unsigned.split_once('.').unwrap_or((unsigned, "0"));
        let digits = |s: &str| !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit());
        digits(whole) && digits(fraction)
    };
    cell.starts_with(['=', '+', '-', '@', '\t', '\r']) && !plain_number(cell)
}
