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

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use axum::body::Body;
use axum::extract::{Request, State};
use axum::http::{HeaderName, Method, StatusCode, Uri, header};
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

/// Hop-by-hop headers, which belong to one connection and are not passed on.
const HOP_BY_HOP: [HeaderName; 6] = [
    header::CONNECTION,
    header::HOST,
    header::TE,
    header::TRAILER,
    header::TRANSFER_ENCODING,
    header::UPGRADE,
];

/// The HTTP client to the writer and what it did.
#[derive(Debug)]
pub struct Forwarder {
    lease: ets_store::WriterLease,
    client: Client<HttpConnector, Body>,
    forwarded: AtomicU64,
    served_here: AtomicU64,
}

impl Forwarder {
    /// Sends writes where `lease` says the writer is.
    #[must_use]
    pub fn new(lease: ets_store::WriterLease) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(std::time::Duration::from_secs(1)));
        Self {
            lease,
            client: Client::builder(TokioExecutor::new()).build(connector),
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
        Self::new(ets_store::WriterLease::default())
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
    State(forwarder): State<Arc<Forwarder>>,
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
    let (parts, body) = request.into_parts();
    let Ok(body) = axum::body::to_bytes(body, MAX_BODY_BYTES).await else {
        return Problem::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            "payload_too_large",
            "The body is larger than 1 MiB.",
        )
        .into_response();
    };
    let Some(uri) = writer_uri(&writer, &parts.uri) else {
        return next.run(Request::from_parts(parts, Body::from(body))).await;
    };
    let mut outgoing = axum::http::Request::builder()
        .method(parts.method.clone())
        .uri(uri)
        .body(Body::from(body.clone()))
        .expect("a method and URI taken from a valid request");
    for (name, value) in &parts.headers {
        if !HOP_BY_HOP.contains(name) {
            outgoing.headers_mut().append(name, value.clone());
        }
    }
    outgoing
        .headers_mut()
        .insert(FORWARDED, axum::http::HeaderValue::from_static("1"));
    match forwarder.client.request(outgoing).await {
        Ok(answer) => {
            forwarder.forwarded.fetch_add(1, Ordering::Relaxed);
            let (mut head, incoming) = answer.into_parts();
            for name in &HOP_BY_HOP {
                head.headers.remove(name);
            }
            Response::from_parts(head, Body::new(incoming))
        }
        Err(error) if error.is_connect() => {
            tracing::warn!(writer = %writer, error = %error, "writer unreachable; writing here");
            forwarder.lease.unreachable(&writer);
            forwarder.served_here.fetch_add(1, Ordering::Relaxed);
            next.run(Request::from_parts(parts, Body::from(body))).await
        }
        Err(error) => {
            tracing::warn!(writer = %writer, error = %error, "writer went silent during a write");
            forwarder.lease.unreachable(&writer);
            Problem::new(
                StatusCode::SERVICE_UNAVAILABLE,
                "commit_unconfirmed",
                "The node that writes did not answer; the request may have been applied. \
                 Retry with the same Idempotency-Key; without one, read the result before \
                 sending it again.",
            )
            .into_response()
        }
    }
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
    fn the_writer_gets_the_path_and_query_as_sent() {
        let uri: Uri = "/v1/orders?limit=5".parse().expect("a URI");
        assert_eq!(
            writer_uri("http://10.0.0.5:8080/", &uri).map(|u| u.to_string()),
            Some("http://10.0.0.5:8080/v1/orders?limit=5".to_owned())
        );
    }
}
