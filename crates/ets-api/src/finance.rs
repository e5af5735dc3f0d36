//! Finance over HTTP: paid-use invoices as of an instant, and their
//! payments. The figures (outstanding, late fee, status) are never stored:
//! each answer computes them with `ets_engine::invoice` from the invoice's
//! terms and the payments committed by the instant asked.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use chrono::{DateTime, Utc};
use ets_core::Role;
use ets_engine::{Command, InvoiceStatus, NewPayment, Outcome, PaymentSource, StoredInvoice};
use ets_store::InvoiceFilter;
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::body::{InvoiceBody, PaymentBody};
use crate::dto::DecimalString;
use crate::extract::{Caller, Creating, Params};
use crate::ledger::parse_instant;
use crate::market::participant_filter;
use crate::page::{Page, checked_limit, decode_cursor};
use crate::problem::Problem;
use crate::submit::submit_created;

/// Who reads invoices: staff, and an enterprise its own.
const READERS: [Role; 4] = [
    Role::Finance,
    Role::Admin,
    Role::Regulator,
    Role::Enterprise,
];

/// Invoices read from the store at a time while a status filter skips some.
const SCAN: i64 = 200;

/// `?as_of=` of one invoice.
#[derive(Debug, Deserialize)]
pub(crate) struct InvoiceQuery {
    as_of: Option<String>,
}

/// `?participant_id=&status=&as_of=&limit=&cursor=`.
#[derive(Debug, Default, Deserialize)]
pub(crate) struct InvoicesQuery {
    pub(crate) participant_id: Option<String>,
    pub(crate) status: Option<String>,
    pub(crate) as_of: Option<String>,
    pub(crate) limit: Option<i64>,
    pub(crate) cursor: Option<String>,
}

fn as_of(state: &AppState, text: Option<&str>) -> Result<DateTime<Utc>, Problem> {
    text.map_or_else(|| Ok(state.store.now()), parse_instant)
}

/// `GET /v1/invoices/{id}?as_of=`: 404 for an invoice created after
/// `as_of`, or another participant's.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    Params(query): Params<InvoiceQuery>,
) -> Result<Json<InvoiceBody>, Problem> {
    let (_, body) = invoice(&state, &caller, &id, query.as_of.as_deref()).await?;
    Ok(Json(body))
}

/// One invoice as `caller` may read it, with its figures as of `as_of`
/// (default now): what `GET /v1/invoices/{id}` answers, and the stored
/// invoice with its payments (for the console's page).
pub(crate) async fn invoice(
    state: &AppState,
    caller: &Caller,
    id: &str,
    as_of_text: Option<&str>,
) -> Result<(StoredInvoice, InvoiceBody), Problem> {
    caller.require(&READERS)?;
    let as_of = as_of(state, as_of_text)?;
    let not_found = || Problem::not_found("invoice");
    let id = Uuid::parse_str(id).map_err(|_| not_found())?;
    let stored = state.store.invoice(id).await?.ok_or_else(not_found)?;
    caller.may_see(stored.invoice.participant_id, "invoice")?;
    let figures = stored
        .figures_at(as_of, state.store.business_zone())
        .ok_or_else(not_found)?;
    let body = InvoiceBody::new(&stored.invoice, &figures, as_of);
    Ok((stored, body))
}

/// `GET /v1/invoices`: those that existed at `as_of` (default now), oldest
/// first, with their figures then; `status` filters on those figures.
pub(crate) async fn list(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<InvoicesQuery>,
) -> Result<Json<Page<InvoiceBody>>, Problem> {
    Ok(Json(invoices(&state, &caller, query).await?))
}

/// The page of invoices `GET /v1/invoices` answers (the console's list is
/// this too).
pub(crate) async fn invoices(
    state: &AppState,
    caller: &Caller,
    query: InvoicesQuery,
) -> Result<Page<InvoiceBody>, Problem> {
    caller.require(&READERS)?;
    let limit = checked_limit(query.limit)?;
    let mut after: Option<Uuid> = decode_cursor(query.cursor.as_deref())?;
    let status = query
        .status
        .as_deref()
        .map(str::parse::<InvoiceStatus>)
        .transpose()
        .map_err(|_| {
            Problem::unprocessable(
                "invalid_query",
                "status must be open, partially_paid, paid, overdue or cancelled.",
            )
        })?;
    let as_of = as_of(state, query.as_of.as_deref())?;
    let participant = participant_filter(caller, query.participant_id.as_deref())?;
    // A status is a figure as of `as_of`, not a column: read on until the
    // page (and one more, for the cursor) is full or nothing is left.
    let mut rows: Vec<(StoredInvoice, ets_engine::InvoiceFigures)> = Vec::new();
    loop {
        let filter = InvoiceFilter {
            participant,
            after,
            limit: SCAN.max(limit + 1),
        };
        let read = state.store.invoices(&filter).await?;
        let exhausted = read.len() < usize::try_from(filter.limit).unwrap_or(usize::MAX);
        after = read.last().map(|s| s.invoice.id).or(after);
        for stored in read {
            if let Some(figures) = stored.figures_at(as_of, state.store.business_zone())
                && status.is_none_or(|status| figures.status == status)
            {
                rows.push((stored, figures));
            }
        }
        if exhausted || rows.len() > usize::try_from(limit).unwrap_or(usize::MAX) {
            break;
        }
    }
    Ok(Page::from_rows(
        rows,
        limit,
        |(stored, _)| stored.invoice.id,
        |(stored, figures)| InvoiceBody::new(&stored.invoice, figures, as_of),
    ))
}

/// `POST /v1/invoices/{id}/payments`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PaymentRequest {
    amount: DecimalString,
    source: String,
    reference: String,
}

/// `POST /v1/invoices/{id}/payments` (finance): surcharge first, then
/// principal; from the participant's cash (to fee income) or recorded
/// from the bank.
pub(crate) async fn pay(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        path: Path(id),
        body,
    }: Creating<PaymentRequest, Path<String>>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Finance])?;
    let invoice_id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("invoice"))?;
    let source: PaymentSource = body.source.parse()?;
    let payment = NewPayment {
        id: Uuid::now_v7(),
        invoice_id,
        amount: body.amount.0,
        source,
        reference: body.reference.clone(),
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::PayInvoice(payment),
        |outcome| match outcome {
            Outcome::InvoicePaid(paid) => Some(PaymentBody::from(paid)),
            _ => None,
        },
    )
    .await
}
