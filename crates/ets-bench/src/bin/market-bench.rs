//! `market-bench`: simulated enterprises trading on the continuous order book
//! through the real HTTP API, each over one keep-alive connection.
//!
//! It starts `ets-ledger serve` on `--database-url` (or uses the server at
//! `--url`), issues an admin credential with `ets-ledger credential create`,
//! and through the API defines the instruments (carbon allowances, whole
//! units), registers one participant per client with rights and cash, and an
//! enterprise credential for each. Then every client submits limit orders for
//! `--seconds`: buy and sell in turn, at prices drawn uniformly within
//! `--spread` of `--mid`, so that about half of them cross the book and
//! trade; now and then a client cancels one of its resting orders. It prints
//! accepted orders/s, trades/s (counted from the order answers, then checked
//! against `GET /v1/trades`), latency percentiles and every refusal or error.
//! `scripts/bench-market.sh` runs it beside `pgbench` on one PostgreSQL server.
//!
//! Floating point appears only in the printed rates and times, never in an
//! amount or a price.
#![allow(clippy::float_arithmetic)]

use std::collections::{BTreeMap, VecDeque};
use std::io::Write;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::str::FromStr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use clap::Parser;
use ets_core::CreditCode;
use rust_decimal::Decimal;
use rust_decimal::prelude::ToPrimitive;
use serde_json::{Value, json};
use tokio::sync::Barrier;
use uuid::Uuid;

use http::{Connection, Reply};

type AnyError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Parser)]
#[command(
    name = "market-bench",
    about = "Order-book load through the HTTP API: orders/s, trades/s, latency"
)]
struct Args {
    /// The server's database (postgres://… or sqlite:…); `ets-ledger
    /// credential create` issues the admin credential there, and without
    /// `--url` the server is started on it.
    #[arg(long, env = "DATABASE_URL", hide_env_values = true)]
    database_url: String,
    /// A running server, e.g. http://127.0.0.1:8080. Without it the bench
    /// starts `ets-ledger serve` on a free port and stops it at the end.
    /// Several, comma-separated, spread the clients as `--nodes` does.
    #[arg(long, value_delimiter = ',')]
    url: Vec<String>,
    /// The `ets-ledger` binary (default: the one beside this binary).
    #[arg(long)]
    server_binary: Option<PathBuf>,
    /// Where the started server's log goes.
    #[arg(long, default_value_os_t = std::env::temp_dir().join("market-bench-server.log"))]
    server_log: PathBuf,
    /// Servers to start on the database (without `--url`); client `n`
    /// talks to server `n mod nodes`. Each further server logs to
    /// `--server-log` with `.2`, `.3`… appended.
    #[arg(long, default_value_t = 1)]
    nodes: usize,
    /// Simulated enterprises, one client and one connection each.
    #[arg(long, default_value_t = 32)]
    clients: usize,
    /// How long the clients trade.
    #[arg(long, default_value_t = 20)]
    seconds: u64,
    /// Instruments the clients are spread over (1 puts them all on one book).
    #[arg(long, default_value_t = 3)]
    instruments: usize,
    /// The middle of the price range, CNY.
    #[arg(long, default_value = "50.00")]
    mid: Decimal,
    /// Prices are drawn uniformly in mid ± spread, in fen steps.
    #[arg(long, default_value = "1.00")]
    spread: Decimal,
    /// Largest order quantity (orders are 1 to this many whole units).
    #[arg(long, default_value_t = 10)]
    max_quantity: u64,
    /// Chance in percent that a client's next request cancels one of its
    /// resting orders instead of placing one.
    #[arg(long, default_value_t = 5)]
    cancel_percent: u64,
    /// Commission rate of the instruments, per side.
    #[arg(long, default_value = "0.001")]
    commission_rate: Decimal,
    /// Seed of the clients' xorshift generators (not zero).
    #[arg(long, default_value_t = 0x9E37_79B9_7F4A_7C15)]
    seed: u64,
}

/// xorshift64*: deterministic per client, good enough for load.
struct XorShift(u64);

impl XorShift {
    fn seeded(seed: u64, client: usize) -> Self {
        let state = seed ^ (client as u64 + 1).wrapping_mul(0x2545_F491_4F6C_DD1D);
        Self(if state == 0 { 1 } else { state })
    }

    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_F491_4F6C_DD1D)
    }

    /// Uniform enough in `low..=high` for a benchmark.
    fn range(&mut self, low: u64, high: u64) -> u64 {
        low + self.next() % (high - low + 1)
    }
}

/// A minimal HTTP/1.1 client: one keep-alive connection, JSON bodies,
/// `Content-Length` or chunked answers.
mod http {
    use std::io;

    use serde_json::Value;
    use tokio::io::{AsyncBufReadExt, AsyncReadExt, AsyncWriteExt, BufReader};
    use tokio::net::TcpStream;

    /// An answer: its status and its body as JSON (`Null` when empty or not JSON).
    pub(crate) struct Reply {
        pub(crate) status: u16,
        pub(crate) body: Value,
    }

    impl Reply {
        /// The problem's `code`, or the status when the body has none.
        pub(crate) fn code(&self) -> String {
            self.body["code"]
                .as_str()
                .map_or_else(|| format!("http_{}", self.status), str::to_owned)
        }
    }

    /// One connection to `host:port`, opened on first use and again when the
    /// server closes it.
    pub(crate) struct Connection {
        address: String,
        stream: Option<BufReader<TcpStream>>,
    }

    impl Connection {
        pub(crate) fn new(address: &str) -> Self {
            Self {
                address: address.to_owned(),
                stream: None,
            }
        }

        /// Sends one request and reads its answer. A request that fails on a
        /// connection already used is sent once more on a new one (the server
        /// may have closed it meanwhile); callers make POSTs safe to repeat
        /// with an `Idempotency-Key`.
        pub(crate) async fn send(
            &mut self,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: Option<&Value>,
        ) -> io::Result<Reply> {
            let body = body.map(Value::to_string).unwrap_or_default();
            let mut head = format!("{method} {path} HTTP/1.1\r\nHost: {}\r\n", self.address);
            for (name, value) in headers {
                head.push_str(name);
                head.push_str(": ");
                head.push_str(value);
                head.push_str("\r\n");
            }
            if !body.is_empty() {
                head.push_str("Content-Type: application/json\r\n");
            }
            head.push_str(&format!("Content-Length: {}\r\n\r\n", body.len()));
            let mut request = head.into_bytes();
            request.extend_from_slice(body.as_bytes());
            let reused = self.stream.is_some();
            match self.exchange(&request).await {
                Ok(reply) => Ok(reply),
                Err(_) if reused => {
                    self.stream = None;
                    self.exchange(&request).await
                }
                Err(error) => Err(error),
            }
        }

        /// [`Connection::send`], asked again a second later while the node
        /// answers 503 (busy or overloaded: nothing written, and its
        /// Retry-After says one second), for up to a minute.
        pub(crate) async fn send_while_busy(
            &mut self,
            method: &str,
            path: &str,
            headers: &[(&str, &str)],
            body: Option<&Value>,
        ) -> io::Result<Reply> {
            let mut reply = self.send(method, path, headers, body).await?;
            for _ in 0..60 {
                if reply.status != 503 {
                    break;
                }
                tokio::time::sleep(std::time::Duration::from_secs(1)).await;
                reply = self.send(method, path, headers, body).await?;
            }
            Ok(reply)
        }

        async fn exchange(&mut self, request: &[u8]) -> io::Result<Reply> {
            let result = self.try_exchange(request).await;
            if result.is_err() {
                self.stream = None;
            }
            result
        }

        async fn try_exchange(&mut self, request: &[u8]) -> io::Result<Reply> {
            if self.stream.is_none() {
                let stream = TcpStream::connect(&self.address).await?;
                stream.set_nodelay(true)?;
                self.stream = Some(BufReader::new(stream));
            }
            let Some(stream) = self.stream.as_mut() else {
                return Err(io::Error::other("no connection"));
            };
            stream.get_mut().write_all(request).await?;
            let mut line = String::new();
            if stream.read_line(&mut line).await? == 0 {
                return Err(io::ErrorKind::UnexpectedEof.into());
            }
            let status = line
                .split(' ')
                .nth(1)
                .and_then(|s| s.parse().ok())
                .ok_or_else(|| invalid(format!("a bad status line: {line:?}")))?;
            let mut length = None;
            let mut chunked = false;
            let mut close = false;
            loop {
                line.clear();
                if stream.read_line(&mut line).await? == 0 {
                    return Err(io::ErrorKind::UnexpectedEof.into());
                }
                let header = line.trim_end();
                if header.is_empty() {
                    break;
                }
                let Some((name, value)) = header.split_once(':') else {
                    return Err(invalid(format!("a bad header line: {header:?}")));
                };
                let value = value.trim();
                if name.eq_ignore_ascii_case("content-length") {
                    length = Some(
                        value
                            .parse::<usize>()
                            .map_err(|_| invalid("a bad Content-Length".to_owned()))?,
                    );
                } else if name.eq_ignore_ascii_case("transfer-encoding") {
                    chunked = value.eq_ignore_ascii_case("chunked");
                } else if name.eq_ignore_ascii_case("connection") {
                    close = value.eq_ignore_ascii_case("close");
                }
            }
            let mut body = Vec::new();
            if chunked {
                loop {
                    line.clear();
                    stream.read_line(&mut line).await?;
                    let size = line.trim_end().split(';').next().unwrap_or_default();
                    let size = usize::from_str_radix(size, 16)
                        .map_err(|_| invalid(format!("a bad chunk size: {line:?}")))?;
                    let start = body.len();
                    body.resize(start + size + 2, 0);
                    stream.read_exact(&mut body[start..]).await?;
                    body.truncate(start + size);
                    if size == 0 {
                        break;
                    }
                }
            } else if let Some(length) = length {
                body.resize(length, 0);
                stream.read_exact(&mut body).await?;
            } else if status != 204 && status != 304 && !(100..200).contains(&status) {
                // No length: the body runs to the end of the connection.
                stream.read_to_end(&mut body).await?;
                close = true;
            }
            if close {
                self.stream = None;
            }
            Ok(Reply {
                status,
                body: serde_json::from_slice(&body).unwrap_or(Value::Null),
            })
        }
    }

    fn invalid(message: String) -> io::Error {
        io::Error::new(io::ErrorKind::InvalidData, message)
    }
}

/// A client of the API: a connection, its token and, to renew the token, a
/// credential.
struct Client {
    connection: Connection,
    credential: Option<(String, String)>,
    token: String,
}

/// A client's request headers: its bearer token and, on a POST, the key.
fn headers<'a>(method: &str, authorization: &'a str, key: &'a str) -> Vec<(&'static str, &'a str)> {
    let mut headers = vec![("Authorization", authorization)];
    if method == "POST" {
        headers.push(("Idempotency-Key", key));
    }
    headers
}

impl Client {
    /// Exchanges a credential for a token (the server hashes the secret:
    /// this takes a while, so setup shares the admin's token).
    async fn login(address: &str, client_id: &str, secret: &str) -> Result<Self, AnyError> {
        let mut client = Self {
            connection: Connection::new(address),
            credential: Some((client_id.to_owned(), secret.to_owned())),
            token: String::new(),
        };
        client.refresh_token().await?;
        Ok(client)
    }

    /// A client with a token someone else obtained.
    fn with_token(address: &str, token: &str) -> Self {
        Self {
            connection: Connection::new(address),
            credential: None,
            token: token.to_owned(),
        }
    }

    async fn refresh_token(&mut self) -> Result<(), AnyError> {
        let Some((client_id, secret)) = &self.credential else {
            return Err("the token expired and this client has no credential".into());
        };
        let body = json!({ "client_id": client_id, "client_secret": secret });
        // A busy node is one verifying others' secrets.
        let reply = self
            .connection
            .send_while_busy("POST", "/v1/auth/token", &[], Some(&body))
            .await?;
        self.token = reply.body["access_token"]
            .as_str()
            .ok_or_else(|| format!("no token: {} {}", reply.status, reply.body))?
            .to_owned();
        Ok(())
    }

    /// A request with the bearer token, and a fresh `Idempotency-Key` on a
    /// POST so that a resend after a lost connection changes nothing. An
    /// expired token is renewed once; a busy or overloaded node (503:
    /// nothing written) is asked again a second later, for up to a minute.
    async fn call(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
    ) -> Result<Reply, AnyError> {
        let key = Uuid::new_v4().to_string();
        let authorization = format!("Bearer {}", self.token);
        let headers = headers(method, &authorization, &key);
        let reply = self
            .connection
            .send_while_busy(method, path, &headers, body)
            .await?;
        if reply.status == 401 && self.credential.is_some() {
            self.refresh_token().await?;
            return self.send(method, path, body, &key).await;
        }
        Ok(reply)
    }

    async fn send(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        key: &str,
    ) -> Result<Reply, AnyError> {
        let authorization = format!("Bearer {}", self.token);
        let headers = headers(method, &authorization, key);
        Ok(self.connection.send(method, path, &headers, body).await?)
    }

    /// A request that must answer `expected`; the answer's body.
    async fn expect(
        &mut self,
        method: &str,
        path: &str,
        body: Option<&Value>,
        expected: u16,
    ) -> Result<Value, AnyError> {
        let reply = self.call(method, path, body).await?;
        if reply.status != expected {
            return Err(format!("{method} {path}: {} {}", reply.status, reply.body).into());
        }
        Ok(reply.body)
    }
}

/// `ets-ledger serve`, stopped when dropped.
struct Server {
    child: Child,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn server_binary(args: &Args) -> Result<PathBuf, AnyError> {
    if let Some(path) = &args.server_binary {
        return Ok(path.clone());
    }
    let me = std::env::current_exe()?;
    let beside = me.with_file_name("ets-ledger");
    if beside.exists() {
        Ok(beside)
    } else {
        Err(format!(
            "no ets-ledger beside {}: build it (cargo build --release -p ets-server) or pass --server-binary",
            me.display()
        )
        .into())
    }
}

/// Issues an admin credential with the CLI, as an operator does.
fn admin_credential(binary: &PathBuf, database_url: &str) -> Result<(String, String), AnyError> {
    let output = Command::new(binary)
        .args(["credential", "create", "--role", "admin", "--name"])
        .arg("market-bench admin")
        .env("DATABASE_URL", database_url)
        .env("ETS_LOG", "warn")
        .output()?;
    if !output.status.success() {
        return Err(format!(
            "ets-ledger credential create failed: {}",
            String::from_utf8_lossy(&output.stderr)
        )
        .into());
    }
    let printed: Value = serde_json::from_slice(&output.stdout)?;
    match (
        printed["client_id"].as_str(),
        printed["client_secret"].as_str(),
    ) {
        (Some(id), Some(secret)) => Ok((id.to_owned(), secret.to_owned())),
        _ => Err(format!("unexpected credential output: {printed}").into()),
    }
}

/// Starts `ets-ledger serve` number `node` (from 1) on a free port and
/// waits until it is ready.
async fn start_server(
    args: &Args,
    binary: &PathBuf,
    node: usize,
) -> Result<(Server, String), AnyError> {
    let port = std::net::TcpListener::bind("127.0.0.1:0")?
        .local_addr()?
        .port();
    let address = format!("127.0.0.1:{port}");
    let log_path = if node == 1 {
        args.server_log.clone()
    } else {
        let mut path = args.server_log.clone().into_os_string();
        path.push(format!(".{node}"));
        PathBuf::from(path)
    };
    let log = std::fs::File::create(&log_path)?;
    let child = Command::new(binary)
        .args(["serve", "--listen", &address])
        .env("DATABASE_URL", &args.database_url)
        .stdout(Stdio::null())
        .stderr(log)
        .spawn()?;
    let mut server = Server { child };
    let waited = Instant::now();
    loop {
        if let Some(status) = server.child.try_wait()? {
            return Err(format!(
                "ets-ledger serve exited ({status}); see {}",
                log_path.display()
            )
            .into());
        }
        let mut connection = Connection::new(&address);
        if let Ok(reply) = connection.send("GET", "/readyz", &[], None).await
            && reply.status == 200
        {
            return Ok((server, address));
        }
        if waited.elapsed() > Duration::from_secs(60) {
            let _ = server.child.kill();
            return Err(format!(
                "ets-ledger serve not ready after 60 s; see {}",
                log_path.display()
            )
            .into());
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A random valid unified social credit code (Suzhou, enterprise).
fn credit_code() -> Result<String, AnyError> {
    let digits: String = Uuid::new_v4()
        .as_u128()
        .to_string()
        .chars()
        .take(9)
        .collect();
    let prefix = format!("91320500{digits}");
    let check = CreditCode::check_character(&prefix)?;
    Ok(format!("{prefix}{check}"))
}

/// One simulated enterprise, ready to trade.
struct Trader {
    client: Client,
    instrument: String,
}

/// Registers client `n`'s participant, gives it rights on its instrument and
/// cash, and logs in with its own enterprise credential.
async fn enterprise(
    address: &str,
    tokens: (&str, &str),
    run: &str,
    n: usize,
    instrument: String,
) -> Result<Trader, AnyError> {
    let (admin_token, finance_token) = tokens;
    let mut admin = Client::with_token(address, admin_token);
    let participant = admin
        .expect(
            "POST",
            "/v1/participants",
            Some(&json!({
                "name": format!("market-bench {run} enterprise {n}"),
                "credit_code": credit_code()?,
                "region_code": "320500",
                "industry": "thermal_power",
            })),
            201,
        )
        .await?;
    let participant_id = participant["id"]
        .as_str()
        .ok_or("a participant without an id")?
        .to_owned();
    admin
        .expect(
            "POST",
            "/v1/allocations",
            Some(&json!({
                "participant_id": participant_id,
                "instrument": instrument,
                "quantity": "10000000",
                "method": "free",
            })),
            201,
        )
        .await?;
    let credential = admin
        .expect(
            "POST",
            "/v1/credentials",
            Some(&json!({
                "name": format!("market-bench {run} trader {n}"),
                "role": "enterprise",
                "participant_id": participant_id,
            })),
            201,
        )
        .await?;
    let mut finance = Client::with_token(address, finance_token);
    finance
        .expect(
            "POST",
            "/v1/cash/deposits",
            Some(&json!({
                "participant_id": participant_id,
                "amount": "1000000000.00",
                "reference": format!("MB-{run}-{n}"),
            })),
            201,
        )
        .await?;
    let client = Client::login(
        address,
        credential["client_id"].as_str().ok_or("no client_id")?,
        credential["client_secret"]
            .as_str()
            .ok_or("no client_secret")?,
    )
    .await?;
    Ok(Trader { client, instrument })
}

/// What one client saw.
#[derive(Default)]
struct Tally {
    order_latencies_us: Vec<u64>,
    cancel_latencies_us: Vec<u64>,
    orders_accepted: u64,
    orders_refused: BTreeMap<String, u64>,
    trades: u64,
    orders_that_traded: u64,
    traded_quantity: Decimal,
    cancels_done: u64,
    cancels_too_late: u64,
    errors: BTreeMap<String, u64>,
}

impl Tally {
    fn merge(&mut self, other: Self) {
        self.order_latencies_us.extend(other.order_latencies_us);
        self.cancel_latencies_us.extend(other.cancel_latencies_us);
        self.orders_accepted += other.orders_accepted;
        for (code, count) in other.orders_refused {
            *self.orders_refused.entry(code).or_default() += count;
        }
        self.trades += other.trades;
        self.orders_that_traded += other.orders_that_traded;
        self.traded_quantity += other.traded_quantity;
        self.cancels_done += other.cancels_done;
        self.cancels_too_late += other.cancels_too_late;
        for (what, count) in other.errors {
            *self.errors.entry(what).or_default() += count;
        }
    }

    fn error(&mut self, what: String) {
        *self.errors.entry(what).or_default() += 1;
    }
}

/// The orders a client remembers as resting, to cancel one now and then.
const REMEMBERED_ORDERS: usize = 32;

async fn trade(
    mut trader: Trader,
    args: Arc<Args>,
    n: usize,
    start: Arc<Barrier>,
    deadline: Arc<std::sync::OnceLock<Instant>>,
) -> Tally {
    let mut random = XorShift::seeded(args.seed, n);
    let mut tally = Tally::default();
    let mut resting: VecDeque<String> = VecDeque::new();
    // Fen steps either side of the mid (main checked it is whole fen).
    let spread_fen = (args.spread * Decimal::from(100)).to_u64().unwrap_or(0);
    let mut buy = n.is_multiple_of(2);
    start.wait().await;
    let Some(&deadline) = deadline.get() else {
        return tally;
    };
    while Instant::now() < deadline {
        if !resting.is_empty() && random.range(1, 100) <= args.cancel_percent {
            let index = random.range(0, resting.len() as u64 - 1) as usize;
            let Some(id) = resting.remove(index) else {
                continue;
            };
            let started = Instant::now();
            match trader
                .client
                .call("DELETE", &format!("/v1/orders/{id}"), None)
                .await
            {
                Ok(reply) if reply.status == 200 => {
                    tally
                        .cancel_latencies_us
                        .push(started.elapsed().as_micros() as u64);
                    tally.cancels_done += 1;
                }
                Ok(reply) if reply.status == 409 && reply.code() == "order_not_open" => {
                    tally
                        .cancel_latencies_us
                        .push(started.elapsed().as_micros() as u64);
                    tally.cancels_too_late += 1;
                }
                Ok(reply) => tally.error(format!("DELETE {} {}", reply.status, reply.code())),
                Err(error) => tally.error(format!("DELETE transport: {error}")),
            }
            continue;
        }
        let offset_fen = random.range(0, 2 * spread_fen);
        let price = args.mid - args.spread + Decimal::new(offset_fen as i64, 2);
        let quantity = random.range(1, args.max_quantity);
        let side = if buy { "buy" } else { "sell" };
        buy = !buy;
        let body = json!({
            "instrument": trader.instrument,
            "side": side,
            "quantity": quantity.to_string(),
            "price": price.to_string(),
        });
        let started = Instant::now();
        let reply = trader.client.call("POST", "/v1/orders", Some(&body)).await;
        let elapsed_us = started.elapsed().as_micros() as u64;
        match reply {
            Ok(reply) if reply.status == 201 => {
                tally.order_latencies_us.push(elapsed_us);
                tally.orders_accepted += 1;
                if let Some(trades) = reply.body["trades"].as_array() {
                    tally.trades += trades.len() as u64;
                    tally.orders_that_traded += u64::from(!trades.is_empty());
                    for trade in trades {
                        if let Some(quantity) = trade["quantity"]
                            .as_str()
                            .and_then(|q| Decimal::from_str(q).ok())
                        {
                            tally.traded_quantity += quantity;
                        }
                    }
                }
                let status = reply.body["status"].as_str().unwrap_or_default();
                if matches!(status, "open" | "partially_filled")
                    && let Some(id) = reply.body["id"].as_str()
                {
                    if resting.len() == REMEMBERED_ORDERS {
                        resting.pop_front();
                    }
                    resting.push_back(id.to_owned());
                }
            }
            Ok(reply) if reply.status == 422 => {
                tally.order_latencies_us.push(elapsed_us);
                *tally.orders_refused.entry(reply.code()).or_default() += 1;
            }
            Ok(reply) => tally.error(format!("POST {} {}", reply.status, reply.code())),
            Err(error) => tally.error(format!("POST transport: {error}")),
        }
    }
    tally
}

fn percentile(sorted: &[u64], p: usize) -> Duration {
    if sorted.is_empty() {
        return Duration::ZERO;
    }
    let index = (sorted.len() * p / 100).min(sorted.len() - 1);
    Duration::from_micros(sorted[index])
}

fn milliseconds(d: Duration) -> String {
    format!("{:.2} ms", d.as_secs_f64() * 1e3)
}

/// Counts the trades the server lists for an instrument, page by page.
async fn listed_trades(admin: &mut Client, instrument: &str) -> Result<u64, AnyError> {
    let mut count = 0;
    let mut cursor: Option<String> = None;
    loop {
        let mut path = format!("/v1/trades?instrument={instrument}&limit=500");
        if let Some(cursor) = &cursor {
            path.push_str(&format!("&cursor={cursor}"));
        }
        let page = admin.expect("GET", &path, None, 200).await?;
        count += page["items"].as_array().map_or(0, Vec::len) as u64;
        match page["next_cursor"].as_str() {
            Some(next) => cursor = Some(next.to_owned()),
            None => return Ok(count),
        }
    }
}

/// The journal's verification: `GET /v1/audit/verify`, or, on a server
/// without it, an export verified offline by the CLI.
async fn verify_journal(
    admin: &mut Client,
    binary: &PathBuf,
    database_url: &str,
) -> Result<Value, AnyError> {
    let reply = admin.call("GET", "/v1/audit/verify", None).await?;
    if reply.status != 404 {
        if reply.status != 200 {
            return Err(format!("GET /v1/audit/verify: {} {}", reply.status, reply.body).into());
        }
        return Ok(reply.body);
    }
    let file = std::env::temp_dir().join(format!("market-bench-journal-{}.jsonl", Uuid::new_v4()));
    let export = Command::new(binary)
        .args(["journal", "export", "--out"])
        .arg(&file)
        .env("DATABASE_URL", database_url)
        .env("ETS_LOG", "warn")
        .output()?;
    if !export.status.success() {
        return Err(format!(
            "ets-ledger journal export failed: {}",
            String::from_utf8_lossy(&export.stderr)
        )
        .into());
    }
    let verify = Command::new(binary)
        .args(["journal", "verify", "--file"])
        .arg(&file)
        .env("ETS_LOG", "warn")
        .output()?;
    let _ = std::fs::remove_file(&file);
    let mut verdict: Value = serde_json::from_slice(&verify.stdout)?;
    verdict["how"] = json!("exported and verified offline");
    Ok(verdict)
}

#[tokio::main]
async fn main() -> Result<(), AnyError> {
    let args = Arc::new(Args::parse());
    check_args(&args)?;
    let binary = server_binary(&args)?;
    let (admin_id, admin_secret) = admin_credential(&binary, &args.database_url)?;
    let (servers, addresses) = match args.url.as_slice() {
        [_, ..] => {
            let addresses = args
                .url
                .iter()
                .map(|url| {
                    url.trim_start_matches("http://")
                        .trim_end_matches('/')
                        .to_owned()
                })
                .collect();
            (Vec::new(), addresses)
        }
        [] => {
            let mut servers = Vec::new();
            let mut addresses = Vec::new();
            for node in 1..=args.nodes {
                let (server, address) = start_server(&args, &binary, node).await?;
                servers.push(server);
                addresses.push(address);
            }
            (servers, addresses)
        }
    };
    let address = addresses[0].clone();
    let backend = Connection::new(&address)
        .send("GET", "/readyz", &[], None)
        .await?
        .body["database"]
        .as_str()
        .unwrap_or("unknown")
        .to_owned();

    let run = Uuid::new_v4().simple().to_string()[..6].to_uppercase();
    let mut admin = Client::login(&address, &admin_id, &admin_secret).await?;
    let instruments = create_instruments(&mut admin, &args, &run).await?;
    let finance = finance_client(&mut admin, &address, &run).await?;
    let traders =
        register_enterprises(&args, &addresses, &admin, &finance, &run, &instruments).await?;
    let (mut tally, elapsed) = trade_until_deadline(&args, traders).await?;

    let mut listed = 0;
    for instrument in &instruments {
        listed += listed_trades(&mut admin, instrument).await?;
    }
    let verification = verify_journal(&mut admin, &binary, &args.database_url).await?;
    drop(servers);

    tally.order_latencies_us.sort_unstable();
    tally.cancel_latencies_us.sort_unstable();
    let report = Report {
        address: addresses.join(", "),
        backend,
        started_server: args.url.is_empty(),
        seconds: elapsed.as_secs_f64(),
        tally,
        listed,
        verification,
    };
    let mut out = std::io::stdout().lock();
    report.write_load(&mut out, &args)?;
    report.write_latency_and_checks(&mut out)
}

/// Refuses arguments the bench cannot run with, before anything is started.
fn check_args(args: &Args) -> Result<(), AnyError> {
    if args.clients == 0 || args.instruments == 0 || args.max_quantity == 0 || args.nodes == 0 {
        return Err(
            "--clients, --instruments, --max-quantity and --nodes must be at least 1".into(),
        );
    }
    if args.spread < Decimal::ZERO || args.spread >= args.mid || args.spread.scale() > 2 {
        return Err("--spread must be 0 or more, below --mid, in whole fen".into());
    }
    Ok(())
}

/// Defines the instruments through the API: carbon allowances, whole units,
/// one book each, named after the run so that runs on one database do not
/// meet. Returns their codes.
async fn create_instruments(
    admin: &mut Client,
    args: &Args,
    run: &str,
) -> Result<Vec<String>, AnyError> {
    let mut instruments = Vec::new();
    for n in 0..args.instruments {
        let code = format!("CEA-MB{run}-{n}");
        admin
            .expect(
                "POST",
                "/v1/instruments",
                Some(&json!({
                    "code": code,
                    "kind": "carbon_allowance",
                    "unit": "tCO2e",
                    "scale": 0,
                    "vintage": 2026,
                    "commission_rate": args.commission_rate.to_string(),
                })),
                201,
            )
            .await?;
        instruments.push(code);
    }
    Ok(instruments)
}

/// Issues a finance credential and logs in with it: the enterprises' cash
/// is deposited by the finance role.
async fn finance_client(admin: &mut Client, address: &str, run: &str) -> Result<Client, AnyError> {
    let finance = admin
        .expect(
            "POST",
            "/v1/credentials",
            Some(&json!({ "name": format!("market-bench {run} finance"), "role": "finance" })),
            201,
        )
        .await?;
    Client::login(
        address,
        finance["client_id"].as_str().ok_or("no client_id")?,
        finance["client_secret"]
            .as_str()
            .ok_or("no client_secret")?,
    )
    .await
}

/// Registers the enterprises concurrently, client `n` on instrument
/// `n mod instruments` and server `n mod servers`, and returns them in
/// client order.
async fn register_enterprises(
    args: &Args,
    addresses: &[String],
    admin: &Client,
    finance: &Client,
    run: &str,
    instruments: &[String],
) -> Result<Vec<Trader>, AnyError> {
    let mut setups = Vec::new();
    for n in 0..args.clients {
        let address = addresses[n % addresses.len()].clone();
        let admin_token = admin.token.clone();
        let finance_token = finance.token.clone();
        let (run, instrument) = (run.to_owned(), instruments[n % instruments.len()].clone());
        setups.push(tokio::spawn(async move {
            let tokens = (admin_token.as_str(), finance_token.as_str());
            enterprise(&address, tokens, &run, n, instrument).await
        }));
    }
    let mut traders = Vec::new();
    for setup in setups {
        traders.push(setup.await??);
    }
    Ok(traders)
}

/// Lets every client trade: all start at once (a barrier) and stop at the
/// same deadline. Returns their merged tally and the time from the start.
async fn trade_until_deadline(
    args: &Arc<Args>,
    traders: Vec<Trader>,
) -> Result<(Tally, Duration), AnyError> {
    let start = Arc::new(Barrier::new(args.clients + 1));
    let deadline = Arc::new(std::sync::OnceLock::new());
    let tasks: Vec<_> = traders
        .into_iter()
        .enumerate()
        .map(|(n, trader)| {
            tokio::spawn(trade(
                trader,
                Arc::clone(args),
                n,
                Arc::clone(&start),
                Arc::clone(&deadline),
            ))
        })
        .collect();
    let started = Instant::now();
    let _ = deadline.set(started + Duration::from_secs(args.seconds));
    start.wait().await;
    let mut tally = Tally::default();
    for task in tasks {
        tally.merge(task.await?);
    }
    Ok((tally, started.elapsed()))
}

/// What a run measured, to print.
struct Report {
    address: String,
    backend: String,
    /// Whether the bench started the server (else it was given `--url`).
    started_server: bool,
    seconds: f64,
    /// The clients' tally, latencies sorted.
    tally: Tally,
    /// The trades `GET /v1/trades` lists over the run's instruments.
    listed: u64,
    /// The journal's verification.
    verification: Value,
}

impl Report {
    /// The server, the load and its throughput: orders, refusals, trades,
    /// cancels.
    fn write_load(&self, out: &mut impl Write, args: &Args) -> Result<(), AnyError> {
        let Self {
            address,
            backend,
            seconds,
            tally,
            listed,
            ..
        } = self;
        writeln!(
            out,
            "server:          {} ({backend}{})",
            address,
            if self.started_server {
                ", started"
            } else {
                ", running"
            }
        )?;
        writeln!(
            out,
            "clients:         {} on {} instrument(s), keep-alive",
            args.clients, args.instruments
        )?;
        writeln!(out, "duration:        {seconds:.1} s")?;
        writeln!(
            out,
            "orders:          {} accepted, {:.0}/s; {} of them traded",
            tally.orders_accepted,
            tally.orders_accepted as f64 / seconds,
            tally.orders_that_traded
        )?;
        let refused: u64 = tally.orders_refused.values().sum();
        writeln!(
            out,
            "orders refused:  {refused}{}",
            if tally.orders_refused.is_empty() {
                String::new()
            } else {
                format!(" {:?}", tally.orders_refused)
            }
        )?;
        writeln!(
            out,
            "trades:          {} ({} t), {:.0}/s; GET /v1/trades lists {listed}",
            tally.trades,
            tally.traded_quantity,
            tally.trades as f64 / seconds
        )?;
        writeln!(
            out,
            "cancels:         {} done, {} already filled or cancelled",
            tally.cancels_done, tally.cancels_too_late
        )?;
        Ok(())
    }

    /// Latency percentiles, errors, the journal's verification, and a
    /// warning when the answers and the server disagree on the trades.
    fn write_latency_and_checks(&self, out: &mut impl Write) -> Result<(), AnyError> {
        let Self {
            tally,
            listed,
            verification,
            ..
        } = self;
        let orders = &tally.order_latencies_us;
        let cancels = &tally.cancel_latencies_us;
        writeln!(
            out,
            "order latency:   p50 {}  p99 {}  max {}",
            milliseconds(percentile(orders, 50)),
            milliseconds(percentile(orders, 99)),
            milliseconds(
                orders
                    .last()
                    .map_or(Duration::ZERO, |&us| { Duration::from_micros(us) })
            )
        )?;
        writeln!(
            out,
            "cancel latency:  p50 {}  p99 {}  max {}",
            milliseconds(percentile(cancels, 50)),
            milliseconds(percentile(cancels, 99)),
            milliseconds(
                cancels
                    .last()
                    .map_or(Duration::ZERO, |&us| { Duration::from_micros(us) })
            )
        )?;
        let errors: u64 = tally.errors.values().sum();
        writeln!(
            out,
            "errors:          {errors}{}",
            if tally.errors.is_empty() {
                String::new()
            } else {
                format!(" {:?}", tally.errors)
            }
        )?;
        writeln!(
            out,
            "journal:         {} entries, verified {}{}",
            verification["entries"],
            verification["ok"],
            verification["how"]
                .as_str()
                .map(|how| format!(" ({how})"))
                .unwrap_or_default()
        )?;
        if *listed != tally.trades {
            writeln!(
                out,
                "WARNING:         the answers reported {} trades, the server lists {listed}",
                tally.trades
            )?;
        }
        Ok(())
    }
}
