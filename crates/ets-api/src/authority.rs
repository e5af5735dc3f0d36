//! The authority's acts on holdings over HTTP: reclamations and pledges.

use axum::Json;
use axum::extract::{Path, State};
use axum::response::Response;
use ets_core::{InstrumentCode, Role};
use ets_engine::{Command, NewPledge, NewReclamation, Outcome};
use serde::Deserialize;
use uuid::Uuid;

use crate::AppState;
use crate::body::{PledgeBody, ReclamationBody};
use crate::dto::DecimalString;
use crate::extract::{Caller, Creating, Params};
use crate::ledger::RegistryQuery;
use crate::page::Page;
use crate::problem::Problem;
use crate::registry::unexpected;
use crate::submit::submit_created;

/// `POST /v1/reclamations`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct ReclamationRequest {
    participant_id: Uuid,
    instrument: String,
    quantity: DecimalString,
    reason: String,
    compensation: Option<DecimalString>,
}

/// `POST /v1/reclamations` (admin): available rights move into the
/// government reserve; a compensation is paid into the participant's cash
/// from outside the ledger (the settlement bank side).
pub(crate) async fn reclaim(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<ReclamationRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Admin])?;
    let reclamation = NewReclamation {
        id: Uuid::now_v7(),
        participant_id: request.participant_id,
        instrument: InstrumentCode::parse(&request.instrument)?,
        quantity: request.quantity.0,
        reason: request.reason.clone(),
        compensation: request.compensation.as_ref().map(|c| c.0),
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::Reclaim(reclamation),
        |outcome| match outcome {
            Outcome::Reclamation(r) => Some(ReclamationBody::from(r)),
            _ => None,
        },
    )
    .await
}

/// `POST /v1/pledges`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub(crate) struct PledgeRequest {
    participant_id: Uuid,
    instrument: String,
    quantity: DecimalString,
    pledgee: String,
    reference: String,
}

/// `POST /v1/pledges` (admin): blocks available rights in favour of a
/// pledgee; they cannot be sold, surrendered or reclaimed until released.
pub(crate) async fn pledge(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<PledgeRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Admin])?;
    let pledge = NewPledge {
        id: Uuid::now_v7(),
        participant_id: request.participant_id,
        instrument: InstrumentCode::parse(&request.instrument)?,
        quantity: request.quantity.0,
        pledgee: request.pledgee.clone(),
        reference: request.reference.clone(),
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::Pledge(pledge),
        |outcome| match outcome {
            Outcome::Pledge(pledge) => Some(PledgeBody::from(pledge)),
            _ => None,
        },
    )
    .await
}

/// `POST /v1/pledges/{id}/release` (admin).
pub(crate) async fn release(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PledgeBody>, Problem> {
    caller.require(&[Role::Admin])?;
    let id = Uuid::parse_str(&id).map_err(|_| Problem::not_found("pledge"))?;
    let committed = state
        .store
        .execute(caller.actor(), Command::ReleasePledge { id })
        .await?;
    let Outcome::Pledge(pledge) = committed.outcome else {
        return Err(unexpected(&committed.outcome));
    };
    Ok(Json(PledgeBody::from(&pledge)))
}

/// `GET /v1/pledges/{id}`: staff, and the pledging enterprise.
pub(crate) async fn get(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<PledgeBody>, Problem> {
    let not_found = || Problem::not_found("pledge");
    let id = Uuid::parse_str(&id).map_err(|_| not_found())?;
    let pledge = state.store.pledge(id).await?.ok_or_else(not_found)?;
    caller.may_see(pledge.participant_id, "pledge")?;
    Ok(Json(PledgeBody::from(&pledge)))
}

/// `GET /v1/reclamations`: admin, regulator and finance all; an enterprise
/// its own. Oldest first.
pub(crate) async fn list_reclamations(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<RegistryQuery>,
) -> Result<Json<Page<ReclamationBody>>, Problem> {
    let (filter, limit) = query.filter(&caller)?;
    let reclamations = state.store.reclamations(&filter).await?;
    Ok(Json(Page::from_rows(
        reclamations,
        limit,
        |r| r.id,
        |r| ReclamationBody::from(r),
    )))
}

/// `GET /v1/pledges`: admin, regulator and finance all; an enterprise its
/// own. Oldest first.
pub(crate) async fn list_pledges(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<RegistryQuery>,
) -> Result<Json<Page<PledgeBody>>, Problem> {
    let (filter, limit) = query.filter(&caller)?;
    let pledges = state.store.pledges(&filter).await?;
    Ok(Json(Page::from_rows(
        pledges,
        limit,
        |p| p.id,
        |p| PledgeBody::from(p),
    )))
}
