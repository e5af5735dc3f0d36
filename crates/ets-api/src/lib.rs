//! The HTTP API of ets-ledger: routes, problem+json errors, and the secrets
//! of API credentials. Handlers stay thin: extract, call the store, answer.

pub mod auth;
pub mod dto;
pub mod extract;
mod ledger;
pub mod page;
pub mod problem;
pub mod rate_limit;
mod registry;
pub mod secret;
mod submit;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{delete, get, post};
use ets_store::Store;
use serde_json::json;
use tower_http::compression::CompressionLayer;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tracing::Level;

use crate::problem::Problem;

/// The largest request body accepted (bytes).
pub const MAX_BODY_BYTES: usize = 1 << 20;

/// How long one request may take before it is answered 408.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    /// The ledger's storage.
    pub store: Store,
    /// Issues and verifies access tokens.
    pub tokens: token::Tokens,
    /// This node's short-lived view of credentials' revocation.
    pub credentials: Arc<auth::CredentialCache>,
    /// Limits on failed token requests.
    pub limits: Arc<Limits>,
    /// Idempotency keys being processed on this node.
    pub in_flight: Arc<submit::InFlight>,
}

impl AppState {
    /// The state for a store: the signing key is the configured one, else the
    /// one kept with the database (made at first start).
    ///
    /// # Errors
    /// When the signing key cannot be loaded or stored.
    pub async fn load(
        store: Store,
        config: token::TokenConfig,
        configured_key: Option<token::SigningKey>,
    ) -> Result<Self, auth::KeyError> {
        let key = auth::load_signing_key(&store, configured_key).await?;
        Ok(Self::new(store, token::Tokens::new(config, key)))
    }

    /// The state for a store and a token service.
    #[must_use]
    pub fn new(store: Store, tokens: token::Tokens) -> Self {
        Self {
            store,
            tokens,
            credentials: Arc::default(),
            limits: Arc::new(Limits::default()),
            in_flight: Arc::default(),
        }
    }
}

/// Per-node limits on failed token requests, per client id and per address.
#[derive(Debug)]
pub struct Limits {
    /// Failures per client id.
    pub by_client: rate_limit::FailureLimiter,
    /// Failures per client address.
    pub by_address: rate_limit::FailureLimiter,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            by_client: rate_limit::FailureLimiter::new(
                auth::TOKEN_FAILURES_PER_CLIENT,
                auth::TOKEN_FAILURE_WINDOW,
            ),
            by_address: rate_limit::FailureLimiter::new(
                auth::TOKEN_FAILURES_PER_ADDRESS,
                auth::TOKEN_FAILURE_WINDOW,
            ),
        }
    }
}

/// The whole HTTP application, ready to serve or to call in tests.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
        .route("/.well-known/jwks.json", get(auth::jwks))
        .route("/v1/auth/token", post(auth::token))
        .route("/v1/credentials", post(registry::create_credential))
        .route("/v1/credentials/{client_id}", delete(registry::revoke_credential))
        .route("/v1/participants", post(registry::create_participant).get(registry::list_participants))
        .route("/v1/participants/{id}", get(registry::get_participant))
        .route("/v1/participants/{id}/holdings", get(ledger::holdings))
        .route("/v1/participants/{id}/history", get(ledger::history))
        .route("/v1/instruments", post(registry::create_instrument).get(registry::list_instruments))
        .route("/v1/instruments/{code}", get(registry::get_instrument))
        .route("/v1/allocations", post(ledger::create_allocation))
        .route("/v1/cash/deposits", post(ledger::deposit))
        .route("/v1/cash/withdrawals", post(ledger::withdraw))
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::REQUEST_TIMEOUT, REQUEST_TIMEOUT))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(|request: &axum::http::Request<_>| {
            let id = request
                .headers()
                .get("x-request-id")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
        })
        .on_response(DefaultOnResponse::new().level(Level::INFO)))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

async fn not_found() -> Problem {
    Problem::new(StatusCode::NOT_FOUND, "not_found", "No such path.")
}

async fn method_not_allowed() -> Problem {
    Problem::new(
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
        "This path does not take that method.",
    )
}

/// Liveness: the process answers.
async fn healthz() -> impl IntoResponse {
    Json(json!({ "status": "ok" }))
}

/// Readiness: the database answers.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    state.store.ready().await.map_err(|error| {
        tracing::warn!(error = %error, "database not ready");
        Problem::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "database_unavailable",
            "The database does not answer.",
        )
    })?;
    Ok(Json(
        json!({ "status": "ready", "database": state.store.backend_name() }),
    ))
}
