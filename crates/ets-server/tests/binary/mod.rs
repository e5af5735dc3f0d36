//! The `ets-ledger` binary as the tests run it: in an empty folder, on a
//! database of their own, as a child process serving on a free port.

#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Output, Stdio};
use std::time::Duration;

use serde_json::Value;

pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_ets-ledger");

pub(crate) fn empty_folder() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ets-cli-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

pub(crate) fn ets(dir: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run ets-ledger")
}

/// A running `ets-ledger serve`, stopped when dropped.
pub(crate) struct Server {
    child: Child,
    pub(crate) address: String,
}

impl Server {
    pub(crate) fn start(dir: &Path, database: Option<&str>) -> Self {
        Self::start_with(dir, database, &[])
    }

    /// [`Server::start`] with these settings in its environment.
    pub(crate) fn start_with(
        dir: &Path,
        database: Option<&str>,
        settings: &[(&str, &str)],
    ) -> Self {
        let mut command = Command::new(BINARY);
        command.envs(settings.iter().copied());
        command
            .args(["--log-format", "json", "serve", "--listen", "127.0.0.1:0"])
            .current_dir(dir)
            .env_remove("DATABASE_URL")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        if let Some(url) = database {
            command.env("DATABASE_URL", url);
        }
        let mut child = command.spawn().expect("start the server");
        let stderr = child.stderr.take().expect("stderr");
        let mut lines = BufReader::new(stderr).lines();
        let address = loop {
            let line = lines
                .next()
                .expect("the server logs until it listens")
                .expect("a log line");
            let log: Value = serde_json::from_str(&line).expect("JSON logs");
            if log["fields"]["message"] == "listening" {
                break log["fields"]["address"]
                    .as_str()
                    .expect("an address")
                    .to_owned();
            }
        };
        // Keep draining the logs so the server never blocks on a full pipe.
        std::thread::spawn(move || for _ in lines {});
        Self { child, address }
    }

    /// `method path` with a bearer `token` and a JSON `body`, if given:
    /// the status and the answer as JSON (`Null` when it is not).
    pub(crate) fn call(
        &self,
        method: &str,
        path: &str,
        token: Option<&str>,
        body: Option<&Value>,
    ) -> (u16, Value) {
        let body = body.map(Value::to_string).unwrap_or_default();
        let mut headers = String::from("Content-Type: application/json\r\n");
        if let Some(token) = token {
            headers.push_str(&format!("Authorization: Bearer {token}\r\n"));
        }
        let (status, _, answer) = self.exchange_text(method, path, &headers, &body);
        (status, serde_json::from_str(&answer).unwrap_or(Value::Null))
    }

    /// `GET path` as HTTP/1.0 (so the body comes whole, never chunked)
    /// with these header lines (each ending in CRLF): the status and the
    /// body's text.
    pub(crate) fn get_text(&self, path: &str, headers: &str) -> (u16, String) {
        let (status, _, body) = self.exchange_text("GET", path, headers, "");
        (status, body)
    }

    /// `method path` as HTTP/1.0 with these header lines (each ending in
    /// CRLF) and `body`: the status, the head and the body's text.
    pub(crate) fn exchange_text(
        &self,
        method: &str,
        path: &str,
        headers: &str,
        body: &str,
    ) -> (u16, String, String) {
        let mut stream = TcpStream::connect(&self.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(60)))
            .expect("timeout");
        write!(
            stream,
            "{method} {path} HTTP/1.0\r\nHost: {}\r\n{headers}Content-Length: {}\r\n\r\n{body}",
            self.address,
            body.len()
        )
        .expect("send");
        let mut response = String::new();
        stream.read_to_string(&mut response).expect("read");
        let (head, body) = response.split_once("\r\n\r\n").expect("a response");
        let status = head
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .expect("a status");
        (status, head.to_owned(), body.to_owned())
    }

    /// `GET path` without a token: the status and the answer as JSON.
    pub(crate) fn get(&self, path: &str) -> (u16, Value) {
        self.call("GET", path, None, None)
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
