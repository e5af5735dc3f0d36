//! Allocations, holdings, history, and cash deposits and withdrawals.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use chrono::{DateTime, Utc};
use ets_core::{InstrumentCode, LedgerError, Role};
use ets_engine::{Command, NewAllocation, Outcome, PaidUse};
use ets_store::HistoryCursor;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::body::{AllocationBody, CashMovementBody, HistoryItemBody, HoldingBody, HoldingsBody};
use crate::dto::{AllocationRequest, CashRequest, instant, time};
use crate::extract::{Caller, Creating, Params};
use crate::page::{Page, checked_limit, decode_cursor};
use crate::problem::Problem;
use crate::registry::{unexpected, visible_participant};
use crate::submit::{submit, submit_created};

/// Days from allocation to the due date of its invoice when none is given.
pub(crate) const DEFAULT_DUE_DAYS: u64 = 30;

/// `POST /v1/allocations` (admin): free, or paid with its paid-use invoice.
pub(crate) async fn create_allocation(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<AllocationRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Admin])?;
    let paid = match request.method.as_str() {
        "free" => {
            if request.unit_fee.is_some() || request.years.is_some() || request.due_date.is_some() {
                return Err(Problem::unprocessable(
                    "invalid_body",
                    "A free allocation has no unit_fee, years or due_date.",
                ));
            }
            None
        }
        "paid" => {
            let instrument = InstrumentCode::parse(&request.instrument)?;
            let unit_fee = match request.unit_fee {
                Some(fee) => fee.0,
                None => published_fee(&state, &instrument).await?,
            };
            let due_date = request.due_date.unwrap_or_else(|| {
                let today = state.store.business_date(state.store.now());
                today + chrono::Days::new(DEFAULT_DUE_DAYS)
            });
            Some(PaidUse {
                invoice_id: Uuid::now_v7(),
                unit_fee,
                years: request.years.unwrap_or(ets_engine::DEFAULT_PAID_USE_YEARS),
                due_date,
                daily_rate: state.finance.daily_rate,
            })
        }
        _ => {
            return Err(Problem::unprocessable(
                "invalid_body",
                "method must be free or paid.",
            ));
        }
    };
    let allocation = NewAllocation {
        id: Uuid::now_v7(),
        participant_id: request.participant_id,
        instrument: InstrumentCode::parse(&request.instrument)?,
        quantity: request.quantity.0,
        paid,
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::Allocate(allocation),
        |outcome| match outcome {
            Outcome::Allocation(allocation) => Some(AllocationBody::from(allocation)),
            _ => None,
        },
    )
    .await
}

/// `?participant_id=&instrument=&limit=&cursor=` of the registry's lists:
/// allocations, reclamations, pledges.
#[derive(Debug, Deserialize)]
pub(crate) struct RegistryQuery {
    participant_id: Option<String>,
    instrument: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

impl RegistryQuery {
    /// The store's filter (one more row than the page, to tell whether
    /// another follows) and the page's size: an enterprise sees its own
    /// participant's records only.
    pub(crate) fn filter(
        &self,
        caller: &Caller,
    ) -> Result<(ets_store::RegistryFilter, i64), Problem> {
        let limit = checked_limit(self.limit)?;
        let filter = ets_store::RegistryFilter {
            participant: crate::market::participant_filter(caller, self.participant_id.as_deref())?,
            instrument: crate::market::instrument_filter(self.instrument.as_deref())?,
            after: decode_cursor(self.cursor.as_deref())?,
            limit: limit + 1,
        };
        Ok((filter, limit))
    }
}

/// `GET /v1/allocations`: admin, regulator and finance all; an enterprise
/// its own. Oldest first.
pub(crate) async fn list_allocations(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<RegistryQuery>,
) -> Result<Json<Page<AllocationBody>>, Problem> {
    let (filter, limit) = query.filter(&caller)?;
    let allocations = state.store.allocations(&filter).await?;
    Ok(Json(Page::from_rows(
        allocations,
        limit,
        |a| a.id,
        |a| AllocationBody::from(a),
    )))
}

/// The published unit fee of the instrument's pollutant, for a paid
/// allocation that names none: 422 `unit_fee_required` for carbon or a
/// pollutant the schedule does not list; an unknown instrument is left for
/// the writer to refuse.
async fn published_fee(
    state: &AppState,
    instrument: &InstrumentCode,
) -> Result<ets_core::Decimal, Problem> {
    let required = || {
        Problem::unprocessable(
            "unit_fee_required",
            "This instrument's pollutant has no published unit fee: give unit_fee.",
        )
    };
    let Some(found) = state.store.instrument(instrument).await? else {
        // The writer answers unknown_instrument; the fee is never used.
        return Ok(ets_core::Decimal::ZERO);
    };
    let pollutant = found.pollutant.as_deref().ok_or_else(required)?;
    state.finance.fees.unit_fee(pollutant).ok_or_else(required)
}

/// `?as_of=` of holdings.
#[derive(Debug, Deserialize)]
pub(crate) struct HoldingsQuery {
    as_of: Option<String>,
}

pub(crate) fn parse_instant(text: &str) -> Result<DateTime<Utc>, Problem> {
    instant(
        text,
        "invalid_query",
        "as_of must be an RFC 3339 time, e.g. 2026-01-31T16:00:00Z.",
    )
}

/// `GET /v1/participants/{id}/holdings?as_of=`: every instrument with its
/// balance, available and held; CNY always included.
pub(crate) async fn holdings(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(query): Params<HoldingsQuery>,
) -> Result<Json<HoldingsBody>, Problem> {
    let as_of = query.as_of.as_deref().map(parse_instant).transpose()?;
    let id = visible_participant(&state, &caller, &id).await?.id;
    let holdings = state.store.holdings(id, as_of).await?;
    Ok(Json(HoldingsBody {
        participant_id: id,
        as_of: time(as_of.unwrap_or_else(|| state.store.now())),
        holdings: holdings.iter().map(HoldingBody::from).collect(),
    }))
}

/// `?instrument=&limit=&cursor=` of history.
#[derive(Debug, Deserialize)]
pub(crate) struct HistoryQuery {
    instrument: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/participants/{id}/history?instrument=`: balance movements,
/// oldest first.
pub(crate) async fn history(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(query): Params<HistoryQuery>,
) -> Result<Json<Page<HistoryItemBody>>, Problem> {
    let limit = checked_limit(query.limit)?;
    let after: Option<HistoryCursor> = decode_cursor(query.cursor.as_deref())?;
    let instrument = query
        .instrument
        .as_deref()
        .map(InstrumentCode::parse)
        .transpose()
        .map_err(|_| {
            Problem::unprocessable("invalid_query", "instrument is not an instrument code.")
        })?;
    let id = visible_participant(&state, &caller, &id).await?.id;
    let items = state
        .store
        .history(id, instrument.as_ref(), after.as_ref(), limit + 1)
        .await?;
    Ok(Json(Page::from_rows(
        items,
        limit,
        |i| HistoryCursor {
            at: i.at,
            instrument: i.instrument.to_string(),
            version: i.version,
        },
        |i| HistoryItemBody::from(i),
    )))
}

/// `POST /v1/cash/deposits` (finance).
pub(crate) async fn deposit(
    state: State<AppState>,
    request: Creating<CashRequest>,
) -> Result<Response, Problem> {
    cash(state, request, Command::deposit).await
}

/// `POST /v1/cash/withdrawals` (finance).
pub(crate) async fn withdraw(
    state: State<AppState>,
    request: Creating<CashRequest>,
) -> Result<Response, Problem> {
    cash(state, request, Command::withdraw).await
}

async fn cash(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<CashRequest>,
    command: fn(Uuid, ets_core::Decimal) -> Command,
) -> Result<Response, Problem> {
    caller.require(&[Role::Finance])?;
    let reference = request.reference.trim();
    if reference.is_empty() || reference.chars().count() > 200 {
        return Err(Problem::unprocessable(
            "invalid_reference",
            "reference must be 1-200 characters.",
        ));
    }
    let command = command(request.participant_id, request.amount.0).with_reference(reference);
    let committed = submit(&state, &caller, key, command).await?;
    let Outcome::Ledger(transaction) = committed.outcome else {
        return Err(unexpected(&committed.outcome));
    };
    let body = CashMovementBody::new(&transaction, request.participant_id)
        .ok_or(LedgerError::QuantityMustBePositive)?;
    Ok((StatusCode::CREATED, Json(body)).into_response())
}
