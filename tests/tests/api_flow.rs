//! The registry's day one over a real socket: an operator signs in, registers
//! an enterprise and an instrument, allocates rights, finance records a
//! deposit, and everyone reads the holdings — now and as of earlier.

use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::TestDatabase;
use serde_json::{Value, json};

fn row<'a>(holdings: &'a Value, instrument: &str) -> &'a Value {
    holdings["holdings"]
        .as_array()
        .expect("holdings")
        .iter()
        .find(|h| h["instrument"] == instrument)
        .unwrap_or_else(|| panic!("no {instrument} row in {holdings}"))
}

#[tokio::test]
async fn token_participants_instruments_allocations_deposits_and_holdings_work_end_to_end() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;

        let created = server
            .call(
                "POST",
                "/v1/participants",
                &admin,
                Some(&json!({"name": "苏州华能发电有限公司", "credit_code": credit_code(1), "region_code": "320505", "industry": "thermal_power"})),
            )
            .await;
        assert_eq!(created.status, 201, "{}", created.body);
        let id = created.body["id"].as_str().expect("id").to_owned();
        assert_eq!(created.body["credit_code"], credit_code(1));

        let instrument = json!({
            "code": "COD-320500-2026", "kind": "pollutant_right", "pollutant": "COD", "unit": "t", "scale": 4,
            "region_code": "320500", "valid_from": "2026-01-01", "valid_to": "2030-12-31", "commission_rate": "0.0015"
        });
        let answer = server
            .call("POST", "/v1/instruments", &admin, Some(&instrument))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let answer = server
            .call("GET", "/v1/instruments/COD-320500-2026", &admin, None)
            .await;
        assert_eq!(
            (answer.status, answer.body["scale"].as_u64()),
            (200, Some(4))
        );

        let free = json!({"participant_id": id, "instrument": "COD-320500-2026", "quantity": "0.1", "method": "free"});
        let answer = server
            .call("POST", "/v1/allocations", &admin, Some(&free))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert!(answer.body["invoice_id"].is_null());
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
        let between = chrono::Utc::now();
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;

        // 12.3456 t × 230 CNY/t·a × 5 a = 14197.44 CNY, to the fen.
        let paid = json!({
            "participant_id": id, "instrument": "COD-320500-2026", "quantity": "12.3456", "method": "paid",
            "unit_fee": "230", "years": 5, "due_date": "2026-12-31"
        });
        let answer = server
            .call("POST", "/v1/allocations", &admin, Some(&paid))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert!(answer.body["invoice_id"].is_string());
        assert_eq!(answer.body["invoice"]["amount"], "14197.44");

        let finance = server.token(Role::Finance, None).await;
        let deposit =
            json!({"participant_id": id, "amount": "20000.00", "reference": "ICBC-20261128-0001"});
        let answer = server
            .call("POST", "/v1/cash/deposits", &finance, Some(&deposit))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        assert_eq!(answer.body["amount"], "20000.00");
        let withdrawal =
            json!({"participant_id": id, "amount": "0.01", "reference": "ICBC-20261128-0002"});
        let answer = server
            .call("POST", "/v1/cash/withdrawals", &finance, Some(&withdrawal))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);

        let enterprise = server
            .token(Role::Enterprise, Some(id.parse().expect("uuid")))
            .await;
        for token in [&admin, &finance, &enterprise] {
            let holdings = server
                .call(
                    "GET",
                    &format!("/v1/participants/{id}/holdings"),
                    token,
                    None,
                )
                .await;
            assert_eq!(holdings.status, 200, "{}", holdings.body);
            let cod = row(&holdings.body, "COD-320500-2026");
            assert_eq!(
                (
                    cod["balance"].as_str(),
                    cod["available"].as_str(),
                    cod["held"].as_str()
                ),
                (Some("12.4456"), Some("12.4456"), Some("0.0000"))
            );
            assert_eq!(row(&holdings.body, "CNY")["balance"], "19999.99");
        }
        let then = server
            .call(
                "GET",
                &format!(
                    "/v1/participants/{id}/holdings?as_of={}",
                    between.to_rfc3339().replace('+', "%2B")
                ),
                &admin,
                None,
            )
            .await;
        assert_eq!(then.status, 200, "{}", then.body);
        assert_eq!(row(&then.body, "COD-320500-2026")["balance"], "0.1000");
        assert_eq!(row(&then.body, "CNY")["balance"], "0.00");

        let history = server
            .call(
                "GET",
                &format!("/v1/participants/{id}/history?limit=2"),
                &enterprise,
                None,
            )
            .await;
        assert_eq!(history.status, 200, "{}", history.body);
        let items = history.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2);
        assert_eq!(
            (
                items[0]["quantity"].as_str(),
                items[0]["balance_after"].as_str()
            ),
            (Some("0.1000"), Some("0.1000"))
        );
        assert_eq!(items[1]["balance_after"], "12.4456");
        let cursor = history.body["next_cursor"].as_str().expect("a next page");
        let rest = server
            .call(
                "GET",
                &format!("/v1/participants/{id}/history?limit=2&cursor={cursor}"),
                &enterprise,
                None,
            )
            .await;
        let items = rest.body["items"].as_array().expect("items");
        let references: Vec<&str> = items
            .iter()
            .filter_map(|i| i["reference"].as_str())
            .collect();
        assert_eq!(references, ["ICBC-20261128-0001", "ICBC-20261128-0002"]);
        assert_eq!(items[1]["quantity"], "-0.01");
        assert!(rest.body["next_cursor"].is_null());

        let verify = server.store.verify_journal().await.expect("verify");
        assert!(verify.ok, "{verify:?}");
    }
}
