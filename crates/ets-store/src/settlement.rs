//! What a day's settlement reads: every CNY posting of the participants on
//! the business day, with its transaction's kind, and the day's trades.
//! `ets_engine::settlement::settle_day` sorts them into columns and checks
//! that they reconcile.
//!
//! One statement gives each account's postings of the day in version order,
//! and each posting carries the balance after it: the opening balance is
//! the first one's balance before it, the closing balance the last one's
//! after it. The trades are read after the postings and kept only where
//! their ledger transaction was among the postings read, so a trade that
//! commits between the two reads cannot make the day disagree with itself.

use std::collections::{BTreeMap, HashMap, HashSet};

use chrono::NaiveDate;
use ets_core::Owner;
use ets_engine::market::Trade;
use ets_engine::settlement::{CashDay, CashPosting, business_day_bounds};
use uuid::Uuid;

use crate::database::Param::{Text, Time};
use crate::rows::{self, StoredRow, TRADE_COLUMNS, decode_error};
use crate::{Store, StoreError};

/// One CNY posting of a participant on the day.
struct DayPosting {
    participant: Uuid,
    amount: ets_core::Decimal,
    balance_after: ets_core::Decimal,
    transaction_id: Uuid,
    kind: String,
}

impl Store {
    /// The cash days and trades of the business day `date` (the day so
    /// far, for today), for `ets_engine::settlement::settle_day`.
    ///
    /// # Errors
    /// The database failure.
    pub async fn settlement_day(
        &self,
        date: NaiveDate,
    ) -> Result<(Vec<CashDay>, Vec<Trade>), StoreError> {
        let (start, end) = business_day_bounds(date);
        let sql = "SELECT p.owner, p.amount, p.balance_after, p.transaction_id, t.kind \
             FROM ledger_transactions t JOIN postings p ON p.transaction_id = t.id \
             WHERE t.at >= $1::timestamptz AND t.at < $2::timestamptz \
             AND p.instrument = 'CNY' AND p.owner NOT LIKE 'system:%' \
             ORDER BY p.owner, p.version";
        let postings = self
            .db
            .all(sql, &[Time(Some(start)), Time(Some(end))], day_posting)
            .await?;
        let sql = format!(
            "SELECT {TRADE_COLUMNS} FROM trades WHERE business_date = $1::date \
             ORDER BY executed_at, id"
        );
        let date_text = date.to_string();
        let trades = self
            .db
            .all(&sql, &[Text(Some(&date_text))], |row| rows::trade(row))
            .await?;
        let read: HashSet<Uuid> = postings.iter().map(|p| p.transaction_id).collect();
        let trades = trades
            .into_iter()
            .filter(|t| read.contains(&t.transaction_id))
            .collect();
        let names = self.participant_names().await?;
        Ok((cash_days(postings, &names), trades))
    }

    async fn participant_names(&self) -> Result<HashMap<Uuid, String>, StoreError> {
        let rows = self
            .db
            .all("SELECT id, name FROM participants", &[], |row| {
                Ok((row.uuid("id")?, row.text("name")?))
            })
            .await?;
        Ok(rows.into_iter().collect())
    }
}

fn day_posting(row: &dyn StoredRow) -> crate::load::Read<DayPosting> {
    let owner = row.text("owner")?;
    let Some(Owner::Participant(participant)) = Owner::from_storage_key(&owner) else {
        return Err(decode_error("posting owner"));
    };
    Ok(DayPosting {
        participant,
        amount: row.decimal("amount")?,
        balance_after: row.decimal("balance_after")?,
        transaction_id: row.uuid("transaction_id")?,
        kind: row.text("kind")?,
    })
}

/// Each participant's postings (in version order) as its cash day.
fn cash_days(postings: Vec<DayPosting>, names: &HashMap<Uuid, String>) -> Vec<CashDay> {
    let mut days: BTreeMap<Uuid, CashDay> = BTreeMap::new();
    for posting in postings {
        let day = days.entry(posting.participant).or_insert_with(|| CashDay {
            participant_id: posting.participant,
            name: names.get(&posting.participant).cloned().unwrap_or_default(),
            opening: posting.balance_after - posting.amount,
            closing: posting.balance_after,
            postings: Vec::new(),
        });
        day.closing = posting.balance_after;
        day.postings.push(CashPosting {
            transaction_id: posting.transaction_id,
            kind: posting.kind,
            amount: posting.amount,
        });
    }
    days.into_values().collect()
}
