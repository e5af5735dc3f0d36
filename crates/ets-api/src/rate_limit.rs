//! Limits on failed attempts, per key (a client id, an address).
//!
//! Each key keeps the times of its recent failures (at most `max_failures` of
//! them, a sliding window). When a key has `max_failures` failures within the
//! window it is refused until the oldest of them leaves the window; the
//! caller answers 429 with `Retry-After`. Memory stays bounded: expired keys
//! are pruned periodically and the number of keys is capped, evicting the
//! keys whose last failure is oldest.

use std::collections::{HashMap, VecDeque};
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::{Duration, Instant};

/// Default cap on the number of keys tracked at once.
pub const DEFAULT_MAX_KEYS: usize = 100_000;

/// Expired keys are pruned every this many calls.
const PRUNE_EVERY: u64 = 1024;

/// Counts recent failures per key and refuses keys with too many.
#[derive(Debug)]
pub struct FailureLimiter {
    max_failures: u32,
    window: Duration,
    max_keys: usize,
    state: Mutex<State>,
}

#[derive(Debug, Default)]
struct State {
    keys: HashMap<String, VecDeque<Instant>>,
    calls: u64,
}

impl FailureLimiter {
    /// A limiter refusing a key once it has `max_failures` failures (at least
    /// 1) within `window`, tracking at most [`DEFAULT_MAX_KEYS`] keys.
    #[must_use]
    pub fn new(max_failures: u32, window: Duration) -> Self {
        Self {
            max_failures: max_failures.max(1),
            window,
            max_keys: DEFAULT_MAX_KEYS,
            state: Mutex::new(State::default()),
        }
    }

    /// The same limiter tracking at most `max_keys` keys (at least 1).
    #[must_use]
    pub fn with_max_keys(mut self, max_keys: usize) -> Self {
        self.max_keys = max_keys.max(1);
        self
    }

    /// Whether `key` may try now.
    ///
    /// # Errors
    /// The time to wait (whole seconds, at least 1 s) when `key` already has
    /// `max_failures` failures within the window.
    pub fn check(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        self.tick(&mut state, now);
        let Some(failures) = state.keys.get_mut(key) else {
            return Ok(());
        };
        self.expire(failures, now);
        if failures.is_empty() {
            state.keys.remove(key);
            return Ok(());
        }
        if failures.len() < self.limit() {
            return Ok(());
        }
        let oldest = failures.front().copied().unwrap_or(now);
        let waited = now.saturating_duration_since(oldest);
        Err(round_up_secs(self.window.saturating_sub(waited)))
    }

    /// Counts an attempt of `key` at `now` as a failure before it is made,
    /// in one step with the check, so attempts that race cannot all pass:
    /// at most `max_failures` within the window are let through. An attempt
    /// that succeeds is forgiven with [`FailureLimiter::reset`].
    ///
    /// # Errors
    /// As [`FailureLimiter::check`]; nothing is counted then.
    pub fn reserve(&self, key: &str, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        self.tick(&mut state, now);
        if let Some(failures) = state.keys.get_mut(key) {
            self.expire(failures, now);
            if failures.len() >= self.limit() {
                let oldest = failures.front().copied().unwrap_or(now);
                let waited = now.saturating_duration_since(oldest);
                return Err(round_up_secs(self.window.saturating_sub(waited)));
            }
        }
        self.note(&mut state, key, now);
        Ok(())
    }

    /// Notes one failure of `key` at `now`.
    pub fn record_failure(&self, key: &str, now: Instant) {
        let mut state = self.lock();
        self.tick(&mut state, now);
        self.note(&mut state, key, now);
    }

    fn note(&self, state: &mut State, key: &str, now: Instant) {
        if !state.keys.contains_key(key) && state.keys.len() >= self.max_keys {
            self.prune(state, now);
            if state.keys.len() >= self.max_keys {
                self.evict_oldest(state);
            }
        }
        let failures = state.keys.entry(key.to_owned()).or_default();
        self.expire(failures, now);
        // Kept sorted, so the front is the oldest even when callers race.
        let at = failures.partition_point(|t| *t <= now);
        failures.insert(at, now);
        while failures.len() > self.limit() {
            failures.pop_front();
        }
    }

    /// Forgets the failures of `key` (after a success).
    pub fn reset(&self, key: &str) {
        self.lock().keys.remove(key);
    }

    /// How many keys are tracked now (expired ones may still count until
    /// the next pruning).
    #[must_use]
    pub fn tracked_keys(&self) -> usize {
        self.lock().keys.len()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // The state is only counters: a panic elsewhere cannot corrupt it.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn limit(&self) -> usize {
        usize::try_from(self.max_failures).unwrap_or(usize::MAX)
    }

    fn expired(&self, at: Instant, now: Instant) -> bool {
        now.saturating_duration_since(at) >= self.window
    }

    fn expire(&self, failures: &mut VecDeque<Instant>, now: Instant) {
        while failures.front().is_some_and(|t| self.expired(*t, now)) {
            failures.pop_front();
        }
    }

    fn tick(&self, state: &mut State, now: Instant) {
        state.calls += 1;
        if state.calls >= PRUNE_EVERY {
            state.calls = 0;
            self.prune(state, now);
        }
    }

    fn prune(&self, state: &mut State, now: Instant) {
        state
            .keys
            .retain(|_, failures| failures.back().is_some_and(|t| !self.expired(*t, now)));
    }

    /// Drops about a tenth of the keys, those whose last failure is oldest,
    /// so a flood of new keys costs amortized O(1) per key.
    fn evict_oldest(&self, state: &mut State) {
        let mut last: Vec<Instant> = state
            .keys
            .values()
            .filter_map(|failures| failures.back().copied())
            .collect();
        if last.is_empty() {
            state.keys.clear();
            return;
        }
        let drop = (self.max_keys / 10).clamp(1, last.len());
        let (_, cutoff, _) = last.select_nth_unstable(drop - 1);
        let cutoff = *cutoff;
        let mut dropped = 0;
        state.keys.retain(|_, failures| {
            let old = failures.back().is_none_or(|t| *t <= cutoff);
            if old && dropped < drop {
                dropped += 1;
                false
            } else {
                true
            }
        });
    }
}

fn round_up_secs(wait: Duration) -> Duration {
    let secs = if wait.subsec_nanos() > 0 {
        wait.as_secs().saturating_add(1)
    } else {
        wait.as_secs()
    };
    Duration::from_secs(secs.max(1))
}

#[cfg(test)]
mod tests {
    use super::*;

    const WINDOW: Duration = Duration::from_secs(60);

    #[test]
    fn a_key_under_the_limit_passes() {
        let limiter = FailureLimiter::new(3, WINDOW);
        let t0 = Instant::now();
        assert_eq!(limiter.check("client", t0), Ok(()));
        limiter.record_failure("client", t0);
        limiter.record_failure("client", t0 + Duration::from_secs(1));
        assert_eq!(limiter.check("client", t0 + Duration::from_secs(2)), Ok(()));
    }

    #[test]
    fn a_key_at_the_limit_is_refused_until_the_window_passes() {
        let limiter = FailureLimiter::new(3, WINDOW);
        let t0 = Instant::now();
        for s in 0..3 {
            limiter.record_failure("client", t0 + Duration::from_secs(s));
        }
        let at = t0 + Duration::from_millis(10_500);
        assert_eq!(
            limiter.check("client", at),
            Err(Duration::from_secs(50)),
            "retry after 49.5 s rounds up to 50 s"
        );
        let nearly = t0 + WINDOW - Duration::from_millis(1);
        assert_eq!(limiter.check("client", nearly), Err(Duration::from_secs(1)));
        // The oldest failure leaves the window: one more try is allowed.
        assert_eq!(limiter.check("client", t0 + WINDOW), Ok(()));
        // And all of them leave it.
        let later = t0 + WINDOW + Duration::from_secs(2);
        assert_eq!(limiter.check("client", later), Ok(()));
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn failures_slide_out_of_the_window() {
        let limiter = FailureLimiter::new(2, WINDOW);
        let t0 = Instant::now();
        limiter.record_failure("client", t0);
        limiter.record_failure("client", t0 + Duration::from_secs(30));
        assert!(
            limiter
                .check("client", t0 + Duration::from_secs(31))
                .is_err()
        );
        assert_eq!(limiter.check("client", t0 + WINDOW), Ok(()));
        limiter.record_failure("client", t0 + WINDOW);
        assert_eq!(
            limiter.check("client", t0 + WINDOW),
            Err(Duration::from_secs(30))
        );
    }

    #[test]
    fn keys_are_independent() {
        let limiter = FailureLimiter::new(1, WINDOW);
        let t0 = Instant::now();
        limiter.record_failure("client:a", t0);
        assert!(limiter.check("client:a", t0).is_err());
        assert_eq!(limiter.check("client:b", t0), Ok(()));
        assert_eq!(limiter.check("addr:192.0.2.1", t0), Ok(()));
    }

    #[test]
    fn reset_clears_a_key() {
        let limiter = FailureLimiter::new(1, WINDOW);
        let t0 = Instant::now();
        limiter.record_failure("client", t0);
        limiter.record_failure("other", t0);
        assert!(limiter.check("client", t0).is_err());
        limiter.reset("client");
        assert_eq!(limiter.check("client", t0), Ok(()));
        assert!(limiter.check("other", t0).is_err());
    }

    #[test]
    fn zero_max_failures_behaves_as_one() {
        let limiter = FailureLimiter::new(0, WINDOW);
        let t0 = Instant::now();
        assert_eq!(limiter.check("client", t0), Ok(()));
        limiter.record_failure("client", t0);
        assert!(limiter.check("client", t0).is_err());
    }

    #[test]
    fn the_number_of_keys_stays_capped_evicting_the_oldest() {
        let limiter = FailureLimiter::new(1, WINDOW).with_max_keys(100);
        let t0 = Instant::now();
        for i in 0..1_000_u64 {
            limiter.record_failure(&format!("key-{i}"), t0 + Duration::from_millis(i));
            assert!(limiter.tracked_keys() <= 100);
        }
        let now = t0 + Duration::from_secs(1);
        assert!(limiter.check("key-999", now).is_err(), "newest is kept");
        assert_eq!(limiter.check("key-0", now), Ok(()), "oldest was evicted");
    }

    #[test]
    fn expired_keys_are_pruned() {
        let limiter = FailureLimiter::new(5, WINDOW);
        let t0 = Instant::now();
        for i in 0..500 {
            limiter.record_failure(&format!("key-{i}"), t0);
        }
        assert_eq!(limiter.tracked_keys(), 500);
        let later = t0 + WINDOW + Duration::from_secs(1);
        for _ in 0..PRUNE_EVERY {
            let _ = limiter.check("someone", later);
        }
        assert_eq!(limiter.tracked_keys(), 0);
    }

    #[test]
    fn the_limiter_is_shared_across_threads() {
        let limiter = std::sync::Arc::new(FailureLimiter::new(8, WINDOW));
        let t0 = Instant::now();
        let handles: Vec<_> = (0..4)
            .map(|_| {
                let limiter = std::sync::Arc::clone(&limiter);
                std::thread::spawn(move || {
                    for _ in 0..2 {
                        limiter.record_failure("client", t0);
                    }
                })
            })
            .collect();
        for handle in handles {
            handle.join().expect("thread");
        }
        assert!(limiter.check("client", t0).is_err());
    }
}
