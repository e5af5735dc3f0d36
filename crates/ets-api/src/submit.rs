//! Submitting a command on behalf of a caller, with its Idempotency-Key.

use std::collections::HashSet;
use std::sync::Mutex;

use axum::Json;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ets_engine::{Command, Committed, IdempotencyKey, Outcome, Request};
use serde::Serialize;

use crate::AppState;
use crate::extract::Caller;
use crate::problem::Problem;

/// Idempotency keys whose first request is still being processed on this
/// node: a duplicate arriving meanwhile gets 409 instead of waiting.
#[derive(Debug, Default)]
pub struct InFlight {
    keys: Mutex<HashSet<(String, String)>>,
}

/// The right to process one key; dropping it frees the key.
struct Claim<'a> {
    in_flight: &'a InFlight,
    key: (String, String),
}

impl Drop for Claim<'_> {
    fn drop(&mut self) {
        self.in_flight.lock().remove(&self.key);
    }
}

impl InFlight {
    fn claim(&self, scope: &str, key: &str) -> Option<Claim<'_>> {
        let key = (scope.to_owned(), key.to_owned());
        // The lock is released before a Claim exists: dropping a Claim takes it.
        let inserted = self.lock().insert(key.clone());
        inserted.then(|| Claim {
            in_flight: self,
            key,
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashSet<(String, String)>> {
        self.keys
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

/// Submits `command` as `caller`. With an `Idempotency-Key`, a retry of the
/// same request answers the first result and changes nothing; the same key
/// with another request is 422 `idempotency_key_reused`; the same key while
/// the first is in flight is 409 `idempotency_key_in_flight`.
///
/// # Errors
/// The command's refusal or the store's failure as a problem.
pub(crate) async fn submit(
    state: &AppState,
    caller: &Caller,
    key: Option<IdempotencyKey>,
    command: Command,
) -> Result<Committed, Problem> {
    let _claim = match &key {
        Some(k) => Some(state.in_flight.claim(&k.scope, &k.key).ok_or_else(|| {
            Problem::new(
                StatusCode::CONFLICT,
                "idempotency_key_in_flight",
                "A request with this Idempotency-Key is still being processed.",
            )
        })?),
        None => None,
    };
    let request = Request {
        actor: caller.actor(),
        idempotency: key,
        command,
    };
    Ok(state.store.submit(request).await?)
}

/// [`submit`] for a creating request, answered 201 with the body `render`
/// makes of the outcome; an outcome `render` does not expect (a bug) is 500.
///
/// # Errors
/// As [`submit`].
pub(crate) async fn submit_created<B: Serialize>(
    state: &AppState,
    caller: &Caller,
    key: Option<IdempotencyKey>,
    command: Command,
    render: impl FnOnce(&Outcome) -> Option<B>,
) -> Result<Response, Problem> {
    let committed = submit(state, caller, key, command).await?;
    match render(&committed.outcome) {
        Some(body) => Ok((StatusCode::CREATED, Json(body)).into_response()),
        None => Err(crate::registry::unexpected(&committed.outcome)),
    }
}
