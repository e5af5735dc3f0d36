//! Credentials, participants and instruments.

use axum::Json;
use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use ets_core::{
    CreditCode, InstrumentCode, InstrumentKind, InstrumentSpec, Participant, RegionCode, Role,
};
use ets_engine::{Command, NewCredential, Outcome};
use uuid::Uuid;

use crate::AppState;
use crate::body::{CredentialCreatedBody, CredentialListingBody, InstrumentBody, ParticipantBody};
use crate::dto::{CredentialRequest, InstrumentRequest, ParticipantRequest};
use crate::extract::{Caller, Creating, Params};
use crate::page::{Page, PageQuery};
use crate::problem::Problem;
use crate::secret;
use crate::submit::{submit, submit_created};

/// `?role=&limit=&cursor=` of credentials.
#[derive(Debug, serde::Deserialize)]
pub(crate) struct CredentialsQuery {
    role: Option<String>,
    limit: Option<i64>,
    cursor: Option<String>,
}

/// `GET /v1/credentials` (admin, regulator): every credential by client id,
/// revoked ones with `revoked_at`; never a secret or its hash.
pub(crate) async fn list_credentials(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<CredentialsQuery>,
) -> Result<Json<Page<CredentialListingBody>>, Problem> {
    caller.require(&[Role::Admin, Role::Regulator])?;
    let role = query
        .role
        .as_deref()
        .map(Role::parse)
        .transpose()
        .map_err(|_| {
            Problem::unprocessable(
                "invalid_query",
                "role must be admin, enterprise, regulator or finance.",
            )
        })?;
    let limit = crate::page::checked_limit(query.limit)?;
    let after: Option<String> = crate::page::decode_cursor(query.cursor.as_deref())?;
    let credentials = state
        .store
        .credentials(role, after.as_deref(), limit + 1)
        .await?;
    Ok(Json(Page::from_rows(
        credentials,
        limit,
        |c| c.client_id.clone(),
        |c| CredentialListingBody::from(c),
    )))
}

/// `POST /v1/credentials` (admin): the secret is shown in this answer only.
pub(crate) async fn create_credential(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<CredentialRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Admin])?;
    let role = Role::parse(&request.role)?;
    let name = request.name.trim();
    if name.is_empty() || name.chars().count() > 200 {
        return Err(ets_core::LedgerError::InvalidName.into());
    }
    let client_id = secret::new_client_id().map_err(|e| Problem::internal(&e))?;
    let client_secret = secret::new_secret().map_err(|e| Problem::internal(&e))?;
    let credential = NewCredential {
        client_id: client_id.clone(),
        name: name.to_owned(),
        role,
        participant_id: request.participant_id,
        secret_hash: hash_off_the_runtime(client_secret.clone()).await?,
    };
    let committed = submit(&state, &caller, key, Command::CreateCredential(credential)).await?;
    if committed.replayed {
        // The secret was shown once and is not kept: a retry cannot show it again.
        return Err(Problem::new(
            StatusCode::CONFLICT,
            "credential_already_issued",
            "This Idempotency-Key already issued a credential; its secret was shown once. Revoke it and issue another if it was lost.",
        ));
    }
    let body = CredentialCreatedBody {
        client_id,
        client_secret,
        role,
        participant_id: request.participant_id,
    };
    // A secret must not stay in any cache on the way.
    Ok((
        StatusCode::CREATED,
        [(axum::http::header::CACHE_CONTROL, "no-store")],
        Json(body),
    )
        .into_response())
}

/// `DELETE /v1/credentials/{client_id}` (admin): its tokens stop working.
pub(crate) async fn revoke_credential(
    State(state): State<AppState>,
    caller: Caller,
    Path(client_id): Path<String>,
) -> Result<StatusCode, Problem> {
    caller.require(&[Role::Admin])?;
    state
        .store
        .execute(
            caller.actor(),
            Command::RevokeCredential {
                client_id: client_id.clone(),
            },
        )
        .await?;
    state.credentials.forget(&client_id);
    Ok(StatusCode::NO_CONTENT)
}

/// `POST /v1/participants` (admin).
pub(crate) async fn create_participant(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<ParticipantRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Admin])?;
    let participant = Participant::new(
        Uuid::now_v7(),
        &request.name,
        CreditCode::parse(request.credit_code.trim())?,
        RegionCode::parse(&request.region_code)?,
        request.industry.clone(),
    )?;
    submit_created(
        &state,
        &caller,
        key,
        Command::CreateParticipant(participant),
        |outcome| match outcome {
            Outcome::Participant(p) => Some(ParticipantBody::from(p)),
            _ => None,
        },
    )
    .await
}

/// `GET /v1/participants`: every participant for staff; an enterprise sees
/// only its own.
pub(crate) async fn list_participants(
    State(state): State<AppState>,
    caller: Caller,
    Params(query): Params<PageQuery>,
) -> Result<Json<Page<ParticipantBody>>, Problem> {
    let limit = query.limit()?;
    let after: Option<Uuid> = query.cursor()?;
    if caller.role == Role::Enterprise {
        let own = match caller.participant_id {
            Some(id) if after.is_none() => state.store.participant(id).await?,
            _ => None,
        };
        return Ok(Json(Page::new(
            own.iter().map(ParticipantBody::from).collect(),
            None,
        )));
    }
    let participants = state.store.participants(after, limit + 1).await?;
    Ok(Json(Page::from_rows(
        participants,
        limit,
        |p| p.id,
        |p| ParticipantBody::from(p),
    )))
}

/// `GET /v1/participants/{id}`.
pub(crate) async fn get_participant(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Json<ParticipantBody>, Problem> {
    let participant = visible_participant(&state, &caller, &id).await?;
    Ok(Json(ParticipantBody::from(&participant)))
}

/// `POST /v1/instruments` (admin).
pub(crate) async fn create_instrument(
    State(state): State<AppState>,
    Creating {
        caller,
        key,
        body: request,
        ..
    }: Creating<InstrumentRequest>,
) -> Result<Response, Problem> {
    caller.require(&[Role::Admin])?;
    let kind = InstrumentKind::parse(&request.kind)?;
    if kind == InstrumentKind::Cash {
        return Err(ets_core::LedgerError::InvalidInstrument("CNY is built in").into());
    }
    let spec = InstrumentSpec {
        code: InstrumentCode::parse(&request.code)?,
        kind,
        pollutant: request.pollutant.clone(),
        unit: request.unit.clone(),
        scale: request.scale,
        region_code: request
            .region_code
            .as_deref()
            .map(RegionCode::parse)
            .transpose()?,
        vintage: request.vintage,
        valid_from: request.valid_from,
        valid_to: request.valid_to,
        commission_rate: request
            .commission_rate
            .map_or(ets_core::Decimal::ZERO, |r| r.0),
        price_band: request.price_band.map(|b| b.0),
    };
    submit_created(
        &state,
        &caller,
        key,
        Command::CreateInstrument(spec),
        |outcome| match outcome {
            Outcome::Instrument(i) => Some(InstrumentBody::from(i)),
            _ => None,
        },
    )
    .await
}

/// `GET /v1/instruments` (any role).
pub(crate) async fn list_instruments(
    State(state): State<AppState>,
    _caller: Caller,
    Params(query): Params<PageQuery>,
) -> Result<Json<Page<InstrumentBody>>, Problem> {
    let limit = query.limit()?;
    let after: Option<String> = query.cursor()?;
    let instruments = state.store.instruments(after, limit + 1).await?;
    Ok(Json(Page::from_rows(
        instruments,
        limit,
        |i| i.code.to_string(),
        |i| InstrumentBody::from(i),
    )))
}

/// `GET /v1/instruments/{code}` (any role; `CNY` is built in).
pub(crate) async fn get_instrument(
    State(state): State<AppState>,
    _caller: Caller,
    Path(code): Path<String>,
) -> Result<Json<InstrumentBody>, Problem> {
    let instrument = known_instrument(&state.store, &code).await?;
    Ok(Json(InstrumentBody::from(&instrument)))
}

/// The instrument a path names; 404 if there is none (or the code is not
/// one).
///
/// # Errors
/// `not_found`, or the store's failure.
pub(crate) async fn known_instrument(
    store: &ets_store::Store,
    code: &str,
) -> Result<ets_core::Instrument, Problem> {
    let code = InstrumentCode::parse(code).map_err(|_| Problem::not_found("instrument"))?;
    store
        .instrument(&code)
        .await?
        .ok_or_else(|| Problem::not_found("instrument"))
}

/// argon2 takes tens of milliseconds of CPU and 19 MiB: it runs on the
/// hashing threads, off the async workers.
async fn hash_off_the_runtime(secret: String) -> Result<String, Problem> {
    secret::run_hashing(move || secret::hash_secret(&secret))
        .await?
        .map_err(|e| Problem::internal(&e))
}

/// The participant named in a path, if the caller may see it: staff see every
/// participant, an enterprise only its own; anything else is 404, as if it
/// did not exist.
///
/// # Errors
/// `not_found`, or the store's failure.
pub(crate) async fn visible_participant(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> Result<Participant, Problem> {
    let id = Uuid::parse_str(id).map_err(|_| Problem::not_found("participant"))?;
    caller.may_see(id, "participant")?;
    state
        .store
        .participant(id)
        .await?
        .ok_or_else(|| Problem::not_found("participant"))
}

/// An outcome that does not belong to the command: a bug, answered 500.
pub(crate) fn unexpected(outcome: &Outcome) -> Problem {
    tracing::error!(?outcome, "unexpected outcome");
    Problem::new(
        StatusCode::INTERNAL_SERVER_ERROR,
        "internal_error",
        "The server failed unexpectedly.",
    )
}
