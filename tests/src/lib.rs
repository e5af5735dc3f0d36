//! A server on a real socket for end-to-end tests, and a minimal HTTP/1.1
//! client to talk to it.

pub mod schema;

use std::net::SocketAddr;
use std::sync::Arc;

use ets_api::AppState;
use ets_core::Role;
use ets_store::{Command, NewCredential, Store, SystemClock};
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};
use uuid::Uuid;

/// A valid unified social credit code (GB 32100, check character computed),
/// different for each `n`.
///
/// # Panics
/// Never for `n` below 10^7.
#[must_use]
pub fn credit_code(n: u32) -> String {
    let prefix = format!("91320500MA{n:07}");
    let check = ets_core::CreditCode::check_character(&prefix).expect("a valid prefix");
    format!("{prefix}{check}")
}

/// The application served on 127.0.0.1 at a free port, until the test ends.
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// The store behind it.
    pub store: Store,
    /// The clock the server reads: the wall clock, which a test moves ahead
    /// to pass a deadline instead of sleeping.
    pub clock: Arc<SystemClock>,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Headers,
    /// Body parsed as JSON (`Null` when it is not JSON).
    pub body: Value,
}

impl Answer {
    /// A header's value.
    #[must_use]
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

impl TestServer {
    /// Opens the database at `url` and serves the application.
    ///
    /// # Panics
    /// When the database cannot be opened or the socket bound.
    pub async fn start(url: &str) -> Self {
        Self::start_in_zone(url, None).await
    }

    /// [`TestServer::start`] for a ledger that counts its business days in
    /// `zone` (Asia/Shanghai when `None`, or the database's own).
    ///
    /// # Panics
    /// As [`TestServer::start`], and when the database keeps another zone.
    pub async fn start_in_zone(url: &str, zone: Option<ets_core::BusinessZone>) -> Self {
        Self::start_configured(url, zone, ets_api::REQUEST_TIMEOUT, Vec::new()).await
    }

    /// [`TestServer::start_in_zone`] with a request timeout of `timeout`,
    /// trusting the `X-Forwarded-For` of `proxies`.
    ///
    /// # Panics
    /// As [`TestServer::start_in_zone`].
    pub async fn start_configured(
        url: &str,
        zone: Option<ets_core::BusinessZone>,
        timeout: std::time::Duration,
        proxies: Vec<std::net::IpAddr>,
    ) -> Self {
        let clock = Arc::new(SystemClock::default());
        let store = Store::open_configured(url, clock.clone(), zone)
            .await
            .expect("open the store");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let state = AppState::load(store.clone(), ets_api::token::TokenConfig::default(), None)
            .await
            .expect("the signing key")
            .with_request_timeout(timeout)
            .with_trusted_proxies(proxies);
        let app = ets_api::app(state);
        tokio::spawn(ets_api::serve::serve(
            listener,
            app,
            ets_api::serve::HEADER_READ_TIMEOUT,
            std::future::pending(),
        ));
        ets_api::spawn_sweeper(store.clone());
        Self {
            address,
            store,
            clock,
        }
    }

    /// Sends a request and reads the whole answer.
    ///
    /// # Panics
    /// On any socket failure or a malformed answer.
    pub async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        self.send(
            method,
            path,
            &[],
            body.map(Value::to_string).unwrap_or_default().as_bytes(),
        )
        .await
    }

    /// Sends a request with a bearer token (and a JSON body, if any).
    pub async fn call(
        &self,
        method: &str,
        path: &str,
        token: &str,
        body: Option<&Value>,
    ) -> Answer {
        let authorization = format!("Bearer {token}");
        let body = body.map(Value::to_string).unwrap_or_default();
        self.send(
            method,
            path,
            &[("Authorization", &authorization)],
            body.as_bytes(),
        )
        .await
    }

    /// Sends raw bytes as the body, with extra headers.
    ///
    /// # Panics
    /// On any socket failure or a malformed answer.
    pub async fn send(
        &self,
        method: &str,
        path: &str,
        headers: &[(&str, &str)],
        body: &[u8],
    ) -> Answer {
        let mut extra = String::new();
        for (name, value) in headers {
            extra.push_str(&format!("{name}: {value}\r\n"));
        }
        let has_type = headers
            .iter()
            .any(|(n, _)| n.eq_ignore_ascii_case("content-type"));
        if !has_type {
            extra.push_str("Content-Type: application/json\r\n");
        }
        self.send_as_is(method, path, &extra, body).await
    }

    /// Sends a request with exactly these extra header lines (each ending in
    /// CRLF; no `Content-Type` is added) and reads the answer as JSON.
    ///
    /// # Panics
    /// As [`TestServer::send`].
    pub async fn send_as_is(&self, method: &str, path: &str, extra: &str, body: &[u8]) -> Answer {
        let (status, headers, body) = self.exchange(method, path, extra, body).await;
        let text = String::from_utf8(body).expect("UTF-8");
        let answer = Answer {
            status,
            headers,
            body: serde_json::from_str(&text).unwrap_or(Value::Null),
        };
        check_documented(method, path, &answer);
        answer
    }

    /// `GET path` with a bearer token, the answer's body as bytes (a CSV or
    /// XLSX download); its status and content type must be documented.
    ///
    /// # Panics
    /// On any socket failure, a malformed answer, or an undocumented one.
    pub async fn download(&self, path: &str, token: &str) -> (u16, Headers, Vec<u8>) {
        let authorization = format!("Authorization: Bearer {token}\r\n");
        let (status, headers, body) = self.exchange("GET", path, &authorization, &[]).await;
        let answer = Answer {
            status,
            headers,
            body: serde_json::from_slice(&body).unwrap_or(Value::Null),
        };
        check_documented("GET", path, &answer);
        (answer.status, answer.headers, body)
    }

    /// One request over a fresh connection (`extra`: header lines, each
    /// ending in CRLF): the status, the header lines (lower-cased names)
    /// and the body's bytes.
    async fn exchange(
        &self,
        method: &str,
        path: &str,
        extra: &str,
        body: &[u8],
    ) -> (u16, Headers, Vec<u8>) {
        let mut stream = TcpStream::connect(self.address).await.expect("connect");
        let head = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n{extra}Content-Length: {}\r\n\r\n",
            self.address,
            body.len()
        );
        let mut request = head.into_bytes();
        request.extend_from_slice(body);
        stream.write_all(&request).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        let (status, headers, body) = split_response(&raw).expect("head and body");
        let chunked = headers
            .iter()
            .any(|(name, value)| name == "transfer-encoding" && value.contains("chunked"));
        let body = if chunked {
            dechunk(body).expect("a chunked body to its last chunk: the download was cut short")
        } else {
            body.to_vec()
        };
        (status, headers, body)
    }

    /// `GET path` with the bearer `token` over a fresh connection, the body
    /// as it came on the wire (chunked or not), for a test of a download
    /// the server cuts short; see [`dechunk`].
    pub async fn download_raw(&self, path: &str, token: &str) -> (u16, Headers, Vec<u8>) {
        self.download_raw_with(path, token, "").await
    }

    /// [`TestServer::download_raw`] with more header lines (`extra`, each
    /// ending in CRLF), e.g. `Accept-Encoding: gzip`.
    pub async fn download_raw_with(
        &self,
        path: &str,
        token: &str,
        extra: &str,
    ) -> (u16, Headers, Vec<u8>) {
        self.download_or_nothing(path, token, extra)
            .await
            .expect("head and body")
    }

    /// [`TestServer::download_raw_with`], or `None` when the connection
    /// closed before a whole head arrived: a download that fails before
    /// its first chunk is flushed goes out as nothing at all.
    pub async fn download_or_nothing(
        &self,
        path: &str,
        token: &str,
        extra: &str,
    ) -> Option<(u16, Headers, Vec<u8>)> {
        let mut stream = TcpStream::connect(self.address).await.expect("connect");
        let request = format!(
            "GET {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nAuthorization: Bearer {token}\r\n{extra}\r\n",
            self.address
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        // A connection the server drops mid-body may end in a reset.
        let _ = stream.read_to_end(&mut raw).await;
        split_response(&raw).map(|(status, headers, body)| (status, headers, body.to_vec()))
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None).await
    }

    /// Issues a credential directly in the store (as `ets-ledger credential
    /// create` does) and returns its client id and secret.
    ///
    /// # Panics
    /// When the store refuses.
    pub async fn credential(&self, role: Role, participant: Option<Uuid>) -> (String, String) {
        let client_id = ets_api::secret::new_client_id().expect("random");
        let secret = ets_api::secret::new_secret().expect("random");
        let credential = NewCredential {
            client_id: client_id.clone(),
            name: format!("test {}", role.as_str()),
            role,
            participant_id: participant,
            secret_hash: ets_api::secret::hash_secret(&secret).expect("hash"),
        };
        self.store
            .execute(
                ets_core::Actor::cli(),
                Command::CreateCredential(credential),
            )
            .await
            .expect("credential");
        (client_id, secret)
    }

    /// A token for a new credential of this role, from `POST /v1/auth/token`.
    ///
    /// # Panics
    /// When the exchange fails.
    pub async fn token(&self, role: Role, participant: Option<Uuid>) -> String {
        let (client_id, secret) = self.credential(role, participant).await;
        self.token_for(&client_id, &secret).await
    }

    /// Exchanges client credentials for a token.
    ///
    /// # Panics
    /// When the exchange fails.
    pub async fn token_for(&self, client_id: &str, secret: &str) -> String {
        let answer = self
            .request(
                "POST",
                "/v1/auth/token",
                Some(&serde_json::json!({ "client_id": client_id, "client_secret": secret })),
            )
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        answer.body["access_token"]
            .as_str()
            .expect("a token")
            .to_owned()
    }
}

/// Every answer of a documented operation must keep to the contract.
fn check_documented(method: &str, path: &str, answer: &Answer) {
    if let Err(mismatch) = schema::check_answer(
        ets_api::openapi_document(),
        method,
        path,
        answer.status,
        answer.header("content-type"),
        &answer.body,
    ) {
        panic!("the answer breaks api-spec/openapi.yaml: {mismatch}");
    }
}

/// Header lines as read off the wire: lower-cased names, trimmed values.
pub type Headers = Vec<(String, String)>;

/// An HTTP/1.1 answer as read off the wire: the status, the header lines
/// (lower-cased names) and the body's bytes as sent; `None` before the
/// head's blank line.
fn split_response(raw: &[u8]) -> Option<(u16, Headers, &[u8])> {
    let split = raw.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8(raw[..split].to_vec()).expect("an ASCII head");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    Some((status, headers, &raw[split + 4..]))
}

/// The body of a chunked answer (RFC 9112 §7.1), as a streamed download
/// comes; `None` when it ends before its last (empty) chunk: the server cut
/// the download short.
#[must_use]
pub fn dechunk(mut raw: &[u8]) -> Option<Vec<u8>> {
    let mut body = Vec::new();
    loop {
        let line_end = raw.windows(2).position(|w| w == b"\r\n")?;
        let size_text = std::str::from_utf8(&raw[..line_end]).ok()?;
        let size_text = size_text.split(';').next().unwrap_or_default().trim();
        let size = usize::from_str_radix(size_text, 16).ok()?;
        raw = &raw[line_end + 2..];
        if size == 0 {
            return Some(body);
        }
        if raw.len() < size + 2 {
            return None;
        }
        body.extend_from_slice(&raw[..size]);
        raw = &raw[size + 2..];
    }
}
