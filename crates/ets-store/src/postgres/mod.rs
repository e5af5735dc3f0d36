//! The PostgreSQL backend: production, and any number of server nodes on one
//! database. No authoritative state lives in process memory; every write
//! locks the journal head row first, so writers of all nodes are ordered and
//! READ COMMITTED reads after that lock see every earlier commit. What the
//! writer remembers between batches ([`WorkingSetCache`]) is used only while
//! the locked head is the one its own last commit left.

use std::str::FromStr;
use std::sync::Arc;

use chrono::{DateTime, Utc};
use ets_core::JournalHead;
use sqlx::pool::PoolConnection;
use sqlx::postgres::{PgConnectOptions, PgPool, PgPoolOptions, PgRow, Postgres};
use sqlx::{Executor, PgConnection, Row};

use crate::StoreError;
use crate::load::WriterMemory;
use crate::writer::WriteBackend;
use crate::writer::batch::{BatchFailure, Head};
use ets_engine::batch::Changes;
use ets_engine::command::{CommandError, Committed, Request};

mod load;
mod write;

static MIGRATOR: sqlx::migrate::Migrator = sqlx::migrate!("../../migrations/postgres");

/// The PostgreSQL backend.
#[derive(Clone)]
pub struct PostgresBackend {
    pool: PgPool,
    /// The writer's memory between batches.
    memory: Arc<WriterMemory>,
}

impl PostgresBackend {
    /// Connects a pool to `url`.
    ///
    /// # Errors
    /// The connection failure.
    pub async fn connect(url: &str) -> Result<Self, StoreError> {
        let options = PgConnectOptions::from_str(url)?.application_name("ets-ledger");
        let pool = PgPoolOptions::new()
            .max_connections(16)
            .acquire_timeout(std::time::Duration::from_secs(10))
            .connect_with(options)
            .await?;
        Ok(Self {
            pool,
            memory: Arc::default(),
        })
    }

    /// The pool, for tests and tools that inspect the database directly.
    #[must_use]
    pub fn pool(&self) -> &PgPool {
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

impl WriteBackend for PostgresBackend {
    type Conn = PoolConnection<Postgres>;
    type Tx = PgConnection;

    fn memory(&self) -> &WriterMemory {
        &self.memory
    }

    async fn connect(&self) -> Result<Self::Conn, sqlx::Error> {
        self.pool.acquire().await
    }

    async fn head(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        let row = conn
            .fetch_one("SELECT seq, hash, at FROM journal_head WHERE id = 1")
            .await?;
        head_of(&row)
    }

    async fn begin_locked(&self, conn: &mut Self::Conn) -> Result<Head, sqlx::Error> {
        // `BEGIN` and the journal head lock, in one round trip. A writer
        // whose connection is lost without PostgreSQL noticing (a half-open
        // TCP connection) would hold the head lock, and stop every writer,
        // until the kernel gave up on it: the session ends itself instead
        // once it waits that long for its next statement.
        let row = conn
            .fetch_one(
                "BEGIN; SET LOCAL idle_in_transaction_session_timeout = '15s'; \
                 SELECT seq, hash, at FROM journal_head WHERE id = 1 FOR UPDATE",
            )
            .await?;
        head_of(&row)
    }

    async fn write_and_commit(
        &self,
        conn: &mut Self::Conn,
        changes: &Changes,
    ) -> Result<(), BatchFailure> {
        crate::write::persist(&mut **conn, changes).await?;
        conn.execute("COMMIT")
            .await
            .map(|_| ())
            .map_err(BatchFailure::CommitUnknown)
    }

    async fn roll_back(&self, conn: &mut Self::Conn) -> Result<(), sqlx::Error> {
        conn.execute("ROLLBACK").await.map(|_| ())
    }

    fn discard(conn: &mut Self::Conn) {
        conn.close_on_drop();
    }

    async fn journal_hash(
        &self,
        conn: &mut Self::Conn,
        seq: i64,
    ) -> Result<Option<String>, sqlx::Error> {
        sqlx::query_scalar("SELECT hash FROM journal WHERE seq = $1")
            .bind(seq)
            .fetch_optional(&mut **conn)
            .await
    }

    fn is_transient(error: &sqlx::Error) -> bool {
        match error {
            sqlx::Error::Database(db) => matches!(
                db.code().as_deref(),
                // serialization_failure, deadlock_detected
                Some("40001" | "40P01")
            ),
            // The connection dropped before COMMIT: nothing was written.
            sqlx::Error::PoolTimedOut | sqlx::Error::Io(_) => true,
            _ => false,
        }
    }
}

fn head_of(row: &PgRow) -> Result<Head, sqlx::Error> {
    let head = JournalHead {
        seq: row.try_get("seq")?,
        hash: row.try_get("hash")?,
    };
    Ok((head, row.try_get("at")?))
}

impl PostgresBackend {
    /// Applies this backend's schema migrations.
    pub(crate) async fn migrate(&self) -> Result<(), StoreError> {
        MIGRATOR.run(&self.pool).await?;
        Ok(())
    }
}
