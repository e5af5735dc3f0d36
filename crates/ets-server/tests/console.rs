//! The web console in a real headless Chromium (SPEC §9), on each database:
//! a regulator issued by `ets-ledger user create` signs in with a password
//! and a TOTP code computed from the printed URI, sees the demo's market as
//! the API answers it, switches language, signs out; a code is taken once,
//! and the sixth attempt after five failures is refused unchecked.

mod binary;
mod browser;
mod desk;

use binary::{Server, empty_folder};
use browser::Browser;
use desk::{
    FORM, api_token, code, http_sign_in, person, run_json, screenshots, session_cookie, sign_in,
    sign_in_as,
};
use ets_testkit::TestDatabase;

fn scenario(database: &str, name: &str) {
    let dir = empty_folder();
    let demo = run_json(&dir, database, &["demo", "--out-dir", "."]);
    let inspector = person(&dir, database, "regulator", "李监管", "li.jian");
    let password = inspector["password"].as_str().expect("a password");
    let uri = inspector["totp_uri"].as_str().expect("a TOTP URI");
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
    // The code that opened the session is taken, even within its 30 s.
    browser.goto(&format!("{base}/console/login"));
    sign_in(&browser, "li.jian", password, &first_code);
    assert!(browser.exists("#login-error"), "a code is accepted once");
    browser.goto(&format!("{base}/console/"));
    assert!(
        browser.exists("#instruments"),
        "the failed login left the session open"
    );
    let session = browser
        .cookies()
        .into_iter()
        .find(|c| c["name"] == "ets_session")
        .expect("a session cookie");
    assert_eq!(session["httpOnly"], true, "{session}");
    assert_eq!(session["sameSite"], "Strict", "{session}");
    browser.screenshot(&screenshots().join(format!("overview-zh-{name}.png")));

    // Every traded instrument's figures are the API's, digits for digits.
    let token = api_token(&server, &demo, "regulator");
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

    trades_as_the_api_lists_them(&browser, &server, &token, &base);
    compliance_as_the_api_reports_it(&browser, &server, &token, &base);
    a_participant_as_the_api_answers_it(&browser, &server, &token, &base);

    // English on request, remembered.
    browser.goto(&format!("{base}/console/"));
    browser.click_to_next_page("header nav a[hreflang=en]");
    browser.wait_for("#instruments");
    assert_eq!(browser.text("h1"), "Market overview");
    browser.goto(&format!("{base}/console/"));
    assert_eq!(browser.text("h1"), "Market overview");
    browser.screenshot(&screenshots().join(format!("overview-en-{name}.png")));

    // Signing out ends the session on the server: the cookie, put back,
    // opens nothing.
    let cookie = session["value"].as_str().expect("the cookie").to_owned();
    browser.click_to_next_page("#sign-out");
    browser.wait_for("form.login");
    browser.add_cookie("ets_session", &cookie, "/console");
    browser.goto(&format!("{base}/console/"));
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );

    // Finance reads the trades but may not download the regulator's export.
    let clerk = person(&dir, database, "finance", "赵财务", "zhao.cw");
    sign_in_as(&browser, "zhao.cw", &clerk);
    browser.goto(&format!("{base}/console/trades"));
    assert!(browser.exists("#trades"));
    assert!(
        !browser.exists("#download-csv"),
        "no link to what finance may not download"
    );
    browser.goto(&format!("{base}/console/trades.csv"));
    assert!(browser.exists("#forbidden"), "refused, not merely hidden");
    browser.goto(&format!("{base}/console/"));
    browser.click_to_next_page("#sign-out");

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

/// The compliance page shows last year's report row for row as
/// `GET /v1/compliance` answers it, and downloads the same CSV.
fn compliance_as_the_api_reports_it(browser: &Browser, server: &Server, token: &str, base: &str) {
    browser.goto(&format!("{base}/console/compliance"));
    assert_eq!(
        browser.property("input[name=period]", "value").as_deref(),
        Some("2025")
    );
    let (status, report) = server.call(
        "GET",
        "/v1/compliance?period=2025&limit=100",
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{report}");
    let rows = report["items"].as_array().expect("rows").clone();
    assert!(!rows.is_empty(), "the demo records 2025's emissions");
    assert_eq!(browser.texts("#compliance tbody tr").len(), rows.len());
    let shown: Vec<Vec<String>> = ["obligation", "covered", "shortfall"]
        .iter()
        .map(|class| {
            browser
                .texts(&format!("#compliance tbody td.{class}"))
                .into_iter()
                .map(|text| text.replace(',', ""))
                .collect()
        })
        .collect();
    for (i, row) in rows.iter().enumerate() {
        for (j, field) in ["obligation", "covered", "shortfall"].iter().enumerate() {
            assert_eq!(
                shown[j][i],
                row[*field].as_str().expect("a figure"),
                "{row}"
            );
        }
    }
    browser.goto(&format!(
        "{base}/console/compliance?period=2025&status=shortfall"
    ));
    let short = rows.iter().filter(|r| r["status"] == "shortfall").count();
    assert!(short >= 1, "the demo has a shortfall");
    assert_eq!(browser.texts("#compliance tbody tr").len(), short);
    browser.goto(&format!("{base}/console/compliance?period=twenty"));
    assert!(browser.exists("p.error"));

    let link = browser_link(
        browser,
        base,
        "/console/compliance?period=2025",
        "#download-csv",
    );
    let session = session_cookie(browser);
    let (status, csv) = server.get_text(&link, &format!("Cookie: ets_session={session}\r\n"));
    assert_eq!(status, 200, "{csv}");
    let (_, exported) = server.get_text(
        "/v1/compliance?period=2025&format=csv",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(csv, exported);
}

/// The participants as `GET /v1/participants` lists them, and the first
/// one's holdings and movements as the API answers them.
fn a_participant_as_the_api_answers_it(
    browser: &Browser,
    server: &Server,
    token: &str,
    base: &str,
) {
    browser.goto(&format!("{base}/console/participants"));
    let (_, listed) = server.call("GET", "/v1/participants?limit=100", Some(token), None);
    let listed = listed["items"].as_array().expect("items").clone();
    assert_eq!(browser.texts("#participants tbody tr").len(), listed.len());
    let first = &listed[0];
    let id = first["id"].as_str().expect("an id");
    browser.click_to_next_page(&format!("#participants tr[data-participant='{id}'] a"));
    assert_eq!(browser.text("h1"), first["name"].as_str().expect("a name"));
    let (_, holdings) = server.call(
        "GET",
        &format!("/v1/participants/{id}/holdings"),
        Some(token),
        None,
    );
    for holding in holdings["holdings"].as_array().expect("holdings") {
        let row = format!(
            "#holdings tr[data-instrument='{}']",
            holding["instrument"].as_str().expect("code")
        );
        for field in ["balance", "available", "held"] {
            let shown = browser.text(&format!("{row} .{field}")).replace(',', "");
            assert_eq!(shown, holding[field].as_str().expect("a figure"), "{field}");
        }
    }
    let (_, history) = server.call(
        "GET",
        &format!("/v1/participants/{id}/history?limit=50"),
        Some(token),
        None,
    );
    let running: Vec<String> = history["items"]
        .as_array()
        .expect("items")
        .iter()
        .map(|m| m["balance_after"].as_str().expect("a balance").to_owned())
        .collect();
    let shown: Vec<String> = browser
        .texts("#history tbody .balance-after")
        .into_iter()
        .map(|t| t.replace(',', ""))
        .collect();
    assert_eq!(shown, running, "the running balance, movement by movement");
    assert!(browser.exists("#orders"), "a regulator sees open orders");
    assert!(browser.exists("#participant-compliance"));
}

/// The `href` of `css` on the page at `path`.
fn browser_link(browser: &Browser, base: &str, path: &str, css: &str) -> String {
    browser.goto(&format!("{base}{path}"));
    browser.attribute(css, "href").expect("a link")
}

/// The trades page lists what `GET /v1/trades` lists, field for field,
/// filters as it filters, and downloads what `GET /v1/audit/trades` does.
fn trades_as_the_api_lists_them(browser: &Browser, server: &Server, token: &str, base: &str) {
    browser.click_to_next_page("header nav.pages a[href='/console/trades']");
    browser.wait_for("#trades");
    browser.screenshot(&screenshots().join("trades-zh.png"));
    let (status, listed) = server.call("GET", "/v1/trades?limit=50", Some(token), None);
    assert_eq!(status, 200, "{listed}");
    let listed = listed["items"].as_array().expect("items").clone();
    let ids: Vec<String> = browser
        .texts("#trades tbody tr td:nth-child(2)")
        .into_iter()
        .collect();
    let api_ids: Vec<String> = listed
        .iter()
        .map(|t| t["id"].as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(ids, api_ids, "the same trades in the same order");
    for trade in &listed {
        let row = format!(
            "#trades tr[data-trade='{}']",
            trade["id"].as_str().expect("id")
        );
        for field in ["quantity", "price", "value"] {
            let shown = browser.text(&format!("{row} .{field}")).replace(',', "");
            assert_eq!(shown, trade[field].as_str().expect("a figure"), "{field}");
        }
        let buyer = browser.text(&format!("{row} .buyer"));
        assert!(buyer.contains(trade["buyer_participant_id"].as_str().expect("a buyer")));
    }

    // Filtered by method: the API's negotiated trades, and only those.
    browser.goto(&format!("{base}/console/trades?method=negotiated"));
    let (_, negotiated) = server.call("GET", "/v1/trades?method=negotiated", Some(token), None);
    let count = negotiated["items"].as_array().map_or(0, Vec::len);
    assert!(count >= 1, "the demo settles a negotiated trade");
    assert_eq!(browser.texts("#trades tbody tr").len(), count);

    // A bad filter is the API's refusal, on the page.
    browser.goto(&format!("{base}/console/trades?participant_id=nobody"));
    assert!(browser.text("p.error").contains("participant_id"));

    // The download is the regulator's export of the same filter, byte for byte.
    browser.goto(&format!("{base}/console/trades?method=negotiated"));
    let link = browser
        .attribute("#download-csv", "href")
        .expect("a download link");
    assert!(link.contains("method=negotiated"), "{link}");
    let session = session_cookie(browser);
    let (status, csv) = server.get_text(&link, &format!("Cookie: ets_session={session}\r\n"));
    assert_eq!(status, 200, "{csv}");
    let (_, exported) = server.get_text(
        "/v1/audit/trades?format=csv&method=negotiated",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert!(csv.starts_with('\u{feff}'), "CSV with a BOM");
    assert_eq!(csv, exported);
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

fn forms_and_attempts(database: &str) {
    let dir = empty_folder();
    let admin = |login: &str| person(&dir, database, "admin", "运维", login);
    admin("target");
    let clerk = admin("clerk");
    let server = Server::start(&dir, Some(database));

    // Twelve wrong passwords for one login at once: five are checked, the
    // rest refused unchecked, whatever order they arrive in.
    let statuses: Vec<u16> = std::thread::scope(|scope| {
        let attempts: Vec<_> = (0..12)
            .map(|_| {
                scope.spawn(|| {
                    let body = "login=target&password=guess&totp=123456";
                    server.exchange_text("POST", "/console/login", FORM, body).0
                })
            })
            .collect();
        attempts
            .into_iter()
            .map(|attempt| attempt.join().expect("an attempt"))
            .collect()
    });
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let locked = statuses.iter().filter(|s| **s == 429).count();
    assert_eq!(checked + locked, 12, "{statuses:?}");
    assert!(checked <= 5, "at most five checked: {statuses:?}");

    // A form posted from another site's page is refused before it counts.
    let cross = format!("{FORM}Origin: https://evil.example\r\n");
    let (status, _, _) = server.exchange_text("POST", "/console/login", &cross, "login=clerk");
    assert_eq!(status, 403);

    // A logout without the session's CSRF token ends nothing.
    let cookie = http_sign_in(&server, "clerk", &clerk);
    let with_cookie = format!("Cookie: ets_session={cookie}\r\n");
    let (status, _, page) = server.exchange_text("GET", "/console/", &with_cookie, "");
    assert_eq!(status, 200);
    let csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_owned();
    let headers = format!("{FORM}{with_cookie}");
    let (status, _, _) =
        server.exchange_text("POST", "/console/logout", &headers, "csrf=0123456789abcdef");
    assert_eq!(status, 403);
    let (status, _, _) = server.exchange_text("GET", "/console/", &with_cookie, "");
    assert_eq!(status, 200, "the session is still open");
    let (status, _, _) =
        server.exchange_text("POST", "/console/logout", &headers, &format!("csrf={csrf}"));
    assert_eq!(status, 303);
    let (status, head, _) = server.exchange_text("GET", "/console/", &with_cookie, "");
    assert_eq!(status, 303, "{head}");
    assert!(head.contains("location: /console/login"), "{head}");
}

#[tokio::test(flavor = "multi_thread")]
async fn forms_from_elsewhere_forged_tokens_and_bursts_of_guesses_change_nothing() {
    for db in TestDatabase::each().await {
        let url = db.url.clone();
        tokio::task::spawn_blocking(move || forms_and_attempts(&url))
            .await
            .expect("the scenario");
    }
}
