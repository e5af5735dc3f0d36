//! The market's daily statistics, folded by [`ets_engine::stats`] from the
//! trades of a period as the database sends them, on one snapshot.

use chrono::NaiveDate;
use ets_core::InstrumentCode;
use ets_engine::stats::{DailyStats, DayStats};

use crate::database::Param::Text;
use crate::rows::{self, TRADE_COLUMNS};
use crate::{Store, StoreError};

impl Store {
    /// An instrument's figures for each business day from `from` to `to`
    /// (both included) with trades, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn daily_stats(
        &self,
        instrument: &InstrumentCode,
        from: NaiveDate,
        to: NaiveDate,
    ) -> Result<Vec<DayStats>, StoreError> {
        let sql = format!(
            "SELECT {TRADE_COLUMNS} FROM trades WHERE instrument = $1 \
             AND business_date >= $2::date AND business_date <= $3::date \
             ORDER BY business_date, executed_at, id"
        );
        let (from, to) = (from.to_string(), to.to_string());
        let params = [
            Text(Some(instrument.as_str())),
            Text(Some(&from)),
            Text(Some(&to)),
        ];
        let mut stats = DailyStats::default();
        let mut snapshot = self.db.snapshot().await?;
        snapshot
            .each(
                &sql,
                &params,
                |row| rows::trade(row),
                |trade| {
                    stats.add(&trade);
                    std::future::ready(Ok::<(), StoreError>(()))
                },
            )
            .await?;
        Ok(stats.finish())
    }
}
