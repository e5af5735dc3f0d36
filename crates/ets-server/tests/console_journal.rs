//! The regulator's journal page in a real headless Chromium (SPEC §9), on
//! each database: after `ets-ledger demo`, a regulator sees the journal
//! verify as `GET /v1/audit/verify` answers, the latest entries as
//! `GET /v1/audit/journal` lists them, pages back to older ones, and
//! downloads the checkpoint `GET /v1/audit/checkpoint` signs; finance is
//! refused both; and one payload changed behind the ledger's back makes the
//! page say the journal is broken, from the entry the API names.

mod binary;
mod browser;
mod desk;

use binary::{Server, empty_folder};
use browser::Browser;
use desk::{api_token, http_sign_in, person, run_json, screenshots, session_cookie, sign_in_as};
use ets_testkit::{Kind, TestDatabase};
use serde_json::Value;

/// The entries a page of the console shows.
const PAGE: i64 = 50;

/// `GET /v1/audit/journal`'s entries `after_seq < seq <= last`, newest
/// first.
fn api_entries(server: &Server, token: &str, last: i64) -> Vec<Value> {
    let after = (last - PAGE).max(0);
    let (status, page) = server.call(
        "GET",
        &format!("/v1/audit/journal?after_seq={after}&limit={}", last - after),
        Some(token),
        None,
    );
    assert_eq!(status, 200, "{page}");
    let mut items = page["items"].as_array().expect("items").clone();
    items.reverse();
    items
}

/// The page's rows are `expected`, seq, time, actor, kind and full hash.
fn rows_are(browser: &Browser, expected: &[Value]) {
    let seqs = browser.texts("#entries tbody td.seq");
    let api_seqs: Vec<String> = expected.iter().map(|e| e["seq"].to_string()).collect();
    assert_eq!(seqs, api_seqs, "the same entries, newest first");
    let field = |name: &str| -> Vec<String> {
        expected
            .iter()
            .map(|e| e[name].as_str().expect("a text").to_owned())
            .collect()
    };
    assert_eq!(browser.texts("#entries tbody td.kind"), field("kind"));
    assert_eq!(browser.texts("#entries tbody td.hash"), field("hash"));
    // Times are shown in the ledger's zone; each keeps the API's text.
    let times: Vec<String> = browser
        .execute(
            "return Array.from(document.querySelectorAll('#entries tbody td.at time'))\
             .map(t => t.getAttribute('datetime'))",
        )
        .as_array()
        .expect("the times")
        .iter()
        .map(|t| t.as_str().expect("a datetime").to_owned())
        .collect();
    assert_eq!(times, field("at"));
    let newest = &expected[0];
    let row = format!("#entries tr[data-seq='{}']", newest["seq"]);
    assert_eq!(
        browser
            .attribute(&format!("{row} td.hash"), "title")
            .as_deref(),
        newest["hash"].as_str(),
        "the full hash, also as the cell's title"
    );
    assert_eq!(
        browser.text(&format!("{row} .client-id")),
        newest["actor"]["client_id"].as_str().expect("a client id")
    );
    assert_eq!(
        browser.text(&format!("{row} .role")),
        newest["actor"]["role"].as_str().expect("a role")
    );
}

/// Runs `statement` on the ledger's database behind its back, the
/// journal's append-only triggers out of the way (PostgreSQL: disabled for
/// the statement, as the owner can; SQLite: dropped, as anyone with the
/// file can).
async fn tamper(kind: Kind, url: &str, statement: &str) {
    use sqlx::Connection;
    match kind {
        Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(url).await.expect("connect");
            for sql in [
                "ALTER TABLE journal DISABLE TRIGGER journal_append_only",
                statement,
                "ALTER TABLE journal ENABLE TRIGGER journal_append_only",
            ] {
                sqlx::query(sql).execute(&mut conn).await.expect(sql);
            }
            conn.close().await.ok();
        }
        Kind::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(url).await.expect("connect");
            for sql in [
                "DROP TRIGGER IF EXISTS journal_no_update",
                "DROP TRIGGER IF EXISTS journal_no_delete",
                statement,
            ] {
                sqlx::query(sql).execute(&mut conn).await.expect(sql);
            }
            conn.close().await.ok();
        }
    }
}

#[allow(clippy::too_many_lines)]
fn scenario(kind: Kind, database: &str, name: &str) {
    let dir = empty_folder();
    let demo = run_json(&dir, database, &["demo", "--out-dir", "."]);
    let regulator = person(&dir, database, "regulator", "李监管", "li.jian");
    let clerk = person(&dir, database, "finance", "赵财务", "zhao.cw");

    let server = Server::start(&dir, Some(database));
    let base = format!("http://{}", server.address);
    let Some(browser) = Browser::start() else {
        return;
    };
    let token = api_token(&server, &demo, "regulator");

    // Without a session the page leads to the login form.
    browser.goto(&format!("{base}/console/journal"));
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );
    sign_in_as(&browser, "li.jian", &regulator);
    browser.wait_for("#instruments");
    browser.click_to_next_page("header nav.pages a[href='/console/journal']");
    browser.wait_for("#verification");
    assert_eq!(browser.text("h1"), "审计日志");

    // Nothing is verified on a page's render: until someone asks, the page
    // says the journal was never verified; "verify now" verifies it.
    assert!(browser.exists("#never-verified"));
    browser.click_to_next_page("#verify-now");
    assert_eq!(browser.text("#verification .verified-by"), "person:li.jian");

    // The verification is the API's, figure for figure, and says when it ran.
    let (status, verified) = server.call("GET", "/v1/audit/verify", Some(&token), None);
    assert_eq!(status, 200, "{verified}");
    assert_eq!(verified["ok"], true, "{verified}");
    assert!(browser.exists("#verification.ok"));
    assert!(!browser.exists("#verification.broken"));
    assert!(!browser.exists("#verification .first-bad-seq"));
    assert_eq!(
        browser.text("#verification .entries").replace(',', ""),
        verified["entries"].to_string()
    );
    assert_eq!(
        browser.text("#verification .hash"),
        verified["head_hash"].as_str().expect("a hash")
    );
    let ran_at = browser
        .attribute("#verification .verified-at time", "datetime")
        .expect("when it ran");
    assert!(
        chrono::DateTime::parse_from_rfc3339(&ran_at).is_ok(),
        "{ran_at}"
    );
    let head = verified["entries"].as_i64().expect("entries");
    assert!(
        head > 2 * PAGE,
        "the demo journals more than two pages: {head}"
    );

    // The latest entries are the API's last ones, newest first.
    assert_eq!(
        i64::try_from(browser.texts("#entries tbody tr").len()).expect("a count"),
        PAGE
    );
    rows_are(&browser, &api_entries(&server, &token, head));
    browser.screenshot(&screenshots().join(format!("journal-zh-{name}.png")));

    // Earlier entries: the page before the oldest shown, and back again.
    browser.click_to_next_page("#earlier");
    browser.wait_for("#entries");
    assert!(
        browser
            .url()
            .ends_with(&format!("/console/journal?before={}", head - PAGE + 1)),
        "{}",
        browser.url()
    );
    rows_are(&browser, &api_entries(&server, &token, head - PAGE));
    browser.click_to_next_page("#earlier");
    browser.wait_for("#entries");
    let oldest = head - 2 * PAGE;
    rows_are(&browser, &api_entries(&server, &token, oldest));
    assert_eq!(
        browser.texts("#entries tbody tr").len(),
        usize::try_from(oldest).expect("a count"),
        "the last page holds what is left"
    );
    assert!(!browser.exists("#earlier"), "nothing before entry 1");
    browser.click_to_next_page("#newest");
    browser.wait_for("#entries");
    assert_eq!(
        browser.text("#entries tbody tr:first-child td.seq"),
        head.to_string()
    );

    // A bad `before` is the page saying so, 422.
    let cookie = format!("Cookie: ets_session={}\r\n", session_cookie(&browser));
    for bad in ["abc", "0", "-3", "1.5"] {
        browser.goto(&format!("{base}/console/journal?before={bad}"));
        assert!(browser.exists("#before-error"), "{bad}");
        assert!(browser.exists("#verification.ok"), "{bad}");
        assert!(!browser.exists("#entries"), "{bad}");
        let (status, _) = server.get_text(&format!("/console/journal?before={bad}"), &cookie);
        assert_eq!(status, 422, "{bad}");
    }
    browser.goto(&format!("{base}/console/journal"));

    // The download is the API's checkpoint: the same fields, in the same
    // order, the same Ed25519 signature; only `signed_at` tells the two
    // moments apart.
    let link = browser
        .attribute("#download-checkpoint", "href")
        .expect("a download link");
    assert_eq!(link, "/console/journal/checkpoint.json");
    let (status, head_text, downloaded) = server.exchange_text("GET", &link, &cookie, "");
    assert_eq!(status, 200, "{downloaded}");
    let head_text = head_text.to_ascii_lowercase();
    assert!(
        head_text.contains("content-disposition: attachment; filename=\"checkpoint.json\""),
        "{head_text}"
    );
    assert!(
        head_text.contains("content-type: application/json"),
        "{head_text}"
    );
    let (status, signed) = server.get_text(
        "/v1/audit/checkpoint",
        &format!("Authorization: Bearer {token}\r\n"),
    );
    assert_eq!(status, 200, "{signed}");
    let ours: Value = serde_json::from_str(&downloaded).expect("JSON");
    let theirs: Value = serde_json::from_str(&signed).expect("JSON");
    assert_eq!(ours["seq"], head, "{ours}");
    assert_eq!(ours["seq"], theirs["seq"]);
    for field in ["head_hash", "kid", "signature"] {
        assert_eq!(ours[field], theirs[field], "{field}");
    }
    let at = |v: &Value| v["signed_at"].as_str().expect("signed_at").to_owned();
    assert!(chrono::DateTime::parse_from_rfc3339(&at(&ours)).is_ok());
    assert_eq!(downloaded.replace(&at(&ours), &at(&theirs)), signed);

    // Finance may use neither: the 403 page, not merely a missing link.
    let finance = format!(
        "Cookie: ets_session={}\r\n",
        http_sign_in(&server, "zhao.cw", &clerk)
    );
    for path in ["/console/journal", "/console/journal/checkpoint.json"] {
        let (status, page) = server.get_text(path, &finance);
        assert_eq!(status, 403, "{path}");
        assert!(page.contains("id=\"forbidden\""), "{path}: {page}");
    }
    let (_, overview) = server.get_text("/console/", &finance);
    assert!(
        !overview.contains("href=\"/console/journal\""),
        "no menu entry for finance"
    );

    // One payload changed in the database: the page says the journal is
    // broken, from the entry the API names, and marks its row.
    let changed = head - 10;
    tokio::runtime::Handle::current().block_on(tamper(
        kind,
        database,
        &format!("UPDATE journal SET payload = '{{\"tampered\":true}}' WHERE seq = {changed}"),
    ));
    let (status, broken) = server.call("GET", "/v1/audit/verify", Some(&token), None);
    assert_eq!(status, 200, "{broken}");
    assert_eq!(broken["ok"], false, "{broken}");
    assert_eq!(broken["first_bad_seq"], changed, "{broken}");
    browser.click_to_next_page("#verify-now");
    browser.wait_for("#verification");
    assert!(browser.exists("#verification.broken"));
    assert!(!browser.exists("#verification.ok"));
    assert!(browser.exists("#verification p.verdict.error[role=alert]"));
    assert_eq!(
        browser.text("#verification .first-bad-seq"),
        broken["first_bad_seq"].to_string()
    );
    assert!(
        browser
            .text("#verification p.verdict")
            .contains(&changed.to_string())
    );
    assert_eq!(
        browser.text("#verification .entries").replace(',', ""),
        broken["entries"].to_string()
    );
    assert_eq!(
        browser.text("#verification .hash"),
        broken["head_hash"].as_str().expect("a hash")
    );
    assert!(browser.exists(&format!("#entries tr.bad[data-seq='{changed}']")));
    assert_eq!(browser.texts("#entries tr.bad").len(), 1);
    browser.screenshot(&screenshots().join(format!("journal-broken-zh-{name}.png")));

    // In English too, unmistakably.
    browser.goto(&format!("{base}/console/journal?lang=en"));
    assert_eq!(browser.text("h1"), "Journal");
    assert!(browser.text("#verification p.verdict").contains("BROKEN"));
    // The overview shows the last verification, not a new one.
    browser.goto(&format!("{base}/console/"));
    assert!(browser.exists("#journal .last-verification.broken"));
    browser.screenshot(&screenshots().join(format!("journal-broken-en-{name}.png")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_regulator_sees_the_journal_verify_pages_its_entries_and_keeps_a_checkpoint() {
    for db in TestDatabase::each().await {
        let url = db.url.clone();
        let kind = db.kind;
        let name = match kind {
            Kind::Postgres => "postgresql",
            Kind::Sqlite => "sqlite",
        };
        tokio::task::spawn_blocking(move || scenario(kind, &url, name))
            .await
            .expect("the scenario");
    }
}
