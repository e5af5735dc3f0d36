//! The regulator's audit over HTTP (SPEC §6): the journal as the export
//! writes it, its verification in the database, and signed checkpoints.
//! Regulators and administrators only; every one of these is a read.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ets_core::Role;
use ets_core::audit::{checkpoint_message, entry_json};
use ets_core::journal::format_time;
use ets_engine::settlement::write_record;
use ets_store::{TradeFilter, TradeRecord};
use serde::Deserialize;
use serde_json::Value;
use tokio::sync::mpsc;

use crate::AppState;
use crate::body::{CheckpointBody, VerificationBody};
use crate::extract::{Caller, Params};
use crate::market::trade_filter;
use crate::page::{Page, checked_limit, decode_cursor};
use crate::problem::Problem;
use crate::settlement::{
    CHUNK_BYTES, CHUNKS_IN_FLIGHT, DownloadError, download_response, send, streamed,
};
use crate::token::SigningKey;

/// Who may audit.
pub(crate) const AUDITORS: &[Role] = &[Role::Regulator, Role::Admin];

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
/// up to the head recorded when the check starts; each verification is
/// recorded (when, by whom, what it found).
pub(crate) async fn verify(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<VerificationBody>, Problem> {
    caller.require(AUDITORS)?;
    let at = state.store.now();
    let verification = state.store.verify_journal().await?;
    if !verification.ok {
        tracing::warn!(first_bad_seq = ?verification.first_bad_seq, "the journal does not verify");
    }
    // Kept, so the console can show the last verification and when it ran
    // without verifying on every page.
    state
        .store
        .record_verification(at, &caller.client_id, &verification)
        .await?;
    Ok(Json(VerificationBody::from(verification)))
}

/// `GET /v1/audit/checkpoint`: the recorded head, signed by the key that
/// signs now. A read: nothing is journaled.
pub(crate) async fn checkpoint(
    State(state): State<AppState>,
    caller: Caller,
) -> Result<Json<CheckpointBody>, Problem> {
    caller.require(AUDITORS)?;
    let key = state.tokens.signing_key();
    Ok(Json(checkpoint_body(&state.store, &key).await?))
}

/// The journal's head, signed by `key`, at the store's time.
async fn checkpoint_body(
    store: &ets_store::Store,
    key: &SigningKey,
) -> Result<CheckpointBody, ets_store::StoreError> {
    let head = store.journal_head().await?;
    let signature = key.sign(checkpoint_message(head.seq, &head.hash).as_bytes());
    Ok(CheckpointBody {
        seq: head.seq,
        head_hash: head.hash,
        signed_at: crate::dto::time(store.now()),
        kid: key.kid().to_owned(),
        signature,
    })
}

/// A checkpoint of the journal's head now, signed by `key`, as `GET
/// /v1/audit/checkpoint` answers it: what `ets-ledger demo` keeps next to
/// its output for `journal verify --checkpoint`.
///
/// # Errors
/// The database failure.
pub async fn signed_checkpoint(
    store: &ets_store::Store,
    key: &SigningKey,
) -> Result<Value, ets_store::StoreError> {
    let body = checkpoint_body(store, key).await?;
    Ok(serde_json::to_value(body).expect("a checkpoint serializes"))
}

/// The columns of the trade history export, in order.
const TRADE_EXPORT_COLUMNS: [&str; 13] = [
    "trade_id",
    "executed_at",
    "instrument",
    "method",
    "quantity",
    "price",
    "value",
    "buyer_participant_id",
    "buyer_name",
    "seller_participant_id",
    "seller_name",
    "buyer_commission",
    "seller_commission",
];

/// `?participant_id=&instrument=&method=&from=&to=&format=csv` of the trade
/// history export.
#[derive(Debug, Deserialize)]
pub(crate) struct TradesExportQuery {
    participant_id: Option<String>,
    instrument: Option<String>,
    method: Option<String>,
    from: Option<String>,
    to: Option<String>,
    format: Option<String>,
}

/// `GET /v1/audit/trades?…&format=csv` (regulator, admin): every trade the
/// filters keep, by execution time, with both parties and their names, as
/// CSV for a spreadsheet (UTF-8 with a BOM, a header row, RFC 4180
/// quoting), streamed as the database sends the trades. A failure midway
/// ends the download without its last chunk.
pub(crate) async fn trades(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<TradesExportQuery>,
) -> Result<Response, Problem> {
    caller.require(AUDITORS)?;
    if !matches!(query.format.as_deref(), None | Some("csv")) {
        return Err(Problem::unprocessable(
            "invalid_query",
            "format must be csv.",
        ));
    }
    let filter = trade_filter(
        &caller,
        query.participant_id.as_deref(),
        query.instrument.as_deref(),
        query.method,
        query.from.as_deref(),
        query.to.as_deref(),
    )?;
    Ok(trade_export(&state, filter))
}

/// The trades `filter` keeps as a CSV download, streamed (see [`trades`]);
/// the console's download is this too.
pub(crate) fn trade_export(state: &AppState, filter: TradeFilter) -> Response {
    let (sender, download) = mpsc::channel(CHUNKS_IN_FLIGHT);
    let store = state.store.clone();
    tokio::spawn(async move {
        if let Err(error) = write_trades(&store, &filter, &sender).await {
            tracing::error!(%error, "a trade export stopped unfinished");
            let _ = sender.send(Err(error)).await;
        }
    });
    download_response(
        streamed(download).into_response(),
        "text/csv; charset=utf-8",
        Some("trades.csv"),
    )
}

/// The export into `sender`, in chunks.
async fn write_trades(
    store: &ets_store::Store,
    filter: &TradeFilter,
    sender: &mpsc::Sender<Result<Vec<u8>, DownloadError>>,
) -> Result<(), DownloadError> {
    let mut chunk = String::from("\u{feff}");
    write_record(
        &mut chunk,
        TRADE_EXPORT_COLUMNS
            .iter()
            .map(|column| (*column).to_owned()),
    );
    store
        .each_trade_record(filter, |record| {
            write_record(&mut chunk, export_cells(&record).into_iter());
            let full = (chunk.len() >= CHUNK_BYTES).then(|| std::mem::take(&mut chunk));
            async move {
                match full {
                    Some(text) => send(sender, text.into_bytes()).await,
                    None => Ok(()),
                }
            }
        })
        .await?;
    send(sender, chunk.into_bytes()).await
}

/// A trade's cells, in [`TRADE_EXPORT_COLUMNS`] order: decimals as stored,
/// times as the journal writes them, an auction's seller empty.
fn export_cells(record: &TradeRecord) -> [String; TRADE_EXPORT_COLUMNS.len()] {
    let trade = &record.trade;
    [
        trade.id.to_string(),
        format_time(trade.executed_at),
        trade.instrument.as_str().to_owned(),
        trade.method.as_str().to_owned(),
        trade.quantity.to_string(),
        trade.price.to_string(),
        trade.value.to_string(),
        trade.buyer_id.to_string(),
        record.buyer_name.clone(),
        trade.seller_id.map(|id| id.to_string()).unwrap_or_default(),
        record.seller_name.clone().unwrap_or_default(),
        trade.buyer_commission.to_string(),
        trade.seller_commission.to_string(),
    ]
}
