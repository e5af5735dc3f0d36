//! The writer: one task per process that takes every request waiting (up
//! to [`MAX_BATCH`]), applies them as one batch in one database transaction
//! and answers each only after that transaction committed. Generic over the
//! backend ([`WriteBackend`]): PostgreSQL and SQLite take the same path.
//!
//! It works two batches at once: while one commits on a task of its own,
//! the next is applied on the state the first leaves ([`batch::prepare`]);
//! it commits once the first has, if no other writer (another node, or
//! another process on the same SQLite file) wrote in between
//! ([`batch::commit_prepared`]). Anything else (a batch that cannot be
//! applied ahead, a failure, another writer's commit) takes the locked path:
//! lock the head, read, apply, commit ([`batch::execute`]). If a batch fails
//! as a whole, each request is retried alone so that one bad request cannot
//! fail the others.

pub(crate) mod batch;

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ets_core::Clock;
use ets_engine::command::{Committed, Request};
use tokio::sync::{mpsc, oneshot};

pub(crate) use batch::WriteBackend;
use batch::{Committing, NotPrepared, Prepared, Results};

use crate::{Counters, MAX_BATCH, StoreError};

/// A request and where its answer goes.
pub(crate) struct Job {
    pub(crate) request: Request,
    pub(crate) reply: oneshot::Sender<Result<Committed, StoreError>>,
}

/// After another writer's commit made a prepared batch void, this many
/// batches take the locked path before the writer applies ahead again: with
/// several busy nodes, applying ahead would mostly be wasted.
const LOCKED_AFTER_STALE: u32 = 32;

/// What the writer works with.
struct Writer<B> {
    backend: B,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
    /// Batches left to take the locked path (see [`LOCKED_AFTER_STALE`]).
    locked_left: u32,
}

/// What the writer woke up to.
enum Woke {
    /// Requests were taken already.
    Ready,
    /// This many requests arrived (none: the store is closing).
    Jobs(usize),
    /// The batch in flight ended.
    Landed(Landed),
}

/// What a prepared batch's commit answered: `None` inside if another writer
/// moved the head first (nothing written).
type Landed = Result<Result<Option<Results>, StoreError>, tokio::task::JoinError>;

/// A prepared batch committing on its own task.
struct Flight {
    jobs: Vec<Job>,
    requests: Vec<Request>,
    committing: Committing,
    commit: tokio::task::JoinHandle<Result<Option<Results>, StoreError>>,
}

/// Runs the writer until every sender of `jobs` is gone.
pub(crate) async fn run<B: WriteBackend>(
    backend: B,
    mut jobs: mpsc::Receiver<Job>,
    counters: Arc<Counters>,
    clock: Arc<dyn Clock>,
) {
    let mut writer = Writer {
        backend,
        counters,
        clock,
        locked_left: 0,
    };
    let mut batch: Vec<Job> = Vec::with_capacity(MAX_BATCH);
    let mut last_size = 0;
    let mut flight: Option<Flight> = None;
    loop {
        // Wait for requests; a batch in flight is answered as soon as it lands.
        let room = MAX_BATCH - batch.len();
        let woke = match flight.as_mut() {
            None if !batch.is_empty() => Woke::Ready,
            None => Woke::Jobs(jobs.recv_many(&mut batch, MAX_BATCH).await),
            Some(current) if room == 0 => Woke::Landed((&mut current.commit).await),
            Some(current) => tokio::select! {
                landed = &mut current.commit => Woke::Landed(landed),
                received = jobs.recv_many(&mut batch, room) => Woke::Jobs(received),
            },
        };
        match woke {
            Woke::Landed(landed) => {
                let current = flight.take().expect("a batch in flight");
                writer.land(current, landed).await;
                continue;
            }
            Woke::Jobs(0) => {
                // The store is closing: finish what was taken, then stop.
                if let Some(mut current) = flight.take() {
                    let landed = (&mut current.commit).await;
                    writer.land(current, landed).await;
                }
                if !batch.is_empty() {
                    writer.locked(std::mem::take(&mut batch)).await;
                }
                return;
            }
            Woke::Jobs(_) | Woke::Ready => {}
        }
        // While a batch commits, gather at least as many requests as it
        // carries before applying the next: the database is busy anyway, and
        // the callers the last commit woke are sending their next requests.
        // Applying the first to arrive would split the load into a big batch
        // and a run of tiny ones, each paying a whole commit.
        if flight
            .as_ref()
            .is_some_and(|current| batch.len() < current.jobs.len())
        {
            continue;
        }
        if flight.is_none() {
            gather(&mut jobs, &mut batch, last_size).await;
        }
        last_size = batch.len();
        let taken = std::mem::replace(&mut batch, Vec::with_capacity(MAX_BATCH));
        flight = writer.next(taken, flight).await;
    }
}

/// Group commit: when fewer requests wait than the last batch carried, the
/// rest are most likely being resubmitted right now by the callers the last
/// commit woke. Give them a moment instead of committing a lone straggler
/// and splitting the load into one big and one tiny batch.
async fn gather(jobs: &mut mpsc::Receiver<Job>, batch: &mut Vec<Job>, last_size: usize) {
    let mut patience = 8;
    while batch.len() < last_size / 2 && patience > 0 {
        tokio::task::yield_now().await;
        while batch.len() < MAX_BATCH
            && let Ok(job) = jobs.try_recv()
        {
            batch.push(job);
        }
        patience -= 1;
    }
}

impl<B: WriteBackend> Writer<B> {
    /// Applies `taken` ahead if it can (while `flight` commits), lands
    /// `flight`, and returns the batch now in flight, if any.
    async fn next(&mut self, taken: Vec<Job>, flight: Option<Flight>) -> Option<Flight> {
        let requests: Vec<Request> = taken.iter().map(|job| job.request.clone()).collect();
        let mut prepared = if self.locked_left > 0 {
            self.locked_left -= 1;
            Err(NotPrepared::Failed)
        } else {
            self.prepare(&requests, flight.is_some()).await
        };
        if let Some(mut current) = flight {
            let landed = (&mut current.commit).await;
            if !self.land(current, landed).await {
                // It was applied on the state that batch would have left.
                prepared = Err(NotPrepared::Failed);
            } else if matches!(prepared, Err(NotPrepared::Behind)) {
                prepared = self.prepare(&requests, false).await;
            }
        }
        match prepared {
            Ok(prepared) => {
                let backend = self.backend.clone();
                let committing = Committing::default();
                let slot = Arc::clone(&committing);
                Some(Flight {
                    jobs: taken,
                    requests,
                    committing,
                    commit: tokio::spawn(async move {
                        batch::commit_prepared(&backend, prepared, &slot).await
                    }),
                })
            }
            Err(_) => {
                let result = self.execute_guarded(requests).await;
                self.answer(taken, result).await;
                None
            }
        }
    }

    /// Applies jobs on the locked path and answers them.
    async fn locked(&mut self, jobs: Vec<Job>) {
        let requests: Vec<Request> = jobs.iter().map(|job| job.request.clone()).collect();
        let result = self.execute_guarded(requests).await;
        self.answer(jobs, result).await;
    }

    /// [`batch::prepare`] on a task of its own (a panic fails only the
    /// preparing; the working set stays forgotten).
    async fn prepare(&self, requests: &[Request], behind: bool) -> Result<Prepared, NotPrepared> {
        let backend = self.backend.clone();
        let requests = requests.to_vec();
        let now = self.clock.now();
        let entropy = crate::entropy();
        tokio::spawn(async move { batch::prepare(&backend, &requests, now, entropy, behind).await })
            .await
            .unwrap_or(Err(NotPrepared::Failed))
    }

    /// Answers a batch that was in flight. Returns whether it committed as
    /// prepared; if it did not, the working set is forgotten and its requests
    /// are applied again on the locked path (nothing of them was written).
    async fn land(&mut self, flight: Flight, landed: Landed) -> bool {
        let outcome = match landed {
            Ok(Ok(Some(results))) => {
                self.answer(flight.jobs, Ok(results)).await;
                return true;
            }
            Ok(outcome) => outcome,
            Err(_) => match self.after_panic(&flight.committing).await {
                Ok(results) => {
                    self.answer(flight.jobs, Ok(results)).await;
                    return true;
                }
                Err(error) => Err(error),
            },
        };
        // Nothing of it was written (or that is unknown, and it is not
        // retried as a batch): what the writer applied on it is void.
        self.backend.memory().forget();
        let result = match outcome {
            // Another writer moved the head first.
            Ok(_) => {
                self.locked_left = LOCKED_AFTER_STALE;
                self.execute_guarded(flight.requests).await
            }
            Err(StoreError::Database(error)) => {
                tracing::warn!(error = %error, "a prepared batch failed; applying it again under the lock");
                self.execute_guarded(flight.requests).await
            }
            Err(error) => Err(error),
        };
        self.answer(flight.jobs, result).await;
        false
    }

    /// Answers each job of a batch; if the batch failed as a whole and
    /// nothing of it was written, retries each job alone so that one bad
    /// request cannot fail the others. After a commit that the database did
    /// not confirm, nothing is retried: a request without an
    /// `Idempotency-Key` could be applied twice.
    async fn answer(&self, mut jobs: Vec<Job>, result: Result<Results, StoreError>) {
        match result {
            Ok(results) => {
                self.count(&results);
                for (job, result) in jobs.drain(..).zip(results) {
                    let _ = job.reply.send(result.map_err(StoreError::from));
                }
            }
            Err(error) if jobs.len() > 1 && !matches!(error, StoreError::Unconfirmed) => {
                tracing::warn!(error = %error, size = jobs.len(), "batch failed; retrying its requests one by one");
                self.counters
                    .retries
                    .fetch_add(jobs.len() as u64, Ordering::Relaxed);
                for job in jobs.drain(..) {
                    let single = vec![job.request.clone()];
                    let result = self.execute_guarded(single).await.and_then(|mut results| {
                        results
                            .pop()
                            .expect("one result per request")
                            .map_err(StoreError::from)
                    });
                    let _ = job.reply.send(result);
                }
            }
            Err(StoreError::Unconfirmed) => {
                for job in jobs {
                    let _ = job.reply.send(Err(StoreError::Unconfirmed));
                }
            }
            Err(error) => {
                tracing::error!(error = ?error, "write failed");
                if let Some(job) = jobs.pop() {
                    let _ = job.reply.send(Err(error));
                }
            }
        }
    }

    fn count(&self, results: &Results) {
        let counters = &self.counters;
        counters.batches.fetch_add(1, Ordering::Relaxed);
        for result in results {
            let counter = match result {
                Ok(committed) if committed.replayed => &counters.replayed,
                Ok(_) => &counters.committed,
                Err(_) => &counters.refused,
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// [`execute_with_retry`] on a task of its own, so that a bug that
    /// panics anywhere in a batch (loading included) fails that batch, never
    /// the writer.
    async fn execute_guarded(&self, batch: Vec<Request>) -> Result<Results, StoreError> {
        let backend = self.backend.clone();
        let clock = Arc::clone(&self.clock);
        let counters = Arc::clone(&self.counters);
        let committing = Committing::default();
        let slot = Arc::clone(&committing);
        let executed = tokio::spawn(async move {
            execute_with_retry(&backend, clock.as_ref(), &counters, &batch, &slot).await
        })
        .await;
        match executed {
            Ok(result) => result,
            Err(_) => self.after_panic(&committing).await,
        }
    }

    /// After the task of a batch died (a panic): its results if it
    /// committed. An internal error if it did not (nothing was written: its
    /// requests may be applied again; its slot is empty if it died before
    /// sending COMMIT, and its connection was discarded);
    /// [`StoreError::Unconfirmed`] if that cannot be known.
    async fn after_panic(&self, committing: &Committing) -> Result<Results, StoreError> {
        let not_written = StoreError::Internal("the batch failed; see the log");
        batch::read_back(&self.backend, committing, not_written).await
    }
}

/// Contention between writers never reaches the client: what the backend
/// calls transient (serialization failures, deadlocks, a busy database) is
/// retried with a short backoff.
async fn execute_with_retry<B: WriteBackend>(
    backend: &B,
    clock: &dyn Clock,
    counters: &Counters,
    batch: &[Request],
    committing: &Committing,
) -> Result<Results, StoreError> {
    let mut attempt = 0u32;
    loop {
        let result =
            batch::execute(backend, batch, clock.now(), crate::entropy(), committing).await;
        match result {
            Err(StoreError::Database(error)) if attempt < 20 && B::is_transient(&error) => {
                attempt += 1;
                counters.retries.fetch_add(1, Ordering::Relaxed);
                tokio::time::sleep(Duration::from_millis(u64::from(attempt.min(10)) * 5)).await;
            }
            other => return other,
        }
    }
}
