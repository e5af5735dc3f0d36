//! The web console in a real headless Chromium (SPEC §9), on each database:
//! a regulator issued by `ets-ledger user create` signs in with a password
//! and a TOTP code computed from the printed URI, sees the demo's market as
//! the API answers it, switches language, signs out; a code is taken once,
//! and the sixth attempt after five failures is refused unchecked.

mod binary;
mod browser;

use std::path::{Path, PathBuf};

use binary::{Server, empty_folder, ets};
use browser::Browser;
use ets_testkit::TestDatabase;
use serde_json::{Value, json};

/// Runs `ets-ledger ARGS` on `database` in `dir` and reads its JSON line.
fn run_json(dir: &Path, database: &str, args: &[&str]) -> Value {
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
fn code(totp_uri: &str, steps: i64) -> String {
    let secret = totp_uri
        .split("secret=")
        .nth(1)
        .and_then(|rest| rest.split('&').next())
        .and_then(ets_core::totp::from_base32)
        .expect("the URI's secret");
    let now = chrono::Utc::now().timestamp();
    ets_core::totp::code(&secret, ets_core::totp::step_at(now) + steps)
}

fn screenshots() -> PathBuf {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../target/console-screenshots");
    std::fs::create_dir_all(&dir).expect("a folder for screenshots");
    dir
}

fn sign_in(browser: &Browser, login: &str, password: &str, totp: &str) {
    browser.fill("input[name=login]", login);
    browser.fill("input[name=password]", password);
    browser.fill("input[name=totp]", totp);
    browser.click_to_next_page("#sign-in");
}

/// A regulator's token from the demo's credentials.
fn regulator_token(server: &Server, demo: &Value) -> String {
    let credential = &demo["credentials"]["regulator"];
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

fn scenario(database: &str, name: &str) {
    let dir = empty_folder();
    let demo = run_json(&dir, database, &["demo", "--out-dir", "."]);
    let person = run_json(
        &dir,
        database,
        &[
            "user",
            "create",
            "--role",
            "regulator",
            "--name",
            "李监管",
            "--login",
            "li.jian",
        ],
    );
    let password = person["password"].as_str().expect("a password");
    let uri = person["totp_uri"].as_str().expect("a TOTP URI");
    assert!(
        uri.starts_with("otpauth://totp/ets-ledger:li.jian?secret="),
        "{uri}"
    );

    let server = Server::start(&dir, Some(database));
    let base = format!("http://{}", server.address);
    let Some(browser) = Browser::start() else {
        return;
    };

    // Without a session every console page leads to the login form.
    browser.goto(&format!("{base}/console/"));
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );
    assert_eq!(browser.text("h1"), "登录");

    // A wrong code is refused like a wrong password, saying neither.
    sign_in(&browser, "li.jian", password, "000000");
    assert!(browser.exists("#login-error"));
    assert!(browser.url().ends_with("/console/login"));

    let first_code = code(uri, 0);
    sign_in(&browser, "li.jian", password, &first_code);
    browser.wait_for("#instruments");
    assert!(browser.url().ends_with("/console/"), "{}", browser.url());
    assert_eq!(browser.text("h1"), "市场概览");
    assert!(browser.text("header .who").contains("李监管"));
    let session = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "ets_session")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    browser.screenshot(&screenshots().join(format!("overview-zh-{name}.png")));

    // Every traded instrument's figures are the API's, digits for digits.
    let token = regulator_token(&server, &demo);
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
        .date_naive()
        .to_string();
    let mut traded = 0;
    for code in browser.texts("#instruments tbody th") {
        let (status, stats) = server.call(
            "GET",
            &format!("/v1/markets/{code}/stats"),
            Some(&token),
            None,
        );
        assert_eq!(status, 200, "{stats}");
        let row = format!("#instruments tr[data-instrument='{code}']");
        let shown = |class: &str| browser.text(&format!("{row} .{class}")).replace(',', "");
        let Some(last) = stats["items"].as_array().and_then(|items| items.last()) else {
            assert_eq!(shown("last-price"), "—", "{code}");
            continue;
        };
        traded += 1;
        assert_eq!(
            shown("last-price"),
            last["close"].as_str().expect("close"),
            "{code}"
        );
        if last["date"] == today.as_str() {
            assert_eq!(shown("today-vwap"), last["vwap"].as_str().expect("vwap"));
            let quantity = shown("today-quantity");
            assert!(
                quantity.starts_with(&format!("{} ", last["quantity"].as_str().expect("q"))),
                "{code}: {quantity} beside {last}"
            );
        }
        let charts = format!("section.charts[data-instrument='{code}']");
        assert!(browser.exists(&format!("{charts} polyline")), "{code}");
        assert!(browser.exists(&format!("{charts} rect")), "{code}");
    }
    assert!(traded >= 2, "the demo trades two books at least");
    let (_, head) = server.call("GET", "/v1/audit/verify", Some(&token), None);
    let entries = browser.text("#journal .entries").replace(',', "");
    assert_eq!(entries, head["entries"].to_string(), "{head}");
    assert_eq!(
        browser.text("#journal .hash"),
        head["head_hash"].as_str().expect("a hash")
    );

    // English on request, remembered.
    browser.click_to_next_page("header nav a[hreflang=en]");
    browser.wait_for("#instruments");
    assert_eq!(browser.text("h1"), "Market overview");
    browser.goto(&format!("{base}/console/"));
    assert_eq!(browser.text("h1"), "Market overview");
    browser.screenshot(&screenshots().join(format!("overview-en-{name}.png")));

    // Signing out ends the session: the console asks for a login again.
    browser.click_to_next_page("#sign-out");
    browser.wait_for("form.login");
    browser.goto(&format!("{base}/console/"));
    assert!(browser.url().ends_with("/console/login"));

    // The code that opened the session is taken.
    sign_in(&browser, "li.jian", password, &first_code);
    assert!(browser.exists("#login-error"), "a code is accepted once");

    // Two failures so far; three more wrong passwords lock the login here,
    // and the right password and a fresh code are then refused unchecked.
    for _ in 0..3 {
        sign_in(&browser, "li.jian", "wrong-password", &code(uri, 0));
        assert!(browser.exists("#login-error"));
    }
    sign_in(&browser, "li.jian", password, &code(uri, 1));
    assert!(
        browser.text("#login-error").contains("15"),
        "locked for 15 minutes"
    );
    assert!(!browser.exists("#instruments"));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_regulator_signs_in_and_sees_the_market_as_the_api_answers_it() {
    for db in TestDatabase::each().await {
        let url = db.url.clone();
        let name = if url.starts_with("postgres") {
            "postgresql"
        } else {
            "sqlite"
        };
        tokio::task::spawn_blocking(move || scenario(&url, name))
            .await
            .expect("the scenario");
    }
}
