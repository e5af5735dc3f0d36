//! The HTTP API of ets-ledger: routes, problem+json errors, and the secrets
//! of API credentials. Handlers stay thin: extract, call the store, answer.

mod auctions;
pub mod audit;
pub mod auth;
mod authority;
mod body;
mod compliance;
mod console;
pub mod dto;
pub mod extract;
mod finance;
pub mod forward;
mod ledger;
mod market;
pub mod metrics;
pub mod page;
pub mod problem;
pub mod rate_limit;
mod registry;
pub mod secret;
pub mod serve;
pub mod settlement;
mod submit;
pub mod text;
pub mod token;

use std::sync::Arc;
use std::time::Duration;

use axum::Json;
use axum::Router;
use axum::extract::{DefaultBodyLimit, State};
use axum::http::Method;
use axum::http::{HeaderName, StatusCode};
use axum::response::IntoResponse;
use axum::routing::{MethodRouter, delete, get, post};
use ets_store::Store;
use tower_http::compression::CompressionLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
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
    /// Request and ledger counters for `/metrics`.
    pub metrics: Arc<metrics::Metrics>,
    /// Paid-use fees and the late surcharge.
    pub finance: Arc<FinanceSettings>,
    /// How long a request may take to its answer's head (a download then
    /// streams for as long as it takes).
    pub request_timeout: Duration,
    /// Reverse proxies whose `X-Forwarded-For` names the client's address
    /// (for the login limits); none by default.
    pub trusted_proxies: Arc<Vec<std::net::IpAddr>>,
    /// Where writes go when another node holds the writer lease.
    pub forwarder: Arc<forward::Forwarder>,
}

/// The finance settings: the published unit fees a paid allocation without
/// `unit_fee` is charged at, and the daily surcharge rate fixed on each new
/// invoice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FinanceSettings {
    /// Unit fee by pollutant (SPEC §1).
    pub fees: ets_engine::FeeSchedule,
    /// The late surcharge per day, 0 to 1 (default 0.0005).
    pub daily_rate: ets_core::Decimal,
}

impl Default for FinanceSettings {
    fn default() -> Self {
        Self {
            fees: ets_engine::FeeSchedule::default(),
            daily_rate: ets_engine::DEFAULT_DAILY_SURCHARGE_RATE,
        }
    }
}

impl AppState {
    /// The state for a store: the keys kept with the database (the
    /// configured key installed there first, or a first key made at first
    /// start), read again every [`auth::KEY_REFRESH`].
    ///
    /// # Errors
    /// When the signing keys cannot be loaded or stored.
    pub async fn load(
        store: Store,
        config: token::TokenConfig,
        configured_key: Option<token::SigningKey>,
    ) -> Result<Self, auth::KeyError> {
        let ring = auth::install_keys(&store, configured_key).await?;
        let tokens = token::Tokens::with_ring(config, ring, Some(store.now()));
        Ok(Self::new(store, tokens))
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
            metrics: Arc::default(),
            finance: Arc::default(),
            request_timeout: REQUEST_TIMEOUT,
            trusted_proxies: Arc::default(),
            forwarder: Arc::default(),
        }
    }

    /// The same state passing writes to the node that holds `lease`
    /// whenever it is not this one, over connections kept idle for at most
    /// `idle` (below the nodes' header read timeout).
    #[must_use]
    pub fn with_writer_lease(mut self, lease: ets_store::WriterLease, idle: Duration) -> Self {
        self.forwarder = Arc::new(forward::Forwarder::new(lease, idle));
        self
    }

    /// The same state trusting these reverse proxies' `X-Forwarded-For`.
    #[must_use]
    pub fn with_trusted_proxies(mut self, proxies: Vec<std::net::IpAddr>) -> Self {
        self.trusted_proxies = Arc::new(proxies);
        self
    }

    /// The same state with another request timeout.
    #[must_use]
    pub fn with_request_timeout(mut self, timeout: Duration) -> Self {
        self.request_timeout = timeout;
        self
    }

    /// The same state with these finance settings.
    #[must_use]
    pub fn with_finance(mut self, finance: FinanceSettings) -> Self {
        self.finance = Arc::new(finance);
        self
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

/// One route: method, path template, handler.
pub type Route = (Method, &'static str, MethodRouter<AppState>);

/// Every route the server answers: method, path, handler. The router is
/// built from this table, and a test checks it against `api-spec/openapi.yaml`
/// in both directions.
#[must_use]
pub fn routes() -> Vec<Route> {
    [
        service_routes(),
        registry_routes(),
        ledger_routes(),
        market_routes(),
        authority_routes(),
        audit_routes(),
    ]
    .into_iter()
    .flatten()
    .collect()
}

/// The service's own routes: health, readiness, metrics, the contract, the
/// public keys and tokens.
fn service_routes() -> Vec<Route> {
    vec![
        (Method::GET, "/healthz", get(healthz)),
        (Method::GET, "/readyz", get(readyz)),
        (Method::GET, "/metrics", get(metrics::render)),
        (Method::GET, "/v1/openapi.json", get(openapi)),
        (Method::GET, "/.well-known/jwks.json", get(auth::jwks)),
        (Method::POST, "/v1/auth/token", post(auth::token)),
    ]
}

/// Credentials, participants and instruments, and what participants hold.
fn registry_routes() -> Vec<Route> {
    vec![
        (
            Method::POST,
            "/v1/credentials",
            post(registry::create_credential),
        ),
        (
            Method::GET,
            "/v1/credentials",
            get(registry::list_credentials),
        ),
        (
            Method::DELETE,
            "/v1/credentials/{client_id}",
            delete(registry::revoke_credential),
        ),
        (
            Method::POST,
            "/v1/participants",
            post(registry::create_participant),
        ),
        (
            Method::GET,
            "/v1/participants",
            get(registry::list_participants),
        ),
        (
            Method::GET,
            "/v1/participants/{id}",
            get(registry::get_participant),
        ),
        (
            Method::GET,
            "/v1/participants/{id}/holdings",
            get(ledger::holdings),
        ),
        (
            Method::GET,
            "/v1/participants/{id}/history",
            get(ledger::history),
        ),
        (
            Method::POST,
            "/v1/instruments",
            post(registry::create_instrument),
        ),
        (
            Method::GET,
            "/v1/instruments",
            get(registry::list_instruments),
        ),
        (
            Method::GET,
            "/v1/instruments/{code}",
            get(registry::get_instrument),
        ),
    ]
}

/// Allocations, cash, invoices and their payments, settlements.
fn ledger_routes() -> Vec<Route> {
    vec![
        (
            Method::POST,
            "/v1/allocations",
            post(ledger::create_allocation),
        ),
        (
            Method::GET,
            "/v1/allocations",
            get(ledger::list_allocations),
        ),
        (Method::POST, "/v1/cash/deposits", post(ledger::deposit)),
        (Method::POST, "/v1/cash/withdrawals", post(ledger::withdraw)),
        (Method::GET, "/v1/invoices", get(finance::list)),
        (Method::GET, "/v1/invoices/{id}", get(finance::get)),
        (
            Method::POST,
            "/v1/invoices/{id}/payments",
            post(finance::pay),
        ),
        (Method::GET, "/v1/settlements/{date}", get(settlement::get)),
    ]
}

/// Orders, the book, trades and negotiated trades.
fn market_routes() -> Vec<Route> {
    vec![
        (Method::POST, "/v1/orders", post(market::place_order)),
        (Method::GET, "/v1/orders", get(market::list_orders)),
        (Method::GET, "/v1/orders/{id}", get(market::get_order)),
        (
            Method::DELETE,
            "/v1/orders/{id}",
            delete(market::cancel_order),
        ),
        (
            Method::GET,
            "/v1/markets/{instrument}/book",
            get(market::book),
        ),
        (
            Method::GET,
            "/v1/markets/{instrument}/stats",
            get(market::stats),
        ),
        (Method::GET, "/v1/trades", get(market::list_trades)),
        (Method::POST, "/v1/negotiated-trades", post(market::propose)),
        (
            Method::GET,
            "/v1/negotiated-trades",
            get(market::list_proposals),
        ),
        (
            Method::GET,
            "/v1/negotiated-trades/{id}",
            get(market::get_proposal),
        ),
        (
            Method::POST,
            "/v1/negotiated-trades/{id}/accept",
            post(market::accept),
        ),
        (
            Method::POST,
            "/v1/negotiated-trades/{id}/reject",
            post(market::reject),
        ),
        (
            Method::POST,
            "/v1/negotiated-trades/{id}/cancel",
            post(market::cancel_proposal),
        ),
    ]
}

/// The authority's acts (reclamations, pledges) and auctions.
fn authority_routes() -> Vec<Route> {
    vec![
        (Method::POST, "/v1/reclamations", post(authority::reclaim)),
        (
            Method::GET,
            "/v1/reclamations",
            get(authority::list_reclamations),
        ),
        (Method::POST, "/v1/pledges", post(authority::pledge)),
        (Method::GET, "/v1/pledges", get(authority::list_pledges)),
        (Method::GET, "/v1/pledges/{id}", get(authority::get)),
        (
            Method::POST,
            "/v1/pledges/{id}/release",
            post(authority::release),
        ),
        (Method::POST, "/v1/auctions", post(auctions::create)),
        (Method::GET, "/v1/auctions", get(auctions::list)),
        (Method::GET, "/v1/auctions/{id}", get(auctions::get)),
        (
            Method::POST,
            "/v1/auctions/{id}/bids",
            post(auctions::place_bid),
        ),
        (
            Method::POST,
            "/v1/auctions/{id}/close",
            post(auctions::close),
        ),
    ]
}

/// The regulator's audit: the journal, its verification, checkpoints, the
/// trade export; emissions, surrenders and the compliance report.
fn audit_routes() -> Vec<Route> {
    vec![
        (Method::GET, "/v1/audit/journal", get(audit::journal)),
        (Method::GET, "/v1/audit/verify", get(audit::verify)),
        (Method::GET, "/v1/audit/checkpoint", get(audit::checkpoint)),
        (Method::GET, "/v1/audit/trades", get(audit::trades)),
        (
            Method::POST,
            "/v1/emissions",
            post(compliance::record_emission),
        ),
        (
            Method::GET,
            "/v1/emissions",
            get(compliance::list_emissions),
        ),
        (Method::POST, "/v1/surrenders", post(compliance::surrender)),
        (Method::GET, "/v1/compliance", get(compliance::report)),
    ]
}

/// How often each node looks for lapsed negotiated trades.
pub const SWEEP_INTERVAL: std::time::Duration = std::time::Duration::from_secs(1);

/// Starts the task that does what falls due without anyone calling:
/// negotiated trades past their expiry lapse, auctions past their closing
/// time close. Every node may run it; the writer
/// re-checks under the journal lock, so two nodes never expire one twice.
pub fn spawn_sweeper(store: Store) -> tokio::task::JoinHandle<()> {
    tokio::spawn(async move {
        let mut ticks = tokio::time::interval(SWEEP_INTERVAL);
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match store.expire_proposals().await {
                Ok(0) => {}
                Ok(expired) => tracing::info!(expired, "negotiated trades expired"),
                Err(ets_store::StoreError::Closed) => break,
                Err(error) => tracing::warn!(error = %error, "expiry sweep failed"),
            }
            match store.close_due_auctions().await {
                Ok(0) => {}
                Ok(closed) => tracing::info!(closed, "auctions closed at their closing time"),
                Err(ets_store::StoreError::Closed) => break,
                Err(error) => tracing::warn!(error = %error, "auction close sweep failed"),
            }
        }
    })
}

/// A request whose answer has not begun within the request timeout is 408
/// problem+json, like every other refusal. A write may still commit after it
/// (it waits in the writer's queue): the detail says to retry with the same
/// key. A download that has begun is never cut: only the answer's start is
/// timed.
async fn answer_in_time(
    State(timeout): State<Duration>,
    request: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    match tokio::time::timeout(timeout, next.run(request)).await {
        Ok(response) => response,
        Err(_) => late(timeout).into_response(),
    }
}

/// 408 for an answer that did not begin within `timeout`.
pub(crate) fn late(timeout: Duration) -> Problem {
    Problem::new(
        StatusCode::REQUEST_TIMEOUT,
        "request_timeout",
        format!(
            "The server did not answer within {} ms. A write may still be applied: \
             retry it with the same Idempotency-Key.",
            timeout.as_millis()
        ),
    )
}

/// The whole HTTP application, ready to serve or to call in tests.
pub fn app(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    let timeout = state.request_timeout;
    let forwarder = Arc::clone(&state.forwarder);
    let router = routes()
        .into_iter()
        .fold(Router::new(), |router, (_, path, handler)| {
            router.route(path, handler)
        });
    router
        .merge(console::routes())
        .fallback(not_found)
        .method_not_allowed_fallback(method_not_allowed)
        .layer(axum::middleware::from_fn(text::clean_uri))
        .layer(axum::middleware::from_fn_with_state(state.metrics.clone(), metrics::track))
        .with_state(state)
        .layer(CompressionLayer::new())
        .layer(DefaultBodyLimit::max(MAX_BODY_BYTES))
        .layer(axum::middleware::from_fn_with_state(timeout, answer_in_time))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|request: &axum::http::Request<_>| {
                    let id = request
                        .headers()
                        .get("x-request-id")
                        .and_then(|v| v.to_str().ok())
                        .unwrap_or_default();
                    tracing::info_span!("request", method = %request.method(), path = %request.uri().path(), request_id = %id)
                })
                .on_response(DefaultOnResponse::new().level(Level::INFO)),
        )
        // Outside the log, metrics, compression and timeout layers: a write
        // passed to the writer is logged and counted there (under the same
        // request id), and here only by the forwarder's counters.
        .layer(axum::middleware::from_fn_with_state(
            (forwarder, timeout),
            forward::forward_writes,
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The OpenAPI document, from `api-spec/openapi.yaml` (compiled in).
///
/// # Panics
/// Never in a built server: a test parses the same text.
pub fn openapi_document() -> &'static serde_json::Value {
    static DOCUMENT: std::sync::OnceLock<serde_json::Value> = std::sync::OnceLock::new();
    DOCUMENT.get_or_init(|| {
        serde_norway::from_str(include_str!("../../../api-spec/openapi.yaml"))
            .expect("api-spec/openapi.yaml is valid YAML")
    })
}

async fn openapi() -> Json<&'static serde_json::Value> {
    Json(openapi_document())
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
    Json(body::HealthBody::OK)
}

/// Readiness: the database answers.
async fn readyz(State(state): State<AppState>) -> Result<impl IntoResponse, Problem> {
    state.store.ready().await.map_err(|error| {
        tracing::warn!(error = %error, "not ready");
        match error {
            ets_store::StoreError::Closed => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "writer_stopped",
                "This node's writer has stopped; send writes to another node.",
            ),
            _ => Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "database_unavailable",
                "The database does not answer.",
            ),
        }
    })?;
    Ok(Json(body::ReadinessBody::ready(state.store.backend_name())))
}
