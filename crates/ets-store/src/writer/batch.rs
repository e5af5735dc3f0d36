//! One batch's transaction, written once for both backends: lock the
//! journal head, load what the batch needs ([`crate::load`]), apply it with
//! the engine, write what it changed, commit. And the same applied ahead:
//! on the state the batch still committing leaves, committed only if the
//! head is still the one it was applied on.

use std::future::Future;
use std::ops::DerefMut;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use chrono::{DateTime, Utc};
use ets_core::JournalHead;
use ets_engine::batch::Changes;
use ets_engine::command::{CommandError, Committed, Request};

use crate::StoreError;
use crate::cache::WorkingSetCache;
use crate::load::{BatchReads, WriterMemory};

/// A head and its time.
pub(crate) type Head = (JournalHead, Option<DateTime<Utc>>);

/// One result per request of a batch.
pub(crate) type Results = Vec<Result<Committed, CommandError>>;

/// What the writer needs of a backend, each answered with its SQL: a
/// connection, a transaction that locks the journal head, the batch's
/// reads ([`BatchReads`] on the connection), its writes and `COMMIT`
/// ([`crate::write::BatchWrites`], sent as the backend sends them), and a
/// rollback.
pub(crate) trait WriteBackend: Clone + Send + Sync + 'static {
    /// A pooled connection.
    type Conn: DerefMut<Target = Self::Tx> + Send;
    /// What a connection reads a batch through.
    type Tx: BatchReads;

    /// The writer's memory between batches.
    fn memory(&self) -> &WriterMemory;
    /// A connection from the pool.
    fn connect(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send;
    /// A connection for a locked write transaction (by default any from
    /// the pool).
    fn connect_writer(&self) -> impl Future<Output = Result<Self::Conn, sqlx::Error>> + Send {
        self.connect()
    }
    /// The committed head, outside any transaction.
    fn head(&self, conn: &mut Self::Conn)
    -> impl Future<Output = Result<Head, sqlx::Error>> + Send;
    /// Begins a write transaction and locks the journal head: every writer
    /// of every process is ordered by it.
    fn begin_locked(
        &self,
        conn: &mut Self::Conn,
    ) -> impl Future<Output = Result<Head, sqlx::Error>> + Send;
    /// Writes what a batch changed ([`crate::write::persist`]) and commits
    /// it, inside the locked transaction. A failure before `COMMIT` was sent
    /// is [`BatchFailure::Database`] (nothing was written); one after,
    /// [`BatchFailure::CommitUnknown`] (whether it committed is read back).
    fn write_and_commit(
        &self,
        conn: &mut Self::Conn,
        changes: &Changes,
    ) -> impl Future<Output = Result<(), BatchFailure>> + Send;
    /// Rolls back (`ROLLBACK`) the transaction.
    fn roll_back(
        &self,
        conn: &mut Self::Conn,
    ) -> impl Future<Output = Result<(), sqlx::Error>> + Send;
    /// Never puts the connection back in the pool (its state is unknown).
    fn discard(conn: &mut Self::Conn);
    /// The hash of the journal entry `seq`, if there is one.
    fn journal_hash(
        &self,
        conn: &mut Self::Conn,
        seq: i64,
    ) -> impl Future<Output = Result<Option<String>, sqlx::Error>> + Send;
    /// Whether a failure is contention that a retry overcomes (serialization
    /// failures, deadlocks, a busy database).
    fn is_transient(error: &sqlx::Error) -> bool;
}

/// How a batch failed, and whether it is safe to try again.
pub(crate) enum BatchFailure {
    /// Before COMMIT: nothing was written; the batch may be retried.
    Database(sqlx::Error),
    /// Applying the batch panicked (a bug); nothing was written.
    Panicked,
    /// COMMIT failed: the outcome must be read back ([`read_back`]) before
    /// anything is retried.
    CommitUnknown(sqlx::Error),
}

impl From<sqlx::Error> for BatchFailure {
    fn from(error: sqlx::Error) -> Self {
        Self::Database(error)
    }
}

/// What a batch that moves the journal head is about to commit: the head it
/// leaves and its results, set just before its COMMIT is sent and taken once
/// the outcome is known. If the task committing it dies in between (a
/// panic), the writer finds it here, asks the database whether it committed
/// ([`confirm`]) and answers with these results, instead of applying the
/// requests a second time.
pub(crate) type Committing = Arc<Mutex<Option<(JournalHead, Results)>>>;

fn lock(committing: &Committing) -> std::sync::MutexGuard<'_, Option<(JournalHead, Results)>> {
    committing.lock().unwrap_or_else(PoisonError::into_inner)
}

/// A connection that may be inside a write transaction. Dropped while the
/// transaction is open (a panic, or a cancelled task), it never goes back
/// to the pool: the transaction dies with the connection instead of being
/// carried into the next borrower's.
struct Held<B: WriteBackend> {
    conn: B::Conn,
    open: bool,
    /// When the connection was asked for.
    asked: std::time::Instant,
}

impl<B: WriteBackend> Held<B> {
    /// The writer's connection (see [`WriteBackend::connect_writer`]).
    async fn take(backend: &B) -> Result<Self, sqlx::Error> {
        let asked = std::time::Instant::now();
        let conn = backend.connect_writer().await?;
        Ok(Self {
            conn,
            open: false,
            asked,
        })
    }

    async fn begin(&mut self, backend: &B) -> Result<Head, sqlx::Error> {
        self.open = true;
        backend.begin_locked(&mut self.conn).await
    }

    async fn roll_back(&mut self, backend: &B) -> Result<(), sqlx::Error> {
        backend.roll_back(&mut self.conn).await?;
        self.open = false;
        Ok(())
    }

    async fn write_and_commit(
        &mut self,
        backend: &B,
        changes: &Changes,
    ) -> Result<(), BatchFailure> {
        backend.write_and_commit(&mut self.conn, changes).await?;
        self.open = false;
        Ok(())
    }
}

impl<B: WriteBackend> Drop for Held<B> {
    fn drop(&mut self) {
        if self.open {
            B::discard(&mut self.conn);
        }
    }
}

/// A batch applied ahead of its commit ([`prepare`]).
pub(crate) struct Prepared {
    /// The head it was applied on: it commits only if the head is still this.
    base: JournalHead,
    changes: Changes,
}

/// Why a batch was not prepared ahead; the writer then takes the locked path.
pub(crate) enum NotPrepared {
    /// The batch still committing may change what this one reads: prepare it
    /// once that one is done.
    Behind,
    /// Reading failed or applying panicked; the working set is forgotten.
    Failed,
}

/// Applies a batch on the locked path: begin, lock the head, load, apply,
/// write, commit, in one transaction.
///
/// # Errors
/// The database failure (nothing written), [`StoreError::Unconfirmed`], or
/// an internal error.
pub(crate) async fn execute<B: WriteBackend>(
    backend: &B,
    batch: &[Request],
    now: DateTime<Utc>,
    entropy: u32,
    committing: &Committing,
) -> Result<Results, StoreError> {
    let mut conn = Held::take(backend).await?;
    // Taken out for the batch: it goes back only if the batch ends cleanly,
    // so a failure (or a panic) leaves an empty one behind.
    let mut cache = backend.memory().take();
    let result = match conn.begin(backend).await {
        Ok(head) => {
            cache.begin(&head.0, head.1);
            match apply(
                backend,
                &mut conn.conn,
                &mut cache,
                batch,
                head,
                now,
                entropy,
            )
            .await
            {
                Ok(changes) => write(backend, &mut conn, changes, committing).await,
                Err(failure) => Err(failure),
            }
        }
        Err(error) => Err(BatchFailure::Database(error)),
    };
    if result.is_ok() {
        backend.memory().put_back(cache);
    }
    finish(backend, conn, result, committing).await
}

/// Loads what the batch needs (from the working set, else the database),
/// applies it, and makes the working set the state it leaves.
async fn apply<B: WriteBackend>(
    backend: &B,
    conn: &mut B::Conn,
    cache: &mut WorkingSetCache,
    batch: &[Request],
    head: Head,
    now: DateTime<Utc>,
    entropy: u32,
) -> Result<Changes, BatchFailure> {
    let started = std::time::Instant::now();
    let reads: &mut B::Tx = conn;
    let loaded = crate::load::load(reads, backend.memory(), cache, batch, head, now).await?;
    let loaded_at = started.elapsed();
    let changes = ets_engine::batch::apply_batch_guarded(batch, loaded, now, entropy)
        .ok_or(BatchFailure::Panicked)?;
    cache.apply(&changes, batch);
    tracing::debug!(
        requests = batch.len(),
        load_us = loaded_at.as_micros(),
        apply_us = (started.elapsed() - loaded_at).as_micros(),
        "batch applied"
    );
    Ok(changes)
}

/// Writes an applied batch and commits it (inside the locked transaction);
/// rolls back if it writes nothing.
async fn write<B: WriteBackend>(
    backend: &B,
    conn: &mut Held<B>,
    changes: Changes,
    committing: &Committing,
) -> Result<Results, BatchFailure> {
    if changes.is_empty() {
        conn.roll_back(backend).await?;
        return Ok(changes.results);
    }
    let held = conn.asked.elapsed();
    let started = std::time::Instant::now();
    // A batch that writes no journal entry leaves the head where it was, so
    // whether it committed cannot be read back; it only records refusals,
    // and applying it again is harmless: its slot stays empty.
    if !changes.journal.is_empty() {
        *lock(committing) = Some((changes.head.clone(), changes.results.clone()));
    }
    let written = conn.write_and_commit(backend, &changes).await;
    // Kept only while the outcome is unknown: read back from it.
    if !matches!(written, Err(BatchFailure::CommitUnknown(_))) {
        lock(committing).take();
    }
    written?;
    // before: from asking for the connection to writing (taking it, the
    // head lock and, on the locked path, reading and applying the batch);
    // write: the writes and COMMIT.
    tracing::debug!(
        requests = changes.results.len(),
        before_us = held.as_micros(),
        write_us = started.elapsed().as_micros(),
        "batch committed"
    );
    Ok(changes.results)
}

/// Applies a batch on what the writer remembers, before taking the head
/// lock, so that it can be done while the batch before it commits
/// (`behind`). What is not remembered is read from the database as it is.
/// The result commits only if the head is still the one it was applied on
/// ([`commit_prepared`]); then every read was exact, since every write
/// moves the head.
pub(crate) async fn prepare<B: WriteBackend>(
    backend: &B,
    batch: &[Request],
    now: DateTime<Utc>,
    entropy: u32,
    behind: bool,
) -> Result<Prepared, NotPrepared> {
    let mut cache = backend.memory().take();
    if cache.too_big() {
        cache = WorkingSetCache::default();
    }
    if behind && !cache.can_follow(batch, now, backend.memory().zone()) {
        backend.memory().put_back(cache);
        return Err(NotPrepared::Behind);
    }
    match prepare_on(backend, &mut cache, batch, now, entropy).await {
        Ok(prepared) => {
            backend.memory().put_back(cache);
            Ok(prepared)
        }
        // The working set stays forgotten.
        Err(_) => Err(NotPrepared::Failed),
    }
}

async fn prepare_on<B: WriteBackend>(
    backend: &B,
    cache: &mut WorkingSetCache,
    batch: &[Request],
    now: DateTime<Utc>,
    entropy: u32,
) -> Result<Prepared, BatchFailure> {
    let mut conn = backend.connect().await?;
    let base = match cache.base() {
        Some(base) => base,
        None => {
            let head = backend.head(&mut conn).await?;
            cache.begin(&head.0, head.1);
            head
        }
    };
    let changes = apply(backend, &mut conn, cache, batch, base.clone(), now, entropy).await?;
    Ok(Prepared {
        base: base.0,
        changes,
    })
}

/// Commits a prepared batch if the locked head is still the one it was
/// applied on. `Ok(None)`: another writer moved the head; nothing was
/// written.
///
/// # Errors
/// The database failure (nothing written), [`StoreError::Unconfirmed`], or
/// an internal error.
pub(crate) async fn commit_prepared<B: WriteBackend>(
    backend: &B,
    prepared: Prepared,
    committing: &Committing,
) -> Result<Option<Results>, StoreError> {
    let mut conn = Held::take(backend).await?;
    let result = match conn.begin(backend).await {
        Ok((head, _)) if head == prepared.base => {
            write(backend, &mut conn, prepared.changes, committing).await
        }
        Ok(_) => {
            roll_back(backend, &mut conn).await;
            return Ok(None);
        }
        Err(error) => Err(BatchFailure::Database(error)),
    };
    finish(backend, conn, result, committing).await.map(Some)
}

/// Ends a batch's transaction: after a failure, rolls back (or discards the
/// connection); after a failed COMMIT, finds out whether it committed. Only
/// a batch known not to have committed fails with an error that lets the
/// writer apply its requests again.
async fn finish<B: WriteBackend>(
    backend: &B,
    mut conn: Held<B>,
    result: Result<Results, BatchFailure>,
    committing: &Committing,
) -> Result<Results, StoreError> {
    match result {
        Ok(results) => Ok(results),
        Err(BatchFailure::CommitUnknown(error)) => {
            B::discard(&mut conn.conn);
            drop(conn);
            read_back(backend, committing, error.into()).await
        }
        Err(failure) => {
            roll_back(backend, &mut conn).await;
            match failure {
                BatchFailure::Database(error) => Err(error.into()),
                _ => Err(StoreError::Internal("applying the batch failed")),
            }
        }
    }
}

/// After a COMMIT whose outcome is unknown (its answer was lost, or the task
/// that sent it died): the batch's results if it committed; `not_written`,
/// an error that lets the writer apply its requests again, if it did not
/// (or if its slot is empty: it moved no head, and nothing it wrote
/// matters twice); [`StoreError::Unconfirmed`] if the database never said.
pub(crate) async fn read_back<B: WriteBackend>(
    backend: &B,
    committing: &Committing,
    not_written: StoreError,
) -> Result<Results, StoreError> {
    // Cloned, not taken: if this task dies too, the writer reads it back.
    let pending = lock(committing).clone();
    let Some((head, results)) = pending else {
        return Err(not_written);
    };
    let outcome = match confirm(backend, &head).await {
        Some(true) => Ok(results),
        Some(false) => Err(not_written),
        None => {
            tracing::error!(error = %not_written, seq = head.seq, "COMMIT failed and its outcome is unknown");
            Err(StoreError::Unconfirmed)
        }
    };
    lock(committing).take();
    outcome
}

/// How many times [`confirm`] asks, and the longest pause between two asks.
const CONFIRM_ATTEMPTS: u32 = 12;
const CONFIRM_PAUSE_MAX: Duration = Duration::from_secs(2);

/// After a COMMIT whose answer was lost: whether the batch that leaves
/// `head` committed (its hash is unique to that batch). The head lock is
/// taken first, so the transaction that sent the COMMIT has ended, one way
/// or the other, when the journal is read. Asked again for a while if the
/// database does not answer; `None` if it never did.
async fn confirm<B: WriteBackend>(backend: &B, head: &JournalHead) -> Option<bool> {
    let mut pause = Duration::from_millis(50);
    for attempt in 1..=CONFIRM_ATTEMPTS {
        match confirm_once(backend, head).await {
            Ok(committed) => {
                tracing::warn!(
                    seq = head.seq,
                    committed,
                    "the outcome of a lost COMMIT, read back"
                );
                return Some(committed);
            }
            Err(error) => {
                tracing::warn!(error = %error, attempt, "cannot read back the outcome of a lost COMMIT yet");
                tokio::time::sleep(pause).await;
                pause = (pause * 2).min(CONFIRM_PAUSE_MAX);
            }
        }
    }
    None
}

async fn confirm_once<B: WriteBackend>(
    backend: &B,
    head: &JournalHead,
) -> Result<bool, sqlx::Error> {
    let mut conn = Held::take(backend).await?;
    conn.begin(backend).await?;
    let hash = backend.journal_hash(&mut conn.conn, head.seq).await;
    roll_back(backend, &mut conn).await;
    Ok(hash?.as_deref() == Some(head.hash.as_str()))
}

/// Rolls back; a connection in an unknown state never goes back to the pool.
async fn roll_back<B: WriteBackend>(backend: &B, conn: &mut Held<B>) {
    if conn.roll_back(backend).await.is_err() {
        B::discard(&mut conn.conn);
    }
}
