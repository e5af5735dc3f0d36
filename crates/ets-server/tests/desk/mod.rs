//! What a person at a desk does in the console's tests: people made with
//! `ets-ledger user create`, their TOTP codes, signing in through the
//! browser or over HTTP, a token for the API to compare the pages with.

#![allow(dead_code)]

use std::path::{Path, PathBuf};

use serde_json::{Value, json};

use crate::binary::{Server, ets};
use crate::browser::Browser;

/// Runs `ets-ledger ARGS` on `database` in `dir` and reads its JSON line.
pub(crate) fn run_json(dir: &Path, database: &str, args: &[&str]) -> Value {
    let mut with_url = args.to_vec();
    with_url.extend(["--database-url", database]);
    let output = ets(dir, &with_url);
    assert!(
        output.status.success(),
        "ets-ledger {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    serde_json::from_slice(&output.stdout).expect("one JSON line")
}

/// The current TOTP code of a printed `otpauth://` URI, `steps` away.
pub(crate) fn code(totp_uri: &str, steps: i64) -> String {
    let secret = totp_uri
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .and_then(ets_core::totp::from_base32)
        .expect("the URI's secret");
    let now = chrono::Utc::now().timestamp();
    ets_core::totp::code(&secret, ets_core::totp::step_at(now) + steps)
}

pub(crate) fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("a folder for screenshots");
    dir
}

pub(crate) fn sign_in(browser: &Browser, login: &str, password: &str, totp: &str) {
    browser.fill("input[name=login]", login);
    browser.fill("input[name=password]", password);
    browser.fill("input[name=totp]", totp);
    browser.click_to_next_page("#sign-in");
}

/// A token for the API from the demo's credential of `role` (`admin`,
/// `regulator`, `finance`, …), to compare a page with what the API answers.
pub(crate) fn api_token(server: &Server, demo: &Value, role: &str) -> String {
    let credential = &demo["credentials"][role];
    let (status, token) = server.call(
        "POST",
        "/v1/auth/token",
        None,
        Some(&json!({
            "client_id": credential["client_id"],
            "client_secret": credential["client_secret"],
        })),
    );
    assert_eq!(status, 200, "{token}");
    token["access_token"].as_str().expect("a token").to_owned()
}

pub(crate) const FORM: &str = "Content-Type: application/x-www-form-urlencoded\r\n";

/// Logs `login` in over HTTP: the session cookie.
pub(crate) fn http_sign_in(server: &Server, login: &str, person: &Value) -> String {
    let body = format!(
        "login={login}&password={}&totp={}",
        person["password"].as_str().expect("a password"),
        code(person["totp_uri"].as_str().expect("a URI"), 0)
    );
    let (status, head, _) = server.exchange_text("POST", "/console/login", FORM, &body);
    assert_eq!(status, 303, "{head}");
    head.lines()
        .find_map(|line| line.strip_prefix("set-cookie: ets_session="))
        .and_then(|rest| rest.split(';').next())
        .expect("a session cookie")
        .to_owned()
}

/// A person of the console made by `ets-ledger user create`: what it
/// printed (`login`, `password`, `totp_uri`).
pub(crate) fn person(dir: &Path, database: &str, role: &str, name: &str, login: &str) -> Value {
    run_json(
        dir,
        database,
        &[
            "user", "create", "--role", role, "--name", name, "--login", login,
        ],
    )
}

/// Signs `login` in through the browser's login form with the password
/// `user create` printed and the current code of its TOTP URI.
pub(crate) fn sign_in_as(browser: &Browser, login: &str, person: &Value) {
    sign_in(
        browser,
        login,
        person["password"].as_str().expect("a password"),
        &code(person["totp_uri"].as_str().expect("a TOTP URI"), 0),
    );
}

/// The browser's session cookie.
pub(crate) fn session_cookie(browser: &Browser) -> String {
    browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "ets_session")
        .and_then(|c| c["value"].as_str().map(str::to_owned))
        .expect("the session cookie")
}
