//! The reads of a batch on SQLite: one statement per kind of row, the
//! batch's keys bound as one JSON array and joined through `json_each`.

use chrono::{DateTime, NaiveDate, Utc};
use ets_core::journal::format_time;
use ets_core::matching::Side;
use ets_core::{Account, AccountKey, Hold, Instrument, InstrumentCode, RegionCode};
use ets_engine::auctions::{Auction, AuctionBid};
use ets_engine::authority::Pledge;
use ets_engine::batch::StoredIdempotency;
use ets_engine::command::Invoice;
use ets_engine::compliance::{Emission, Period};
use ets_engine::finance::Payment;
use ets_engine::market::{BookNeed, Order};
use ets_engine::negotiated::Proposal;
use rust_decimal::Decimal;
use sqlx::{Row, SqliteConnection};
use uuid::Uuid;

use super::price_ticks;
use crate::load::{BatchReads, Read, StoredParticipant};
use crate::rows::{
    self, AUCTION_COLUMNS, BID_COLUMNS, EMISSION_COLUMNS, INVOICE_COLUMNS, ORDER_COLUMNS,
    PLEDGE_COLUMNS, PROPOSAL_COLUMNS, SELECT_HOLDS, SELECT_INSTRUMENTS, SELECT_PAYMENTS, StoredRow,
    decode_error,
};

/// A list of keys as one JSON array, for `json_each`.
fn json_list<T: serde::Serialize>(keys: &[T]) -> String {
    serde_json::to_string(keys).unwrap_or_else(|_| "[]".to_owned())
}

impl BatchReads for SqliteConnection {
    async fn idempotency(
        &mut self,
        keys: &[(String, String)],
    ) -> Read<Vec<((String, String), StoredIdempotency)>> {
        let rows = sqlx::query(
            "SELECT i.scope, i.key, i.fingerprint, i.outcome FROM json_each(?1) j \
             JOIN idempotency_keys i ON i.scope = json_extract(j.value, '$[0]') \
                 AND i.key = json_extract(j.value, '$[1]')",
        )
        .bind(json_list(keys))
        .fetch_all(&mut *self)
        .await?;
        Ok(rows
            .into_iter()
            .map(|row| {
                let stored = StoredIdempotency {
                    fingerprint: row.get("fingerprint"),
                    outcome: row.get("outcome"),
                };
                ((row.get("scope"), row.get("key")), stored)
            })
            .collect())
    }

    async fn proposals(&mut self, ids: &[Uuid], due: Option<DateTime<Utc>>) -> Read<Vec<Proposal>> {
        let rows = sqlx::query(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades \
             WHERE id IN (SELECT value FROM json_each(?1)) \
             OR (?2 IS NOT NULL AND status = 'proposed' AND expires_at <= ?2)"
        ))
        .bind(json_list(ids))
        .bind(due.map(format_time))
        .fetch_all(&mut *self)
        .await?;
        rows.iter().map(rows::proposal).collect()
    }

    async fn pledges(&mut self, ids: &[Uuid]) -> Read<Vec<Pledge>> {
        let sql = format!(
            "SELECT {PLEDGE_COLUMNS} FROM pledges WHERE id IN (SELECT value FROM json_each(?1))"
        );
        let rows = sqlx::query(&sql)
            .bind(json_list(ids))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::pledge).collect()
    }

    async fn invoices(&mut self, ids: &[Uuid]) -> Read<Vec<Invoice>> {
        let sql = format!(
            "SELECT {INVOICE_COLUMNS} FROM invoices WHERE id IN (SELECT value FROM json_each(?1))"
        );
        let rows = sqlx::query(&sql)
            .bind(json_list(ids))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::invoice).collect()
    }

    async fn payments(&mut self, ids: &[Uuid]) -> Read<Vec<Payment>> {
        let sql = format!(
            "{SELECT_PAYMENTS} WHERE p.invoice_id IN (SELECT value FROM json_each(?1)) ORDER BY p.at, p.id"
        );
        let rows = sqlx::query(&sql)
            .bind(json_list(ids))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::payment).collect()
    }

    async fn auctions(&mut self, ids: &[Uuid]) -> Read<Vec<Auction>> {
        let sql = format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE id IN (SELECT value FROM json_each(?1))"
        );
        let rows = sqlx::query(&sql)
            .bind(json_list(ids))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::auction).collect()
    }

    async fn bids(&mut self, auctions: &[Uuid]) -> Read<Vec<AuctionBid>> {
        let sql = format!(
            "SELECT {BID_COLUMNS} FROM bids WHERE auction_id IN (SELECT value FROM json_each(?1))"
        );
        let rows = sqlx::query(&sql)
            .bind(json_list(auctions))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::bid).collect()
    }

    async fn orders(&mut self, ids: &[Uuid]) -> Read<Vec<Order>> {
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE id IN (SELECT value FROM json_each(?1))"
        );
        let rows = sqlx::query(&sql)
            .bind(json_list(ids))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::order).collect()
    }

    async fn book_side(&mut self, need: &BookNeed, limit: usize) -> Read<Vec<Order>> {
        let (_, _, order_by) = book_order(need.side);
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE instrument = ?1 AND side = '{side}' \
             AND status IN ('open', 'partially_filled') ORDER BY {order_by} LIMIT {limit}",
            side = need.side.as_str(),
        ))
        .bind(need.instrument.as_str())
        .fetch_all(&mut *self)
        .await?;
        rows.iter().map(rows::order).collect()
    }

    async fn book_page(
        &mut self,
        need: &BookNeed,
        after: Option<(Decimal, i64)>,
    ) -> Read<Vec<Order>> {
        let (reach, after_clause, order_by) = book_order(need.side);
        // The side is written into the statement, so SQLite can use the
        // side's partial index.
        let sql = format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE instrument = ?1 AND side = '{side}' \
             AND status IN ('open', 'partially_filled') AND {reach} \
             AND (?3 IS NULL OR {after_clause}) ORDER BY {order_by} LIMIT {page}",
            side = need.side.as_str(),
            page = ets_engine::market::BOOK_PAGE
        );
        let after = match after {
            Some((price, seq)) => Some((price_ticks(price)?, seq)),
            None => None,
        };
        let rows = sqlx::query(&sql)
            .bind(need.instrument.as_str())
            .bind(price_ticks(need.limit)?)
            .bind(after.map(|(ticks, _)| ticks))
            .bind(after.map(|(_, seq)| seq))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::order).collect()
    }

    async fn holds(&mut self, ids: &[Uuid]) -> Read<Vec<Hold>> {
        let sql = format!("{SELECT_HOLDS} WHERE id IN (SELECT value FROM json_each(?1))");
        let rows = sqlx::query(&sql)
            .bind(json_list(ids))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::hold).collect()
    }

    async fn accounts(&mut self, keys: &[AccountKey]) -> Read<Vec<Account>> {
        let pairs: Vec<(String, &str)> = keys
            .iter()
            .map(|k| (k.owner.storage_key(), k.instrument.as_str()))
            .collect();
        let rows = sqlx::query(
            "SELECT a.owner, a.instrument, a.balance, a.held, a.version FROM json_each(?1) j \
             JOIN accounts a ON a.owner = json_extract(j.value, '$[0]') \
                 AND a.instrument = json_extract(j.value, '$[1]')",
        )
        .bind(json_list(&pairs))
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| rows::account(row).map(Account::from))
            .collect()
    }

    async fn instruments(&mut self, codes: &[InstrumentCode]) -> Read<Vec<Instrument>> {
        let codes: Vec<&str> = codes.iter().map(InstrumentCode::as_str).collect();
        let sql = format!("{SELECT_INSTRUMENTS} WHERE code IN (SELECT value FROM json_each(?1))");
        let rows = sqlx::query(&sql)
            .bind(json_list(&codes))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::instrument).collect()
    }

    async fn participants(
        &mut self,
        ids: &[Uuid],
        credit_codes: &[String],
    ) -> Read<Vec<StoredParticipant>> {
        let rows = sqlx::query(
            "SELECT id, credit_code, region_code FROM participants \
             WHERE id IN (SELECT value FROM json_each(?1)) \
             OR credit_code IN (SELECT value FROM json_each(?2))",
        )
        .bind(json_list(ids))
        .bind(json_list(credit_codes))
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredParticipant {
                    id: row.uuid("id")?,
                    credit_code: row.try_get("credit_code")?,
                    region: RegionCode::parse(row.try_get("region_code")?)
                        .map_err(|_| decode_error("region code"))?,
                })
            })
            .collect()
    }

    async fn last_day_trades(
        &mut self,
        instruments: &[InstrumentCode],
        day: NaiveDate,
    ) -> Read<Vec<(InstrumentCode, Decimal, Decimal)>> {
        let mut trades = Vec::new();
        for code in instruments {
            let rows = sqlx::query(
                "SELECT quantity, price FROM trades WHERE instrument = ?1 AND business_date = \
                 (SELECT max(business_date) FROM trades WHERE instrument = ?1 AND business_date < ?2)",
            )
            .bind(code.as_str())
            .bind(day.to_string())
            .fetch_all(&mut *self)
            .await?;
            for row in &rows {
                trades.push((
                    code.clone(),
                    row.decimal("quantity")?,
                    row.decimal("price")?,
                ));
            }
        }
        Ok(trades)
    }

    async fn pollutant_units(&mut self, names: &[String]) -> Read<Vec<(String, String)>> {
        let sql = "SELECT DISTINCT pollutant, unit FROM instruments WHERE pollutant IN (SELECT value FROM json_each(?1))";
        let rows = sqlx::query(sql)
            .bind(json_list(names))
            .fetch_all(&mut *self)
            .await?;
        rows.iter()
            .map(|row| Ok((row.try_get("pollutant")?, row.try_get("unit")?)))
            .collect()
    }

    async fn signing_kids(&mut self) -> Read<Vec<String>> {
        let rows = sqlx::query("SELECT kid FROM signing_keys ORDER BY id")
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(|row| row.try_get("kid")).collect()
    }

    async fn credentials(&mut self, client_ids: &[String]) -> Read<Vec<(String, bool)>> {
        let rows = sqlx::query(
            "SELECT client_id, revoked_at IS NULL AS active FROM credentials \
             WHERE client_id IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_list(client_ids))
        .fetch_all(&mut *self)
        .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get("client_id"), row.get("active")))
            .collect())
    }

    async fn people(&mut self, logins: &[String]) -> Read<Vec<(String, bool)>> {
        let rows = sqlx::query(
            "SELECT login, disabled_at IS NULL AS active FROM people WHERE login IN (SELECT value FROM json_each(?1))",
        )
        .bind(json_list(logins))
        .fetch_all(&mut *self)
        .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get("login"), row.get("active")))
            .collect())
    }

    async fn emissions(&mut self, participants: &[Uuid]) -> Read<Vec<Emission>> {
        let sql = format!(
            "SELECT {EMISSION_COLUMNS} FROM emissions \
             WHERE participant_id IN (SELECT value FROM json_each(?1)) AND replaced_by IS NULL"
        );
        let rows = sqlx::query(&sql)
            .bind(json_list(participants))
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::emission).collect()
    }

    /// One row a surrender: SQLite's `sum` of text is a float.
    async fn offset_surrenders(
        &mut self,
        participants: &[Uuid],
    ) -> Read<Vec<(Uuid, Period, Decimal)>> {
        let rows = sqlx::query(
            "SELECT participant_id, period, quantity FROM surrenders \
             WHERE participant_id IN (SELECT value FROM json_each(?1)) AND kind = 'offset'",
        )
        .bind(json_list(participants))
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.uuid("participant_id")?,
                    rows::period(row)?,
                    row.decimal("quantity")?,
                ))
            })
            .collect()
    }
}

/// How a book side is reached, continued and ordered, in fen: asks at or
/// below the incoming limit, lowest first; bids at or above it, highest
/// first; earliest first at one price (the order the index keeps).
fn book_order(side: Side) -> (&'static str, &'static str, &'static str) {
    match side {
        Side::Sell => (
            "price_ticks <= ?2",
            "(price_ticks, seq) > (?3, ?4)",
            "price_ticks, seq",
        ),
        Side::Buy => (
            "price_ticks >= ?2",
            "(price_ticks < ?3 OR (price_ticks = ?3 AND seq > ?4))",
            "price_ticks DESC, seq",
        ),
    }
}
