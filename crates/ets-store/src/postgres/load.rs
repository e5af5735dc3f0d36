//! The reads of a batch on PostgreSQL: one statement per kind of row, every
//! key of the batch bound as an array.

use chrono::{DateTime, NaiveDate, Utc};
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
use sqlx::{PgConnection, Row};
use uuid::Uuid;

use crate::load::{BatchReads, Read, StoredParticipant};
use crate::rows::{
    self, AUCTION_COLUMNS, BID_COLUMNS, EMISSION_COLUMNS, INVOICE_COLUMNS, ORDER_COLUMNS,
    PLEDGE_COLUMNS, PROPOSAL_COLUMNS, SELECT_INSTRUMENTS, SELECT_PAYMENTS, decode_error,
};

impl BatchReads for PgConnection {
    async fn idempotency(
        &mut self,
        keys: &[(String, String)],
    ) -> Read<Vec<((String, String), StoredIdempotency)>> {
        let (scopes, keys): (Vec<&str>, Vec<&str>) =
            keys.iter().map(|(s, k)| (s.as_str(), k.as_str())).unzip();
        // One primary-key probe per key, whatever the statistics say: the
        // LIMIT keeps the planner from flattening the LATERAL into a join,
        // which it once ran as a hash join over the whole table (a third of
        // the database's time under load).
        let rows = sqlx::query(
            "SELECT i.scope, i.key, i.fingerprint, i.outcome \
             FROM UNNEST($1::text[], $2::text[]) AS u(scope, key) \
             CROSS JOIN LATERAL (SELECT * FROM idempotency_keys k \
                 WHERE k.scope = u.scope AND k.key = u.key LIMIT 1) i",
        )
        .bind(&scopes)
        .bind(&keys)
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
            "SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades WHERE id = ANY($1) \
             UNION SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades \
             WHERE $2 AND status = 'proposed' AND expires_at <= $3"
        ))
        .bind(ids)
        .bind(due.is_some())
        .bind(due.unwrap_or_default())
        .fetch_all(&mut *self)
        .await?;
        rows.iter().map(rows::proposal).collect()
    }

    async fn pledges(&mut self, ids: &[Uuid]) -> Read<Vec<Pledge>> {
        let sql = format!("SELECT {PLEDGE_COLUMNS} FROM pledges WHERE id = ANY($1)");
        let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *self).await?;
        rows.iter().map(rows::pledge).collect()
    }

    async fn invoices(&mut self, ids: &[Uuid]) -> Read<Vec<Invoice>> {
        let sql = format!("SELECT {INVOICE_COLUMNS} FROM invoices WHERE id = ANY($1)");
        let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *self).await?;
        rows.iter().map(rows::invoice).collect()
    }

    async fn payments(&mut self, ids: &[Uuid]) -> Read<Vec<Payment>> {
        let sql = format!("{SELECT_PAYMENTS} WHERE p.invoice_id = ANY($1) ORDER BY p.at, p.id");
        let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *self).await?;
        rows.iter().map(rows::payment).collect()
    }

    async fn auctions(&mut self, ids: &[Uuid]) -> Read<Vec<Auction>> {
        let sql = format!("SELECT {AUCTION_COLUMNS} FROM auctions WHERE id = ANY($1)");
        let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *self).await?;
        rows.iter().map(rows::auction).collect()
    }

    async fn bids(&mut self, auctions: &[Uuid]) -> Read<Vec<AuctionBid>> {
        let sql = format!("SELECT {BID_COLUMNS} FROM bids WHERE auction_id = ANY($1)");
        let rows = sqlx::query(&sql)
            .bind(auctions)
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::bid).collect()
    }

    async fn orders(&mut self, ids: &[Uuid]) -> Read<Vec<Order>> {
        let sql = format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ANY($1)");
        let rows = sqlx::query(&sql).bind(ids).fetch_all(&mut *self).await?;
        rows.iter().map(rows::order).collect()
    }

    async fn book_side(&mut self, need: &BookNeed, limit: usize) -> Read<Vec<Order>> {
        let (_, order_by) = book_order(need.side);
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE instrument = $1 AND side = '{side}' \
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
        let (reach, order_by) = book_order(need.side);
        let after_clause = match need.side {
            Side::Sell => "(price, seq) > ($3, $4)",
            Side::Buy => "(price < $3 OR (price = $3 AND seq > $4))",
        };
        let (price, seq) = after.unwrap_or_default();
        // The side is written into the statement, so the side's partial
        // index serves it.
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders WHERE instrument = $1 AND side = '{side}' \
             AND status IN ('open', 'partially_filled') AND price {reach} $2 \
             AND ($5 OR {after_clause}) ORDER BY {order_by} LIMIT {page}",
            side = need.side.as_str(),
            page = ets_engine::market::BOOK_PAGE,
        ))
        .bind(need.instrument.as_str())
        .bind(need.limit)
        .bind(price)
        .bind(seq)
        .bind(after.is_none())
        .fetch_all(&mut *self)
        .await?;
        rows.iter().map(rows::order).collect()
    }

    async fn holds(&mut self, ids: &[Uuid]) -> Read<Vec<Hold>> {
        let rows = sqlx::query(
            "SELECT id, owner, instrument, purpose, amount, remaining, settled, status FROM holds \
             WHERE id = ANY($1)",
        )
        .bind(ids)
        .fetch_all(&mut *self)
        .await?;
        rows.iter().map(rows::hold).collect()
    }

    async fn accounts(&mut self, keys: &[AccountKey]) -> Read<Vec<Account>> {
        let (owners, instruments): (Vec<String>, Vec<&str>) = keys
            .iter()
            .map(|k| (k.owner.storage_key(), k.instrument.as_str()))
            .unzip();
        let rows = sqlx::query(
            "SELECT a.owner, a.instrument, a.balance, a.held, a.version \
             FROM UNNEST($1::text[], $2::text[]) AS u(owner, instrument) \
             CROSS JOIN LATERAL (SELECT * FROM accounts x \
                 WHERE x.owner = u.owner AND x.instrument = u.instrument LIMIT 1) a",
        )
        .bind(&owners)
        .bind(&instruments)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| rows::account(row).map(Account::from))
            .collect()
    }

    async fn instruments(&mut self, codes: &[InstrumentCode]) -> Read<Vec<Instrument>> {
        let codes: Vec<&str> = codes.iter().map(InstrumentCode::as_str).collect();
        let rows = sqlx::query(&format!("{SELECT_INSTRUMENTS} WHERE code = ANY($1)"))
            .bind(&codes)
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
             WHERE id = ANY($1) OR credit_code = ANY($2)",
        )
        .bind(ids)
        .bind(credit_codes)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(StoredParticipant {
                    id: row.try_get("id")?,
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
        let codes: Vec<&str> = instruments.iter().map(InstrumentCode::as_str).collect();
        let rows = sqlx::query(
            "SELECT t.instrument, t.quantity, t.price FROM trades t \
             JOIN (SELECT instrument, max(business_date) AS day FROM trades \
                   WHERE instrument = ANY($1) AND business_date < $2 GROUP BY instrument) d \
             ON t.instrument = d.instrument AND t.business_date = d.day",
        )
        .bind(&codes)
        .bind(day)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| {
                let code = rows::code(row, "instrument")?;
                Ok((code, row.try_get("quantity")?, row.try_get("price")?))
            })
            .collect()
    }

    async fn pollutant_units(&mut self, names: &[String]) -> Read<Vec<(String, String)>> {
        let sql = "SELECT DISTINCT pollutant, unit FROM instruments WHERE pollutant = ANY($1)";
        let rows = sqlx::query(sql).bind(names).fetch_all(&mut *self).await?;
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
             WHERE client_id = ANY($1)",
        )
        .bind(client_ids)
        .fetch_all(&mut *self)
        .await?;
        Ok(rows
            .iter()
            .map(|row| (row.get("client_id"), row.get("active")))
            .collect())
    }

    async fn people(&mut self, logins: &[String]) -> Read<Vec<(String, bool)>> {
        let rows = sqlx::query(
            "SELECT login, disabled_at IS NULL AS active FROM people WHERE login = ANY($1)",
        )
        .bind(logins)
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
             WHERE participant_id = ANY($1) AND replaced_by IS NULL"
        );
        let rows = sqlx::query(&sql)
            .bind(participants)
            .fetch_all(&mut *self)
            .await?;
        rows.iter().map(rows::emission).collect()
    }

    async fn offset_surrenders(
        &mut self,
        participants: &[Uuid],
    ) -> Read<Vec<(Uuid, Period, Decimal)>> {
        let rows = sqlx::query(
            "SELECT participant_id, period, sum(quantity) AS quantity FROM surrenders \
             WHERE participant_id = ANY($1) AND kind = 'offset' GROUP BY participant_id, period",
        )
        .bind(participants)
        .fetch_all(&mut *self)
        .await?;
        rows.iter()
            .map(|row| {
                Ok((
                    row.try_get("participant_id")?,
                    rows::period(row)?,
                    row.try_get("quantity")?,
                ))
            })
            .collect()
    }
}

/// How a book side is reached and ordered: asks at or below the incoming
/// limit, lowest first; bids at or above it, highest first; earliest first
/// at one price. The partial indexes `orders_asks`/`orders_bids` keep it.
fn book_order(side: Side) -> (&'static str, &'static str) {
    match side {
        Side::Sell => ("<=", "price, seq"),
        Side::Buy => (">=", "price DESC, seq"),
    }
}
