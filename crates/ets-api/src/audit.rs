//! The regulator's audit over HTTP (SPEC §6): the journal as the export
//! writes it, its verification in the database, and signed checkpoints.
//! Regulators and administrators only; every one of these is a read.

use axum::Json;
use axum::extract::State;
use ets_core::Role;
use ets_core::audit::{checkpoint_message, entry_json};
use serde::Deserialize;
use serde_json::Value;

use crate::AppState;
use crate::body::{CheckpointBody, VerificationBody};
use crate::extract::{Caller, Params};
use crate::page::{Page, checked_limit, decode_cursor};
use crate::problem::Problem;

/// Who may audit.
const AUDITORS: &[Role] = &[Role::Regulator, Role::Admin];

/// `?after_seq=&limit=&cursor=` of the journal.
#[derive(Debug, Deserialize)]
pub(crate) struct JournalQuery {
    /// Entries after this seq (0: from the first).
    after_seq: Option<i64>,
    /// Page size, 1 to 500.
    limit: Option<i64>,
    /// The previous page's `next_cursor`, instead of `after_seq`.
    cursor: Option<String>,
}

impl JournalQuery {
    /// The seq the page starts after.
    fn after(&self) -> Result<i64, Problem> {
        let cursor: Option<i64> = decode_cursor(self.cursor.as_deref())?;
        let after = match (self.after_seq, cursor) {
            (Some(_), Some(_)) => {
                return Err(Problem::unprocessable(
                    "invalid_query",
                    "Give after_seq or cursor, not both.",
                ));
            }
            (Some(after), None) | (None, Some(after)) => after,
            (None, None) => 0,
        };
        if after < 0 {
            return Err(Problem::unprocessable(
                "invalid_query",
                "after_seq must be 0 or more.",
            ));
        }
        Ok(after)
    }
}

/// `GET /v1/audit/journal`: entries after `after_seq`, oldest first, each
/// exactly the object `ets-ledger journal export` writes as a line, so every
/// hash can be recomputed from the answer alone.
pub(crate) async fn journal(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<JournalQuery>,
) -> Result<Json<Page<Value>>, Problem> {
    caller.require(AUDITORS)?;
    let limit = checked_limit(query.limit)?;
    let after = query.after()?;
    let entries = state.store.journal(after, limit + 1).await?;
    Ok(Json(Page::from_rows(
        entries,
        limit,
        |entry| entry.seq,
        entry_json,
    )))
}

/// `GET /v1/audit/verify`: the whole stored journal, read in pages, checked
/// up to the head recorded when the check starts.
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerificationBody>, Problem> {
    caller.require(AUDITORS)?;
    let verification = state.store.verify_journal().await?;
    if !verification.ok {
        tracing::warn!(first_bad_seq = ?verification.first_bad_seq, "the journal does not verify");
    }
    Ok(Json(VerificationBody::from(verification)))
}

/// `GET /v1/audit/checkpoint`: the recorded head, signed by the key that
/// signs now. A read: nothing is journaled.
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CheckpointBody>, Problem> {
    caller.require(AUDITORS)?;
    let head = state.store.journal_head().await?;
    let key = state.tokens.signing_key();
    let signature = key.sign(checkpoint_message(head.seq, &head.hash).as_bytes());
    Ok(Json(CheckpointBody {
        seq: head.seq,
        head_hash: head.hash,
        signed_at: crate::dto::time(state.store.now()),
        kid: key.kid().to_owned(),
        signature,
    }))
}
