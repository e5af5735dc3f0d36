//! Serving the application: HTTP/1.1 connections accepted from a listener,
//! each with a deadline for its request head, so a client that sends its
//! head a byte at a time (slowloris) cannot hold a connection, and a
//! graceful shutdown that lets the requests in flight finish.
//!
//! `axum::serve` arms no timer on its connections, so hyper's header read
//! timeout never fires there; this loop is the same connection set-up with
//! the timer armed.
//!
//! A head hyper cannot parse (malformed, a URL over 64 KiB, a head over
//! [`MAX_HEAD`]) never reaches the application: hyper answers it itself, 400,
//! 414 or 431 with an empty body, and closes. [`ProblemOnBadHead`] turns
//! those answers, and only those, into problem+json with a stable code, like
//! every other error.

use std::future::Future;
use std::io::IoSlice;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll, ready};
use std::time::Duration;

use axum::Router;
use axum::extract::ConnectInfo;
use hyper::body::Incoming;
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpListener;
use tower::ServiceExt as _;

/// How long a client may take to send a request's head (its line and
/// headers), from the connection's start or the previous answer.
pub const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(10);

/// The most a request's head (its line and headers) may take; hyper's own
/// default is about 400 KiB.
pub const MAX_HEAD: usize = 128 * 1024;

/// Serves `app` on `listener` until `shutdown` completes, then waits for the
/// connections' requests in flight. Each request carries the peer's
/// [`ConnectInfo`]. A head that takes longer than `header_read_timeout`
/// closes its connection.
///
/// # Errors
/// Never: a failed accept is logged and the loop goes on.
pub async fn serve(
    listener: TcpListener,
    app: Router,
    header_read_timeout: Duration,
    shutdown: impl Future<Output = ()> + Send,
) -> std::io::Result<()> {
    let (stop, stopping) = tokio::sync::watch::channel(());
    let mut shutdown = std::pin::pin!(shutdown);
    let mut connections = tokio::task::JoinSet::new();
    loop {
        let (stream, remote) = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(error) => {
                    // Out of file descriptors, say: wait a moment, go on.
                    tracing::warn!(%error, "accepting a connection failed");
                    tokio::time::sleep(Duration::from_millis(50)).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        connections.spawn(connection(
            stream,
            remote,
            app.clone(),
            header_read_timeout,
            stopping.clone(),
        ));
        while connections.try_join_next().is_some() {}
    }
    drop(listener);
    let _ = stop.send(());
    while connections.join_next().await.is_some() {}
    Ok(())
}

/// One connection, until it closes or the server stops (then gracefully:
/// the request in flight is answered, no other is read).
async fn connection(
    stream: tokio::net::TcpStream,
    remote: SocketAddr,
    app: Router,
    header_read_timeout: Duration,
    mut stopping: tokio::sync::watch::Receiver<()>,
) {
    let service = hyper::service::service_fn(move |mut request: hyper::Request<Incoming>| {
        request.extensions_mut().insert(ConnectInfo(remote));
        app.clone().oneshot(request.map(axum::body::Body::new))
    });
    let mut builder = hyper::server::conn::http1::Builder::new();
    builder
        .timer(TokioTimer::new())
        .header_read_timeout(header_read_timeout)
        .max_buf_size(MAX_HEAD);
    let connection = builder
        .serve_connection(TokioIo::new(ProblemOnBadHead::new(stream)), service)
        .with_upgrades();
    let mut connection = std::pin::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        }
        _ = stopping.changed() => {
            connection.as_mut().graceful_shutdown();
            if let Err(error) = connection.as_mut().await {
                tracing::debug!(%error, %remote, "connection ended with an error");
            }
        }
    }
}

/// A connection's stream that replaces hyper's own answers to a head it
/// could not parse (a status line below, `content-length: 0`, no content
/// type: nothing the application answers looks like that) with
/// problem+json. Everything else passes through untouched.
struct ProblemOnBadHead<S> {
    inner: S,
    /// The answer being written instead, how much of it is written, and
    /// how many of hyper's bytes it stands for.
    replacing: Option<(Vec<u8>, usize, usize)>,
}

impl<S> ProblemOnBadHead<S> {
    fn new(inner: S) -> Self {
        Self {
            inner,
            replacing: None,
        }
    }
}

/// hyper's bare answer at the start of `written`: the problem+json answer to
/// send instead, and the length of hyper's.
fn replacement_for(written: &[u8]) -> Option<(Vec<u8>, usize)> {
    const ANSWERS: [(&[u8], &str, &str); 3] = [
        (
            b"HTTP/1.1 400 Bad Request\r\n",
            "malformed_request",
            "The request's line or headers are not HTTP/1.1.",
        ),
        (
            b"HTTP/1.1 414 URI Too Long\r\n",
            "uri_too_long",
            "The URL is longer than the server reads (64 KiB).",
        ),
        (
            b"HTTP/1.1 431 Request Header Fields Too Large\r\n",
            "headers_too_large",
            "The request's line and headers are longer than the server reads (about 128 KiB).",
        ),
    ];
    let (line, code, detail) = ANSWERS
        .iter()
        .find(|(line, _, _)| written.starts_with(line))?;
    let end = written.windows(4).position(|w| w == b"\r\n\r\n")? + 4;
    let head = String::from_utf8_lossy(&written[..end]).to_ascii_lowercase();
    if !head.contains("\r\ncontent-length: 0\r\n") || head.contains("\r\ncontent-type:") {
        return None;
    }
    let status = std::str::from_utf8(&line[9..12]).ok()?.parse().ok()?;
    let status = axum::http::StatusCode::from_u16(status).ok()?;
    let body = serde_json::to_vec(&crate::problem::Problem::new(status, code, *detail)).ok()?;
    let mut answer = format!(
        "{}content-type: application/problem+json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        String::from_utf8_lossy(line),
        body.len()
    )
    .into_bytes();
    answer.extend_from_slice(&body);
    Some((answer, end))
}

impl<S: AsyncWrite + Unpin> ProblemOnBadHead<S> {
    /// Writes the answer that replaces hyper's; ready once all of it is out,
    /// with the count of hyper's bytes it stands for.
    fn poll_replacing(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Result<usize>> {
        let Some((answer, written, stands_for)) = self.replacing.as_mut() else {
            return Poll::Ready(Ok(0));
        };
        while *written < answer.len() {
            match ready!(Pin::new(&mut self.inner).poll_write(cx, &answer[*written..])) {
                Ok(0) => return Poll::Ready(Err(std::io::ErrorKind::WriteZero.into())),
                Ok(n) => *written += n,
                Err(error) => return Poll::Ready(Err(error)),
            }
        }
        let stands_for = *stands_for;
        self.replacing = None;
        Poll::Ready(Ok(stands_for))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for ProblemOnBadHead<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_read(cx, buf)
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for ProblemOnBadHead<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            match replacement_for(buf) {
                Some((answer, stands_for)) => this.replacing = Some((answer, 0, stands_for)),
                None => return Pin::new(&mut this.inner).poll_write(cx, buf),
            }
        }
        this.poll_replacing(cx)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let this = self.get_mut();
        if this.replacing.is_none() {
            let first = bufs.iter().find(|buf| !buf.is_empty());
            match first.and_then(|buf| replacement_for(buf)) {
                Some((answer, stands_for)) => this.replacing = Some((answer, 0, stands_for)),
                None => return Pin::new(&mut this.inner).poll_write_vectored(cx, bufs),
            }
        }
        this.poll_replacing(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_flush(cx)
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.get_mut().inner).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::replacement_for;

    #[test]
    fn only_hypers_bare_answers_to_a_bad_head_are_replaced() {
        let bare = b"HTTP/1.1 414 URI Too Long\r\nconnection: close\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 18:47:34 GMT\r\n\r\n";
        let (answer, stands_for) = replacement_for(bare).expect("replaced");
        assert_eq!(stands_for, bare.len());
        let answer = String::from_utf8(answer).expect("text");
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(head.starts_with("HTTP/1.1 414 URI Too Long\r\n"), "{head}");
        assert!(
            head.contains("content-type: application/problem+json"),
            "{head}"
        );
        assert!(
            head.contains(&format!("content-length: {}", body.len())),
            "{head}"
        );
        let problem: serde_json::Value = serde_json::from_str(body).expect("JSON");
        assert_eq!(problem["code"], "uri_too_long");
        assert_eq!(problem["status"], 414);

        // The application's own answers pass: a problem with a body, and an
        // empty answer of another status.
        let own = b"HTTP/1.1 400 Bad Request\r\ncontent-type: application/problem+json\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement_for(own).is_none());
        let empty = b"HTTP/1.1 204 No Content\r\ncontent-length: 0\r\n\r\n";
        assert!(replacement_for(empty).is_none());
        let with_body = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 12\r\n\r\n";
        assert!(replacement_for(with_body).is_none());
    }
}
