//! Compliance over HTTP (SPEC §6): verified emissions (the regulator
//! records them), surrenders (an enterprise hands in allowances and
//! offsets), and the compliance report, as JSON pages or one CSV.

use axum::Json;
use axum::extract::State;
use axum::response::{IntoResponse, Response};
use ets_core::{InstrumentCode, Role};
use ets_engine::settlement::write_record;
use ets_engine::{
    Command, ComplianceRow, ComplianceStatus, EmissionKind, NewEmission, NewSurrender, Outcome,
    Period,
};
use ets_store::{ComplianceReport, EmissionFilter};
use serde::{Deserialize, Serialize};
use uuid::Uuid;

use crate::AppState;
use crate::body::{ComplianceRowBody, EmissionBody, SurrenderBody};
use crate::dto::DecimalString;
use crate::extract::{Caller, Creating, Params};
use crate::market::participant_filter;
use crate::page::{Page, checked_limit, decode_cursor};
use crate::problem::Problem;
use crate::submit::submit_created;

/// Who reads the compliance report.
const AUDITORS: &[Role] = &[Role::Regulator, Role::Admin];

fn invalid_period() -> Problem {
    Problem::unprocessable(
        "invalid_period",
        "period must be a year of four digits, e.g. \"2025\".",
    )
}

fn period(text: &str) -> Result<Period, Problem> {
    text.parse().map_err(|_| invalid_period())
}

/// `POST /v1/emissions`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct EmissionRequest {
    participant_id: Uuid,
    period: String,
    kind: String,
    pollutant: Option<String>,
    quantity: DecimalString,
}

/// `POST /v1/emissions` (regulator): a participant's verified emissions for
/// a period; a later record of the same participant, period, kind and
/// pollutant replaces the earlier (both are journaled, both kept).
pub(crate) async fn record_emission(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<EmissionRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Regulator])?;
    let emission = NewEmission {
        id: Uuid::now_v7(),
        participant_id: request.participant_id,
        period: period(&request.period)?,
        kind: request.kind.parse::<EmissionKind>()?,
        pollutant: request.pollutant.clone(),
        quantity: request.quantity.0,
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::RecordEmission(emission),
        |outcome| match outcome {
            Outcome::Emission(emission) => Some(EmissionBody::from(emission)),
            _ => None,
        },
    )
    .await
}

/// `?period=&participant_id=&limit=&cursor=` of the emission records.
#[derive(Debug, Deserialize)]
pub(crate) struct EmissionsQuery {
    period: Option<String>,
    participant_id: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/emissions` (regulator, admin; an enterprise its own): the
/// current records, oldest first.
pub(crate) async fn list_emissions(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<EmissionsQuery>,
) -> Result<Json<Page<EmissionBody>>, Problem> {
    caller.require(&[Role::Regulator, Role::Admin, Role::Enterprise])?;
    let limit = checked_limit(query.limit)?;
    let filter = EmissionFilter {
        period: query.period.as_deref().map(period).transpose()?,
        participant: participant_filter(&caller, query.participant_id.as_deref())?,
        after: decode_cursor(query.cursor.as_deref())?,
        limit: limit + 1,
    };
    let emissions = state.store.emissions(&filter).await?;
    Ok(Json(Page::from_rows(
        emissions,
        limit,
        |e| e.id,
        |e| EmissionBody::from(e),
    )))
}

/// `POST /v1/surrenders`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct SurrenderRequest {
    instrument: String,
    quantity: DecimalString,
    period: String,
}

/// `POST /v1/surrenders` (enterprise): its own available allowances or
/// offsets move to the surrendered account for the period.
pub(crate) async fn surrender(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<SurrenderRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Enterprise])?;
    let participant_id = caller.participant_id.ok_or_else(Problem::forbidden)?;
    let surrender = NewSurrender {
        id: Uuid::now_v7(),
        participant_id,
        instrument: InstrumentCode::parse(&request.instrument)?,
        quantity: request.quantity.0,
        period: period(&request.period)?,
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::Surrender(surrender),
        |outcome| match outcome {
            Outcome::Surrender(surrender) => Some(SurrenderBody::from(surrender)),
            _ => None,
        },
    )
    .await
}

/// `?period=&participant_id=&status=&limit=&cursor=&format=` of the report.
#[derive(Debug, Deserialize)]
pub(crate) struct ComplianceQuery {
    period: Option<String>,
    participant_id: Option<String>,
    status: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
    format: Option<String>,
}

/// Where a page of the report ended: the last row's key.
#[derive(Debug, Serialize, Deserialize, PartialEq, Eq, PartialOrd, Ord)]
struct RowKey {
    participant_id: Uuid,
    kind: EmissionKind,
    pollutant: Option<String>,
}

impl RowKey {
    fn of(row: &ComplianceRow) -> Self {
        Self {
            participant_id: row.participant_id,
            kind: row.kind,
            pollutant: row.pollutant.clone(),
        }
    }
}

/// The columns of the compliance CSV, in order.
const COMPLIANCE_COLUMNS: [&str; 9] = [
    "period",
    "participant_id",
    "participant_name",
    "kind",
    "pollutant",
    "obligation",
    "covered",
    "shortfall",
    "status",
];

/// `GET /v1/compliance?period=` (regulator, admin): a row per current
/// emission record of the period with its obligation, what covers it, the
/// shortfall and the status, by participant (carbon first, then pollutants
/// by name). `participant_id` and `status` keep some rows. JSON is paged;
/// `format=csv` answers every row kept, as an attachment (UTF-8 with a BOM).
pub(crate) async fn report(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<ComplianceQuery>,
) -> Result<Response, Problem> {
    caller.require(AUDITORS)?;
    let csv = match query.format.as_deref() {
        None | Some("json") => false,
        Some("csv") => true,
        Some(_) => {
            return Err(Problem::unprocessable(
                "invalid_query",
                "format must be json or csv.",
            ));
        }
    };
    let Some(text) = query.period.as_deref() else {
        return Err(Problem::unprocessable(
            "invalid_query",
            "period is required, e.g. period=2025.",
        ));
    };
    let period = period(text)?;
    let participant = participant_filter(&caller, query.participant_id.as_deref())?;
    let status = query
        .status
        .as_deref()
        .map(|s| {
            s.parse::<ComplianceStatus>().map_err(|()| {
                Problem::unprocessable("invalid_query", "status must be compliant or shortfall.")
            })
        })
        .transpose()?;
    let limit = checked_limit(query.limit)?;
    let after: Option<RowKey> = decode_cursor(query.cursor.as_deref())?;
    let ComplianceReport { rows, names } = state.store.compliance(period).await?;
    let kept = rows.into_iter().filter(|row| {
        participant.is_none_or(|p| row.participant_id == p)
            && status.is_none_or(|s| row.status == s)
    });
    let name = |row: &ComplianceRow| names.get(&row.participant_id).cloned().unwrap_or_default();
    if csv {
        let mut text = String::from("\u{feff}");
        write_record(
            &mut text,
            COMPLIANCE_COLUMNS.iter().map(|c| (*c).to_owned()),
        );
        for row in kept {
            let cells = [
                period.to_string(),
                row.participant_id.to_string(),
                name(&row),
                row.kind.as_str().to_owned(),
                row.pollutant.clone().unwrap_or_default(),
                row.obligation.to_string(),
                row.covered.to_string(),
                row.shortfall.to_string(),
                row.status.as_str().to_owned(),
            ];
            write_record(&mut text, cells.into_iter());
        }
        return Ok(crate::settlement::download_response(
            text.into_response(),
            "text/csv; charset=utf-8",
            Some(&format!("compliance-{period}.csv")),
        ));
    }
    let one_more = usize::try_from(limit).map_or(usize::MAX, |n| n.saturating_add(1));
    let rows: Vec<ComplianceRow> = kept
        .filter(|row| after.as_ref().is_none_or(|a| RowKey::of(row) > *a))
        .take(one_more)
        .collect();
    let page = Page::from_rows(rows, limit, RowKey::of, |row| {
        ComplianceRowBody::new(period, row, name(row))
    });
    Ok(Json(page).into_response())
}
