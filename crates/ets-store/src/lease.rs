//! Which node writes. Nodes on one PostgreSQL database elect one of them
//! the writer: the node whose session holds the advisory lock
//! [`LOCK_KEYS`]. It records where it listens in `writer_lease`; the others
//! send it their writes, so that one writer applies every batch on the state
//! its last one left instead of each node voiding the other's (ARCHITECTURE,
//! "Many nodes, one database").
//!
//! Nothing depends on the lease for being right: every writer still locks
//! the journal head and commits only on the head it read, so a node that
//! cannot reach the writer, or two nodes that both believe they write (a
//! partition, a lease that moved a moment ago), apply their batches
//! themselves and stay correct, only slower. The lease is routing.
//!
//! SQLite has no lease: each process writes its own batches.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use sqlx::Connection as _;
use sqlx::postgres::{PgConnectOptions, PgConnection, PgPool};

use crate::Store;
use crate::database::Database;

/// The advisory lock whose holder writes (the two-key form: `classid` 7251,
/// `objid` 1 in `pg_locks`).
pub(crate) const LOCK_KEYS: (i32, i32) = (7251, 1);

/// How often the writer checks that its lock connection is alive, and the
/// others read where the writer is.
pub const LEASE_REFRESH: Duration = Duration::from_secs(1);

/// How often a node that does not hold the lease asks for it: the longest
/// the nodes go without a writer after it dies.
const CAMPAIGN_POLL: Duration = Duration::from_millis(250);

/// The writer's address as every node reads it: its row, while its session
/// holds the lock.
const WHERE_IS_THE_WRITER: &str = "\
    SELECT w.url FROM writer_lease w JOIN pg_locks l ON l.pid = w.pid \
    WHERE l.locktype = 'advisory' AND l.granted AND l.classid::int8 = $1 AND l.objid::int8 = $2 \
      AND l.objsubid = 2 AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database())";

/// The longest the holder waits for its connection's check before it
/// takes the connection for lost and stops saying it writes.
const CHECK_TIMEOUT: Duration = Duration::from_secs(3);

/// How PostgreSQL watches the lock session's TCP connection, so that the
/// lock of a holder whose host vanished (no FIN, no RST) is freed in about
/// 15 s instead of the operating system's two hours.
const LOCK_SESSION_KEEPALIVE: &str = "SELECT set_config('tcp_keepalives_idle', '5', false), \
    set_config('tcp_keepalives_interval', '2', false), set_config('tcp_keepalives_count', '3', false), \
    set_config('tcp_user_timeout', '15000', false)";

/// This node's view of the writer lease, shared by the HTTP layer (which
/// forwards writes) and `/metrics`.
#[derive(Debug, Clone, Default)]
pub struct WriterLease {
    view: Arc<Mutex<View>>,
}

#[derive(Debug, Default)]
struct View {
    /// This node holds the lock.
    holder: bool,
    /// Where the writer listens, when another node holds the lock.
    elsewhere: Option<String>,
    /// The writer did not take a connection: write here until then.
    unreachable_until: Option<Instant>,
}

impl WriterLease {
    /// Where to send a write: `Some(url)` when another node writes and was
    /// reachable at the last try; `None` to write here.
    #[must_use]
    pub fn writer_elsewhere(&self) -> Option<String> {
        let view = self.view();
        match view.unreachable_until {
            Some(until) if Instant::now() < until => None,
            _ if view.holder => None,
            _ => view.elsewhere.clone(),
        }
    }

    /// Whether this node holds the lease (for `/metrics`).
    #[must_use]
    pub fn is_holder(&self) -> bool {
        self.view().holder
    }

    /// The writer at `url` refused a connection: write here until the next
    /// refresh reads the lease again.
    pub fn unreachable(&self, url: &str) {
        let mut view = self.view();
        if view.elsewhere.as_deref() == Some(url) {
            view.unreachable_until = Some(Instant::now() + LEASE_REFRESH);
        }
    }

    fn set_holder(&self, holder: bool) {
        self.view().holder = holder;
    }

    fn set_elsewhere(&self, url: Option<String>, own: &str) {
        let mut view = self.view();
        let url = url.filter(|url| url != own);
        if view.elsewhere != url {
            if let Some(writer) = &url {
                tracing::info!(writer = %writer, "another node holds the writer lease");
            }
            view.unreachable_until = None;
        }
        view.elsewhere = url;
    }

    fn view(&self) -> std::sync::MutexGuard<'_, View> {
        self.view.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

impl Store {
    /// Takes part in the writer election as the node reachable at
    /// `advertise` (e.g. `http://10.0.0.5:8080`), and keeps the returned
    /// view current until the process ends. On SQLite the view always says
    /// "write here".
    #[must_use]
    pub fn join_writer_election(&self, advertise: String) -> WriterLease {
        let lease = WriterLease::default();
        if let Database::Postgres(pool) = &self.db {
            let options = (*pool.connect_options()).clone();
            tokio::spawn(campaign(options, lease.clone(), advertise.clone()));
            tokio::spawn(follow(pool.clone(), lease.clone(), advertise));
        }
        lease
    }
}

/// Asks for the lock on a connection of its own until it gets it, records
/// this node's address, and checks the connection until it fails; then
/// starts again.
async fn campaign(options: PgConnectOptions, lease: WriterLease, advertise: String) {
    let options = options.application_name("ets-ledger writer lease");
    loop {
        let outcome = hold_lease(&options, &lease, &advertise).await;
        lease.set_holder(false);
        if let Err(error) = outcome {
            tracing::warn!(error = %error, "writer lease lost; trying again");
        }
        tokio::time::sleep(LEASE_REFRESH).await;
    }
}

async fn hold_lease(
    options: &PgConnectOptions,
    lease: &WriterLease,
    advertise: &str,
) -> Result<(), sqlx::Error> {
    let mut conn = PgConnection::connect_with(options).await?;
    sqlx::query(LOCK_SESSION_KEEPALIVE)
        .execute(&mut conn)
        .await?;
    // Asked again and again rather than waited for: a statement waiting
    // in `pg_advisory_lock` holds its snapshot all along, which keeps
    // PostgreSQL from pruning the versions every batch leaves of
    // `journal_head` and the rows it touches, and slowed the writer by a
    // third.
    loop {
        let held: bool = sqlx::query_scalar("SELECT pg_try_advisory_lock($1, $2)")
            .bind(LOCK_KEYS.0)
            .bind(LOCK_KEYS.1)
            .fetch_one(&mut conn)
            .await?;
        if held {
            break;
        }
        tokio::time::sleep(CAMPAIGN_POLL).await;
    }
    let mut tx = conn.begin().await?;
    sqlx::query("DELETE FROM writer_lease")
        .execute(&mut *tx)
        .await?;
    sqlx::query("INSERT INTO writer_lease (pid, url, since) VALUES (pg_backend_pid(), $1, now())")
        .bind(advertise)
        .execute(&mut *tx)
        .await?;
    tx.commit().await?;
    lease.set_holder(true);
    tracing::info!(url = advertise, "this node holds the writer lease");
    loop {
        tokio::time::sleep(LEASE_REFRESH).await;
        // A half-open connection would let a check wait for as long as TCP
        // retransmits (minutes): the node would go on saying it writes.
        match tokio::time::timeout(CHECK_TIMEOUT, conn.ping()).await {
            Ok(answered) => {
                answered?;
            }
            Err(_) => {
                return Err(sqlx::Error::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the lease connection did not answer its check",
                )));
            }
        }
    }
}

/// Reads where the writer is, every [`LEASE_REFRESH`].
async fn follow(pool: PgPool, lease: WriterLease, advertise: String) {
    let mut ticks = tokio::time::interval(LEASE_REFRESH);
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        ticks.tick().await;
        match sqlx::query_scalar::<_, String>(WHERE_IS_THE_WRITER)
            .bind(i64::from(LOCK_KEYS.0))
            .bind(i64::from(LOCK_KEYS.1))
            .fetch_optional(&pool)
            .await
        {
            Ok(url) => lease.set_elsewhere(url, &advertise),
            // The database is away: write here (and find out there).
            Err(_) => lease.set_elsewhere(None, &advertise),
        }
    }
}
