//! The settlement of a business day (SPEC §5) over HTTP, and the bytes the
//! `ets-ledger settlement export` command writes: the same function renders
//! both, so a scheduled export and a download are the same file.

use axum::extract::{Path, State};
use axum::http::{HeaderValue, header};
use axum::response::{IntoResponse, Response};
use chrono::NaiveDate;
use ets_core::Role;
use ets_engine::settlement::{Settlement, participants_csv, settle_day};
use ets_store::Store;
use serde::Deserialize;

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

/// The settlement of `date` as the ledger has it now (today's: the day so
/// far).
///
/// # Errors
/// 422 `invalid_date` for a year outside 1–9999; 422 `date_in_future`
/// after `today`; the database failure; an internal
/// error if the day does not reconcile (a bug: nothing is answered rather
/// than a wrong figure).
pub async fn settlement(store: &Store, date: NaiveDate) -> Result<Settlement, Problem> {
    use chrono::Datelike;
    // Years chrono can parse but no ledger has (and whose day bounds would
    // leave chrono's range).
    if !(1..=9999).contains(&date.year()) {
        return Err(invalid_date());
    }
    let today = ets_core::instrument::business_date(store.now());
    if date > today {
        return Err(Problem::unprocessable(
            "date_in_future",
            "The settlement of a day after today does not exist yet.",
        ));
    }
    let (cash, trades) = store.settlement_day(date).await?;
    settle_day(date, cash, &trades).map_err(|unreconciled| {
        tracing::error!(%date, error = %unreconciled, "a settlement does not reconcile");
        Problem::internal(&unreconciled)
    })
}

/// The bytes of a settlement in a format.
///
/// # Errors
/// An internal error if the workbook cannot be written.
pub fn render(settlement: &Settlement, format: SettlementFormat) -> Result<Vec<u8>, Problem> {
    match format {
        SettlementFormat::Json => {
            serde_json::to_vec(settlement).map_err(|error| Problem::internal(&error))
        }
        SettlementFormat::Csv => Ok(participants_csv(settlement)),
        SettlementFormat::Xlsx => {
            ets_report::settlement_xlsx(settlement).map_err(|error| Problem::internal(&error))
        }
    }
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
    caller.require(&[Role::Finance, Role::Admin, Role::Regulator])?;
    let date: NaiveDate = date.parse().map_err(|_| {
        Problem::unprocessable(
            "invalid_date",
            "The date must be YYYY-MM-DD, e.g. 2026-06-01.",
        )
    })?;
    let format = SettlementFormat::parse(query.format.as_deref().unwrap_or("json"))?;
    let settlement = settlement(&state.store, date).await?;
    let bytes = render(&settlement, format)?;
    let mut response = bytes.into_response();
    let headers = response.headers_mut();
    headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static(format.content_type()),
    );
    if format != SettlementFormat::Json {
        let disposition = format!("attachment; filename=\"{}\"", format.file_name(date));
        if let Ok(value) = HeaderValue::from_str(&disposition) {
            headers.insert(header::CONTENT_DISPOSITION, value);
        }
    }
    Ok(response)
}
