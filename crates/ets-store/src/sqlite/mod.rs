//! The SQLite backend: the embedded default. One file in WAL mode with
//! `synchronous = FULL` (every commit is durable), a busy timeout, and
//! `BEGIN IMMEDIATE` write transactions, so several processes on one file
//! take turns instead of failing. Decimals are stored as exact text.

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ets_core::journal::format_time;
use ets_core::{
    AccountKey, CreditCode, Hold, Instrument, InstrumentCode, JournalEntry, JournalHead,
    Participant, RegionCode, Role,
};
use rust_decimal::Decimal;
use sqlx::pool::PoolConnection;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteRow,
    SqliteSynchronous,
};
use sqlx::{Row, Sqlite, SqliteConnection};
use uuid::Uuid;

use crate::load::WriterMemory;
use crate::writer::WriteBackend;
use crate::writer::batch::Head;

use crate::read::{
    AccountState, Book, Credential, HistoryCursor, HistoryItem, Holding, OrderFilter,
    ProposalFilter, TradeFilter, finish_holdings,
};
use crate::{Backend, StoreError};
use ets_core::matching::Side;
use ets_engine::auctions::{Auction, AuctionBid};
use ets_engine::authority::Pledge;
use ets_engine::batch::Changes;
use ets_engine::command::{CommandError, Committed, Request};
use ets_engine::market::{Order, Trade};
use ets_engine::negotiated::Proposal;

mod load;

use crate::rows::{
    self, AUCTION_COLUMNS, BID_COLUMNS, JOURNAL_COLUMNS, ORDER_COLUMNS, PLEDGE_COLUMNS,
    PROPOSAL_COLUMNS, SELECT_HOLDS, SELECT_INSTRUMENTS, StoredRow, TRADE_COLUMNS, decode_error,
    parse_time,
};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The SQLite backend.
#[derive(Clone)]
pub struct SqliteBackend {
    pool: SqlitePool,
    /// The writer's memory between batches.
    memory: Arc<WriterMemory>,
}

impl SqliteBackend {
    /// Opens (creating if missing) the database file at `path`.
    ///
    /// # Errors
    /// The open failure.
    pub async fn open(path: &str) -> Result<Self, StoreError> {
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{path}"))?
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            .synchronous(SqliteSynchronous::Full)
            .busy_timeout(Duration::from_secs(10))
            .foreign_keys(true);
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            memory: Arc::default(),
        })
    }

    /// The pool, for tests and tools that inspect the database directly.
    #[must_use]
    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    /// Applies `batch` as one transaction on the locked path, as the writer
    /// does with requests that arrive together (for tests and tools; the
    /// server writes through [`crate::Store::submit`]).
    ///
    /// # Errors
    /// The database failure (nothing written).
    pub async fn execute(
        &self,
        batch: &[Request],
        now: DateTime<Utc>,
    ) -> Result<Vec<Result<Committed, CommandError>>, StoreError> {
        crate::writer::batch::execute(self, batch, now, crate::entropy()).await
    }

    async fn persist_market(
        &self,
        conn: &mut SqliteConnection,
        changes: &Changes,
    ) -> Result<(), sqlx::Error> {
        for o in changes.orders.values() {
            sqlx::query(
                "INSERT INTO orders (id, participant_id, instrument, side, price, price_ticks, quantity, filled, \
                     hold_amount, exact_value, value, commission, status, seq, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15, ?16) \
                 ON CONFLICT (id) DO UPDATE SET filled = excluded.filled, exact_value = excluded.exact_value, \
                     value = excluded.value, commission = excluded.commission, status = excluded.status, \
                     updated_at = excluded.updated_at",
            )
            .bind(o.id.to_string())
            .bind(o.participant_id.to_string())
            .bind(o.instrument.as_str())
            .bind(o.side.as_str())
            .bind(o.price.to_string())
            .bind(price_ticks(o.price)?)
            .bind(o.quantity.to_string())
            .bind(o.filled.to_string())
            .bind(o.hold_amount.to_string())
            .bind(o.money.exact_value.to_string())
            .bind(o.money.value.to_string())
            .bind(o.money.commission.to_string())
            .bind(o.status.as_str())
            .bind(o.seq)
            .bind(format_time(o.created_at))
            .bind(format_time(o.updated_at))
            .execute(&mut *conn)
            .await?;
        }
        for t in &changes.trades {
            sqlx::query(
                "INSERT INTO trades (id, instrument, method, quantity, price, value, buyer_id, seller_id, \
                     buy_order_id, sell_order_id, buyer_commission, seller_commission, executed_at, \
                     business_date, transaction_id) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13, ?14, ?15)",
            )
            .bind(t.id.to_string())
            .bind(t.instrument.as_str())
            .bind(t.method.as_str())
            .bind(t.quantity.to_string())
            .bind(t.price.to_string())
            .bind(t.value.to_string())
            .bind(t.buyer_id.to_string())
            .bind(t.seller_id.map(|id| id.to_string()))
            .bind(t.buy_order_id.map(|id| id.to_string()))
            .bind(t.sell_order_id.map(|id| id.to_string()))
            .bind(t.buyer_commission.to_string())
            .bind(t.seller_commission.to_string())
            .bind(format_time(t.executed_at))
            .bind(t.business_date.to_string())
            .bind(t.transaction_id.to_string())
            .execute(&mut *conn)
            .await?;
        }
        for r in &changes.reclamations {
            sqlx::query(
                "INSERT INTO reclamations (id, participant_id, instrument, quantity, reason, compensation, \
                     transaction_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .bind(r.id.to_string())
            .bind(r.participant_id.to_string())
            .bind(r.instrument.as_str())
            .bind(r.quantity.to_string())
            .bind(&r.reason)
            .bind(r.compensation.to_string())
            .bind(r.transaction_id.to_string())
            .bind(format_time(r.created_at))
            .execute(&mut *conn)
            .await?;
        }
        for p in changes.pledges.values() {
            sqlx::query(
                "INSERT INTO pledges (id, participant_id, instrument, quantity, pledgee, reference, status, \
                     created_at, released_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, released_at = excluded.released_at",
            )
            .bind(p.id.to_string())
            .bind(p.participant_id.to_string())
            .bind(p.instrument.as_str())
            .bind(p.quantity.to_string())
            .bind(&p.pledgee)
            .bind(&p.reference)
            .bind(&p.status)
            .bind(format_time(p.created_at))
            .bind(p.released_at.map(format_time))
            .execute(&mut *conn)
            .await?;
        }
        for a in changes.auctions.values() {
            sqlx::query(
                "INSERT INTO auctions (id, instrument, quantity, reserve_price, source, lot_size, max_bidder_share, \
                     closes_at, status, clearing_price, sold_quantity, created_at, closed_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12, ?13) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, clearing_price = excluded.clearing_price, \
                     sold_quantity = excluded.sold_quantity, closed_at = excluded.closed_at",
            )
            .bind(a.id.to_string())
            .bind(a.instrument.as_str())
            .bind(a.quantity.to_string())
            .bind(a.reserve_price.to_string())
            .bind(a.source.as_str())
            .bind(a.lot_size.map(|d| d.to_string()))
            .bind(a.max_bidder_share.map(|d| d.to_string()))
            .bind(a.closes_at.map(format_time))
            .bind(a.status.as_str())
            .bind(a.clearing_price.map(|d| d.to_string()))
            .bind(a.sold_quantity.map(|d| d.to_string()))
            .bind(format_time(a.created_at))
            .bind(a.closed_at.map(format_time))
            .execute(&mut *conn)
            .await?;
        }
        for b in changes.bids.values() {
            sqlx::query(
                "INSERT INTO bids (id, auction_id, participant_id, quantity, price, seq, awarded, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) \
                 ON CONFLICT (id) DO UPDATE SET awarded = excluded.awarded",
            )
            .bind(b.id.to_string())
            .bind(b.auction_id.to_string())
            .bind(b.participant_id.to_string())
            .bind(b.quantity.to_string())
            .bind(b.price.to_string())
            .bind(b.seq)
            .bind(b.awarded.map(|d| d.to_string()))
            .bind(format_time(b.created_at))
            .execute(&mut *conn)
            .await?;
        }
        // After the trades: a settled proposal refers to its trade.
        for p in changes.proposals.values() {
            sqlx::query(
                "INSERT INTO negotiated_trades (id, seller_id, buyer_id, instrument, quantity, price, status, \
                     expires_at, trade_id, created_at, updated_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11) \
                 ON CONFLICT (id) DO UPDATE SET status = excluded.status, trade_id = excluded.trade_id, \
                     updated_at = excluded.updated_at",
            )
            .bind(p.id.to_string())
            .bind(p.seller_id.to_string())
            .bind(p.buyer_id.to_string())
            .bind(p.instrument.as_str())
            .bind(p.quantity.to_string())
            .bind(p.price.to_string())
            .bind(p.status.as_str())
            .bind(format_time(p.expires_at))
            .bind(p.trade_id.map(|id| id.to_string()))
            .bind(format_time(p.created_at))
            .bind(format_time(p.updated_at))
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }

    async fn write_batch(
        &self,
        conn: &mut SqliteConnection,
        changes: &Changes,
    ) -> Result<(), sqlx::Error> {
        let at = format_time(changes.at);
        for p in &changes.participants {
            sqlx::query(
                "INSERT INTO participants (id, name, credit_code, region_code, industry, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(p.id.to_string())
            .bind(&p.name)
            .bind(p.credit_code.as_str())
            .bind(p.region_code.as_str())
            .bind(&p.industry)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        for i in &changes.instruments {
            sqlx::query(
                "INSERT INTO instruments (code, kind, pollutant, unit, scale, region_code, vintage, valid_from, \
                 valid_to, commission_rate, price_band, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10, ?11, ?12)",
            )
            .bind(i.code.as_str())
            .bind(i.kind.as_str())
            .bind(&i.pollutant)
            .bind(&i.unit)
            .bind(i64::from(i.scale))
            .bind(i.region_code.as_ref().map(RegionCode::as_str))
            .bind(i.vintage)
            .bind(i.valid_from.map(|d| d.to_string()))
            .bind(i.valid_to.map(|d| d.to_string()))
            .bind(i.commission_rate.to_string())
            .bind(i.price_band.map(|b| b.to_string()))
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        for c in &changes.credentials {
            sqlx::query(
                "INSERT INTO credentials (client_id, name, role, participant_id, secret_hash, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6)",
            )
            .bind(&c.client_id)
            .bind(&c.name)
            .bind(c.role.as_str())
            .bind(c.participant_id.map(|id| id.to_string()))
            .bind(&c.secret_hash)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        for client_id in &changes.revoked {
            sqlx::query("UPDATE credentials SET revoked_at = ?1 WHERE client_id = ?2")
                .bind(&at)
                .bind(client_id)
                .execute(&mut *conn)
                .await?;
        }
        for a in &changes.accounts {
            sqlx::query(
                "INSERT INTO accounts (owner, instrument, balance, held, version) VALUES (?1, ?2, ?3, ?4, ?5) \
                 ON CONFLICT (owner, instrument) DO UPDATE \
                 SET balance = excluded.balance, held = excluded.held, version = excluded.version",
            )
            .bind(a.key.owner.storage_key())
            .bind(a.key.instrument.as_str())
            .bind(a.balance.to_string())
            .bind(a.held.to_string())
            .bind(a.version)
            .execute(&mut *conn)
            .await?;
        }
        for t in &changes.transactions {
            sqlx::query(
                "INSERT INTO ledger_transactions (id, kind, at, journal_seq, reference) VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(t.id.to_string())
            .bind(&t.kind)
            .bind(&at)
            .bind(t.journal_seq)
            .bind(&t.reference)
            .execute(&mut *conn)
            .await?;
            for p in &t.postings {
                sqlx::query(
                    "INSERT INTO postings (owner, instrument, version, transaction_id, at, amount, held_change, \
                     balance_after, held_after, hold_id) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
                )
                .bind(p.account.owner.storage_key())
                .bind(p.account.instrument.as_str())
                .bind(p.version)
                .bind(t.id.to_string())
                .bind(&at)
                // Zero (hold postings) is always written as "0", which history filters out.
                .bind(if p.amount.is_zero() { "0".to_owned() } else { p.amount.to_string() })
                .bind(p.held_change.to_string())
                .bind(p.balance_after.to_string())
                .bind(p.held_after.to_string())
                .bind(p.hold.map(|h| h.to_string()))
                .execute(&mut *conn)
                .await?;
            }
        }
        for h in &changes.holds {
            sqlx::query(
                "INSERT INTO holds (id, owner, instrument, purpose, amount, remaining, settled, status) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8) ON CONFLICT (id) DO UPDATE \
                 SET remaining = excluded.remaining, settled = excluded.settled, status = excluded.status",
            )
            .bind(h.id.to_string())
            .bind(h.account.owner.storage_key())
            .bind(h.account.instrument.as_str())
            .bind(h.purpose.as_str())
            .bind(h.amount.to_string())
            .bind(h.remaining.to_string())
            .bind(h.settled.to_string())
            .bind(h.status.as_str())
            .execute(&mut *conn)
            .await?;
        }
        for e in &changes.journal {
            sqlx::query(
                "INSERT INTO journal (seq, at, actor_client_id, actor_role, kind, payload, prev_hash, hash) \
                 VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8)",
            )
            .bind(e.seq)
            .bind(format_time(e.at))
            .bind(&e.actor.client_id)
            .bind(&e.actor.role)
            .bind(&e.kind)
            .bind(ets_core::journal::canonical_json(&e.payload))
            .bind(&e.prev_hash)
            .bind(&e.hash)
            .execute(&mut *conn)
            .await?;
        }
        if !changes.journal.is_empty() {
            sqlx::query("UPDATE journal_head SET seq = ?1, hash = ?2, at = ?3 WHERE id = 1")
                .bind(changes.head.seq)
                .bind(&changes.head.hash)
                .bind(&at)
                .execute(&mut *conn)
                .await?;
        }
        for allocation in &changes.allocations {
            if let Some(invoice) = &allocation.invoice {
                sqlx::query(
                    "INSERT INTO invoices (id, participant_id, kind, amount, paid, due_date, created_at) \
                     VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)",
                )
                .bind(invoice.id.to_string())
                .bind(invoice.participant_id.to_string())
                .bind(&invoice.kind)
                .bind(invoice.amount.to_string())
                .bind(invoice.paid.to_string())
                .bind(invoice.due_date.to_string())
                .bind(format_time(invoice.created_at))
                .execute(&mut *conn)
                .await?;
            }
            sqlx::query(
                "INSERT INTO allocations (id, participant_id, instrument, quantity, method, unit_fee, years, \
                 transaction_id, invoice_id, created_at) VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7, ?8, ?9, ?10)",
            )
            .bind(allocation.id.to_string())
            .bind(allocation.participant_id.to_string())
            .bind(allocation.instrument.as_str())
            .bind(allocation.quantity.to_string())
            .bind(&allocation.method)
            .bind(allocation.unit_fee.map(|f| f.to_string()))
            .bind(allocation.years.map(i64::from))
            .bind(allocation.transaction_id.to_string())
            .bind(allocation.invoice.as_ref().map(|i| i.id.to_string()))
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        for key in &changes.signing_keys {
            sqlx::query(
                "INSERT INTO signing_keys (id, kid, pkcs8, public_key, created_at) VALUES (1, ?1, ?2, ?3, ?4)",
            )
            .bind(&key.kid)
            .bind(&key.pkcs8)
            .bind(&key.public_key)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        self.persist_market(conn, changes).await?;
        for (key, outcome) in &changes.idempotency {
            sqlx::query(
                "INSERT INTO idempotency_keys (scope, key, fingerprint, outcome, created_at) \
                 VALUES (?1, ?2, ?3, ?4, ?5)",
            )
            .bind(&key.scope)
            .bind(&key.key)
            .bind(&key.fingerprint)
            .bind(outcome)
            .bind(&at)
            .execute(&mut *conn)
            .await?;
        }
        Ok(())
    }
}

/// A price in fen, which orders the book in SQL (prices are whole fen, at
/// most 10^9 CNY: at most 10^11 fen).
fn price_ticks(price: Decimal) -> Result<i64, sqlx::Error> {
    use rust_decimal::prelude::ToPrimitive;
    price
        .checked_mul(Decimal::ONE_HUNDRED)
        .and_then(|ticks| ticks.to_i64())
        .ok_or_else(|| decode_error("price"))
}

fn holding_from_row(row: &SqliteRow) -> Result<(Holding, Option<u32>), sqlx::Error> {
    let balance = row.decimal("balance")?;
    let held = row.decimal("held")?;
    let scale: Option<i64> = row.get("scale");
    let holding = Holding {
        instrument: rows::code(row, "instrument")?,
        balance,
        held,
        available: balance - held,
    };
    Ok((holding, scale.and_then(|s| u32::try_from(s).ok())))
}

impl WriteBackend for SqliteBackend {
    type Conn = PoolConnection<Sqlite>;
    type Tx = SqliteConnection;

    fn memory(&self) -> &WriterMemory {
        &self.memory
    }

    async fn connect(&self) -> Result<Self::Conn, sqlx::Error> {
        self.pool.acquire().await
    }

    async fn head(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        let row = sqlx::query("SELECT seq, hash, at FROM journal_head WHERE id = 1")
            .fetch_one(&mut **conn)
            .await?;
        let at: Option<String> = row.try_get("at")?;
        let head = JournalHead {
            seq: row.try_get("seq")?,
            hash: row.try_get("hash")?,
        };
        Ok((head, at.as_deref().map(parse_time).transpose()?))
    }

    async fn begin_locked(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        // IMMEDIATE takes the database's write lock now: writers of every
        // process on the file take turns (the busy timeout waits).
        sqlx::query("BEGIN IMMEDIATE").execute(&mut **conn).await?;
        self.head(conn).await
    }

    async fn persist(&self, conn: &mut Self::Conn, changes: &Changes) -> Result<(), sqlx::Error> {
        self.write_batch(conn, changes).await
    }

    async fn end(&self, conn: &mut Self::Conn, commit: bool) -> Result<(), sqlx::Error> {
        sqlx::query(if commit { "COMMIT" } else { "ROLLBACK" })
            .execute(&mut **conn)
            .await
            .map(|_| ())
    }

    fn discard(conn: &mut Self::Conn) {
        conn.close_on_drop();
    }

    async fn committed(&self, head: &JournalHead) -> Result<bool, sqlx::Error> {
        let hash: Option<String> = sqlx::query_scalar("SELECT hash FROM journal WHERE seq = ?1")
            .bind(head.seq)
            .fetch_optional(&self.pool)
            .await?;
        Ok(hash.as_deref() == Some(head.hash.as_str()))
    }

    fn is_transient(error: &sqlx::Error) -> bool {
        match error {
            // BUSY and LOCKED, with their extended codes.
            sqlx::Error::Database(db) => {
                matches!(
                    db.code().as_deref(),
                    Some("5" | "6" | "517" | "261" | "262")
                )
            }
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
            _ => false,
        }
    }
}

impl Backend for SqliteBackend {
    async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }

    async fn ready(&self) -> Result<(), StoreError> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }

    async fn holdings(
        &self,
        participant: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<Holding>, StoreError> {
        let owner = participant.to_string();
        let rows = match as_of {
            None => {
                sqlx::query(
                    "SELECT a.instrument, a.balance, a.held, i.scale FROM accounts a \
                     LEFT JOIN instruments i ON i.code = a.instrument WHERE a.owner = ?1",
                )
                    .bind(&owner)
                    .fetch_all(&self.pool)
                    .await?
            }
            Some(at) => {
                sqlx::query(
                    "SELECT p.instrument, p.balance_after AS balance, p.held_after AS held, \
                     (SELECT scale FROM instruments i WHERE i.code = p.instrument) AS scale FROM postings p \
                     WHERE p.owner = ?1 AND p.version = (SELECT max(q.version) FROM postings q \
                     WHERE q.owner = p.owner AND q.instrument = p.instrument AND q.at <= ?2)",
                )
                .bind(&owner)
                .bind(format_time(at))
                .fetch_all(&self.pool)
                .await?
            }
        };
        let holdings = rows
            .iter()
            .map(holding_from_row)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(finish_holdings(holdings))
    }

    async fn account(
        &self,
        key: &AccountKey,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<AccountState>, StoreError> {
        let row = match as_of {
            None => {
                sqlx::query(
                    "SELECT owner, instrument, balance, held, version FROM accounts WHERE owner = ?1 AND instrument = ?2",
                )
                .bind(key.owner.storage_key())
                .bind(key.instrument.as_str())
                .fetch_optional(&self.pool)
                .await?
            }
            Some(at) => {
                sqlx::query(
                    "SELECT owner, instrument, balance_after AS balance, held_after AS held, version FROM postings \
                     WHERE owner = ?1 AND instrument = ?2 AND at <= ?3 ORDER BY version DESC LIMIT 1",
                )
                .bind(key.owner.storage_key())
                .bind(key.instrument.as_str())
                .bind(format_time(at))
                .fetch_optional(&self.pool)
                .await?
            }
        };
        Ok(row.as_ref().map(rows::account).transpose()?)
    }

    async fn accounts(&self) -> Result<Vec<AccountState>, StoreError> {
        let rows = sqlx::query("SELECT owner, instrument, balance, held, version FROM accounts")
            .fetch_all(&self.pool)
            .await?;
        Ok(rows.iter().map(rows::account).collect::<Result<_, _>>()?)
    }

    async fn hold(&self, id: Uuid) -> Result<Option<Hold>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_HOLDS} WHERE id = ?1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::hold).transpose()?)
    }

    async fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        let rows = sqlx::query(SELECT_HOLDS).fetch_all(&self.pool).await?;
        Ok(rows.iter().map(rows::hold).collect::<Result<_, _>>()?)
    }

    async fn participant(&self, id: Uuid) -> Result<Option<Participant>, StoreError> {
        let row = sqlx::query(
            "SELECT id, name, credit_code, region_code, industry FROM participants WHERE id = ?1",
        )
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        Ok(Some(Participant {
            id: row.uuid("id")?,
            name: row.get("name"),
            credit_code: CreditCode::parse(row.get("credit_code"))
                .map_err(|_| decode_error("credit code"))?,
            region_code: RegionCode::parse(row.get("region_code"))
                .map_err(|_| decode_error("region code"))?,
            industry: row.get("industry"),
        }))
    }

    async fn credential(&self, client_id: &str) -> Result<Option<Credential>, StoreError> {
        let row = sqlx::query(
            "SELECT client_id, name, role, participant_id, secret_hash, revoked_at IS NOT NULL AS revoked \
             FROM credentials WHERE client_id = ?1",
        )
        .bind(client_id)
        .fetch_optional(&self.pool)
        .await?;
        let Some(row) = row else { return Ok(None) };
        let participant: Option<String> = row.get("participant_id");
        Ok(Some(Credential {
            client_id: row.get("client_id"),
            name: row.get("name"),
            role: Role::parse(row.get("role")).map_err(|_| decode_error("role"))?,
            participant_id: participant
                .map(|p| Uuid::parse_str(&p).map_err(|_| decode_error("participant id")))
                .transpose()?,
            secret_hash: row.get("secret_hash"),
            revoked: row.get("revoked"),
        }))
    }

    async fn journal(&self, after_seq: i64, limit: i64) -> Result<Vec<JournalEntry>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {JOURNAL_COLUMNS} FROM journal WHERE seq > ?1 ORDER BY seq LIMIT ?2"
        ))
        .bind(after_seq)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(rows::journal_entry)
            .collect::<Result<_, _>>()?)
    }

    async fn journal_head(&self) -> Result<JournalHead, StoreError> {
        let row = sqlx::query("SELECT seq, hash FROM journal_head WHERE id = 1")
            .fetch_one(&self.pool)
            .await?;
        Ok(JournalHead {
            seq: row.get("seq"),
            hash: row.get("hash"),
        })
    }

    async fn signing_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        let row = sqlx::query("SELECT pkcs8 FROM signing_keys WHERE id = 1")
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.map(|r| r.get("pkcs8")))
    }

    async fn participants(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Participant>, StoreError> {
        let rows = sqlx::query(
            "SELECT id, name, credit_code, region_code, industry FROM participants \
             WHERE ?1 IS NULL OR id > ?1 ORDER BY id LIMIT ?2",
        )
        .bind(after.map(|a| a.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(rows::participant)
            .collect::<Result<_, _>>()?)
    }

    async fn instrument(&self, code: &InstrumentCode) -> Result<Option<Instrument>, StoreError> {
        let row = sqlx::query(&format!("{SELECT_INSTRUMENTS} WHERE code = ?1"))
            .bind(code.as_str())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::instrument).transpose()?)
    }

    async fn instruments(
        &self,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<Instrument>, StoreError> {
        let rows = sqlx::query(&format!(
            "{SELECT_INSTRUMENTS} WHERE ?1 IS NULL OR code > ?1 ORDER BY code LIMIT ?2"
        ))
        .bind(after)
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .iter()
            .map(rows::instrument)
            .collect::<Result<_, _>>()?)
    }

    async fn history(
        &self,
        participant: Uuid,
        instrument: Option<&InstrumentCode>,
        after: Option<&HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        let rows = sqlx::query(
            "SELECT p.at, t.kind, p.instrument, p.amount, p.balance_after, p.version, \
             coalesce(t.reference, t.id) AS reference \
             FROM postings p JOIN ledger_transactions t ON t.id = p.transaction_id \
             WHERE p.owner = ?1 AND p.amount NOT IN ('0', '-0') \
             AND (?2 IS NULL OR p.instrument = ?2) \
             AND (?3 IS NULL OR (p.at, p.instrument, p.version) > (?3, ?4, ?5)) \
             ORDER BY p.at, p.instrument, p.version LIMIT ?6",
        )
        .bind(participant.to_string())
        .bind(instrument.map(InstrumentCode::as_str))
        .bind(after.map(|c| format_time(c.at)))
        .bind(after.map(|c| c.instrument.clone()))
        .bind(after.map(|c| c.version))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        rows.iter()
            .map(|row| {
                Ok(HistoryItem {
                    at: row.time("at")?,
                    kind: row.get("kind"),
                    instrument: rows::code(row, "instrument")?,
                    quantity: row.decimal("amount")?,
                    balance_after: row.decimal("balance_after")?,
                    reference: row.get("reference"),
                    version: row.get("version"),
                })
            })
            .collect::<Result<_, sqlx::Error>>()
            .map_err(StoreError::from)
    }

    async fn order(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        let row = sqlx::query(&format!("SELECT {ORDER_COLUMNS} FROM orders WHERE id = ?1"))
            .bind(id.to_string())
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.as_ref().map(rows::order).transpose()?)
    }

    async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {ORDER_COLUMNS} FROM orders \
             WHERE (?1 IS NULL OR participant_id = ?1) AND (?2 IS NULL OR instrument = ?2) \
             AND (?3 IS NULL OR status = ?3) AND (?4 IS NULL OR id > ?4) \
             ORDER BY id LIMIT ?5"
        ))
        .bind(filter.participant.map(|id| id.to_string()))
        .bind(filter.instrument.as_ref().map(InstrumentCode::as_str))
        .bind(filter.status.as_deref())
        .bind(filter.after.map(|id| id.to_string()))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::order).collect::<Result<_, _>>()?)
    }

    async fn book(&self, instrument: &InstrumentCode, depth: usize) -> Result<Book, StoreError> {
        let rows = sqlx::query(
            "SELECT side, price, quantity, filled FROM orders \
             WHERE instrument = ?1 AND status IN ('open', 'partially_filled')",
        )
        .bind(instrument.as_str())
        .fetch_all(&self.pool)
        .await?;
        let levels = rows
            .iter()
            .map(|row| {
                let side = Side::parse(row.try_get("side")?).ok_or_else(|| decode_error("side"))?;
                let open = row.decimal("quantity")? - row.decimal("filled")?;
                Ok((side, row.decimal("price")?, open))
            })
            .collect::<Result<Vec<_>, sqlx::Error>>()?;
        Ok(Book::from_orders(levels, depth))
    }

    async fn trades(&self, filter: &TradeFilter) -> Result<Vec<Trade>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {TRADE_COLUMNS} FROM trades \
             WHERE (?1 IS NULL OR buyer_id = ?1 OR seller_id = ?1) \
             AND (?2 IS NULL OR instrument = ?2) AND (?3 IS NULL OR method = ?3) \
             AND (?4 IS NULL OR executed_at >= ?4) AND (?5 IS NULL OR executed_at < ?5) \
             AND (?6 IS NULL OR id > ?6) ORDER BY id LIMIT ?7"
        ))
        .bind(filter.participant.map(|id| id.to_string()))
        .bind(filter.instrument.as_ref().map(InstrumentCode::as_str))
        .bind(filter.method.as_deref())
        .bind(filter.from.map(format_time))
        .bind(filter.to.map(format_time))
        .bind(filter.after.map(|id| id.to_string()))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::trade).collect::<Result<_, _>>()?)
    }

    async fn proposal(&self, id: Uuid) -> Result<Option<Proposal>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::proposal).transpose()?)
    }

    async fn proposals(&self, filter: &ProposalFilter) -> Result<Vec<Proposal>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {PROPOSAL_COLUMNS} FROM negotiated_trades \
             WHERE (?1 IS NULL OR seller_id = ?1 OR buyer_id = ?1) AND (?2 IS NULL OR status = ?2) \
             AND (?3 IS NULL OR id > ?3) ORDER BY id LIMIT ?4"
        ))
        .bind(filter.participant.map(|id| id.to_string()))
        .bind(filter.status.as_deref())
        .bind(filter.after.map(|id| id.to_string()))
        .bind(filter.limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::proposal).collect::<Result<_, _>>()?)
    }

    async fn auction(&self, id: Uuid) -> Result<Option<Auction>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::auction).transpose()?)
    }

    async fn auctions(
        &self,
        status: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Auction>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {AUCTION_COLUMNS} FROM auctions WHERE (?1 IS NULL OR status = ?1) \
             AND (?2 IS NULL OR id > ?2) ORDER BY id LIMIT ?3"
        ))
        .bind(status)
        .bind(after.map(|id| id.to_string()))
        .bind(limit)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::auction).collect::<Result<_, _>>()?)
    }

    async fn bids(&self, auction: Uuid) -> Result<Vec<AuctionBid>, StoreError> {
        let rows = sqlx::query(&format!(
            "SELECT {BID_COLUMNS} FROM bids WHERE auction_id = ?1 ORDER BY seq"
        ))
        .bind(auction.to_string())
        .fetch_all(&self.pool)
        .await?;
        Ok(rows.iter().map(rows::bid).collect::<Result<_, _>>()?)
    }

    async fn pledge(&self, id: Uuid) -> Result<Option<Pledge>, StoreError> {
        let row = sqlx::query(&format!(
            "SELECT {PLEDGE_COLUMNS} FROM pledges WHERE id = ?1"
        ))
        .bind(id.to_string())
        .fetch_optional(&self.pool)
        .await?;
        Ok(row.as_ref().map(rows::pledge).transpose()?)
    }

    async fn auctions_due(&self, now: DateTime<Utc>) -> Result<Vec<Uuid>, StoreError> {
        let ids: Vec<String> = sqlx::query_scalar(
            "SELECT id FROM auctions WHERE status = 'open' AND closes_at <= ?1 ORDER BY id",
        )
        .bind(format_time(now))
        .fetch_all(&self.pool)
        .await?;
        ids.iter()
            .map(|id| Uuid::parse_str(id).map_err(|_| StoreError::from(decode_error("auction id"))))
            .collect()
    }

    async fn proposals_due(&self, now: DateTime<Utc>) -> Result<bool, StoreError> {
        let row = sqlx::query("SELECT 1 FROM negotiated_trades WHERE status = 'proposed' AND expires_at <= ?1 LIMIT 1")
            .bind(format_time(now))
            .fetch_optional(&self.pool)
            .await?;
        Ok(row.is_some())
    }
}
