//! Verified emissions, surrenders and the compliance report over a real
//! socket, on both databases: hand-computed figures (carbon with offsets at
//! and over 5 %, a later vintage refused, a pollutant covered by rights
//! whose validity overlaps the year, pledged rights included, a replaced
//! record), racing offset surrenders, the CSV, paging, and bad input.

use std::sync::Arc;

use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::TestDatabase;
use serde_json::{Value, json};

async fn participant(server: &TestServer, admin: &str, n: u32, name: &str) -> String {
    let body = json!({"name": name, "credit_code": credit_code(n), "region_code": "320500"});
    let answer = server
        .call("POST", "/v1/participants", admin, Some(&body))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

async fn created(server: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let answer = server.call("POST", path, token, Some(&body)).await;
    assert_eq!(answer.status, 201, "{path} {body}: {}", answer.body);
    answer.body
}

async fn refused(server: &TestServer, token: &str, path: &str, body: Value, code: &str) {
    let answer = server.call("POST", path, token, Some(&body)).await;
    assert_eq!(
        (answer.status, answer.body["code"].as_str()),
        (422, Some(code)),
        "{path} {body}: {}",
        answer.body
    );
}

async fn instruments(server: &TestServer, admin: &str) {
    for (code, kind, vintage) in [
        ("CEA-2025", "carbon_allowance", 2025),
        ("CEA-2026", "carbon_allowance", 2026),
        ("CCER-2025", "carbon_offset", 2025),
    ] {
        let body =
            json!({"code": code, "kind": kind, "unit": "tCO2e", "scale": 0, "vintage": vintage});
        created(server, admin, "/v1/instruments", body).await;
    }
    // SO2 rights of Suzhou valid through 2025, and from 2026.
    for (code, from, to) in [
        ("SO2-320500-2021", "2021-01-01", "2025-12-31"),
        ("SO2-320500-2026", "2026-01-01", "2030-12-31"),
    ] {
        let body = json!({
            "code": code, "kind": "pollutant_right", "pollutant": "SO2", "unit": "t", "scale": 4,
            "region_code": "320500", "valid_from": from, "valid_to": to
        });
        created(server, admin, "/v1/instruments", body).await;
    }
}

async fn allocate(server: &TestServer, admin: &str, who: &str, instrument: &str, quantity: &str) {
    let body = json!({"participant_id": who, "instrument": instrument, "quantity": quantity, "method": "free"});
    created(server, admin, "/v1/allocations", body).await;
}

fn carbon(who: &str, quantity: &str) -> Value {
    json!({"participant_id": who, "period": "2025", "kind": "carbon", "quantity": quantity})
}

fn surrender(instrument: &str, quantity: &str) -> Value {
    json!({"instrument": instrument, "quantity": quantity, "period": "2025"})
}

/// `(participant_id, kind, pollutant, obligation, covered, shortfall, status)`.
type Row = (
    String,
    String,
    Option<String>,
    String,
    String,
    String,
    String,
);

fn rows(items: &Value) -> Vec<Row> {
    items
        .as_array()
        .expect("items")
        .iter()
        .map(|row| {
            let text = |key: &str| row[key].as_str().expect(key).to_owned();
            (
                text("participant_id"),
                text("kind"),
                row["pollutant"].as_str().map(str::to_owned),
                text("obligation"),
                text("covered"),
                text("shortfall"),
                text("status"),
            )
        })
        .collect()
}

fn row(who: &str, pollutant: Option<&str>, figures: [&str; 4]) -> Row {
    let [obligation, covered, shortfall, status] = figures;
    (
        who.to_owned(),
        if pollutant.is_some() {
            "pollutant"
        } else {
            "carbon"
        }
        .to_owned(),
        pollutant.map(str::to_owned),
        obligation.to_owned(),
        covered.to_owned(),
        shortfall.to_owned(),
        status.to_owned(),
    )
}

#[tokio::test]
async fn compliance_figures_hold_as_computed_by_hand() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        instruments(&server, &admin).await;
        let a = participant(&server, &admin, 1, "苏州甲钢铁, \"A\"").await;
        let c = participant(&server, &admin, 3, "苏州丙电力").await;
        let a_token = server
            .token(Role::Enterprise, Some(a.parse().expect("uuid")))
            .await;
        let c_token = server
            .token(Role::Enterprise, Some(c.parse().expect("uuid")))
            .await;
        allocate(&server, &admin, &a, "CEA-2025", "1000").await;
        allocate(&server, &admin, &a, "CEA-2026", "10").await;
        allocate(&server, &admin, &a, "CCER-2025", "100").await;
        allocate(&server, &admin, &a, "SO2-320500-2021", "8").await;
        allocate(&server, &admin, &a, "SO2-320500-2026", "40").await;
        allocate(&server, &admin, &c, "CEA-2025", "100").await;
        // 3 t of the 2021 right pledged: still counted as covering.
        let pledge = json!({"participant_id": a, "instrument": "SO2-320500-2021", "quantity": "3", "pledgee": "中国银行", "reference": "PLG-1"});
        created(&server, &admin, "/v1/pledges", pledge).await;

        // No emissions recorded yet: no offsets at all.
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CCER-2025", "1"),
            "offset_limit_exceeded",
        )
        .await;
        let first = created(&server, &regulator, "/v1/emissions", carbon(&a, "1000")).await;
        assert_eq!(first["replaces"], Value::Null);
        // Verified again: 1010 replaces 1000.
        let second = created(&server, &regulator, "/v1/emissions", carbon(&a, "1010")).await;
        assert_eq!(second["replaces"], first["id"], "{second}");
        let so2 = json!({"participant_id": a, "period": "2025", "kind": "pollutant", "pollutant": "SO2", "quantity": "10"});
        created(&server, &regulator, "/v1/emissions", so2).await;
        created(&server, &regulator, "/v1/emissions", carbon(&c, "100")).await;

        // 5 % of 1010 is 50.5: 30 + 20 offsets fit, one more does not.
        let offsets = created(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CCER-2025", "30"),
        )
        .await;
        assert_eq!(
            (offsets["kind"].as_str(), offsets["participant_id"].as_str()),
            (Some("offset"), Some(a.as_str()))
        );
        created(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CCER-2025", "20"),
        )
        .await;
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CCER-2025", "1"),
            "offset_limit_exceeded",
        )
        .await;
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CEA-2026", "1"),
            "vintage_not_eligible",
        )
        .await;
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("SO2-320500-2021", "1"),
            "instrument_not_surrenderable",
        )
        .await;
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CEA-2025", "1001"),
            "insufficient_available_balance",
        )
        .await;
        created(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CEA-2025", "950"),
        )
        .await;
        created(
            &server,
            &c_token,
            "/v1/surrenders",
            surrender("CEA-2025", "100"),
        )
        .await;

        let answer = server
            .call("GET", "/v1/compliance?period=2025", &regulator, None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let mut expected = vec![
            row(&a, None, ["1010", "1000", "10", "shortfall"]),
            // 5 t of the 2021 right (3 pledged) overlap 2025; the 2026 right does not.
            // At the right's scale, as the holdings show it.
            row(&a, Some("SO2"), ["10", "8.0000", "2.0000", "shortfall"]),
            row(&c, None, ["100", "100", "0", "compliant"]),
        ];
        expected.sort();
        assert_eq!(rows(&answer.body["items"]), expected, "{:?}", db.kind);
        assert_eq!(answer.body["items"][0]["period"], "2025");

        // The SO2 record for 2026 is covered by the 2026 right.
        let so2_2026 = json!({"participant_id": a, "period": "2026", "kind": "pollutant", "pollutant": "SO2", "quantity": "40"});
        created(&server, &regulator, "/v1/emissions", so2_2026).await;
        let answer = server
            .call("GET", "/v1/compliance?period=2026", &admin, None)
            .await;
        assert_eq!(
            rows(&answer.body["items"]),
            [row(
                &a,
                Some("SO2"),
                ["40", "40.0000", "0.0000", "compliant"]
            )]
        );

        // Filters and pages.
        let answer = server
            .call(
                "GET",
                "/v1/compliance?period=2025&status=compliant",
                &regulator,
                None,
            )
            .await;
        assert_eq!(
            rows(&answer.body["items"]),
            [row(&c, None, ["100", "100", "0", "compliant"])]
        );
        let answer = server
            .call(
                "GET",
                &format!("/v1/compliance?period=2025&participant_id={a}"),
                &regulator,
                None,
            )
            .await;
        assert_eq!(rows(&answer.body["items"]).len(), 2);
        let mut walked = Vec::new();
        let mut path = "/v1/compliance?period=2025&limit=1".to_owned();
        loop {
            let answer = server.call("GET", &path, &regulator, None).await;
            assert_eq!(answer.status, 200, "{}", answer.body);
            walked.extend(rows(&answer.body["items"]));
            match answer.body["next_cursor"].as_str() {
                Some(cursor) => {
                    path = format!("/v1/compliance?period=2025&limit=1&cursor={cursor}")
                }
                None => break,
            }
        }
        assert_eq!(walked, expected);

        // The CSV for the regulator's files: every row, names quoted as needed.
        let (status, headers, bytes) = server
            .download("/v1/compliance?period=2025&format=csv", &regulator)
            .await;
        assert_eq!(status, 200);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        };
        assert_eq!(header("content-type"), Some("text/csv; charset=utf-8"));
        assert_eq!(
            header("content-disposition"),
            Some("attachment; filename=\"compliance-2025.csv\"")
        );
        let text = String::from_utf8(bytes).expect("utf-8");
        let text = text.strip_prefix('\u{feff}').expect("a BOM");
        let lines: Vec<&str> = text.split("\r\n").filter(|l| !l.is_empty()).collect();
        assert_eq!(
            lines[0],
            "period,participant_id,participant_name,kind,pollutant,obligation,covered,shortfall,status"
        );
        assert_eq!(lines.len(), 4, "{text}");
        assert!(
            lines.contains(
                &format!("2025,{a},\"苏州甲钢铁, \"\"A\"\"\",carbon,,1010,1000,10,shortfall")
                    .as_str()
            ),
            "{text}"
        );
        assert!(
            lines.contains(&format!("2025,{c},苏州丙电力,carbon,,100,100,0,compliant").as_str()),
            "{text}"
        );

        // The current records: the replaced one is gone from the list.
        let answer = server
            .call("GET", "/v1/emissions?period=2025", &regulator, None)
            .await;
        let ids: Vec<&str> = answer.body["items"]
            .as_array()
            .expect("items")
            .iter()
            .map(|e| e["id"].as_str().expect("id"))
            .collect();
        assert_eq!(ids.len(), 3, "{}", answer.body);
        assert!(ids.contains(&second["id"].as_str().expect("id")));
        assert!(!ids.contains(&first["id"].as_str().expect("id")));
        // An enterprise reads its own, and no one else's.
        let answer = server.call("GET", "/v1/emissions", &c_token, None).await;
        assert_eq!(answer.body["items"].as_array().map(Vec::len), Some(1));
        assert_eq!(answer.body["items"][0]["participant_id"], c.as_str());
        let answer = server
            .call(
                "GET",
                &format!("/v1/emissions?participant_id={a}"),
                &c_token,
                None,
            )
            .await;
        assert_eq!(answer.status, 404, "{}", answer.body);

        // Both records journaled, the chain intact.
        let kinds: Vec<String> = server
            .store
            .journal(0, 1000)
            .await
            .expect("journal")
            .into_iter()
            .map(|e| e.kind)
            .collect();
        assert_eq!(
            kinds.iter().filter(|k| *k == "emission.recorded").count(),
            5
        );
        assert_eq!(
            kinds.iter().filter(|k| *k == "surrender.created").count(),
            4
        );
        let answer = server
            .call("GET", "/v1/audit/verify", &regulator, None)
            .await;
        assert_eq!(answer.body["ok"], true, "{}", answer.body);
    }
}

#[tokio::test]
async fn racing_offset_surrenders_never_pass_five_percent() {
    for db in TestDatabase::each().await {
        let server = Arc::new(TestServer::start(&db.url).await);
        let admin = server.token(Role::Admin, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        instruments(&server, &admin).await;
        let b = participant(&server, &admin, 2, "苏州乙化工").await;
        let b_token = server
            .token(Role::Enterprise, Some(b.parse().expect("uuid")))
            .await;
        allocate(&server, &admin, &b, "CCER-2025", "100").await;
        // 5 % of 500 is 25: five surrenders of 5, whatever arrives at once.
        created(&server, &regulator, "/v1/emissions", carbon(&b, "500")).await;
        let racers: Vec<_> = (0..12)
            .map(|_| {
                let (server, token) = (server.clone(), b_token.clone());
                tokio::spawn(async move {
                    server
                        .call(
                            "POST",
                            "/v1/surrenders",
                            &token,
                            Some(&surrender("CCER-2025", "5")),
                        )
                        .await
                })
            })
            .collect();
        let mut accepted = 0;
        for racer in racers {
            let answer = racer.await.expect("a racer");
            match answer.status {
                201 => accepted += 1,
                422 => assert_eq!(answer.body["code"], "offset_limit_exceeded"),
                other => panic!("{other}: {}", answer.body),
            }
        }
        assert_eq!(accepted, 5, "{:?}", db.kind);
        let holdings = server
            .call(
                "GET",
                &format!("/v1/participants/{b}/holdings"),
                &regulator,
                None,
            )
            .await;
        let ccer = holdings.body["holdings"]
            .as_array()
            .expect("holdings")
            .iter()
            .find(|h| h["instrument"] == "CCER-2025")
            .cloned()
            .expect("CCER");
        assert_eq!(ccer["balance"], "75");
    }
}

#[tokio::test]
async fn bad_emissions_and_surrenders_change_nothing() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        instruments(&server, &admin).await;
        let a = participant(&server, &admin, 1, "苏州甲钢铁").await;
        let a_token = server
            .token(Role::Enterprise, Some(a.parse().expect("uuid")))
            .await;
        allocate(&server, &admin, &a, "CEA-2025", "10").await;
        let record = |period: &str, kind: &str, pollutant: Option<&str>, quantity: &str| {
            let mut body =
                json!({"participant_id": a, "period": period, "kind": kind, "quantity": quantity});
            if let Some(pollutant) = pollutant {
                body["pollutant"] = json!(pollutant);
            }
            body
        };
        for (body, code) in [
            (record("25", "carbon", None, "1"), "invalid_period"),
            (record("2025-01", "carbon", None, "1"), "invalid_period"),
            (record("2025", "methane", None, "1"), "invalid_kind"),
            (
                record("2025", "carbon", None, "-1"),
                "quantity_must_not_be_negative",
            ),
            (record("2025", "carbon", None, "1.5"), "scale_exceeded"),
            (record("2025", "pollutant", None, "1"), "pollutant_required"),
            (
                record("2025", "carbon", Some("SO2"), "1"),
                "pollutant_not_allowed",
            ),
            (
                record("2025", "pollutant", Some("Hg"), "1"),
                "unknown_pollutant",
            ),
            (
                json!({"participant_id": a, "period": "2025", "kind": "carbon", "quantity": 5}),
                "invalid_decimal",
            ),
        ] {
            refused(&server, &regulator, "/v1/emissions", body, code).await;
        }
        let nobody = json!({"participant_id": uuid::Uuid::now_v7(), "period": "2025", "kind": "carbon", "quantity": "1"});
        refused(
            &server,
            &regulator,
            "/v1/emissions",
            nobody,
            "unknown_participant",
        )
        .await;
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            json!({"instrument": "CEA-2025", "quantity": "1", "period": "MMXXV"}),
            "invalid_period",
        )
        .await;
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CEA-2025", "0"),
            "quantity_must_be_positive",
        )
        .await;
        refused(
            &server,
            &a_token,
            "/v1/surrenders",
            surrender("CEA-2099", "1"),
            "unknown_instrument",
        )
        .await;
        // Roles: only a regulator records, only an enterprise surrenders,
        // only a regulator or admin reads the report.
        let answer = server
            .call(
                "POST",
                "/v1/emissions",
                &a_token,
                Some(&record("2025", "carbon", None, "1")),
            )
            .await;
        assert_eq!(answer.status, 403);
        let answer = server
            .call(
                "POST",
                "/v1/surrenders",
                &regulator,
                Some(&surrender("CEA-2025", "1")),
            )
            .await;
        assert_eq!(answer.status, 403);
        let answer = server
            .call("GET", "/v1/compliance?period=2025", &a_token, None)
            .await;
        assert_eq!(answer.status, 403);
        for (query, code) in [
            ("", "invalid_query"),
            ("?period=25", "invalid_period"),
            ("?period=2025&status=late", "invalid_query"),
            ("?period=2025&format=xml", "invalid_query"),
            ("?period=2025&cursor=nope", "invalid_cursor"),
        ] {
            let answer = server
                .call("GET", &format!("/v1/compliance{query}"), &regulator, None)
                .await;
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (422, Some(code)),
                "{query}: {}",
                answer.body
            );
        }
        // Nothing was written.
        let answer = server.call("GET", "/v1/emissions", &regulator, None).await;
        assert_eq!(answer.body["items"], json!([]), "{:?}", db.kind);
        let answer = server
            .call("GET", "/v1/compliance?period=2025", &regulator, None)
            .await;
        assert_eq!(answer.body["items"], json!([]));
        let holdings = server
            .call(
                "GET",
                &format!("/v1/participants/{a}/holdings"),
                &regulator,
                None,
            )
            .await;
        assert!(
            holdings.body["holdings"]
                .as_array()
                .expect("holdings")
                .iter()
                .any(|h| h["instrument"] == "CEA-2025" && h["balance"] == "10"),
            "{}",
            holdings.body
        );
    }
}
