//! Finance at the console (SPEC §9), on each database, in a real headless
//! Chromium: the invoices as `GET /v1/invoices` lists them, one invoice as
//! `GET /v1/invoices/{id}` answers it, and a payment recorded from the
//! form, journaled as the person; a form sent twice pays once, a refused
//! amount writes nothing, and a regulator may not pay.

mod binary;
mod browser;
mod desk;

use binary::{Server, empty_folder};
use browser::Browser;
use desk::{FORM, api_token, http_sign_in, person, run_json, session_cookie, sign_in_as};
use ets_testkit::TestDatabase;
use rust_decimal::Decimal;
use serde_json::Value;

fn decimal(value: &Value) -> Decimal {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("a decimal: {value}"))
}

fn scenario(database: &str) {
    let dir = empty_folder();
    let demo = run_json(&dir, database, &["demo", "--out-dir", "."]);
    let clerk = person(&dir, database, "finance", "赵财务", "zhao.cw");
    let inspector = person(&dir, database, "regulator", "李监管", "li.jian");
    let server = Server::start(&dir, Some(database));
    let base = format!("http://{}", server.address);
    let token = api_token(&server, &demo, "finance");
    let Some(browser) = Browser::start() else {
        return;
    };
    browser.goto(&format!("{base}/console/login"));
    sign_in_as(&browser, "zhao.cw", &clerk);
    browser.wait_for("#instruments");

    // The list is the API's, row for row and figure for figure.
    browser.click_to_next_page("header nav.pages a[href='/console/invoices']");
    let (status, listed) = server.call("GET", "/v1/invoices?limit=50", Some(&token), None);
    assert_eq!(status, 200, "{listed}");
    let listed = listed["items"].as_array().expect("items").clone();
    assert!(listed.len() >= 2, "the demo invoices paid-use allocations");
    assert_eq!(browser.texts("#invoices tbody tr").len(), listed.len());
    for invoice in &listed {
        let row = format!(
            "#invoices tr[data-invoice='{}']",
            invoice["id"].as_str().expect("id")
        );
        for (class, field) in [
            ("amount", "amount"),
            ("paid", "paid"),
            ("outstanding", "outstanding"),
        ] {
            let shown = browser.text(&format!("{row} .{class}")).replace(',', "");
            assert_eq!(shown, invoice[field].as_str().expect("a figure"), "{field}");
        }
    }
    browser.goto(&format!("{base}/console/invoices?status=paid"));
    let (_, paid) = server.call("GET", "/v1/invoices?status=paid", Some(&token), None);
    let paid = paid["items"].as_array().map_or(0, Vec::len);
    assert!(paid >= 1);
    assert_eq!(browser.texts("#invoices tbody tr").len(), paid);

    // The partly paid invoice, as the API answers it.
    let id = demo["invoices"]["partly_paid"]
        .as_str()
        .expect("an invoice");
    let api_path = format!("/v1/invoices/{id}");
    let before = server.call("GET", &api_path, Some(&token), None).1;
    browser.goto(&format!("{base}/console/invoices/{id}"));
    for class in ["amount", "paid", "outstanding", "late-fee"] {
        let field = class.replace('-', "_");
        let shown = browser.text(&format!("#invoice .{class}")).replace(',', "");
        assert_eq!(shown, before[&field].as_str().expect("a figure"), "{field}");
    }

    // A refused amount writes nothing and says why.
    browser.fill("#pay input[name=amount]", "12.345");
    browser.fill("#pay input[name=reference]", "BANK-CONSOLE-0");
    browser.click_to_next_page("#record-payment");
    assert!(
        browser.exists("#payment-error"),
        "three places of CNY are refused"
    );
    let said = browser.text("#payment-error");
    assert!(
        said.contains("小数位数"),
        "in the page's language, by the field: {said}"
    );
    let unchanged = server.call("GET", &api_path, Some(&token), None).1;
    assert_eq!(unchanged["paid"], before["paid"]);

    // A payment recorded from the form.
    browser.goto(&format!("{base}/console/invoices/{id}"));
    let key = browser
        .property("#pay input[name=key]", "value")
        .expect("the form's key");
    let csrf = browser
        .property("#pay input[name=csrf]", "value")
        .expect("the form's CSRF token");
    browser.fill("#pay input[name=amount]", "100.00");
    browser.fill("#pay input[name=reference]", "BANK-CONSOLE-1");
    browser.click_to_next_page("#record-payment");
    assert!(
        browser.url().ends_with(&format!("/console/invoices/{id}")),
        "{}",
        browser.url()
    );
    assert!(
        browser
            .texts("#payments .reference")
            .contains(&"BANK-CONSOLE-1".to_owned())
    );
    let after = server.call("GET", &api_path, Some(&token), None).1;
    assert_eq!(
        decimal(&after["paid"]) + decimal(&after["surcharge_paid"]),
        decimal(&before["paid"]) + decimal(&before["surcharge_paid"]) + Decimal::new(10000, 2),
        "{before} → {after}"
    );
    let shown = browser.text("#invoice .outstanding").replace(',', "");
    assert_eq!(shown, after["outstanding"].as_str().expect("a figure"));
    browser.screenshot(&desk::screenshots().join("invoice-zh.png"));

    // The same form sent again (a double click, a reload) pays once.
    let session = session_cookie(&browser);
    let headers = format!("{FORM}Cookie: ets_session={session}\r\n");
    let again =
        format!("csrf={csrf}&key={key}&amount=100.00&source=external&reference=BANK-CONSOLE-1");
    let path = format!("/console/invoices/{id}/payments");
    let (status, head, _) = server.exchange_text("POST", &path, &headers, &again);
    assert_eq!(status, 303, "{head}");
    let twice = server.call("GET", &api_path, Some(&token), None).1;
    assert_eq!(twice["paid"], after["paid"], "paid once");
    assert_eq!(twice["surcharge_paid"], after["surcharge_paid"]);

    // Journaled as the person who recorded it.
    let auditor = api_token(&server, &demo, "regulator");
    let (_, verified) = server.call("GET", "/v1/audit/verify", Some(&auditor), None);
    let last = verified["entries"].as_i64().expect("entries");
    let (_, entries) = server.call(
        "GET",
        &format!("/v1/audit/journal?after_seq={}&limit=1", last - 1),
        Some(&auditor),
        None,
    );
    let entry = &entries["items"][0];
    assert_eq!(entry["actor"]["client_id"], "person:zhao.cw", "{entry}");
    assert_eq!(entry["actor"]["role"], "finance");

    // Finance reads a participant's page, not its open orders (as the API).
    let owner = before["participant_id"]
        .as_str()
        .expect("the invoice's participant");
    browser.goto(&format!("{base}/console/participants/{owner}"));
    assert!(browser.exists("#holdings"));
    assert!(browser.exists("#participant-invoices"));
    assert!(!browser.exists("#orders"));
    assert!(
        browser.exists(".not-for-role"),
        "the section says why it is empty"
    );

    // The compliance report and the journal are the regulator's: a 403
    // page for finance, not merely a missing menu entry.
    for page in ["/console/compliance", "/console/journal"] {
        browser.goto(&format!("{base}{page}"));
        assert!(browser.exists("#forbidden"), "{page}");
        assert!(!browser.exists(&format!("header nav.pages a[href='{page}']")));
    }

    // A regulator reads the invoice but may not record a payment.
    let cookie = http_sign_in(&server, "li.jian", &inspector);
    let with_cookie = format!("Cookie: ets_session={cookie}\r\n");
    let (status, _, page) =
        server.exchange_text("GET", &format!("/console/invoices/{id}"), &with_cookie, "");
    assert_eq!(status, 200);
    assert!(
        !page.contains("id=\"pay\""),
        "no payment form for a regulator"
    );
    let their_csrf = page
        .split("name=\"csrf\" value=\"")
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the page's CSRF token")
        .to_owned();
    let attempt = format!(
        "csrf={their_csrf}&key={}&amount=1.00&source=external&reference=NO",
        uuid::Uuid::new_v4()
    );
    let (status, _, _) =
        server.exchange_text("POST", &path, &format!("{FORM}{with_cookie}"), &attempt);
    assert_eq!(status, 403);
    let last_state = server.call("GET", &api_path, Some(&token), None).1;
    assert_eq!(last_state["paid"], after["paid"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn finance_records_a_payment_at_the_console_once() {
    for db in TestDatabase::each().await {
        let url = db.url.clone();
        tokio::task::spawn_blocking(move || scenario(&url))
            .await
            .expect("the scenario");
    }
}
