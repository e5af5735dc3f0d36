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
mod write;

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
        crate::write::persist(&mut **conn, changes).await
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
