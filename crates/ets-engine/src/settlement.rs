//! The settlement of one business day (SPEC §5): per participant whose cash
//! moved, the day's opening and closing cash and the columns that lead from
//! one to the other; the day's trades; the columns' totals; and the CSV the
//! finance department opens in Excel.
//!
//! Pure: the store reads each participant's balances at the day's bounds
//! ([`business_day_bounds`]), its CNY postings in between ([`CashDay`]) and
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

use chrono::{DateTime, Duration, NaiveDate, NaiveTime, Utc};
use ets_core::InstrumentCode;
use rust_decimal::Decimal;
use serde::Serialize;
use serde_json::Value;
use uuid::Uuid;

use crate::market::{Trade, TradeMethod};
use crate::payload::{display_text, time_text};

/// Hours Asia/Shanghai is ahead of UTC, all year (no daylight saving time);
/// the offset [`ets_core::instrument::business_date`] uses.
const SHANGHAI_OFFSET_HOURS: i64 = 8;

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
    /// One row per participant whose cash moved, by name then id.
    pub participants: Vec<ParticipantSettlement>,
    /// The day's trades, by execution time then id.
    pub trades: Vec<TradeLine>,
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

/// The business day `date` as instants: its start and its end (exclusive)
/// in Asia/Shanghai. An instant `at` is on `date`
/// ([`ets_core::instrument::business_date`]) exactly when start ≤ `at` < end.
#[must_use]
pub fn business_day_bounds(date: NaiveDate) -> (DateTime<Utc>, DateTime<Utc>) {
    let start = date.and_time(NaiveTime::MIN).and_utc() - Duration::hours(SHANGHAI_OFFSET_HOURS);
    (start, start + Duration::days(1))
}

/// The settlement of business day `date` from each participant's cash on
/// the day and the day's trades (every method; none of another day).
///
/// # Panics
/// When a trade is of another business day, a trade's buyer is its seller,
/// or two cash days are of one participant: the caller read them wrongly.
///
/// # Errors
/// [`Unreconciled`], in this order of precedence: `NotWholeFen` for a
/// trade's value or commission; `MissingCashDay` when a party to a trade
/// has no cash day; then, participant by participant in the rows' order
/// (listed or not: every cash day is reconciled), `NotWholeFen` for its
/// balances or postings, `TradeCash` when its postings in the trades'
/// transactions disagree with its trades, and `ClosingCash` when its
/// columns do not lead from its opening to its closing balance.
pub fn settle_day(
    date: NaiveDate,
    mut cash: Vec<CashDay>,
    trades: &[Trade],
) -> Result<Settlement, Unreconciled> {
    let lines = trade_lines(date, trades)?;
    cash.sort_by(|a, b| (&a.name, a.participant_id).cmp(&(&b.name, b.participant_id)));
    let read: HashSet<Uuid> = cash.iter().map(|day| day.participant_id).collect();
    assert_eq!(read.len(), cash.len(), "one cash day per participant");
    let figures = trade_figures(&lines, &read)?;
    let trade_transactions: HashSet<Uuid> = trades.iter().map(|t| t.transaction_id).collect();
    let mut participants = Vec::new();
    for day in cash {
        let moved = day.postings.iter().any(|posting| !posting.amount.is_zero());
        let own = figures
            .get(&day.participant_id)
            .copied()
            .unwrap_or_default();
        let row = settle_participant(day, own, &trade_transactions)?;
        if moved {
            participants.push(row);
        }
    }
    let totals = SettlementTotals::of(&participants);
    Ok(Settlement {
        date,
        participants,
        trades: lines,
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

/// The day's trades as lines, money checked to the fen, by execution time
/// then id.
fn trade_lines(date: NaiveDate, trades: &[Trade]) -> Result<Vec<TradeLine>, Unreconciled> {
    let mut lines = Vec::with_capacity(trades.len());
    for trade in trades {
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
        lines.push(TradeLine {
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
        });
    }
    lines.sort_by_key(|line| (line.executed_at, line.trade_id));
    Ok(lines)
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

/// Each party's trade figures; every party must be among the cash days
/// `read`.
fn trade_figures(
    lines: &[TradeLine],
    read: &HashSet<Uuid>,
) -> Result<BTreeMap<Uuid, TradeFigures>, Unreconciled> {
    let mut figures: BTreeMap<Uuid, TradeFigures> = BTreeMap::new();
    for line in lines {
        for party in std::iter::once(line.buyer_participant_id).chain(line.seller_participant_id) {
            if !read.contains(&party) {
                return Err(Unreconciled::MissingCashDay {
                    participant_id: party,
                    trade_id: line.trade_id,
                });
            }
        }
        let buyer = figures.entry(line.buyer_participant_id).or_default();
        buyer.bought += line.value;
        buyer.commissions += line.buyer_commission;
        if let Some(seller) = line.seller_participant_id {
            let seller = figures.entry(seller).or_default();
            seller.sold += line.value;
            seller.commissions += line.seller_commission;
        }
    }
    Ok(figures)
}

/// A participant's postings of the day, summed per column.
#[derive(Debug, Default)]
struct PostingSums {
    /// Postings of the trades' transactions, signed.
    trades: Decimal,
    deposits: Decimal,
    withdrawals: Decimal,
    fees_paid: Decimal,
    other: Decimal,
}

/// Sorts a participant's postings into columns: deposits, withdrawals and
/// invoice payments as positive figures when the money moved the usual way,
/// the rest signed.
fn sum_postings(
    day: &CashDay,
    trade_transactions: &HashSet<Uuid>,
) -> Result<PostingSums, Unreconciled> {
    let mut sums = PostingSums::default();
    for posting in &day.postings {
        let amount = fen(posting.amount, day.participant_id, "a posting")?;
        if trade_transactions.contains(&posting.transaction_id) {
            sums.trades += amount;
            continue;
        }
        match posting.kind.as_str() {
            DEPOSIT_KIND => sums.deposits += amount,
            WITHDRAWAL_KIND => sums.withdrawals -= amount,
            INVOICE_PAID_KIND => sums.fees_paid -= amount,
            _ => sums.other += amount,
        }
    }
    Ok(sums)
}

/// One participant's row, reconciled: its trades' postings against its
/// trades, then its columns against its closing balance.
fn settle_participant(
    day: CashDay,
    trades: TradeFigures,
    trade_transactions: &HashSet<Uuid>,
) -> Result<ParticipantSettlement, Unreconciled> {
    let id = day.participant_id;
    let opening = fen(day.opening, id, "opening_cash")?;
    let closing = fen(day.closing, id, "closing_cash")?;
    let sums = sum_postings(&day, trade_transactions)?;
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

/// The participant rows as CSV for Excel: UTF-8 with a byte order mark, a
/// header of [`PARTICIPANT_COLUMNS`], CRLF line ends (RFC 4180), each cell
/// the text of its JSON value (`null` as an empty cell).
#[must_use]
pub fn participants_csv(settlement: &Settlement) -> Vec<u8> {
    csv(&PARTICIPANT_COLUMNS, &settlement.participants)
}

/// The trade lines as CSV, written like [`participants_csv`] with a header
/// of [`TRADE_COLUMNS`]; an auction's seller is an empty cell.
#[must_use]
pub fn trades_csv(settlement: &Settlement) -> Vec<u8> {
    csv(&TRADE_COLUMNS, &settlement.trades)
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

/// One CSV record and its CRLF; a cell with a comma, a quote, CR or LF is
/// quoted, its quotes doubled.
fn write_record(out: &mut String, cells: impl Iterator<Item = String>) {
    for (index, cell) in cells.enumerate() {
        if index > 0 {
            out.push(',');
        }
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
