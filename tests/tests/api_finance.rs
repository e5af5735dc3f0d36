//! Finance over a real socket, on each database: a paid allocation at the
//! published fee, its invoice read by staff and by its own enterprise only,
//! payments from cash and from the bank (surcharge first, never more than
//! owed, replayed by key), and the invoice as of past, present and future
//! instants — the clock moved past the due date instead of waited for.

use chrono::{Duration, Utc};
use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::TestDatabase;
use serde_json::{Value, json};

async fn participant(server: &TestServer, admin: &str, n: u32) -> String {
    let body =
        json!({"name": format!("企业{n}"), "credit_code": credit_code(n), "region_code": "320505"});
    let created = server
        .call("POST", "/v1/participants", admin, Some(&body))
        .await;
    assert_eq!(created.status, 201, "{}", created.body);
    created.body["id"].as_str().expect("id").to_owned()
}

async fn instrument(server: &TestServer, admin: &str, code: &str, pollutant: &str) {
    let body = json!({
        "code": code, "kind": "pollutant_right", "pollutant": pollutant, "unit": "t", "scale": 4,
        "region_code": "320500", "valid_from": "2026-01-01", "valid_to": "2030-12-31"
    });
    let answer = server
        .call("POST", "/v1/instruments", admin, Some(&body))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

fn at(instant: chrono::DateTime<Utc>) -> String {
    instant.to_rfc3339().replace('+', "%2B")
}

fn figures(invoice: &Value) -> (&str, &str, &str, &str) {
    (
        invoice["paid"].as_str().expect("paid"),
        invoice["outstanding"].as_str().expect("outstanding"),
        invoice["late_fee"].as_str().expect("late_fee"),
        invoice["status"].as_str().expect("status"),
    )
}

#[tokio::test]
async fn invoices_are_paid_surcharge_first_and_read_as_of_any_instant() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let a = participant(&server, &admin, 1).await;
        let b = participant(&server, &admin, 2).await;
        instrument(&server, &admin, "COD-320500-2026", "COD").await;
        instrument(&server, &admin, "TP-320500-2026", "TP").await;
        // One pollutant, one unit: COD is counted in tonnes.
        let kilograms = json!({"code": "COD-320500-2027", "kind": "pollutant_right", "pollutant": "COD", "unit": "kg", "scale": 4, "region_code": "320500", "valid_from": "2027-01-01", "valid_to": "2031-12-31"});
        let answer = server
            .call("POST", "/v1/instruments", &admin, Some(&kilograms))
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("unit_mismatch")),
            "{}",
            answer.body
        );

        // No unit_fee, no years: COD's published 230 CNY/t·a for 5 years,
        // 10 t → 11,500.00, due 30 days from today.
        let paid = json!({"participant_id": a, "instrument": "COD-320500-2026", "quantity": "10", "method": "paid"});
        let answer = server
            .call("POST", "/v1/allocations", &admin, Some(&paid))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_eq!(answer.body["invoice"]["amount"], "11500.00");
        let invoice_id = answer.body["invoice_id"]
            .as_str()
            .expect("invoice")
            .to_owned();
        let created = server.store.now();
        // TP has no published fee.
        let tp = json!({"participant_id": a, "instrument": "TP-320500-2026", "quantity": "1", "method": "paid"});
        let answer = server
            .call("POST", "/v1/allocations", &admin, Some(&tp))
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("unit_fee_required"))
        );

        let path = format!("/v1/invoices/{invoice_id}");
        let finance = server.token(Role::Finance, None).await;
        let answer = server.call("GET", &path, &finance, None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(figures(&answer.body), ("0.00", "11500.00", "0.00", "open"));
        // Its own enterprise reads it; another's is 404, and its list is empty.
        let own = server
            .token(Role::Enterprise, Some(a.parse().expect("uuid")))
            .await;
        let other = server
            .token(Role::Enterprise, Some(b.parse().expect("uuid")))
            .await;
        assert_eq!(server.call("GET", &path, &own, None).await.status, 200);
        assert_eq!(server.call("GET", &path, &other, None).await.status, 404);
        let list = server.call("GET", "/v1/invoices", &other, None).await;
        assert_eq!(
            list.body["items"].as_array().map(Vec::len),
            Some(0),
            "{}",
            list.body
        );
        // Allocations list likewise: the paid one with its invoice, to its
        // own enterprise and to staff; nothing to another enterprise.
        let mine = server.call("GET", "/v1/allocations", &own, None).await;
        assert_eq!(
            mine.body["items"].as_array().map(Vec::len),
            Some(1),
            "{}",
            mine.body
        );
        assert_eq!(mine.body["items"][0]["invoice"]["amount"], "11500.00");
        let theirs = server.call("GET", "/v1/allocations", &other, None).await;
        assert_eq!(theirs.body["items"].as_array().map(Vec::len), Some(0));
        let named = server
            .call(
                "GET",
                &format!("/v1/allocations?participant_id={a}"),
                &other,
                None,
            )
            .await;
        assert_eq!(named.status, 404);
        let all = server
            .call(
                "GET",
                "/v1/allocations?instrument=COD-320500-2026&limit=1",
                &finance,
                None,
            )
            .await;
        assert_eq!(
            all.body["items"][0]["invoice_id"],
            invoice_id.as_str(),
            "{}",
            all.body
        );

        // 3,000.00 from A's cash; an enterprise may not record a payment.
        let deposit = json!({"participant_id": a, "amount": "5000.00", "reference": "ICBC-1"});
        let answer = server
            .call("POST", "/v1/cash/deposits", &finance, Some(&deposit))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let payments = format!("{path}/payments");
        let cash = json!({"amount": "3000.00", "source": "cash_account", "reference": "PAY-1"});
        assert_eq!(
            server
                .call("POST", &payments, &own, Some(&cash))
                .await
                .status,
            403
        );
        let answer = server.call("POST", &payments, &finance, Some(&cash)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_eq!(
            (
                answer.body["surcharge"].as_str(),
                answer.body["principal"].as_str()
            ),
            (Some("0.00"), Some("3000.00"))
        );
        assert_eq!(
            figures(&answer.body["invoice"]),
            ("3000.00", "8500.00", "0.00", "partially_paid")
        );
        let holdings = server
            .call(
                "GET",
                &format!("/v1/participants/{a}/holdings"),
                &finance,
                None,
            )
            .await;
        let cny = holdings.body["holdings"]
            .as_array()
            .expect("rows")
            .iter()
            .find(|h| h["instrument"] == "CNY")
            .expect("CNY")
            .clone();
        assert_eq!(cny["balance"], "2000.00");
        let paid_at = server.store.now();

        // Forty days on: ten days past the due date on 8,500.00 at 0.05 %: 42.50.
        server.clock.advance(Duration::days(40));
        let finance = server.token(Role::Finance, None).await;
        let answer = server.call("GET", &path, &finance, None).await;
        assert_eq!(
            figures(&answer.body),
            ("3000.00", "8500.00", "42.50", "overdue")
        );
        let too_much = json!({"amount": "8542.51", "source": "external", "reference": "BANK-2"});
        let answer = server
            .call("POST", &payments, &finance, Some(&too_much))
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("overpayment"))
        );
        let all = json!({"amount": "8542.50", "source": "external", "reference": "BANK-2"});
        let bearer = format!("Bearer {finance}");
        let keyed = [
            ("Authorization", bearer.as_str()),
            ("Idempotency-Key", "pay-all-1"),
        ];
        let body = all.to_string();
        let answer = server
            .send("POST", &payments, &keyed, body.as_bytes())
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_eq!(
            (
                answer.body["surcharge"].as_str(),
                answer.body["principal"].as_str()
            ),
            (Some("42.50"), Some("8500.00"))
        );
        assert_eq!(
            figures(&answer.body["invoice"]),
            ("11500.00", "0.00", "0.00", "paid")
        );
        let replay = server
            .send("POST", &payments, &keyed, body.as_bytes())
            .await;
        assert_eq!(
            (replay.status, &replay.body["id"]),
            (201, &answer.body["id"])
        );
        let more = json!({"amount": "0.01", "source": "external", "reference": "BANK-3"});
        let answer = server.call("POST", &payments, &finance, Some(&more)).await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("invoice_paid"))
        );
        for (amount, code) in [
            ("0", "amount_must_be_positive"),
            ("-1.00", "amount_must_be_positive"),
            ("1.001", "scale_exceeded"),
        ] {
            let body = json!({"amount": amount, "source": "external", "reference": "BANK-4"});
            let answer = server.call("POST", &payments, &finance, Some(&body)).await;
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (422, Some(code)),
                "{amount}"
            );
        }

        // As of between the payments: overdue, the cash payment counted;
        // before the invoice existed: 404; a year ahead: still paid.
        let then = server
            .call(
                "GET",
                &format!("{path}?as_of={}", at(paid_at + Duration::days(35))),
                &finance,
                None,
            )
            .await;
        assert_eq!(
            figures(&then.body),
            ("3000.00", "8500.00", "21.25", "overdue")
        );
        let before = server
            .call(
                "GET",
                &format!("{path}?as_of={}", at(created - Duration::hours(1))),
                &finance,
                None,
            )
            .await;
        assert_eq!(before.status, 404);
        let ahead = server
            .call(
                "GET",
                &format!(
                    "{path}?as_of={}",
                    at(server.store.now() + Duration::days(365))
                ),
                &finance,
                None,
            )
            .await;
        assert_eq!(figures(&ahead.body), ("11500.00", "0.00", "0.00", "paid"));
        let paid_list = server
            .call("GET", "/v1/invoices?status=paid", &finance, None)
            .await;
        assert_eq!(
            paid_list.body["items"][0]["id"],
            invoice_id.as_str(),
            "{}",
            paid_list.body
        );
        let open_list = server
            .call("GET", "/v1/invoices?status=overdue", &finance, None)
            .await;
        assert_eq!(open_list.body["items"].as_array().map(Vec::len), Some(0));
        let bad = server
            .call("GET", "/v1/invoices?status=late", &finance, None)
            .await;
        assert_eq!(
            (bad.status, bad.body["code"].as_str()),
            (422, Some("invalid_query"))
        );
    }
}

#[tokio::test]
async fn racing_payments_on_one_invoice_never_pay_more_than_it_owes() {
    for db in TestDatabase::each().await {
        let server = std::sync::Arc::new(TestServer::start(&db.url).await);
        let admin = server.token(Role::Admin, None).await;
        let a = participant(&server, &admin, 1).await;
        instrument(&server, &admin, "COD-320500-2026", "COD").await;
        // 10 t of COD: 11,500.00, not yet due.
        let paid = json!({"participant_id": a, "instrument": "COD-320500-2026", "quantity": "10", "method": "paid"});
        let answer = server
            .call("POST", "/v1/allocations", &admin, Some(&paid))
            .await;
        let invoice_id = answer.body["invoice_id"]
            .as_str()
            .expect("invoice")
            .to_owned();
        let finance = server.token(Role::Finance, None).await;
        let payments = format!("/v1/invoices/{invoice_id}/payments");
        let racers: Vec<_> = (0..12)
            .map(|n| {
                let (server, finance, payments) = (server.clone(), finance.clone(), payments.clone());
                tokio::spawn(async move {
                    let body = json!({"amount": "3000.00", "source": "external", "reference": format!("BANK-{n}")});
                    server.call("POST", &payments, &finance, Some(&body)).await
                })
            })
            .collect();
        let mut statuses = Vec::new();
        for racer in racers {
            let answer = racer.await.expect("a racer");
            if answer.status == 422 {
                assert_eq!(answer.body["code"], "overpayment");
            }
            statuses.push(answer.status);
        }
        // 3 × 3,000.00 fit in 11,500.00; a fourth would not.
        assert_eq!(
            statuses.iter().filter(|s| **s == 201).count(),
            3,
            "{statuses:?}"
        );
        assert_eq!(
            statuses.iter().filter(|s| **s == 422).count(),
            9,
            "{statuses:?}"
        );
        let answer = server
            .call("GET", &format!("/v1/invoices/{invoice_id}"), &finance, None)
            .await;
        assert_eq!(
            figures(&answer.body),
            ("9000.00", "2500.00", "0.00", "partially_paid")
        );
    }
}
