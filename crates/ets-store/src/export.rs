//! The regulator's trade history export (SPEC §6): every trade a filter
//! keeps, with its parties' names, handed on one at a time as the database
//! sends it, so an export of a million trades is never held in memory.

use std::future::Future;

use ets_core::InstrumentCode;
use ets_engine::market::Trade;

use crate::database::Param::{Text, Time, Uuid as Id};
use crate::read::TradeFilter;
use crate::rows::{self, StoredRow, TRADE_COLUMNS};
use crate::{Store, StoreError};

/// A trade with the names of its parties.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TradeRecord {
    /// The trade.
    pub trade: Trade,
    /// The buyer's name.
    pub buyer_name: String,
    /// The seller's name; `None` when the authority sold, in an auction.
    pub seller_name: Option<String>,
}

impl Store {
    /// Hands each trade `filter` keeps (its `after` and `limit` aside) to
    /// `each`, by execution time then id, with its parties' names.
    ///
    /// # Errors
    /// The database failure, or what `each` returns.
    pub async fn each_trade_record<E, F, Fut>(&self, filter: &TradeFilter, each: F) -> Result<(), E>
    where
        E: From<StoreError>,
        F: FnMut(TradeRecord) -> Fut,
        Fut: Future<Output = Result<(), E>>,
    {
        let columns = format!("t.{}", TRADE_COLUMNS.replace(", ", ", t."));
        let sql = format!(
            "SELECT {columns}, b.name AS buyer_name, s.name AS seller_name FROM trades t \
             JOIN participants b ON b.id = t.buyer_id \
             LEFT JOIN participants s ON s.id = t.seller_id \
             WHERE ($1::uuid IS NULL OR t.buyer_id = $1 OR t.seller_id = $1) \
             AND ($2::text IS NULL OR t.instrument = $2) AND ($3::text IS NULL OR t.method = $3) \
             AND ($4::timestamptz IS NULL OR t.executed_at >= $4) \
             AND ($5::timestamptz IS NULL OR t.executed_at < $5) \
             ORDER BY t.executed_at, t.id"
        );
        let params = [
            Id(filter.participant),
            Text(filter.instrument.as_ref().map(InstrumentCode::as_str)),
            Text(filter.method.as_deref()),
            Time(filter.from),
            Time(filter.to),
        ];
        let mut snapshot = self.db.snapshot().await?;
        snapshot.each(&sql, &params, record, each).await
    }
}

fn record(row: &dyn StoredRow) -> crate::load::Read<TradeRecord> {
    Ok(TradeRecord {
        trade: rows::trade(row)?,
        buyer_name: row.text("buyer_name")?,
        seller_name: row.optional_text("seller_name")?,
    })
}
