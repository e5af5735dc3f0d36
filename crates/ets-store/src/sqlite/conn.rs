//! The backend's connections: the read pool's, and the writer's own.
//!
//! The writer's connection is held outside any pool. A pool pings a
//! connection when it is given back and again when it is taken, each a trip
//! to the connection's SQLite thread, and gives it back on a task of its own:
//! on a busy machine that was a tenth of the writer's time between batches,
//! for one connection that needs no pool.

use std::ops::{Deref, DerefMut};
use std::sync::Arc;
use std::time::Duration;

use sqlx::pool::PoolConnection;
use sqlx::sqlite::SqliteConnectOptions;
use sqlx::{ConnectOptions as _, Sqlite, SqliteConnection};
use tokio::sync::{Mutex, OwnedMutexGuard};

/// How long a batch waits for the writer's connection before it fails as
/// contention (retried), as a pool's acquire timeout would.
const WRITER_WAIT: Duration = Duration::from_secs(10);

/// A connection of the SQLite backend.
pub(crate) enum SqliteConn {
    /// One of the read pool's.
    Pooled(PoolConnection<Sqlite>),
    /// The writer's own, while a batch holds it.
    Writer(OwnedMutexGuard<Option<SqliteConnection>>),
}

impl Deref for SqliteConn {
    type Target = SqliteConnection;

    fn deref(&self) -> &SqliteConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Writer(slot) => slot
                .as_ref()
                .expect("the writer's connection, not discarded"),
        }
    }
}

impl DerefMut for SqliteConn {
    fn deref_mut(&mut self) -> &mut SqliteConnection {
        match self {
            Self::Pooled(conn) => conn,
            Self::Writer(slot) => slot
                .as_mut()
                .expect("the writer's connection, not discarded"),
        }
    }
}

impl SqliteConn {
    /// Never lets the connection serve again (its state is unknown): a
    /// pooled one is closed instead of going back; the writer's is closed
    /// now, and the next batch opens a new one. Closing ends a transaction
    /// left open (SQLite rolls it back).
    pub(crate) fn discard(&mut self) {
        match self {
            Self::Pooled(conn) => conn.close_on_drop(),
            Self::Writer(slot) => drop(slot.take()),
        }
    }
}

/// The writer's connection and how to open it again.
#[derive(Clone)]
pub(super) struct WriterSlot {
    conn: Arc<Mutex<Option<SqliteConnection>>>,
    options: SqliteConnectOptions,
}

impl WriterSlot {
    /// Opens the writer's connection with `options`.
    pub(super) async fn open(options: SqliteConnectOptions) -> Result<Self, sqlx::Error> {
        let conn = options.connect().await?;
        Ok(Self {
            conn: Arc::new(Mutex::new(Some(conn))),
            options,
        })
    }

    /// The writer's connection, once no other batch holds it (opened again
    /// if the last holder discarded it). After [`WRITER_WAIT`], a pool
    /// timeout: contention, which the writer retries.
    pub(super) async fn take(&self) -> Result<SqliteConn, sqlx::Error> {
        let mut slot = tokio::time::timeout(WRITER_WAIT, Arc::clone(&self.conn).lock_owned())
            .await
            .map_err(|_| sqlx::Error::PoolTimedOut)?;
        if slot.is_none() {
            *slot = Some(self.options.connect().await?);
        }
        Ok(SqliteConn::Writer(slot))
    }
}

#[cfg(test)]
mod tests {
    use std::str::FromStr as _;

    use sqlx::sqlite::SqliteJournalMode;

    use super::*;

    async fn slot() -> (WriterSlot, std::path::PathBuf) {
        let path =
            std::env::temp_dir().join(format!("ets-writer-slot-{}.db", uuid::Uuid::new_v4()));
        let options = SqliteConnectOptions::from_str(&format!("sqlite:{}", path.display()))
            .expect("options")
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal);
        let slot = WriterSlot::open(options).await.expect("open");
        let mut conn = slot.take().await.expect("take");
        sqlx::query("CREATE TABLE t (x INTEGER)")
            .execute(&mut *conn)
            .await
            .expect("create");
        (slot, path)
    }

    fn remove(path: &std::path::Path) {
        for suffix in ["", "-wal", "-shm"] {
            let _ = std::fs::remove_file(format!("{}{suffix}", path.display()));
        }
    }

    #[tokio::test]
    async fn one_batch_at_a_time_holds_the_writers_connection() {
        let (slot, path) = slot().await;
        let held = slot.take().await.expect("take");
        let second = tokio::time::timeout(Duration::from_millis(100), slot.take()).await;
        assert!(second.is_err(), "a second batch waits for the first");
        drop(held);
        let again = tokio::time::timeout(Duration::from_secs(5), slot.take()).await;
        assert!(
            matches!(again, Ok(Ok(_))),
            "given back when the first is done"
        );
        remove(&path);
    }

    #[tokio::test]
    async fn a_discarded_connection_takes_its_open_transaction_with_it() {
        let (slot, path) = slot().await;
        let mut conn = slot.take().await.expect("take");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *conn)
            .await
            .expect("begin");
        sqlx::query("INSERT INTO t VALUES (1)")
            .execute(&mut *conn)
            .await
            .expect("insert");
        conn.discard();
        drop(conn);

        // The next batch gets a new connection, takes the write lock, and
        // finds nothing of the discarded transaction.
        let mut next = slot.take().await.expect("take again");
        sqlx::query("BEGIN IMMEDIATE")
            .execute(&mut *next)
            .await
            .expect("the write lock is free again");
        let rows: i64 = sqlx::query_scalar("SELECT count(*) FROM t")
            .fetch_one(&mut *next)
            .await
            .expect("count");
        assert_eq!(rows, 0);
        sqlx::query("COMMIT")
            .execute(&mut *next)
            .await
            .expect("commit");
        remove(&path);
    }
}
