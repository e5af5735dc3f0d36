//! The SQLite backend: the embedded default. One file in WAL mode with
//! `synchronous = FULL` (every commit is durable), a busy timeout, and
//! `BEGIN IMMEDIATE` write transactions, so several processes on one file
//! take turns instead of failing. Decimals are stored as exact text.
//!
//! The writer's transactions always run on one connection of their own
//! ([`conn::WriterSlot`]), whose page cache stays warm between batches (a
//! connection that another one wrote behind must read its pages again).
//!
//! Checkpoints are SQLite's own, when a commit finds the WAL longer than
//! [`AUTOCHECKPOINT_PAGES`] (64 MiB; SQLite's default is 1,000 pages), on
//! the committing connection, usually the writer's; the next commit starts
//! the log again. A checkpoint copies each page of the log into the database
//! file once, however many commits wrote it since the last one, and syncs
//! the file. A batch rewrites mostly the pages the one before it wrote (the
//! end of each participant's part of the postings, orders and trades
//! indexes), so the fewer checkpoints, the less copying: at SQLite's default
//! a checkpoint came every seven of the market's batches; at this length
//! every hundred or so, a pause of some tens of milliseconds for that batch.
//! (Checkpointing more often on another connection, in the background, was
//! slower: it copies the hot pages again each time; and it cannot by itself
//! start the log again under a busy writer, which needs a transaction that
//! began with every frame copied.)

use std::str::FromStr;
use std::sync::Arc;
use std::time::Duration;

use chrono::{DateTime, Utc};
use ets_core::JournalHead;
use rust_decimal::Decimal;
use sqlx::sqlite::{
    SqliteConnectOptions, SqliteJournalMode, SqlitePool, SqlitePoolOptions, SqliteSynchronous,
};
use sqlx::{Row, SqliteConnection};

use crate::load::WriterMemory;
use crate::writer::WriteBackend;
use crate::writer::batch::{BatchFailure, Head};
use ets_engine::batch::Changes;

use crate::StoreError;
use ets_engine::command::{CommandError, Committed, Request};

mod conn;
mod load;
mod write;

use conn::{SqliteConn, WriterSlot};

use crate::rows::{decode_error, parse_time};

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/sqlite");

/// The writer connection's page cache, in KiB (SQLite's default is 2 MiB).
const WRITER_CACHE_KIB: i64 = 32 * 1024;

/// The log's length, in pages, at which a commit checkpoints it.
const AUTOCHECKPOINT_PAGES: u32 = 16_000;

/// The SQLite backend.
#[derive(Clone)]
pub struct SqliteBackend {
    /// Reads, and applying a batch ahead.
    pool: SqlitePool,
    /// The one connection of the writer's locked transactions.
    writer: WriterSlot,
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
            .foreign_keys(true)
            // Statement journals (a multi-row insert's undo) stay in memory.
            .pragma("temp_store", "memory")
            .pragma("wal_autocheckpoint", AUTOCHECKPOINT_PAGES.to_string());
        let pool = SqlitePoolOptions::new()
            .max_connections(8)
            .acquire_timeout(Duration::from_secs(10))
            .connect_with(options.clone())
            .await?;
        let writer =
            WriterSlot::open(options.pragma("cache_size", (-WRITER_CACHE_KIB).to_string())).await?;
        Ok(Self {
            pool,
            writer,
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
        crate::writer::batch::execute(self, batch, now, crate::entropy(), &Default::default()).await
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

impl WriteBackend for SqliteBackend {
    type Conn = SqliteConn;
    type Tx = SqliteConnection;

    fn memory(&self) -> &WriterMemory {
        &self.memory
    }

    async fn connect(&self) -> Result<Self::Conn, sqlx::Error> {
        self.pool.acquire().await.map(SqliteConn::Pooled)
    }

    async fn connect_writer(&self) -> Result<Self::Conn, sqlx::Error> {
        self.writer.take().await
    }

    async fn head(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        read_head(conn, "").await
    }

    async fn begin_locked(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        // IMMEDIATE takes the database's write lock now: writers of every
        // process on the file take turns (the busy timeout waits). Sent
        // with the head's read, one exchange with SQLite's thread.
        read_head(conn, "BEGIN IMMEDIATE;").await
    }

    /// The writes and `COMMIT` go as one script ([`write::Script`]): a
    /// failure anywhere in it is an unknown outcome. A statement that fails
    /// stops the script with the transaction open; the caller then discards
    /// the connection, which rolls it back, and reads back that nothing
    /// committed.
    async fn write_and_commit(
        &self,
        conn: &mut Self::Conn,
        changes: &Changes,
    ) -> Result<(), BatchFailure> {
        let mut script = write::Script::default();
        // Only builds the script: nothing is sent yet.
        crate::write::persist(&mut script, changes).await?;
        script
            .run_and_commit(conn)
            .await
            .map_err(BatchFailure::CommitUnknown)
    }

    async fn roll_back(&self, conn: &mut Self::Conn) -> Result<(), sqlx::Error> {
        sqlx::query("ROLLBACK").execute(&mut **conn).await?;
        Ok(())
    }

    fn discard(conn: &mut Self::Conn) {
        conn.discard();
    }

    async fn journal_hash(
        &self,
        conn: &mut Self::Conn,
        seq: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT hash FROM journal WHERE seq = ?1")
            .bind(seq)
            .fetch_optional(&mut **conn)
            .await
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
            // A worker thread that died (its connection is discarded by the
            // failed batch's rollback, and the next batch opens a new one).
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) | sqlx::Error::WorkerCrashed => true,
            _ => false,
        }
    }
}

/// The journal head, after `before` (statements run first, in the same
/// exchange with SQLite's thread).
async fn read_head(conn: &mut SqliteConnection, before: &str) -> Result<Head, sqlx::Error> {
    let sql = format!("{before} SELECT seq, hash, at FROM journal_head WHERE id = 1");
    let row = sqlx::query(&sql).fetch_one(conn).await?;
    let at: Option<String> = row.try_get("at")?;
    let head = JournalHead {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
    };
    Ok((head, at.as_deref().map(parse_time).transpose()?))
}

impl SqliteBackend {
    /// Applies this backend's schema migrations.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}
