//! Storage for ets-ledger: one [`Backend`] trait, two implementations
//! (PostgreSQL for production and many server nodes, SQLite for the embedded
//! default), and the [`Store`] that batches writes through one writer task
//! per process.
//!
//! Every write goes through [`Store::submit`]. The writer takes whatever
//! requests are waiting (up to [`MAX_BATCH`]), applies them in one database
//! transaction and answers each only after that transaction committed. One
//! commit carries many commands, which is what lets the ledger keep
//! PostgreSQL's durability (`fsync`, `synchronous_commit`) and still do
//! thousands of transfers a second.

mod cache;
mod compliance;
mod console;
mod database;
mod export;
mod lease;
mod load;
mod postgres;
mod read;
mod reads;
mod rows;
mod settlement;
mod sqlite;
mod stats;
mod write;
mod writer;

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use database::Database;
use ets_core::{Actor, BusinessZone, Clock, Verification};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use compliance::{ComplianceReport, EmissionFilter};
pub use console::{ConsoleSession, LoginOutcome, Person, RecordedVerification};
pub use ets_engine::{
    Allocation, Answer, Auction, AuctionBid, AuctionStatus, Closed, Command, CommandError,
    Committed, IdempotencyKey, Invoice, LedgerCommand, NewAllocation, NewAuction, NewBid,
    NewCredential, NewOrder, NewPerson, NewPledge, NewProposal, NewReclamation, NewSigningKey,
    Order, OrderStatus, Outcome, PaidUse, PersonSecrets, Placed, Pledge, Proposal, ProposalStatus,
    RECLAMATION_REASONS, Reclamation, Request, Resolved, Source, Trade, TradeMethod, Transaction,
};
pub use export::TradeRecord;
pub use lease::{LEASE_REFRESH, WriterLease};
pub use postgres::PostgresBackend;
pub use read::{
    AccountState, Book, BookLevel, Credential, CredentialListing, HistoryCursor, HistoryItem,
    Holding, InvoiceFilter, OrderFilter, ProposalFilter, RegistryFilter, StoredSigningKey,
    TradeFilter,
};
pub use settlement::SettlementDay;
pub use sqlite::SqliteBackend;

/// The most requests one database transaction carries.
pub const MAX_BATCH: usize = 256;

/// Rows read per page when the journal is verified or exported.
pub const JOURNAL_PAGE: i64 = 1000;

/// A storage failure (not a refused command).
#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The command was refused; nothing was written.
    #[error(transparent)]
    Command(#[from] CommandError),
    /// The database failed.
    #[error("database error")]
    Database(#[from] sqlx::Error),
    /// Migrations failed.
    #[error("migration failed")]
    Migrate(#[from] sqlx::migrate::MigrateError),
    /// The URL names no supported database.
    #[error("unsupported database URL (use postgres://… or sqlite:…)")]
    UnsupportedUrl,
    /// The writer task is gone (the store is shutting down).
    #[error("the store is shutting down")]
    Closed,
    /// The writer's queue stayed full for [`QUEUE_WAIT`]: nothing was
    /// submitted.
    #[error("the write queue is full")]
    Overloaded,
    /// A bug; logged where it happened. Nothing was written.
    #[error("internal error: {0}")]
    Internal(&'static str),
    /// The connection to the database was lost while it committed, and the
    /// database could not be asked afterwards whether it did: the request
    /// may or may not have been applied, and is not applied again.
    #[error("the database did not confirm the commit")]
    Unconfirmed,
    /// The database counts its business days in another zone than the one
    /// configured: a ledger's days never move.
    #[error(
        "this ledger counts its business days in UTC{stored}, fixed when its database was \
         created; it cannot be run in UTC{configured}"
    )]
    ZoneMismatch {
        /// The zone stored with the database.
        stored: BusinessZone,
        /// The zone configured.
        configured: BusinessZone,
    },
}

/// How long a request waits for room in the writer's queue (of
/// `4 × MAX_BATCH`) before it is refused with [`StoreError::Overloaded`]:
/// a queue that stays full is answered, never grown.
pub const QUEUE_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// The ledger's storage: reads go straight to the database, writes through
/// the batching writer. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    db: Database,
    writer: mpsc::Sender<writer::Job>,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
    zone: BusinessZone,
}

/// The wall clock, which a test may move ahead (past a deadline) instead of
/// sleeping. The server runs it unmoved.
#[derive(Debug, Default)]
pub struct SystemClock {
    ahead_micros: AtomicI64,
}

impl SystemClock {
    /// Moves this clock ahead of the wall clock by `by` more.
    pub fn advance(&self, by: chrono::TimeDelta) {
        let micros = by.num_microseconds().unwrap_or(i64::MAX);
        self.ahead_micros.fetch_add(micros, Ordering::Relaxed);
    }
}

impl Clock for SystemClock {
    fn now(&self) -> DateTime<Utc> {
        let ahead = chrono::TimeDelta::microseconds(self.ahead_micros.load(Ordering::Relaxed));
        Utc::now() + ahead
    }
}

/// What this process's writer has done since it started.
#[derive(Debug, Default)]
pub(crate) struct Counters {
    pub(crate) batches: AtomicU64,
    pub(crate) committed: AtomicU64,
    pub(crate) refused: AtomicU64,
    pub(crate) replayed: AtomicU64,
    /// Batches retried after contention, and requests retried one by one.
    pub(crate) retries: AtomicU64,
    /// Requests answered through [`Store::submit`], and the microseconds
    /// they took from submission to answer, summed.
    pub(crate) answered: AtomicU64,
    pub(crate) answer_micros: AtomicU64,
}

/// A snapshot of the store's counters and pool, for metrics.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StoreStats {
    /// Write batches committed or rolled back.
    pub batches: u64,
    /// Commands committed.
    pub committed: u64,
    /// Commands refused (nothing written).
    pub refused: u64,
    /// Idempotent replays answered.
    pub replayed: u64,
    /// Retries: a batch again after contention, or a failed batch's requests
    /// one by one.
    pub retries: u64,
    /// Requests answered by the writer (committed, refused or failed).
    pub answered: u64,
    /// Their time from submission to answer, queueing included, in
    /// microseconds, summed.
    pub answer_micros: u64,
    /// Open database connections.
    pub pool_size: u32,
    /// Idle database connections.
    pub pool_idle: usize,
}

impl Store {
    /// Connects to `url` (`postgres://…`, `postgresql://…`, `sqlite:PATH` or a
    /// plain file path), applies migrations, and starts the writer. Must be
    /// called inside a Tokio runtime.
    ///
    /// # Errors
    /// `UnsupportedUrl`, or the database or migration failure.
    pub async fn open(url: &str) -> Result<Self, StoreError> {
        Self::open_with_clock(url, Arc::new(SystemClock::default())).await
    }

    /// [`Store::open`] with the clock every batch reads its time from.
    ///
    /// # Errors
    /// As [`Store::open`].
    pub async fn open_with_clock(url: &str, clock: Arc<dyn Clock>) -> Result<Self, StoreError> {
        Self::open_configured(url, clock, None).await
    }

    /// [`Store::open_with_clock`] for a ledger that counts its business days
    /// in `zone`: stored with a new database (Asia/Shanghai when `None`);
    /// an existing database keeps the zone it was created with, and one
    /// created with another zone than `zone` is refused.
    ///
    /// # Errors
    /// As [`Store::open`]; [`StoreError::ZoneMismatch`].
    pub async fn open_configured(
        url: &str,
        clock: Arc<dyn Clock>,
        zone: Option<BusinessZone>,
    ) -> Result<Self, StoreError> {
        use writer::batch::WriteBackend as _;
        let (writer, jobs) = mpsc::channel(4 * MAX_BATCH);
        let counters = Arc::new(Counters::default());
        let writer_counters = Arc::clone(&counters);
        let writer_clock = Arc::clone(&clock);
        let (db, zone) = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            let backend = PostgresBackend::connect(url).await?;
            backend.migrate().await?;
            let db = Database::Postgres(backend.pool().clone());
            let zone = business_zone(&db, zone).await?;
            backend.memory().set_zone(zone);
            tokio::spawn(writer::run(backend, jobs, writer_counters, writer_clock));
            (db, zone)
        } else if let Some(path) = sqlite_path(url) {
            let backend = SqliteBackend::open(path).await?;
            backend.migrate().await?;
            let db = Database::Sqlite(backend.pool().clone());
            let zone = business_zone(&db, zone).await?;
            backend.memory().set_zone(zone);
            tokio::spawn(writer::run(backend, jobs, writer_counters, writer_clock));
            (db, zone)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        Ok(Self {
            db,
            writer,
            counters,
            clock,
            zone,
        })
    }

    /// The zone this ledger counts its business days in.
    #[must_use]
    pub fn business_zone(&self) -> BusinessZone {
        self.zone
    }

    /// The business day of an instant in this ledger's zone.
    #[must_use]
    pub fn business_date(&self, at: DateTime<Utc>) -> chrono::NaiveDate {
        self.zone.date(at)
    }

    /// The clock this store's batches read their time from.
    #[must_use]
    pub fn clock(&self) -> &Arc<dyn Clock> {
        &self.clock
    }

    /// The current instant by this store's clock.
    #[must_use]
    pub fn now(&self) -> DateTime<Utc> {
        self.clock.now()
    }

    /// The writer's counters and the pool's use.
    #[must_use]
    pub fn stats(&self) -> StoreStats {
        let (pool_size, pool_idle) = self.db.pool_use();
        StoreStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            committed: self.counters.committed.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            replayed: self.counters.replayed.load(Ordering::Relaxed),
            retries: self.counters.retries.load(Ordering::Relaxed),
            answered: self.counters.answered.load(Ordering::Relaxed),
            answer_micros: self.counters.answer_micros.load(Ordering::Relaxed),
            pool_size,
            pool_idle,
        }
    }

    /// After the last request: on SQLite, the write-ahead log (up to about
    /// 64 MB between checkpoints) is copied into the database file and
    /// emptied, so that a stopped ledger is its one file; nothing to do on
    /// PostgreSQL. `false` if another connection (another process on the
    /// file) kept it busy: the log stays, and the next start replays it.
    ///
    /// # Errors
    /// The checkpoint's failure (the log stays as well).
    pub async fn stop(&self) -> Result<bool, StoreError> {
        Ok(self.db.empty_log().await?)
    }

    /// Which backend this is: `postgres` or `sqlite`.
    #[must_use]
    pub fn backend_name(&self) -> &'static str {
        self.db.name()
    }

    /// Applies one command and answers once it is committed (or refused).
    ///
    /// # Errors
    /// `Command` when refused (nothing written), `Database` when the database
    /// failed (nothing written), `Closed` during shutdown.
    pub async fn submit(&self, request: Request) -> Result<Committed, StoreError> {
        use tokio::sync::mpsc::error::SendTimeoutError;
        let (reply, answer) = oneshot::channel();
        let started = std::time::Instant::now();
        match self
            .writer
            .send_timeout(writer::Job { request, reply }, QUEUE_WAIT)
            .await
        {
            Ok(()) => {}
            Err(SendTimeoutError::Timeout(_)) => return Err(StoreError::Overloaded),
            Err(SendTimeoutError::Closed(_)) => return Err(StoreError::Closed),
        }
        let answered = answer.await.map_err(|_| StoreError::Closed)?;
        let micros = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
        self.counters.answered.fetch_add(1, Ordering::Relaxed);
        self.counters
            .answer_micros
            .fetch_add(micros, Ordering::Relaxed);
        answered
    }

    /// Requests waiting in the writer's queue now.
    #[must_use]
    pub fn queue_depth(&self) -> usize {
        self.writer.max_capacity() - self.writer.capacity()
    }

    /// Whether the writer task is running.
    #[must_use]
    pub fn writer_running(&self) -> bool {
        !self.writer.is_closed()
    }

    /// [`Store::submit`] without an idempotency key.
    ///
    /// # Errors
    /// As [`Store::submit`].
    pub async fn execute(&self, actor: Actor, command: Command) -> Result<Committed, StoreError> {
        self.submit(Request {
            actor,
            idempotency: None,
            command,
        })
        .await
    }

    /// Closes every open auction whose closing time has passed (each in its
    /// own transaction). Returns how many this call closed; another node
    /// closing one first is not an error.
    ///
    /// # Errors
    /// The database failure.
    pub async fn close_due_auctions(&self) -> Result<usize, StoreError> {
        let due = self.auctions_due(self.now()).await?;
        let mut closed = 0;
        for id in due {
            match self
                .execute(system_actor(), Command::CloseAuction { id })
                .await
            {
                Ok(_) => closed += 1,
                Err(StoreError::Command(CommandError::AuctionClosed)) => {}
                Err(StoreError::Closed) => return Err(StoreError::Closed),
                // One auction that cannot close must not hold up the others.
                Err(error) => {
                    tracing::warn!(auction = %id, error = %error, "closing a due auction failed");
                }
            }
        }
        Ok(closed)
    }

    /// Expires every proposal whose time has passed, if there is one:
    /// releases their holds in one journaled transaction. Returns how many.
    /// Every node may call this on a timer; a cheap read comes first, and
    /// the writer re-checks under the journal lock.
    ///
    /// # Errors
    /// The database failure.
    pub async fn expire_proposals(&self) -> Result<usize, StoreError> {
        if !self.proposals_due(self.now()).await? {
            return Ok(0);
        }
        match self.execute(system_actor(), Command::ExpireProposals).await {
            Ok(Committed {
                outcome: Outcome::ProposalsExpired(ids),
                ..
            }) => Ok(ids.len()),
            Ok(_) | Err(StoreError::Command(CommandError::NothingDue)) => Ok(0),
            Err(error) => Err(error),
        }
    }

    /// Verifies the stored journal up to the head recorded when it starts,
    /// [`JOURNAL_PAGE`] entries at a time: every entry's hash and link, no
    /// gap, and nothing missing at the end (the last entry must be the
    /// recorded head, `journal_head`, which every writer moves in the same
    /// transaction as its entries). Entries committed meanwhile are past
    /// that head and left for the next verification.
    ///
    /// # Errors
    /// The database failure.
    pub async fn verify_journal(&self) -> Result<Verification, StoreError> {
        let recorded = self.journal_head().await?;
        let mut verifier = ets_core::Verifier::new();
        let mut after = 0;
        while after < recorded.seq {
            let limit = JOURNAL_PAGE.min(recorded.seq - after);
            let page = self.journal(after, limit).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in page.iter().filter(|entry| entry.seq <= recorded.seq) {
                verifier.push(entry);
            }
        }
        let good_head = verifier.head().clone();
        let mut verification = verifier.finish();
        if verification.ok && good_head != recorded {
            // Entries at the end were deleted (the chain stops short of the
            // head), or the last entry was rewritten with a hash of its own.
            verification.ok = false;
            verification.first_bad_seq = Some(if good_head.seq < recorded.seq {
                good_head.seq + 1
            } else {
                recorded.seq
            });
        }
        Ok(verification)
    }
}

/// The journal's actor for what the ledger does on its own (expiries,
/// scheduled auction closes).
fn system_actor() -> Actor {
    Actor {
        client_id: "system:scheduler".to_owned(),
        role: "system".to_owned(),
    }
}

/// The file of a SQLite URL (`sqlite:PATH`, `sqlite://PATH`) or of a plain
/// path; `None` for any other scheme.
fn sqlite_path(url: &str) -> Option<&str> {
    url.strip_prefix("sqlite://")
        .or_else(|| url.strip_prefix("sqlite:"))
        .or_else(|| (!url.contains("://")).then_some(url))
}

/// Fresh randomness for the ids a batch creates (see [`ets_engine::Ids`]).
fn entropy() -> u32 {
    let bytes = Uuid::new_v4().into_bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}

/// The setting that names the business time zone.
const ZONE_SETTING: &str = "business_utc_offset";

/// The database's business time zone: stored by the first start (`configured`,
/// or Asia/Shanghai), and never another after.
async fn business_zone(
    db: &Database,
    configured: Option<BusinessZone>,
) -> Result<BusinessZone, StoreError> {
    use database::Param::Text;
    let wanted = configured.unwrap_or_default().to_string();
    db.execute(
        "INSERT INTO ledger_settings (name, value) VALUES ($1, $2) ON CONFLICT (name) DO NOTHING",
        &[Text(Some(ZONE_SETTING)), Text(Some(&wanted))],
    )
    .await?;
    let stored = db
        .first(
            "SELECT value FROM ledger_settings WHERE name = $1",
            &[Text(Some(ZONE_SETTING))],
            |row| row.text("value"),
        )
        .await?
        .ok_or(StoreError::Internal("the business zone setting is missing"))?;
    let stored: BusinessZone = stored
        .parse()
        .map_err(|_| StoreError::Internal("the stored business zone is not an offset"))?;
    match configured {
        Some(configured) if configured != stored => {
            Err(StoreError::ZoneMismatch { stored, configured })
        }
        _ => Ok(stored),
    }
}
