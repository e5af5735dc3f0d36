//! Writes sent to the node that holds the writer lease
//! ([`ets_store::WriterLease`]). On PostgreSQL with several nodes, a node
//! that does not write passes each write request (`POST`, `PUT`, `PATCH`,
//! `DELETE` under `/v1/`, except the token endpoint) as it came, with its
//! `Authorization` and `Idempotency-Key`, to the writer, and answers what
//! the writer answered. The writer checks it as any request: the caller's
//! token, the body, the key. Reads and logins stay on the node they reach.
//!
//! A writer that refuses the connection is skipped: the request is served
//! here, which is always right (the journal head orders every node's
//! batches), only slower. A writer that took the request and then went
//! silent may have applied it: the caller gets 503 `commit_unconfirmed`,
//! as for a `COMMIT` whose answer was lost.
//!
//! The middleware sits outside the request log, the metrics, compression
//! and the request timeout: a forwarded write costs this node the exchange
//! with the writer and little else (each layer it skips runs on the writer,
//! which logs the write under the request id given here). The forwarder
//! counts what it passed on, and times the writer's answer itself.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderMap, HeaderName, Method, Uri, header};
use axum::middleware::Next;
use axum::response::{IntoResponse as _, Response};
use hyper_util::client::legacy::Client;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;

use crate::MAX_BODY_BYTES;
use crate::problem::Problem;

/// Marks a request one node passed to another: it is served where it
/// arrives, never passed on again.
pub const FORWARDED: HeaderName = HeaderName::from_static("x-ets-forwarded");

/// Headers that belong to one connection (or to a proxy) and are not
/// passed on, besides those the `Connection` header names.
const HOP_BY_HOP: [HeaderName; 10] = [
    header::CONNECTION,
    header::HOST,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
    header::EXPECT,
    header::PROXY_AUTHORIZATION,
    HeaderName::from_static("keep-alive"),
    HeaderName::from_static("proxy-connection"),
];

/// Copies `from` into `to` but the hop-by-hop headers.
fn copy_end_to_end(from: &HeaderMap, to: &mut HeaderMap) {
    let named: Vec<HeaderName> = from
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(','))
        .filter_map(|name| HeaderName::from_bytes(name.trim().as_bytes()).ok())
        .collect();
    for (name, value) in from {
        if !HOP_BY_HOP.contains(name) && !named.contains(name) {
            to.append(name, value.clone());
        }
    }
}

/// The HTTP client to the writer and what it did.
#[derive(Debug)]
pub struct Forwarder {
    lease: ets_store::WriterLease,
    client: Client<HttpConnector, Body>,
    forwarded: AtomicU64,
    served_here: AtomicU64,
}

impl Forwarder {
    /// Sends writes where `lease` says the writer is, keeping an idle
    /// connection to it for at most `idle`: less than the writer's header
    /// read timeout, after which the writer closes it, so that a write is
    /// never sent on a connection the writer is closing (it would be
    /// answered 503 `commit_unconfirmed` without having been applied).
    #[must_use]
    pub fn new(lease: ets_store::WriterLease, idle: std::time::Duration) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(std::time::Duration::from_secs(1)));
        Self {
            lease,
            client: Client::builder(TokioExecutor::new())
                .pool_idle_timeout(idle)
                .pool_timer(hyper_util::rt::TokioTimer::new())
                .build(connector),
            forwarded: AtomicU64::new(0),
            served_here: AtomicU64::new(0),
        }
    }

    /// The lease this node reads.
    #[must_use]
    pub fn lease(&self) -> &ets_store::WriterLease {
        &self.lease
    }

    /// Writes passed to the writer, and writes served here because the
    /// writer did not take the connection.
    #[must_use]
    pub fn counts(&self) -> (u64, u64) {
        (
            self.forwarded.load(Ordering::Relaxed),
            self.served_here.load(Ordering::Relaxed),
        )
    }
}

impl Default for Forwarder {
    /// Never forwards: this node writes (SQLite, one node, tests).
    fn default() -> Self {
        Self::new(ets_store::WriterLease::default(), std::time::Duration::ZERO)
    }
}

/// Whether `request` goes to the writer.
fn is_write(request: &Request) -> bool {
    let method = request.method();
    let writes = method == Method::POST
        || method == Method::PUT
        || method == Method::PATCH
        || method == Method::DELETE;
    let path = request.uri().path();
    writes
        && path.starts_with("/v1/")
        && path != "/v1/auth/token"
        && !request.headers().contains_key(&FORWARDED)
}

/// The middleware: a write goes to the writer when another node holds the
/// lease; everything else is served here.
pub(crate) async fn forward_writes(
    State((forwarder, timeout)): State<(Arc<Forwarder>, std::time::Duration)>,
    request: Request,
    next: Next,
) -> Response {
    if !is_write(&request) {
        return next.run(request).await;
    }
    let Some(writer) = forwarder.lease.writer_elsewhere() else {
        return next.run(request).await;
    };
    let declared = request
        .headers()
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse::<usize>().ok());
    if declared.is_some_and(|length| length > MAX_BODY_BYTES) {
        // Refused here as it would be there.
        return next.run(request).await;
    }
    // The body's arrival and the writer's answer are timed as the request
    // timeout times a request served here (a slow body holds nothing).
    let deadline = tokio::time::Instant::now() + timeout;
    let (parts, body) = request.into_parts();
    let body =
        match tokio::time::timeout_at(deadline, axum::body::to_bytes(body, MAX_BODY_BYTES)).await {
            Ok(Ok(body)) => body,
            Ok(Err(error)) => return unread(&error).into_response(),
            Err(_) => return crate::late(timeout).into_response(),
        };
    let Some(uri) = writer_uri(&writer, &parts.uri) else {
        tracing::warn!(writer = %writer, "the writer's address is not a URL; writing here");
        return serve_here(
            next,
            Request::from_parts(parts, Body::from(body)),
            deadline,
            timeout,
        )
        .await;
    };
    let mut outgoing = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(Body::from(body.clone()))
        .expect("a method and URI taken from a valid request");
    copy_end_to_end(&parts.headers, outgoing.headers_mut());
    outgoing
        .headers_mut()
        .insert(FORWARDED, axum::http::HeaderValue::from_static("1"));
    let Ok(answered) = tokio::time::timeout_at(deadline, forwarder.client.request(outgoing)).await
    else {
        return crate::late(timeout).into_response();
    };
    match answered {
        Ok(answer) => {
            forwarder.forwarded.fetch_add(1, Ordering::Relaxed);
            let (mut head, incoming) = answer.into_parts();
            let headers = std::mem::take(&mut head.headers);
            copy_end_to_end(&headers, &mut head.headers);
            Response::from_parts(head, Body::new(incoming))
        }
        Err(error) if error.is_connect() => {
            tracing::warn!(writer = %writer, error = %error, "writer unreachable; writing here");
            forwarder.lease.unreachable(&writer);
            forwarder.served_here.fetch_add(1, Ordering::Relaxed);
            serve_here(
                next,
                Request::from_parts(parts, Body::from(body)),
                deadline,
                timeout,
            )
            .await
        }
        Err(error) => {
            tracing::warn!(writer = %writer, error = %error, "writer went silent during a write");
            forwarder.lease.unreachable(&writer);
            Problem::commit_unconfirmed(
                "The node that writes did not answer; the request may have been applied.",
            )
            .into_response()
        }
    }
}

/// Serves a write here after all, within what is left of its time (the
/// body's arrival and the attempt to reach the writer used the rest): the
/// request timeout counts once, wherever the write is served.
async fn serve_here(
    next: Next,
    request: Request,
    deadline: tokio::time::Instant,
    timeout: std::time::Duration,
) -> Response {
    match tokio::time::timeout_at(deadline, next.run(request)).await {
        Ok(response) => response,
        Err(_) => crate::late(timeout).into_response(),
    }
}

/// A body that could not be read whole: too large, as the API answers it,
/// or broken off.
fn unread(error: &axum::Error) -> Problem {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(error);
    while let Some(cause) = source {
        if cause.is::<http_body_util::LengthLimitError>() {
            return Problem::payload_too_large();
        }
        source = cause.source();
    }
    Problem::unreadable_body()
}

/// `writer` (`http://host:port`) with the request's path and query.
fn writer_uri(writer: &str, uri: &Uri) -> Option<Uri> {
    let path = uri.path_and_query().map_or("/", |p| p.as_str());
    format!("{}{path}", writer.trim_end_matches('/'))
        .parse()
        .ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request(method: Method, path: &str) -> Request {
        axum::http::Request::builder()
            .method(method)
            .uri(path)
            .body(Body::empty())
            .expect("a request")
    }

    #[test]
    fn writes_under_v1_go_to_the_writer_reads_logins_and_forwarded_ones_do_not() {
        assert!(is_write(&request(Method::POST, "/v1/orders")));
        assert!(is_write(&request(Method::DELETE, "/v1/orders/x")));
        assert!(!is_write(&request(Method::GET, "/v1/orders")));
        assert!(!is_write(&request(Method::POST, "/v1/auth/token")));
        assert!(!is_write(&request(Method::POST, "/console/login")));
        let mut passed = request(Method::POST, "/v1/orders");
        passed
            .headers_mut()
            .insert(FORWARDED, axum::http::HeaderValue::from_static("1"));
        assert!(!is_write(&passed));
    }

    #[test]
    fn connection_headers_and_the_headers_they_name_stay_on_their_hop() {
        let mut from = HeaderMap::new();
        from.insert(
            header::CONNECTION,
            "keep-alive, x-hop".parse().expect("a value"),
        );
        from.insert("x-hop", "1".parse().expect("a value"));
        from.insert(header::EXPECT, "100-continue".parse().expect("a value"));
        from.insert(header::AUTHORIZATION, "Bearer t".parse().expect("a value"));
        from.insert("idempotency-key", "k".parse().expect("a value"));
        let mut to = HeaderMap::new();
        copy_end_to_end(&from, &mut to);
        let mut kept: Vec<&str> = to.keys().map(HeaderName::as_str).collect();
        kept.sort_unstable();
        assert_eq!(kept, ["authorization", "idempotency-key"]);
    }

    #[test]
    fn the_writer_gets_the_path_and_query_as_sent() {
        let uri: Uri = "/v1/orders?limit=5".parse().expect("a URI");
        assert_eq!(
            writer_uri("http://10.0.0.5:8080/", &uri).map(|u| u.to_string()),
            Some("http://10.0.0.5:8080/v1/orders?limit=5".to_owned())
        );
    }
}
