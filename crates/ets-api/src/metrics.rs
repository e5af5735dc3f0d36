//! `/metrics` in Prometheus text format: requests by route and status, a
//! latency histogram per route, the database pool, and the writer's counters.

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{MatchedPath, Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use ets_store::StoreStats;

use crate::AppState;

/// Upper bounds of the latency buckets, in microseconds, with their labels.
const BUCKETS_US: [(u64, &str); 11] = [
    (1_000, "0.001"),
    (5_000, "0.005"),
    (10_000, "0.01"),
    (25_000, "0.025"),
    (50_000, "0.05"),
    (100_000, "0.1"),
    (250_000, "0.25"),
    (500_000, "0.5"),
    (1_000_000, "1"),
    (2_500_000, "2.5"),
    (5_000_000, "5"),
];

#[derive(Debug, Default, Clone)]
struct Histogram {
    buckets: [u64; BUCKETS_US.len()],
    count: u64,
    sum_us: u64,
}

/// Counters kept by this node since it started.
#[derive(Debug, Default)]
pub struct Metrics {
    requests: Mutex<BTreeMap<(String, String, u16), u64>>,
    latency: Mutex<BTreeMap<String, Histogram>>,
    refused_logins: std::sync::atomic::AtomicU64,
}

impl Metrics {
    /// Counts a token request refused (a wrong secret, or too many).
    pub(crate) fn login_refused(&self) {
        self.refused_logins
            .fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    }

    fn record(&self, method: &str, route: &str, status: u16, elapsed_us: u64) {
        let mut requests = self
            .requests
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        *requests
            .entry((method.to_owned(), route.to_owned(), status))
            .or_default() += 1;
        drop(requests);
        let mut latency = self
            .latency
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner);
        let histogram = latency.entry(route.to_owned()).or_default();
        for (i, (bound, _)) in BUCKETS_US.iter().enumerate() {
            if elapsed_us <= *bound {
                histogram.buckets[i] += 1;
            }
        }
        histogram.count += 1;
        histogram.sum_us += elapsed_us;
    }
}

/// Middleware: counts every request under its route template (not its
/// concrete path, so ids do not explode the label set).
pub(crate) async fn track(
    State(metrics): State<Arc<Metrics>>,
    request: Request,
    next: Next,
) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or_else(|| "unmatched".to_owned(), |p| p.as_str().to_owned());
    let method = request.method().as_str().to_owned();
    let started = Instant::now();
    let response = next.run(request).await;
    let elapsed_us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX);
    metrics.record(&method, &route, response.status().as_u16(), elapsed_us);
    response
}

fn seconds(us: u64) -> String {
    format!("{}.{:06}", us / 1_000_000, us % 1_000_000)
}

/// `GET /metrics`.
pub(crate) async fn render(State(state): State<AppState>) -> impl IntoResponse {
    let mut out = String::new();
    write_requests(&mut out, &state.metrics);
    write_latency(&mut out, &state.metrics);
    write_store(&mut out, &state.store.stats());
    write_writer(&mut out, &state);
    write_lease(&mut out, &state.forwarder);
    (
        [(
            header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        out,
    )
}

/// One metric of a single value, with its help and type lines.
fn write_one(out: &mut String, name: &str, kind: &str, help: &str, value: u64) {
    let _ = writeln!(out, "# HELP {name} {help}");
    let _ = writeln!(out, "# TYPE {name} {kind}");
    let _ = writeln!(out, "{name} {value}");
}

/// The writer's queue and whether it runs; refused logins.
fn write_writer(out: &mut String, state: &AppState) {
    write_one(
        out,
        "ets_writer_queue_depth",
        "gauge",
        "Requests waiting for this node's writer.",
        state.store.queue_depth() as u64,
    );
    write_one(
        out,
        "ets_writer_up",
        "gauge",
        "Whether this node's writer runs (1) or has stopped (0).",
        u64::from(state.store.writer_running()),
    );
    write_one(
        out,
        "ets_logins_refused_total",
        "counter",
        "Token requests refused: a wrong secret or too many attempts.",
        state
            .metrics
            .refused_logins
            .load(std::sync::atomic::Ordering::Relaxed),
    );
}

/// The writer lease and the writes passed to the node holding it.
fn write_lease(out: &mut String, forwarder: &crate::forward::Forwarder) {
    let (forwarded, served_here) = forwarder.counts();
    write_one(
        out,
        "ets_writer_lease_holder",
        "gauge",
        "Whether this node holds the writer lease (1) or not (0).",
        u64::from(forwarder.lease().is_holder()),
    );
    write_one(
        out,
        "ets_writes_forwarded_total",
        "counter",
        "Write requests passed to the node holding the writer lease.",
        forwarded,
    );
    write_one(
        out,
        "ets_writes_served_here_total",
        "counter",
        "Write requests served here because the lease holder refused the connection.",
        served_here,
    );
}

/// Requests by method, route and status.
fn write_requests(out: &mut String, metrics: &Metrics) {
    let _ = writeln!(
        out,
        "# HELP ets_http_requests_total HTTP requests by method, route and status."
    );
    let _ = writeln!(out, "# TYPE ets_http_requests_total counter");
    let requests = metrics
        .requests
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for ((method, route, status), count) in &requests {
        let _ = writeln!(
            out,
            "ets_http_requests_total{{method=\"{method}\",route=\"{route}\",status=\"{status}\"}} {count}"
        );
    }
}

/// The latency histogram per route.
fn write_latency(out: &mut String, metrics: &Metrics) {
    let _ = writeln!(
        out,
        "# HELP ets_http_request_duration_seconds HTTP request latency by route."
    );
    let _ = writeln!(out, "# TYPE ets_http_request_duration_seconds histogram");
    let latency = metrics
        .latency
        .lock()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .clone();
    for (route, histogram) in &latency {
        for (i, (_, label)) in BUCKETS_US.iter().enumerate() {
            let _ = writeln!(
                out,
                "ets_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"{label}\"}} {}",
                histogram.buckets[i]
            );
        }
        let _ = writeln!(
            out,
            "ets_http_request_duration_seconds_bucket{{route=\"{route}\",le=\"+Inf\"}} {}",
            histogram.count
        );
        let _ = writeln!(
            out,
            "ets_http_request_duration_seconds_sum{{route=\"{route}\"}} {}",
            seconds(histogram.sum_us)
        );
        let _ = writeln!(
            out,
            "ets_http_request_duration_seconds_count{{route=\"{route}\"}} {}",
            histogram.count
        );
    }
}

/// The database pool and the writer's counters.
fn write_store(out: &mut String, stats: &StoreStats) {
    let _ = writeln!(
        out,
        "# HELP ets_db_pool_connections Database connections in the pool, by state."
    );
    let _ = writeln!(out, "# TYPE ets_db_pool_connections gauge");
    let _ = writeln!(
        out,
        "ets_db_pool_connections{{state=\"open\"}} {}",
        stats.pool_size
    );
    let _ = writeln!(
        out,
        "ets_db_pool_connections{{state=\"idle\"}} {}",
        stats.pool_idle
    );
    let _ = writeln!(
        out,
        "# HELP ets_ledger_batches_total Write batches committed by this node."
    );
    let _ = writeln!(out, "# TYPE ets_ledger_batches_total counter");
    let _ = writeln!(out, "ets_ledger_batches_total {}", stats.batches);
    let _ = writeln!(
        out,
        "# HELP ets_ledger_commands_total Commands applied by this node, by result."
    );
    let _ = writeln!(out, "# TYPE ets_ledger_commands_total counter");
    let _ = writeln!(
        out,
        "ets_ledger_commands_total{{result=\"committed\"}} {}",
        stats.committed
    );
    let _ = writeln!(
        out,
        "ets_ledger_commands_total{{result=\"refused\"}} {}",
        stats.refused
    );
    let _ = writeln!(
        out,
        "ets_ledger_commands_total{{result=\"replayed\"}} {}",
        stats.replayed
    );
    let _ = writeln!(
        out,
        "# HELP ets_writer_retries_total Batches retried after contention, and failed batches' requests retried one by one."
    );
    let _ = writeln!(out, "# TYPE ets_writer_retries_total counter");
    let _ = writeln!(out, "ets_writer_retries_total {}", stats.retries);
    let _ = writeln!(
        out,
        "# HELP ets_writer_answer_seconds Time from submitting a write to its answer, queueing and commit included."
    );
    let _ = writeln!(out, "# TYPE ets_writer_answer_seconds summary");
    let _ = writeln!(
        out,
        "ets_writer_answer_seconds_sum {}",
        seconds(stats.answer_micros)
    );
    let _ = writeln!(out, "ets_writer_answer_seconds_count {}", stats.answered);
}
