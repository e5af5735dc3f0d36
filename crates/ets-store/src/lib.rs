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
mod load;
mod postgres;
mod read;
mod rows;
mod sqlite;
mod write;
mod writer;

use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};

use chrono::{DateTime, Utc};
use ets_core::{
    AccountKey, Actor, Clock, Hold, Instrument, InstrumentCode, JournalEntry, JournalHead,
    Participant, Verification,
};
use tokio::sync::{mpsc, oneshot};
use uuid::Uuid;

pub use ets_engine::{
    Allocation, Answer, Auction, AuctionBid, AuctionStatus, Closed, Command, CommandError,
    Committed, IdempotencyKey, Invoice, LedgerCommand, NewAllocation, NewAuction, NewBid,
    NewCredential, NewOrder, NewPledge, NewProposal, NewReclamation, NewSigningKey, Order,
    OrderStatus, Outcome, PaidUse, Placed, Pledge, Proposal, ProposalStatus, RECLAMATION_REASONS,
    Reclamation, Request, Resolved, Source, Trade, TradeMethod, Transaction,
};
pub use postgres::PostgresBackend;
pub use read::{
    AccountState, Book, BookLevel, Credential, HistoryCursor, HistoryItem, Holding, OrderFilter,
    ProposalFilter, TradeFilter,
};
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
    /// A bug or an unconfirmed commit; logged where it happened.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

/// One storage backend's reads for the API; both implementations pass the
/// same conformance suite. Writes go through the writer
/// ([`writer::WriteBackend`]).
pub trait Backend: Send + Sync + 'static {
    /// Applies the schema migrations of this backend.
    fn migrate(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// Checks that the database answers.
    fn ready(&self) -> impl Future<Output = Result<(), StoreError>> + Send;
    /// A participant's holdings (CNY included), now or as of an instant.
    fn holdings(
        &self,
        participant: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Vec<Holding>, StoreError>> + Send;
    /// One account's state, now or as of an instant.
    fn account(
        &self,
        key: &AccountKey,
        as_of: Option<DateTime<Utc>>,
    ) -> impl Future<Output = Result<Option<AccountState>, StoreError>> + Send;
    /// Every account's current state.
    fn accounts(&self) -> impl Future<Output = Result<Vec<AccountState>, StoreError>> + Send;
    /// One hold.
    fn hold(&self, id: Uuid) -> impl Future<Output = Result<Option<Hold>, StoreError>> + Send;
    /// Every hold.
    fn holds(&self) -> impl Future<Output = Result<Vec<Hold>, StoreError>> + Send;
    /// One participant.
    fn participant(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Participant>, StoreError>> + Send;
    /// One credential, revoked or not.
    fn credential(
        &self,
        client_id: &str,
    ) -> impl Future<Output = Result<Option<Credential>, StoreError>> + Send;
    /// Journal entries with seq > `after_seq`, oldest first.
    fn journal(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<JournalEntry>, StoreError>> + Send;
    /// The recorded head of the journal.
    fn journal_head(&self) -> impl Future<Output = Result<JournalHead, StoreError>> + Send;
    /// The stored token signing key (PKCS#8), if any.
    fn signing_key(&self) -> impl Future<Output = Result<Option<Vec<u8>>, StoreError>> + Send;
    /// Participants in id order (ids are time-ordered UUIDv7), after a cursor.
    fn participants(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Participant>, StoreError>> + Send;
    /// One instrument.
    fn instrument(
        &self,
        code: &InstrumentCode,
    ) -> impl Future<Output = Result<Option<Instrument>, StoreError>> + Send;
    /// Instruments in code order, after a cursor.
    fn instruments(
        &self,
        after: Option<String>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Instrument>, StoreError>> + Send;
    /// A participant's balance movements, oldest first, after a cursor.
    fn history(
        &self,
        participant: Uuid,
        instrument: Option<&InstrumentCode>,
        after: Option<&HistoryCursor>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<HistoryItem>, StoreError>> + Send;
    /// One order.
    fn order(&self, id: Uuid) -> impl Future<Output = Result<Option<Order>, StoreError>> + Send;
    /// Orders matching a filter, oldest first.
    fn orders(
        &self,
        filter: &OrderFilter,
    ) -> impl Future<Output = Result<Vec<Order>, StoreError>> + Send;
    /// An instrument's aggregated book, at most `depth` levels a side.
    fn book(
        &self,
        instrument: &InstrumentCode,
        depth: usize,
    ) -> impl Future<Output = Result<Book, StoreError>> + Send;
    /// Trades matching a filter, oldest first.
    fn trades(
        &self,
        filter: &TradeFilter,
    ) -> impl Future<Output = Result<Vec<Trade>, StoreError>> + Send;
    /// One negotiated trade.
    fn proposal(
        &self,
        id: Uuid,
    ) -> impl Future<Output = Result<Option<Proposal>, StoreError>> + Send;
    /// Negotiated trades matching a filter, oldest first.
    fn proposals(
        &self,
        filter: &ProposalFilter,
    ) -> impl Future<Output = Result<Vec<Proposal>, StoreError>> + Send;
    /// One auction.
    fn auction(&self, id: Uuid)
    -> impl Future<Output = Result<Option<Auction>, StoreError>> + Send;
    /// Auctions, oldest first, optionally in one status, after a cursor.
    fn auctions(
        &self,
        status: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> impl Future<Output = Result<Vec<Auction>, StoreError>> + Send;
    /// An auction's bids in arrival order.
    fn bids(
        &self,
        auction: Uuid,
    ) -> impl Future<Output = Result<Vec<AuctionBid>, StoreError>> + Send;
    /// One pledge.
    fn pledge(&self, id: Uuid) -> impl Future<Output = Result<Option<Pledge>, StoreError>> + Send;
    /// Open auctions whose closing time has passed.
    fn auctions_due(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<Vec<Uuid>, StoreError>> + Send;
    /// Whether any proposal is still open past its expiry.
    fn proposals_due(
        &self,
        now: DateTime<Utc>,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;
}

enum Inner {
    Postgres(PostgresBackend),
    Sqlite(SqliteBackend),
}

/// Calls the same method on whichever backend this is.
macro_rules! dispatch {
    ($self:expr, $backend:ident => $call:expr) => {
        match &*$self.backend {
            Inner::Postgres($backend) => $call,
            Inner::Sqlite($backend) => $call,
        }
    };
}

/// The ledger's storage: reads go straight to the database, writes through
/// the batching writer. Cheap to clone.
#[derive(Clone)]
pub struct Store {
    backend: Arc<Inner>,
    writer: mpsc::Sender<writer::Job>,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
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
        let inner = if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            Inner::Postgres(PostgresBackend::connect(url).await?)
        } else if let Some(path) = url
            .strip_prefix("sqlite://")
            .or_else(|| url.strip_prefix("sqlite:"))
        {
            Inner::Sqlite(SqliteBackend::open(path).await?)
        } else if !url.contains("://") {
            Inner::Sqlite(SqliteBackend::open(url).await?)
        } else {
            return Err(StoreError::UnsupportedUrl);
        };
        let backend = Arc::new(inner);
        match &*backend {
            Inner::Postgres(b) => b.migrate().await?,
            Inner::Sqlite(b) => b.migrate().await?,
        }
        let (writer, jobs) = mpsc::channel(4 * MAX_BATCH);
        let counters = Arc::new(Counters::default());
        let writer_counters = Arc::clone(&counters);
        let writer_clock = Arc::clone(&clock);
        match &*backend {
            Inner::Postgres(b) => {
                tokio::spawn(writer::run(b.clone(), jobs, writer_counters, writer_clock))
            }
            Inner::Sqlite(b) => {
                tokio::spawn(writer::run(b.clone(), jobs, writer_counters, writer_clock))
            }
        };
        Ok(Self {
            backend,
            writer,
            counters,
            clock,
        })
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
        let (pool_size, pool_idle) = match &*self.backend {
            Inner::Postgres(b) => (b.pool().size(), b.pool().num_idle()),
            Inner::Sqlite(b) => (b.pool().size(), b.pool().num_idle()),
        };
        StoreStats {
            batches: self.counters.batches.load(Ordering::Relaxed),
            committed: self.counters.committed.load(Ordering::Relaxed),
            refused: self.counters.refused.load(Ordering::Relaxed),
            replayed: self.counters.replayed.load(Ordering::Relaxed),
            pool_size,
            pool_idle,
        }
    }

    /// Which backend this is: `postgres` or `sqlite`.
    #[must_use]
    pub fn backend_name(&self) -> &'static str {
        match &*self.backend {
            Inner::Postgres(_) => "postgres",
            Inner::Sqlite(_) => "sqlite",
        }
    }

    /// Applies one command and answers once it is committed (or refused).
    ///
    /// # Errors
    /// `Command` when refused (nothing written), `Database` when the database
    /// failed (nothing written), `Closed` during shutdown.
    pub async fn submit(&self, request: Request) -> Result<Committed, StoreError> {
        let (reply, answer) = oneshot::channel();
        self.writer
            .send(writer::Job { request, reply })
            .await
            .map_err(|_| StoreError::Closed)?;
        answer.await.map_err(|_| StoreError::Closed)?
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

    /// Checks that the database answers.
    ///
    /// # Errors
    /// The database failure.
    pub async fn ready(&self) -> Result<(), StoreError> {
        dispatch!(self, b => b.ready().await)
    }

    /// A participant's holdings, CNY included, now or as of an instant.
    ///
    /// # Errors
    /// The database failure.
    pub async fn holdings(
        &self,
        participant: Uuid,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Vec<Holding>, StoreError> {
        dispatch!(self, b => b.holdings(participant, as_of).await)
    }

    /// One account's state, now or as of an instant; `None` if it had no
    /// posting by then.
    ///
    /// # Errors
    /// The database failure.
    pub async fn account(
        &self,
        key: &AccountKey,
        as_of: Option<DateTime<Utc>>,
    ) -> Result<Option<AccountState>, StoreError> {
        dispatch!(self, b => b.account(key, as_of).await)
    }

    /// Every account's current state.
    ///
    /// # Errors
    /// The database failure.
    pub async fn accounts(&self) -> Result<Vec<AccountState>, StoreError> {
        dispatch!(self, b => b.accounts().await)
    }

    /// One hold.
    ///
    /// # Errors
    /// The database failure.
    pub async fn hold(&self, id: Uuid) -> Result<Option<Hold>, StoreError> {
        dispatch!(self, b => b.hold(id).await)
    }

    /// Every hold.
    ///
    /// # Errors
    /// The database failure.
    pub async fn holds(&self) -> Result<Vec<Hold>, StoreError> {
        dispatch!(self, b => b.holds().await)
    }

    /// One participant.
    ///
    /// # Errors
    /// The database failure.
    pub async fn participant(&self, id: Uuid) -> Result<Option<Participant>, StoreError> {
        dispatch!(self, b => b.participant(id).await)
    }

    /// One credential.
    ///
    /// # Errors
    /// The database failure.
    pub async fn credential(&self, client_id: &str) -> Result<Option<Credential>, StoreError> {
        dispatch!(self, b => b.credential(client_id).await)
    }

    /// Journal entries after `after_seq`, oldest first, at most `limit`.
    ///
    /// # Errors
    /// The database failure.
    pub async fn journal(
        &self,
        after_seq: i64,
        limit: i64,
    ) -> Result<Vec<JournalEntry>, StoreError> {
        dispatch!(self, b => b.journal(after_seq, limit).await)
    }

    /// The stored token signing key (PKCS#8), if any.
    ///
    /// # Errors
    /// The database failure.
    pub async fn signing_key(&self) -> Result<Option<Vec<u8>>, StoreError> {
        dispatch!(self, b => b.signing_key().await)
    }

    /// A page of participants after `after`.
    ///
    /// # Errors
    /// The database failure.
    pub async fn participants(
        &self,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Participant>, StoreError> {
        dispatch!(self, b => b.participants(after, limit).await)
    }

    /// One instrument (CNY is built in and always found).
    ///
    /// # Errors
    /// The database failure.
    pub async fn instrument(
        &self,
        code: &InstrumentCode,
    ) -> Result<Option<Instrument>, StoreError> {
        if code.as_str() == ets_core::instrument::CNY {
            return Ok(Some(Instrument::cny()));
        }
        dispatch!(self, b => b.instrument(code).await)
    }

    /// A page of instruments after `after`, in code order.
    ///
    /// # Errors
    /// The database failure.
    pub async fn instruments(
        &self,
        after: Option<String>,
        limit: i64,
    ) -> Result<Vec<Instrument>, StoreError> {
        dispatch!(self, b => b.instruments(after, limit).await)
    }

    /// A page of a participant's balance movements, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn history(
        &self,
        participant: Uuid,
        instrument: Option<&InstrumentCode>,
        after: Option<&HistoryCursor>,
        limit: i64,
    ) -> Result<Vec<HistoryItem>, StoreError> {
        dispatch!(self, b => b.history(participant, instrument, after, limit).await)
    }

    /// One order.
    ///
    /// # Errors
    /// The database failure.
    pub async fn order(&self, id: Uuid) -> Result<Option<Order>, StoreError> {
        dispatch!(self, b => b.order(id).await)
    }

    /// Orders matching a filter, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn orders(&self, filter: &OrderFilter) -> Result<Vec<Order>, StoreError> {
        dispatch!(self, b => b.orders(filter).await)
    }

    /// An instrument's aggregated, anonymous book.
    ///
    /// # Errors
    /// The database failure.
    pub async fn book(
        &self,
        instrument: &InstrumentCode,
        depth: usize,
    ) -> Result<Book, StoreError> {
        dispatch!(self, b => b.book(instrument, depth).await)
    }

    /// Trades matching a filter, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn trades(&self, filter: &TradeFilter) -> Result<Vec<Trade>, StoreError> {
        dispatch!(self, b => b.trades(filter).await)
    }

    /// One negotiated trade.
    ///
    /// # Errors
    /// The database failure.
    pub async fn proposal(&self, id: Uuid) -> Result<Option<Proposal>, StoreError> {
        dispatch!(self, b => b.proposal(id).await)
    }

    /// Negotiated trades matching a filter, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn proposals(&self, filter: &ProposalFilter) -> Result<Vec<Proposal>, StoreError> {
        dispatch!(self, b => b.proposals(filter).await)
    }

    /// One auction.
    ///
    /// # Errors
    /// The database failure.
    pub async fn auction(&self, id: Uuid) -> Result<Option<Auction>, StoreError> {
        dispatch!(self, b => b.auction(id).await)
    }

    /// Auctions, oldest first.
    ///
    /// # Errors
    /// The database failure.
    pub async fn auctions(
        &self,
        status: Option<&str>,
        after: Option<Uuid>,
        limit: i64,
    ) -> Result<Vec<Auction>, StoreError> {
        dispatch!(self, b => b.auctions(status, after, limit).await)
    }

    /// One pledge.
    ///
    /// # Errors
    /// The database failure.
    pub async fn pledge(&self, id: Uuid) -> Result<Option<Pledge>, StoreError> {
        dispatch!(self, b => b.pledge(id).await)
    }

    /// An auction's bids in arrival order.
    ///
    /// # Errors
    /// The database failure.
    pub async fn bids(&self, auction: Uuid) -> Result<Vec<AuctionBid>, StoreError> {
        dispatch!(self, b => b.bids(auction).await)
    }

    /// Closes every open auction whose closing time has passed (each in its
    /// own transaction). Returns how many this call closed; another node
    /// closing one first is not an error.
    ///
    /// # Errors
    /// The database failure.
    pub async fn close_due_auctions(&self) -> Result<usize, StoreError> {
        let due = dispatch!(self, b => b.auctions_due(self.now()).await)?;
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
        if !dispatch!(self, b => b.proposals_due(self.now()).await)? {
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

    /// Verifies the whole journal in the database: every entry's hash and link,
    /// no gap, and nothing missing at the end (the recorded head must be the
    /// last entry).
    ///
    /// # Errors
    /// The database failure.
    pub async fn verify_journal(&self) -> Result<Verification, StoreError> {
        let recorded = dispatch!(self, b => b.journal_head().await)?;
        let mut verifier = ets_core::Verifier::new();
        let mut after = 0;
        let mut last_seq = 0;
        loop {
            let page = self.journal(after, JOURNAL_PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.seq;
            for entry in &page {
                last_seq = entry.seq;
                verifier.push(entry);
            }
        }
        let good_head = verifier.head().clone();
        let mut verification = verifier.finish();
        if verification.ok && (last_seq != recorded.seq || good_head.hash != recorded.hash) {
            // Entries at the end were deleted, or the head was rewritten.
            verification.ok = false;
            verification.first_bad_seq = Some(good_head.seq + 1);
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

/// Fresh randomness for the ids a batch creates (see [`ets_engine::Ids`]).
fn entropy() -> u32 {
    let bytes = Uuid::new_v4().into_bytes();
    u32::from_be_bytes([bytes[0], bytes[1], bytes[2], bytes[3]])
}
