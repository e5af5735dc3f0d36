//! What a day's settlement reads, from one snapshot of the database: every
//! CNY posting of the participants on the business day, with its
//! transaction's kind and whether that transaction is one of the day's
//! trades', summed per participant as it is read; then the day's trades,
//! one at a time. `ets_engine::settlement` sorts the sums into columns and
//! checks that they reconcile.
//!
//! A day of a million trades has some five million postings: none is kept
//! (each participant's sums are), and the trades are handed on as they
//! arrive. The snapshot makes the two reads agree: a trade that commits
//! meanwhile is in neither.

use std::collections::HashMap;

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::{Decimal, Owner};
use ets_engine::market::Trade;
use ets_engine::settlement::{CashTotals, PostingGroup};
use std::future::Future;
use uuid::Uuid;

use crate::database::Param::{Integer, Text, Time};
use crate::database::Snapshot;
use crate::rows::{self, StoredRow, TRADE_COLUMNS, decode_error};
use crate::{Store, StoreError};

/// One business day as the settlement reads it, from one snapshot: on
/// PostgreSQL two connections share it (the second imports the first's
/// exported snapshot), so the postings are summed while the trades stream;
/// on SQLite one connection reads both in turn. The connections are held
/// until it is dropped.
pub struct SettlementDay {
    cash: CashReader,
    trades: Option<Snapshot>,
}

/// The reader of the participants' cash.
struct CashReader {
    snapshot: Snapshot,
    date: NaiveDate,
    bounds: (DateTime<Utc>, DateTime<Utc>),
}

/// Whether a posting's transaction is one of the day's trades': the
/// `trades` the postings are joined with below.
const IN_TRADE: &str = "(tr.transaction_id IS NOT NULL)";

/// The participants' CNY postings of the day, with their transactions and
/// the day's trades' transactions. A join, not `IN (SELECT …)`: PostgreSQL
/// plans an `IN` over a million trades that does not fit its work memory
/// as a scan of them per posting.
const DAY_POSTINGS: &str = "FROM ledger_transactions t JOIN postings p ON p.transaction_id = t.id \
     LEFT JOIN (SELECT DISTINCT transaction_id FROM trades WHERE business_date = $3::date) tr \
     ON tr.transaction_id = p.transaction_id \
     WHERE t.at >= $1::timestamptz AND t.at < $2::timestamptz \
     AND p.instrument = 'CNY' AND p.owner NOT LIKE 'system:%'";

/// Postings of one participant on the day of one kind, in trades or not:
/// summed by PostgreSQL, or one posting on SQLite.
struct DayGroup {
    participant: Uuid,
    kind: String,
    in_trade: bool,
    sum: Decimal,
    moved: bool,
    whole_fen: bool,
    first_version: i64,
    last_version: i64,
}

/// A participant's sums so far, and the versions its opening and closing
/// balances were read at.
struct Folding {
    totals: CashTotals,
    first_version: i64,
    last_version: i64,
}

impl Store {
    /// Begins reading business day `date` (the day so far, for today) for
    /// its settlement.
    ///
    /// # Errors
    /// The database failure.
    pub async fn settlement_day(&self, date: NaiveDate) -> Result<SettlementDay, StoreError> {
        let (snapshot, trades) = self.db.shared_snapshot().await?;
        Ok(SettlementDay {
            cash: CashReader {
                snapshot,
                date,
                bounds: self.zone.day_bounds(date),
            },
            trades,
        })
    }
}

impl SettlementDay {
    /// The business day read.
    #[must_use]
    pub fn date(&self) -> NaiveDate {
        self.cash.date
    }

    /// Hands each of the day's trades to `each`, by execution time then id,
    /// as they are read, and answers each participant whose CNY account has
    /// a posting on the day, with its balances at the day's bounds (held
    /// cash included) and its postings summed as they are read. On
    /// PostgreSQL both reads run at once.
    ///
    /// # Errors
    /// The database failure, or what `each` returns.
    pub async fn cash_and_trades<E, F, Fut>(&mut self, each: F) -> Result<Vec<CashTotals>, E>
    where
        E: From<StoreError>,
        F: FnMut(Trade) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let date = self.cash.date;
        match &mut self.trades {
            Some(trades) => {
                let cash = async { self.cash.read().await.map_err(E::from) };
                let (cash, ()) = tokio::try_join!(cash, each_trade(trades, date, each))?;
                Ok(cash)
            }
            None => {
                each_trade(&mut self.cash.snapshot, date, each).await?;
                Ok(self.cash.read().await?)
            }
        }
    }
}

impl CashReader {
    /// Each participant whose CNY account has a posting on the day, with
    /// its balances at the day's bounds and its postings summed.
    async fn read(&mut self) -> Result<Vec<CashTotals>, StoreError> {
        // PostgreSQL sums each participant's postings per kind; SQLite
        // answers them one by one (its SUM of text is a float) and each is
        // a group of one.
        let sql = if self.snapshot.sums_exactly() {
            format!(
                "SELECT p.owner, t.kind, {IN_TRADE} AS in_trade, SUM(p.amount) AS amount, \
                 bool_or(p.amount <> 0) AS moved, bool_and(p.amount = round(p.amount, 2)) AS whole, \
                 MIN(p.version) AS first_version, MAX(p.version) AS last_version \
                 {DAY_POSTINGS} GROUP BY 1, 2, 3"
            )
        } else {
            format!(
                "SELECT p.owner, t.kind, {IN_TRADE} AS in_trade, p.amount, \
                 p.version AS first_version, p.version AS last_version {DAY_POSTINGS}"
            )
        };
        let (start, end) = self.bounds;
        let date = self.date.to_string();
        let params = [Time(Some(start)), Time(Some(end)), Text(Some(&date))];
        let mut days: HashMap<Uuid, Folding> = HashMap::new();
        let decode = if self.snapshot.sums_exactly() {
            summed_group
        } else {
            single_posting
        };
        self.snapshot
            .each(&sql, &params, decode, |group| {
                fold(&mut days, &group);
                std::future::ready(Ok::<(), StoreError>(()))
            })
            .await?;
        self.balances(&mut days).await?;
        self.names(&mut days).await?;
        Ok(days.into_values().map(|folding| folding.totals).collect())
    }

    /// Each participant's opening balance (before its first posting of the
    /// day) and closing balance (after its last).
    async fn balances(&mut self, days: &mut HashMap<Uuid, Folding>) -> Result<(), StoreError> {
        let sql = "SELECT version, amount, balance_after FROM postings \
             WHERE owner = $1 AND instrument = 'CNY' AND (version = $2 OR version = $3)";
        for (participant, folding) in days.iter_mut() {
            let owner = Owner::Participant(*participant).storage_key();
            let params = [
                Text(Some(&owner)),
                Integer(Some(folding.first_version)),
                Integer(Some(folding.last_version)),
            ];
            let (first, last) = (folding.first_version, folding.last_version);
            let totals = &mut folding.totals;
            self.snapshot
                .each(
                    sql,
                    &params,
                    |row| {
                        Ok((
                            row.integer("version")?,
                            row.decimal("amount")?,
                            row.decimal("balance_after")?,
                        ))
                    },
                    |(version, amount, balance_after)| {
                        if version == first {
                            totals.opening = balance_after - amount;
                        }
                        if version == last {
                            totals.closing = balance_after;
                        }
                        std::future::ready(Ok::<(), StoreError>(()))
                    },
                )
                .await?;
        }
        Ok(())
    }

    /// The participants' names.
    async fn names(&mut self, days: &mut HashMap<Uuid, Folding>) -> Result<(), StoreError> {
        self.snapshot
            .each(
                "SELECT id, name FROM participants",
                &[],
                |row| Ok((row.uuid("id")?, row.text("name")?)),
                |(id, name)| {
                    if let Some(folding) = days.get_mut(&id) {
                        folding.totals.name = name;
                    }
                    std::future::ready(Ok::<(), StoreError>(()))
                },
            )
            .await
    }
}

/// Hands each of the day's trades to `each`, by execution time then id, as
/// they are read.
async fn each_trade<E, F, Fut>(snapshot: &mut Snapshot, date: NaiveDate, each: F) -> Result<(), E>
where
    E: From<StoreError>,
    F: FnMut(Trade) -> Fut,
    Fut: Future<Output = Result<(), E>>,
{
    let sql = format!(
        "SELECT {TRADE_COLUMNS} FROM trades WHERE business_date = $1::date \
         ORDER BY executed_at, id"
    );
    let date = date.to_string();
    snapshot
        .each(&sql, &[Text(Some(&date))], |row| rows::trade(row), each)
        .await
}

/// Adds a group of postings to its participant's sums, and widens the
/// versions whose balances are the day's bounds.
fn fold(days: &mut HashMap<Uuid, Folding>, group: &DayGroup) {
    let folding = days.entry(group.participant).or_insert_with(|| Folding {
        totals: CashTotals::new(
            group.participant,
            String::new(),
            Decimal::ZERO,
            Decimal::ZERO,
        ),
        first_version: group.first_version,
        last_version: group.last_version,
    });
    folding.first_version = folding.first_version.min(group.first_version);
    folding.last_version = folding.last_version.max(group.last_version);
    folding.totals.add_group(&PostingGroup {
        kind: &group.kind,
        in_trade: group.in_trade,
        sum: group.sum,
        moved: group.moved,
        whole_fen: group.whole_fen,
    });
}

fn participant(row: &dyn StoredRow) -> crate::load::Read<Uuid> {
    let owner = row.text("owner")?;
    match Owner::from_storage_key(&owner) {
        Some(Owner::Participant(participant)) => Ok(participant),
        _ => Err(decode_error("posting owner")),
    }
}

/// A group PostgreSQL summed.
fn summed_group(row: &dyn StoredRow) -> crate::load::Read<DayGroup> {
    Ok(DayGroup {
        participant: participant(row)?,
        kind: row.text("kind")?,
        in_trade: row.flag("in_trade")?,
        sum: row.decimal("amount")?,
        moved: row.flag("moved")?,
        whole_fen: row.flag("whole")?,
        first_version: row.integer("first_version")?,
        last_version: row.integer("last_version")?,
    })
}

/// One posting as a group of one.
fn single_posting(row: &dyn StoredRow) -> crate::load::Read<DayGroup> {
    let amount = row.decimal("amount")?;
    let mut fen = amount;
    fen.rescale(2);
    Ok(DayGroup {
        participant: participant(row)?,
        kind: row.text("kind")?,
        in_trade: row.flag("in_trade")?,
        sum: amount,
        moved: !amount.is_zero(),
        whole_fen: fen == amount,
        first_version: row.integer("first_version")?,
        last_version: row.integer("last_version")?,
    })
}
