//! Finance's settlement page in a real headless Chromium (SPEC §9), on each
//! database: a clerk made by `ets-ledger user create --role finance` signs
//! in, `/console/settlements` leads to today's business day, and every
//! participant row and the totals are `GET /v1/settlements/{today}`'s
//! figures digit for digit; the CSV and XLSX downloads are the API's bytes,
//! content type and file name; a bad date, a day after today and a day that
//! no longer reconciles with the ledger show an error and no figure.

mod binary;
mod browser;
mod desk;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::Duration;

use binary::{Server, empty_folder};
use browser::Browser;
use desk::{api_token, person, run_json, screenshots, session_cookie, sign_in_as};
use ets_testkit::TestDatabase;
use serde_json::Value;

/// The money columns of a participant row, as the API names them.
const MONEY: [&str; 9] = [
    "opening_cash",
    "bought_value",
    "sold_value",
    "commissions",
    "fees_paid",
    "deposits",
    "withdrawals",
    "other",
    "closing_cash",
];

/// `GET path` as HTTP/1.0 (the body whole, never chunked) with these
/// header lines: the status, the head's lines and the body's bytes (a
/// workbook is no text).
fn fetch(server: &Server, path: &str, headers: &str) -> (u16, Vec<String>, Vec<u8>) {
    let mut stream = TcpStream::connect(&server.address).expect("connect");
    stream
        .set_read_timeout(Some(Duration::from_secs(60)))
        .expect("timeout");
    write!(
        stream,
        "GET {path} HTTP/1.0\r\nHost: {}\r\n{headers}\r\n",
        server.address
    )
    .expect("send");
    let mut response = Vec::new();
    stream.read_to_end(&mut response).expect("read");
    let end = response
        .windows(4)
        .position(|window| window == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8(response[..end].to_vec()).expect("a head in text");
    let body = response[end + 4..].to_vec();
    let status = head
        .split(' ')
        .nth(1)
        .and_then(|s| s.parse().ok())
        .expect("a status");
    let lines = head.lines().skip(1).map(str::to_ascii_lowercase).collect();
    (status, lines, body)
}

/// The value of header `name` among a head's lines (lowercased).
fn header<'a>(lines: &'a [String], name: &str) -> Option<&'a str> {
    lines
        .iter()
        .find_map(|line| line.strip_prefix(&format!("{name}: ")))
}

/// A figure as the page shows it, its grouping commas taken out.
fn digits(shown: &str) -> String {
    shown.replace(',', "")
}

/// Runs SQL on the test's database behind the ledger's back.
fn behind_the_ledger(database: &str, statement: &str) {
    use sqlx::Connection;
    tokio::runtime::Handle::current().block_on(async {
        if database.starts_with("postgres") {
            let mut conn = sqlx::PgConnection::connect(database)
                .await
                .expect("connect");
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect(statement);
            conn.close().await.ok();
        } else {
            let mut conn = sqlx::SqliteConnection::connect(database)
                .await
                .expect("connect");
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect(statement);
            conn.close().await.ok();
        }
    });
}

fn scenario(database: &str, name: &str) {
    let dir = empty_folder();
    let demo = run_json(&dir, database, &["demo", "--out-dir", "."]);
    let clerk = person(&dir, database, "finance", "钱财务", "qian.cw");
    let server = Server::start(&dir, Some(database));
    let base = format!("http://{}", server.address);
    let Some(browser) = Browser::start() else {
        return;
    };

    browser.goto(&format!("{base}/console/settlements"));
    assert!(
        browser.url().ends_with("/console/login"),
        "{}",
        browser.url()
    );
    sign_in_as(&browser, "qian.cw", &clerk);
    browser.wait_for("header nav.pages a[href='/console/settlements']");
    browser.click_to_next_page("header nav.pages a[href='/console/settlements']");
    browser.wait_for("#participants");

    // Today's business day, in the ledger's zone (Asia/Shanghai).
    let today = chrono::Utc::now()
        .with_timezone(&chrono::FixedOffset::east_opt(8 * 3600).expect("UTC+8"))
        .date_naive();
    assert!(
        browser
            .url()
            .ends_with(&format!("/console/settlements/{today}")),
        "{}",
        browser.url()
    );
    assert_eq!(browser.text("h1"), format!("日终结算 {today}"));
    assert_eq!(browser.text("#settlement .date"), today.to_string());
    browser.screenshot(&screenshots().join(format!("settlement-zh-{name}.png")));

    // Every row and the totals are the API's figures, digit for digit.
    let token = api_token(&server, &demo, "finance");
    let bearer = format!("Authorization: Bearer {token}\r\n");
    let api_path = format!("/v1/settlements/{today}");
    let (status, json) = server.get_text(&api_path, &bearer);
    assert_eq!(status, 200, "{json}");
    let settlement: Value = serde_json::from_str(&json).expect("the API's JSON");
    let rows = settlement["participants"].as_array().expect("rows");
    assert!(rows.len() >= 2, "the demo moves cash today: {settlement}");
    assert_eq!(browser.texts("#participants tbody tr").len(), rows.len());
    let ids: Vec<String> = browser
        .texts("#participants tbody tr th code.id")
        .into_iter()
        .collect();
    let api_ids: Vec<String> = rows
        .iter()
        .map(|row| row["participant_id"].as_str().expect("an id").to_owned())
        .collect();
    assert_eq!(ids, api_ids, "the same rows in the same order");
    for row in rows {
        let id = row["participant_id"].as_str().expect("an id");
        let css = format!("#participants tr[data-participant='{id}']");
        assert_eq!(
            browser.text(&format!("{css} .name")),
            row["name"].as_str().expect("a name")
        );
        for column in MONEY {
            let shown = browser.text(&format!("{css} td.{column}"));
            assert_eq!(
                digits(&shown),
                row[column].as_str().expect("a figure"),
                "{id} {column}"
            );
        }
    }
    for column in MONEY {
        let shown = browser.text(&format!("#participants tfoot tr.totals td.{column}"));
        assert_eq!(
            digits(&shown),
            settlement["totals"][column].as_str().expect("a total"),
            "totals {column}"
        );
    }
    let trades = settlement["trades"].as_array().map_or(0, Vec::len);
    assert_eq!(
        digits(&browser.text("#settlement .trades")),
        trades.to_string()
    );
    assert!(browser.exists("#settlement .reconciled"));

    // The downloads are the API's answers: the same bytes, content type and
    // file name.
    let session = session_cookie(&browser);
    let cookie = format!("Cookie: ets_session={session}\r\n");
    for (link, format) in [("#download-csv", "csv"), ("#download-xlsx", "xlsx")] {
        let href = browser.attribute(link, "href").expect("a download link");
        assert_eq!(
            href,
            format!("/console/settlements/{today}?format={format}")
        );
        let (status, head, body) = fetch(&server, &href, &cookie);
        assert_eq!(status, 200, "{format}: {head:?}");
        let (api_status, api_head, api_body) =
            fetch(&server, &format!("{api_path}?format={format}"), &bearer);
        assert_eq!(api_status, 200, "{format}: {api_head:?}");
        assert_eq!(body, api_body, "{format}: the API's bytes");
        for name in ["content-type", "content-disposition"] {
            assert_eq!(
                header(&head, name),
                header(&api_head, name),
                "{format} {name}"
            );
        }
        assert_eq!(
            header(&head, "content-disposition"),
            Some(format!("attachment; filename=\"settlement-{today}.{format}\"").as_str())
        );
        if format == "csv" {
            assert!(body.starts_with("\u{feff}".as_bytes()), "CSV with a BOM");
            // The text helper reads the same file.
            let (_, text) = server.get_text(&href, &cookie);
            assert_eq!(text.as_bytes(), body.as_slice());
        } else {
            assert!(body.starts_with(b"PK"), "a workbook is a zip");
        }
    }

    // The date picker leads to the day it names.
    let yesterday = today.pred_opt().expect("a day before");
    assert!(!browser.exists("#next-day"), "no day after today");
    browser.execute(&format!(
        "document.querySelector('#pick-day input[name=date]').value = '{yesterday}'"
    ));
    browser.click_to_next_page("#show-day");
    browser.wait_for("#participants");
    assert!(
        browser
            .url()
            .ends_with(&format!("/console/settlements/{yesterday}")),
        "{}",
        browser.url()
    );
    assert_eq!(
        browser.attribute("#next-day", "href"),
        Some(format!("/console/settlements/{today}"))
    );
    let (status, head, _) = fetch(
        &server,
        &format!("/console/settlements?date={yesterday}"),
        &cookie,
    );
    assert_eq!(status, 303);
    assert_eq!(
        header(&head, "location"),
        Some(format!("/console/settlements/{yesterday}").as_str())
    );

    // English on request.
    browser.goto(&format!("{base}/console/settlements/{today}?lang=en"));
    browser.wait_for("#participants");
    assert_eq!(browser.text("h1"), format!("Settlement {today}"));
    assert_eq!(
        browser.text("#participants tfoot tr.totals th"),
        "Totals",
        "the totals row, in English"
    );
    browser.screenshot(&screenshots().join(format!("settlement-en-{name}.png")));

    // A bad date is the API's refusal, on the page, with no figure.
    for (path, code) in [
        (format!("/console/settlements/{today}x"), "invalid_date"),
        ("/console/settlements/2026-02-30".to_owned(), "invalid_date"),
        (
            "/console/settlements?date=tomorrow".to_owned(),
            "invalid_date",
        ),
        (
            "/console/settlements/9999-12-31".to_owned(),
            "date_in_future",
        ),
    ] {
        browser.goto(&format!("{base}{path}"));
        assert_eq!(
            browser
                .attribute("#settlement-error", "data-code")
                .as_deref(),
            Some(code),
            "{path}"
        );
        assert!(!browser.exists("#participants"), "{path}");
        assert!(!browser.exists(".totals"), "{path}");
        let (status, _, _) = fetch(&server, &path, &cookie);
        assert_eq!(status, 422, "{path}");
    }
    browser.goto(&format!("{base}/console/settlements/2026-13-45"));
    assert!(
        browser.text("#settlement-error").contains("YYYY-MM-DD"),
        "the API's message"
    );
    browser.screenshot(&screenshots().join(format!("settlement-bad-date-{name}.png")));
    let (status, _, body) = fetch(
        &server,
        "/console/settlements/2026-13-45?format=csv",
        &cookie,
    );
    assert_eq!(status, 422, "a bad date's download is refused");
    assert!(String::from_utf8_lossy(&body).contains("settlement-error"));

    // A day that no longer reconciles with the ledger shows an error, never
    // a figure; its downloads are refused or cut short as the API's are.
    behind_the_ledger(
        database,
        "UPDATE trades SET value = '0.01' WHERE method = 'negotiated'",
    );
    browser.goto(&format!("{base}/console/settlements/{today}"));
    assert_eq!(
        browser
            .attribute("#settlement-error", "data-code")
            .as_deref(),
        Some("internal_error")
    );
    assert!(!browser.exists("#participants"));
    assert!(!browser.exists(".totals"));
    assert!(!browser.exists("#download-csv"));
    browser.screenshot(&screenshots().join(format!("settlement-unreconciled-{name}.png")));
    let (status, _, _) = fetch(&server, &format!("/console/settlements/{today}"), &cookie);
    assert_eq!(status, 500);
    let (status, _, _) = fetch(
        &server,
        &format!("/console/settlements/{today}?format=csv"),
        &cookie,
    );
    assert_eq!(status, 500, "the CSV of a day that does not reconcile");
}

#[tokio::test(flavor = "multi_thread")]
async fn finance_sees_the_days_settlement_as_the_api_answers_it() {
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
