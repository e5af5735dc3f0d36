//! A minimal W3C WebDriver client for the web console's browser tests: it
//! starts Debian's `chromedriver` on a free port, opens one headless
//! Chromium session and drives it with CSS selectors. It speaks HTTP/1.1
//! over a plain `TcpStream` and JSON through `serde_json`, so the tests need
//! no WebDriver crate, no Node and no Selenium.
//!
//! Everything here blocks: use it from plain `#[test]` functions (the server
//! under test runs as a child process), not from `#[tokio::test]`, or wrap
//! the calls in `spawn_blocking`. Any error chromedriver reports panics with
//! its error code, its message and the CSS selector involved.
//!
//! Chromium and chromedriver come from Debian's `chromium chromium-driver`
//! packages (`.ci/run` installs them); `CHROMEDRIVER` and `CHROMIUM` point
//! at other builds.

// Each test binary that declares `mod browser;` uses only part of it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

/// The key under which WebDriver returns an element reference.
const ELEMENT: &str = "element-6066-11e4-a52e-4f735466cecf";
/// How long chromedriver has to say it is ready.
const STARTUP: Duration = Duration::from_secs(20);
/// How long one command may take, page loads included.
const COMMAND: Duration = Duration::from_secs(60);
/// How long [`Browser::wait_for`] waits for an element to appear.
const APPEAR: Duration = Duration::from_secs(10);
/// Chromium's arguments: headless, fit for containers, a fixed window, and
/// the console's language.
const CHROMIUM_ARGS: [&str; 6] = [
    "--headless=new",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-dev-shm-usage",
    "--window-size=1280,900",
    "--lang=zh-CN",
];
const INSTALL: &str = "install Debian's `chromium chromium-driver` packages \
    (apt-get install chromium chromium-driver fonts-noto-cjk; .ci/run does)";

/// A headless Chromium session behind its own chromedriver; the session is
/// closed and chromedriver stopped when dropped.
pub(crate) struct Browser {
    driver: Child,
    port: u16,
    session: String,
}

impl Browser {
    /// Starts chromedriver and opens a session; `None`, after a loud
    /// notice, when chromedriver or Chromium is missing on a developer's
    /// machine (the browser tests are skipped, as the PostgreSQL suite is
    /// without a database). In CI (`CI` set) a missing browser panics,
    /// saying what to install.
    pub(crate) fn start() -> Option<Self> {
        let chromedriver = program("CHROMEDRIVER", "/usr/bin/chromedriver", "chromedriver");
        let chromium = program("CHROMIUM", "/usr/bin/chromium", "chromium");
        let (Some(chromedriver), Some(chromium)) = (chromedriver, chromium) else {
            assert!(
                std::env::var_os("CI").is_none(),
                "chromedriver or Chromium is not installed: {INSTALL}"
            );
            eprintln!(
                "NOTICE: the browser tests are SKIPPED: chromedriver or Chromium is \
                 not installed; {INSTALL}"
            );
            return None;
        };
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|listener| listener.local_addr())
            .expect("a free port for chromedriver")
            .port();
        let driver = Command::new(&chromedriver)
            .arg(format!("--port={port}"))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .unwrap_or_else(|error| panic!("start {}: {error}", chromedriver.display()));
        // From here on, dropping the browser stops chromedriver.
        let mut browser = Self {
            driver,
            port,
            session: String::new(),
        };
        browser.wait_until_ready();
        let capabilities = json!({"capabilities": {"alwaysMatch": {
            "browserName": "chrome",
            "pageLoadStrategy": "normal",
            "timeouts": {"implicit": 0, "pageLoad": 30_000, "script": 30_000},
            "goog:chromeOptions": {
                "binary": chromium.to_str().expect("a UTF-8 path to Chromium"),
                "args": CHROMIUM_ARGS,
            },
        }}});
        let created = browser.request("POST", "/session", Some(&capabilities), "new session");
        browser.session = created["sessionId"]
            .as_str()
            .expect("a session id from chromedriver")
            .to_owned();
        Some(browser)
    }

    /// Opens `url` and waits until it has loaded.
    pub(crate) fn goto(&self, url: &str) {
        self.command("POST", "/url", Some(&json!({"url": url})), url);
    }

    /// The current page's address.
    pub(crate) fn url(&self) -> String {
        string(self.command("GET", "/url", None, "url"))
    }

    /// The current page's title.
    pub(crate) fn title(&self) -> String {
        string(self.command("GET", "/title", None, "title"))
    }

    /// The current page's HTML, as the browser serialises its DOM.
    pub(crate) fn source(&self) -> String {
        string(self.command("GET", "/source", None, "source"))
    }

    /// Clears the first field matching `css` and types `text` into it.
    pub(crate) fn fill(&self, css: &str, text: &str) {
        let element = self.find(css);
        self.element(&element, "POST", "clear", Some(&json!({})), css);
        let keys = json!({"text": text});
        self.element(&element, "POST", "value", Some(&keys), css);
    }

    /// Clicks the first element matching `css`, and waits for any page load
    /// the click starts.
    pub(crate) fn click(&self, css: &str) {
        let element = self.find(css);
        self.element(&element, "POST", "click", Some(&json!({})), css);
    }

    /// Sets cookie `name` to `value` for the current page's site, path `path`.
    pub(crate) fn add_cookie(&self, name: &str, value: &str, path: &str) {
        let cookie = json!({"cookie": {"name": name, "value": value, "path": path}});
        self.command("POST", "/cookie", Some(&cookie), name);
    }

    /// Runs `script` in the page (its `return` value is the answer).
    pub(crate) fn execute(&self, script: &str) -> Value {
        let body = json!({"script": script, "args": []});
        self.command("POST", "/execute/sync", Some(&body), script)
    }

    /// Clicks the first element matching `css` and waits up to ten seconds
    /// for the page it leads to (a form posted, a link followed) to have
    /// replaced the current one and loaded: what a test reads next is the
    /// new page, never the old one.
    pub(crate) fn click_to_next_page(&self, css: &str) {
        self.execute("document.documentElement.dataset.leaving = '1'");
        self.click(css);
        let deadline = Instant::now() + APPEAR;
        let arrived = "return document.readyState === 'complete' \
             && document.documentElement.dataset.leaving === undefined";
        while self.execute(arrived) != Value::Bool(true) {
            assert!(
                Instant::now() < deadline,
                "clicking `{css}` led to no new page after {APPEAR:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// Submits a form: clicks the first match of `css` if it is a button,
    /// or submits it (as its submit button would) if it is a `<form>`.
    pub(crate) fn submit_form(&self, css: &str) {
        let element = self.find(css);
        let tag = string(self.element(&element, "GET", "name", None, css));
        if tag.eq_ignore_ascii_case("form") {
            let script = json!({
                "script": "arguments[0].requestSubmit()",
                "args": [{ELEMENT: element}],
            });
            self.command("POST", "/execute/sync", Some(&script), css);
        } else {
            self.element(&element, "POST", "click", Some(&json!({})), css);
        }
    }

    /// The visible text of the first element matching `css`.
    pub(crate) fn text(&self, css: &str) -> String {
        let element = self.find(css);
        string(self.element(&element, "GET", "text", None, css))
    }

    /// The visible texts of all the elements matching `css`, in page order.
    pub(crate) fn texts(&self, css: &str) -> Vec<String> {
        self.find_all(css)
            .iter()
            .map(|element| string(self.element(element, "GET", "text", None, css)))
            .collect()
    }

    /// Whether any element matches `css` now.
    pub(crate) fn exists(&self, css: &str) -> bool {
        !self.find_all(css).is_empty()
    }

    /// Waits up to ten seconds for an element matching `css`, for pages
    /// that render after they load; panics if none appears.
    pub(crate) fn wait_for(&self, css: &str) {
        let deadline = Instant::now() + APPEAR;
        while !self.exists(css) {
            assert!(
                Instant::now() < deadline,
                "no element matches `{css}` after {APPEAR:?} on {}",
                self.url()
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// The HTML attribute `name` of the first element matching `css`, as
    /// written in the page; `None` if it has none. A field's current value
    /// is a property: see [`Browser::property`].
    pub(crate) fn attribute(&self, css: &str, name: &str) -> Option<String> {
        let element = self.find(css);
        let path = format!("attribute/{name}");
        optional(self.element(&element, "GET", &path, None, css))
    }

    /// The DOM property `name` of the first element matching `css` (such
    /// as a field's current `value`, or `checked`), as text; `None` if it
    /// is null or undefined.
    pub(crate) fn property(&self, css: &str, name: &str) -> Option<String> {
        let element = self.find(css);
        let path = format!("property/{name}");
        optional(self.element(&element, "GET", &path, None, css))
    }

    /// The cookies visible to the current page, as WebDriver describes them
    /// (`name`, `value`, `path`, `httpOnly`, `sameSite`, …).
    pub(crate) fn cookies(&self) -> Vec<Value> {
        match self.command("GET", "/cookie", None, "cookies") {
            Value::Array(cookies) => cookies,
            other => panic!("chromedriver answered {other} for the cookies"),
        }
    }

    /// Deletes the current page's cookies.
    pub(crate) fn delete_cookies(&self) {
        self.command("DELETE", "/cookie", None, "delete cookies");
    }

    /// Saves a PNG screenshot of the viewport to `path`.
    pub(crate) fn screenshot(&self, path: &Path) {
        let encoded = string(self.command("GET", "/screenshot", None, "screenshot"));
        let png = decode_base64(&encoded);
        std::fs::write(path, png)
            .unwrap_or_else(|error| panic!("write the screenshot {}: {error}", path.display()));
    }

    /// The reference of the first element matching `css`.
    fn find(&self, css: &str) -> String {
        let query = json!({"using": "css selector", "value": css});
        reference(&self.command("POST", "/element", Some(&query), css), css)
    }

    /// The references of all the elements matching `css`.
    fn find_all(&self, css: &str) -> Vec<String> {
        let query = json!({"using": "css selector", "value": css});
        match self.command("POST", "/elements", Some(&query), css) {
            Value::Array(found) => found.iter().map(|one| reference(one, css)).collect(),
            other => panic!("chromedriver answered {other} for `{css}`"),
        }
    }

    /// A command on one element of the session.
    fn element(
        &self,
        element: &str,
        method: &str,
        command: &str,
        body: Option<&Value>,
        css: &str,
    ) -> Value {
        let path = format!("/element/{element}/{command}");
        self.command(method, &path, body, css)
    }

    /// A command on the session; `what` names it (or its CSS selector) in
    /// a panic.
    fn command(&self, method: &str, path: &str, body: Option<&Value>, what: &str) -> Value {
        let path = format!("/session/{}{path}", self.session);
        self.request(method, &path, body, what)
    }

    /// Polls `GET /status` until chromedriver is ready.
    fn wait_until_ready(&mut self) {
        let deadline = Instant::now() + STARTUP;
        loop {
            if let Some(status) = self.driver.try_wait().expect("chromedriver's state") {
                panic!("chromedriver exited at start with {status}");
            }
            if let Ok(status) = http(self.port, "GET", "/status", None)
                && status["value"]["ready"] == true
            {
                return;
            }
            assert!(
                Instant::now() < deadline,
                "chromedriver is not ready after {STARTUP:?}"
            );
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// One request to chromedriver; its `value`, or a panic with the error.
    fn request(&self, method: &str, path: &str, body: Option<&Value>, what: &str) -> Value {
        let mut answer = http(self.port, method, path, body)
            .unwrap_or_else(|error| panic!("chromedriver, {method} {path} ({what}): {error}"));
        let value = answer["value"].take();
        if let Some(error) = value["error"].as_str() {
            panic!(
                "chromedriver, {method} {path}: {error}: {} (for `{what}`)",
                value["message"].as_str().unwrap_or_default()
            );
        }
        value
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        if !self.session.is_empty() {
            // Closes Chromium; a failure here must not hide the test's own.
            let path = format!("/session/{}", self.session);
            let _ = http(self.port, "DELETE", &path, None);
        }
        let _ = self.driver.kill();
        let _ = self.driver.wait();
    }
}

/// A program: from the environment variable `variable` if set, else at
/// `default`, else `name` on the `PATH`.
fn program(variable: &str, default: &str, name: &str) -> Option<PathBuf> {
    if let Some(path) = std::env::var_os(variable) {
        return Some(PathBuf::from(path)).filter(|path| path.is_file());
    }
    let default = PathBuf::from(default);
    if default.is_file() {
        return Some(default);
    }
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|path| path.is_file())
}

/// A JSON request to chromedriver on `port`, on a connection of its own;
/// the JSON answer, whatever its status.
fn http(port: u16, method: &str, path: &str, body: Option<&Value>) -> std::io::Result<Value> {
    let body = body.map(Value::to_string).unwrap_or_default();
    let mut stream = TcpStream::connect(("127.0.0.1", port))?;
    stream.set_read_timeout(Some(COMMAND))?;
    let request = format!(
        "{method} {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\
         Content-Type: application/json; charset=utf-8\r\n\
         Content-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(request.as_bytes())?;
    let mut reader = BufReader::new(stream);
    let mut length = None;
    let mut line = String::new();
    loop {
        line.clear();
        if reader.read_line(&mut line)? == 0 {
            return Err(std::io::ErrorKind::UnexpectedEof.into());
        }
        let header = line.trim_end();
        if header.is_empty() {
            break;
        }
        if let Some((name, value)) = header.split_once(':')
            && name.eq_ignore_ascii_case("content-length")
        {
            length = value.trim().parse::<usize>().ok();
        }
    }
    let mut answer = Vec::new();
    match length {
        Some(length) => {
            answer.resize(length, 0);
            reader.read_exact(&mut answer)?;
        }
        None => {
            reader.read_to_end(&mut answer)?;
        }
    }
    serde_json::from_slice(&answer).map_err(std::io::Error::other)
}

/// The string in a command's value.
fn string(value: Value) -> String {
    match value {
        Value::String(text) => text,
        other => panic!("chromedriver answered {other} where a string was due"),
    }
}

/// A value that may be absent, as text.
fn optional(value: Value) -> Option<String> {
    match value {
        Value::Null => None,
        Value::String(text) => Some(text),
        other => Some(other.to_string()),
    }
}

/// The reference in an element's JSON.
fn reference(element: &Value, css: &str) -> String {
    element[ELEMENT]
        .as_str()
        .unwrap_or_else(|| panic!("chromedriver answered {element} for `{css}`"))
        .to_owned()
}

/// Decodes standard base64 (padding and line breaks allowed), as
/// chromedriver sends screenshots.
fn decode_base64(text: &str) -> Vec<u8> {
    let mut bytes = Vec::with_capacity(text.len() / 4 * 3);
    let mut bits: u32 = 0;
    let mut count = 0;
    for character in text.bytes() {
        let sextet = match character {
            b'A'..=b'Z' => character - b'A',
            b'a'..=b'z' => character - b'a' + 26,
            b'0'..=b'9' => character - b'0' + 52,
            b'+' => 62,
            b'/' => 63,
            b'=' | b'\r' | b'\n' => continue,
            other => panic!("not base64: byte {other:#04x}"),
        };
        bits = (bits << 6) | u32::from(sextet);
        count += 6;
        if count >= 8 {
            count -= 8;
            bytes.push((bits >> count) as u8);
            bits &= (1 << count) - 1;
        }
    }
    bytes
}
