//! The settlement of a business day (SPEC §5) over HTTP, and the bytes the
//! `ets-ledger settlement export` command writes: the same function renders
//! both, so a scheduled export and a download are the same file.

use axum::body::Body;
use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use ets_core::Role;
use ets_engine::market::Trade;
use ets_engine::settlement::{
    DayTrades, SettlementHead, Unreconciled, json_opening, json_trade_line, participants_csv,
    settle_cash,
};
use ets_report::SettlementWorkbook;
use ets_store::{SettlementDay, Store};
use serde::Deserialize;
use tokio::sync::mpsc;

use crate::AppState;
use crate::extract::{Caller, Params};
use crate::problem::Problem;

/// How a settlement is written.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SettlementFormat {
    /// `{date, participants, trades, totals}`.
    Json,
    /// The participant rows, UTF-8 with a BOM, a header row of the JSON
    /// field names.
    Csv,
    /// A workbook: participants and trades sheets.
    Xlsx,
}

impl SettlementFormat {
    /// `json`, `csv` or `xlsx`.
    ///
    /// # Errors
    /// 422 `invalid_query` for any other name.
    pub fn parse(text: &str) -> Result<Self, Problem> {
        match text {
            "json" => Ok(Self::Json),
            "csv" => Ok(Self::Csv),
            "xlsx" => Ok(Self::Xlsx),
            _ => Err(Problem::unprocessable(
                "invalid_query",
                "format must be json, csv or xlsx.",
            )),
        }
    }

    /// The media type of the answer.
    #[must_use]
    pub fn content_type(self) -> &'static str {
        match self {
            Self::Json => "application/json",
            Self::Csv => "text/csv; charset=utf-8",
            Self::Xlsx => "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
        }
    }

    /// The file name of the day's settlement in this format.
    #[must_use]
    pub fn file_name(self, date: NaiveDate) -> String {
        let extension = match self {
            Self::Json => "json",
            Self::Csv => "csv",
            Self::Xlsx => "xlsx",
        };
        format!("settlement-{date}.{extension}")
    }
}

/// How much of a download is gathered before it is handed on: frames of
/// about this size, not one per trade line.
pub(crate) const CHUNK_BYTES: usize = 64 * 1024;

/// Chunks in flight between the writer of a download and its reader: the
/// writer waits when the reader is slower, so memory stays bounded.
pub(crate) const CHUNKS_IN_FLIGHT: usize = 16;

/// Why a download stopped before its end: the reader sees the body cut
/// short (HTTP) or the command fails, and the log says which.
#[derive(Debug, thiserror::Error)]
pub enum DownloadError {
    /// The database failed midway.
    #[error("the database failed")]
    Store(#[from] ets_store::StoreError),
    /// The day does not reconcile: a bug, and nothing wrong is printed.
    #[error("the day does not reconcile: {0}")]
    Unreconciled(#[from] Unreconciled),
    /// The workbook could not be written.
    #[error("the workbook could not be written")]
    Report(#[from] ets_report::ReportError),
    /// The reader went away (the client closed the connection).
    #[error("the reader is gone")]
    ReaderGone,
}

/// The bytes of a settlement as they are written, chunk by chunk; a chunk
/// that is an error ends the download unfinished.
pub type Download = mpsc::Receiver<Result<Vec<u8>, DownloadError>>;

/// The settlement of `date` as the ledger has it now (today's: the day so
/// far) in `format`, written as the day is read: one snapshot of the
/// database, the participants' cash summed posting by posting, the trades
/// handed on one at a time, so a day of a million trades is never held in
/// memory.
///
/// A bad date, or a database that cannot begin the read, is refused before
/// the first byte. The CSV is complete before it is answered.
/// The JSON's trade lines and the XLSX's rows are written while the trades
/// are read, and the participants' rows only once every trade is counted:
/// if the day then does not reconcile (a bug: no wrong figure is ever
/// printed) or the database fails midway, the download ends unfinished and
/// the log says why.
///
/// # Errors
/// 422 `invalid_date` for a year outside 1–9999; 422 `date_in_future`
/// after today; the database failure; for the CSV, an internal error if the
/// day does not reconcile.
pub async fn settlement(
    store: &Store,
    date: NaiveDate,
    format: SettlementFormat,
) -> Result<Download, Problem> {
    let day = open_day(store, date).await?;
    let (sender, download) = mpsc::channel(CHUNKS_IN_FLIGHT);
    match format {
        SettlementFormat::Csv => {
            let DayHead { head, .. } = head_of(day).await?;
            // The channel has room for this one chunk.
            let _ = sender.try_send(Ok(participants_csv(&head.participants)));
        }
        SettlementFormat::Json => {
            tokio::spawn(async move {
                if let Err(error) = write_json(day, &sender).await {
                    tracing::error!(%date, %error, "a settlement download stopped unfinished");
                    let _ = sender.send(Err(error)).await;
                }
            });
        }
        SettlementFormat::Xlsx => {
            let runtime = tokio::runtime::Handle::current();
            tokio::task::spawn_blocking(move || {
                if let Err(error) = write_xlsx(&runtime, day, &sender) {
                    tracing::error!(%date, %error, "a settlement download stopped unfinished");
                    let _ = sender.blocking_send(Err(error));
                }
            });
        }
    }
    Ok(download)
}

/// A day's participant rows and totals, every row reconciled, and how many
/// trades were counted into them: what the CSV prints, and what the
/// console's settlement page shows. Memory grows with the participants,
/// never with the trades.
#[derive(Debug)]
pub(crate) struct DayHead {
    /// The rows and totals, as the JSON's `participants` and `totals`.
    pub(crate) head: SettlementHead,
    /// The day's trades (the JSON's `trades` lines), counted.
    pub(crate) trades: u64,
}

/// The participant rows and totals of `date`, read and reconciled as the
/// CSV's are, complete before they are answered.
///
/// # Errors
/// As [`settlement`]: 422 `invalid_date`, 422 `date_in_future`, the
/// database failure, an internal error if the day does not reconcile.
pub(crate) async fn settlement_head(store: &Store, date: NaiveDate) -> Result<DayHead, Problem> {
    head_of(open_day(store, date).await?).await
}

/// The snapshot of `date`'s settlement, once the date is one the ledger
/// can have.
async fn open_day(store: &Store, date: NaiveDate) -> Result<SettlementDay, Problem> {
    use chrono::Datelike;
    // Years chrono can parse but no ledger has (and whose day bounds would
    // leave chrono's range).
    if !(1..=9999).contains(&date.year()) {
        return Err(invalid_date());
    }
    let today = store.business_date(store.now());
    if date > today {
        return Err(Problem::unprocessable(
            "date_in_future",
            "The settlement of a day after today does not exist yet.",
        ));
    }
    Ok(store.settlement_day(date).await?)
}

/// Every trade of `day` counted, then every participant reconciled.
async fn head_of(mut day: SettlementDay) -> Result<DayHead, Problem> {
    let date = day.date();
    let mut trades = DayTrades::new(date);
    let mut counted: u64 = 0;
    let cash = day
        .cash_and_trades(|trade| {
            counted += 1;
            std::future::ready(count(&mut trades, &trade))
        })
        .await?;
    let head = settle_cash(cash, &trades).map_err(|error| unreconciled(date, &error))?;
    Ok(DayHead {
        head,
        trades: counted,
    })
}

/// Counts a trade into the day's figures.
fn count(trades: &mut DayTrades, trade: &Trade) -> Result<(), Problem> {
    trades
        .add(trade)
        .map(drop)
        .map_err(|error| unreconciled(trade.business_date, &error))
}

/// The problem answered (and logged) when a day does not reconcile.
fn unreconciled(date: NaiveDate, error: &Unreconciled) -> Problem {
    tracing::error!(%date, %error, "a settlement does not reconcile");
    Problem::internal(error)
}

/// The JSON settlement into `sender`: the opening, each trade line as it is
/// read, the participants and totals.
async fn write_json(
    mut day: SettlementDay,
    sender: &mpsc::Sender<Result<Vec<u8>, DownloadError>>,
) -> Result<(), DownloadError> {
    let date = day.date();
    let mut trades = DayTrades::new(date);
    let mut chunk = json_opening(date);
    let mut first = true;
    let cash = day
        .cash_and_trades(|trade| {
            let line = trades.add(&trade).map_err(DownloadError::from);
            let full = match line {
                Ok(line) => {
                    chunk.extend(json_trade_line(&line, first));
                    first = false;
                    (chunk.len() >= CHUNK_BYTES).then(|| std::mem::take(&mut chunk))
                }
                Err(error) => {
                    return futures_util::future::Either::Left(std::future::ready(Err(error)));
                }
            };
            futures_util::future::Either::Right(async move {
                match full {
                    Some(bytes) => send(sender, bytes).await,
                    None => Ok(()),
                }
            })
        })
        .await?;
    let head = settle_cash(cash, &trades)?;
    chunk.extend(head.json_closing());
    send(sender, chunk).await
}

/// Hands a chunk to the reader, waiting while it is behind.
pub(crate) async fn send(
    sender: &mpsc::Sender<Result<Vec<u8>, DownloadError>>,
    bytes: Vec<u8>,
) -> Result<(), DownloadError> {
    sender
        .send(Ok(bytes))
        .await
        .map_err(|_| DownloadError::ReaderGone)
}

/// The XLSX settlement into `sender`, on a thread that may block: each
/// trade line into the workbook's temporary files as it is read, then the
/// participants, then the file streamed out.
fn write_xlsx(
    runtime: &tokio::runtime::Handle,
    mut day: SettlementDay,
    sender: &mpsc::Sender<Result<Vec<u8>, DownloadError>>,
) -> Result<(), DownloadError> {
    let date = day.date();
    let mut workbook = SettlementWorkbook::new(date)?;
    let mut trades = DayTrades::new(date);
    let cash = runtime.block_on(day.cash_and_trades(|trade| {
        let written = trades
            .add(&trade)
            .map_err(DownloadError::from)
            .and_then(|line| workbook.push_trade(&line).map_err(DownloadError::from));
        std::future::ready(written)
    }))?;
    drop(day);
    let head = settle_cash(cash, &trades)?;
    let mut out = ChunkWriter {
        sender,
        chunk: Vec::with_capacity(CHUNK_BYTES),
    };
    workbook.finish(&head, &mut out)?;
    std::io::Write::flush(&mut out).map_err(|_| DownloadError::ReaderGone)
}

/// A writer that hands what it is given to the reader of a download, in
/// chunks, blocking while the reader is behind.
struct ChunkWriter<'a> {
    sender: &'a mpsc::Sender<Result<Vec<u8>, DownloadError>>,
    chunk: Vec<u8>,
}

impl std::io::Write for ChunkWriter<'_> {
    fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
        self.chunk.extend_from_slice(bytes);
        if self.chunk.len() >= CHUNK_BYTES {
            self.flush()?;
        }
        Ok(bytes.len())
    }

    fn flush(&mut self) -> std::io::Result<()> {
        if self.chunk.is_empty() {
            return Ok(());
        }
        let chunk = std::mem::replace(&mut self.chunk, Vec::with_capacity(CHUNK_BYTES));
        self.sender
            .blocking_send(Ok(chunk))
            .map_err(|_| std::io::Error::new(std::io::ErrorKind::BrokenPipe, "the reader is gone"))
    }
}

/// The body of a download: its chunks as they come; an error ends it
/// without its last chunk. Fused: the compression layer polls a body once
/// more after its end, which a bare `unfold` answers with a panic.
pub(crate) fn streamed(download: Download) -> Body {
    use futures_util::StreamExt as _;
    Body::from_stream(
        futures_util::stream::unfold(download, |mut download| async move {
            download.recv().await.map(|chunk| (chunk, download))
        })
        .fuse(),
    )
}

fn invalid_date() -> Problem {
    Problem::unprocessable(
        "invalid_date",
        "The date must be YYYY-MM-DD (years 1 to 9999), e.g. 2026-06-01.",
    )
}

/// `?format=`.
#[derive(Debug, Deserialize)]
pub(crate) struct SettlementQuery {
    format: Option<String>,
}

/// `GET /v1/settlements/{date}?format=json|csv|xlsx` (finance, admin,
/// regulator): CSV and XLSX as attachments named after the day.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(date): Path<String>,
    Params(query): Params<SettlementQuery>,
) -> Result<Response, Problem> {
    answer(&state, &caller, &date, query.format.as_deref()).await
}

/// The roles that may read a day's settlement.
pub(crate) const READERS: [Role; 3] = [Role::Finance, Role::Admin, Role::Regulator];

/// `{date}` of `/v1/settlements/{date}`.
///
/// # Errors
/// 422 `invalid_date` unless it is `YYYY-MM-DD`.
pub(crate) fn parse_date(text: &str) -> Result<NaiveDate, Problem> {
    text.parse().map_err(|_| {
        Problem::unprocessable(
            "invalid_date",
            "The date must be YYYY-MM-DD, e.g. 2026-06-01.",
        )
    })
}

/// What `GET /v1/settlements/{date}?format=` answers `caller`, `format`
/// as the query gave it (none: JSON); the console's downloads answer it
/// too, so both are the same file.
///
/// # Errors
/// 403 for a role not among [`READERS`]; as [`parse_date`],
/// [`SettlementFormat::parse`] and [`settlement`].
pub(crate) async fn answer(
    state: &AppState,
    caller: &Caller,
    date: &str,
    format: Option<&str>,
) -> Result<Response, Problem> {
    caller.require(&READERS)?;
    let date = parse_date(date)?;
    let format = SettlementFormat::parse(format.unwrap_or("json"))?;
    let download = settlement(&state.store, date, format).await?;
    let file_name = (format != SettlementFormat::Json).then(|| format.file_name(date));
    Ok(download_response(
        streamed(download).into_response(),
        format.content_type(),
        file_name.as_deref(),
    ))
}

/// A download's answer: its content type and, for a file, the attachment
/// header that names it. Every download (settlements, exports, the
/// compliance CSV) is answered through it.
pub(crate) fn download_response(
    mut response: Response,
    content_type: &'static str,
    file_name: Option<&str>,
) -> Response {
    let headers = response.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(content_type));
    if let Some(file_name) = file_name {
        let disposition = format!("attachment; filename=\"{file_name}\"");
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    response
}
