//! A server on a real socket for end-to-end tests, and a minimal HTTP/1.1
//! client to talk to it.

use std::net::SocketAddr;

use ets_api::AppState;
use ets_store::Store;
use serde_json::Value;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

/// The application served on 127.0.0.1 at a free port, until the test ends.
pub struct TestServer {
    /// Where it listens.
    pub address: SocketAddr,
    /// The store behind it.
    pub store: Store,
}

/// An HTTP answer.
#[derive(Debug)]
pub struct Answer {
    /// Status code.
    pub status: u16,
    /// Header lines, lower-cased names.
    pub headers: Vec<(String, String)>,
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
        let store = Store::open(url).await.expect("open the store");
        let listener = TcpListener::bind("127.0.0.1:0").await.expect("bind");
        let address = listener.local_addr().expect("address");
        let state = AppState::load(store.clone(), ets_api::token::TokenConfig::default(), None)
            .await
            .expect("the signing key");
        let app = ets_api::app(state).into_make_service_with_connect_info::<SocketAddr>();
        tokio::spawn(async move { axum::serve(listener, app).await });
        Self { address, store }
    }

    /// Sends a request and reads the whole answer.
    ///
    /// # Panics
    /// On any socket failure or a malformed answer.
    pub async fn request(&self, method: &str, path: &str, body: Option<&Value>) -> Answer {
        let mut stream = TcpStream::connect(self.address).await.expect("connect");
        let body = body.map(Value::to_string).unwrap_or_default();
        let request = format!(
            "{method} {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
             Content-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        );
        stream.write_all(request.as_bytes()).await.expect("send");
        let mut raw = Vec::new();
        stream.read_to_end(&mut raw).await.expect("read");
        let text = String::from_utf8(raw).expect("UTF-8");
        let (head, body) = text.split_once("\r\n\r\n").expect("head and body");
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
        Answer {
            status,
            headers,
            body: serde_json::from_str(body).unwrap_or(Value::Null),
        }
    }

    /// `GET path`.
    pub async fn get(&self, path: &str) -> Answer {
        self.request("GET", path, None).await
    }
}
