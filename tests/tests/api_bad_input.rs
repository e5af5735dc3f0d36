//! Bad input over a real socket, on both databases: each gets its status and
//! stable `code` as `application/problem+json`, and changes nothing (the
//! journal and the holdings concerned are compared before and after).
//! Also: idempotent retries, and exact decimals in balances now and as of a
//! past instant.

use std::time::Duration;

use ets_core::Role;
use ets_e2e::{Answer, TestServer, credit_code};
use ets_store::Holding;
use ets_testkit::TestDatabase;
use serde_json::{Value, json};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use uuid::Uuid;

const SO2: &str = "SO2-320500-2026";

/// One enterprise ("rich") holding 10 SO2 (scale 4) and 100.00 CNY, one
/// ("poor") with nothing at all, and admin and finance tokens.
struct World {
    server: TestServer,
    admin: String,
    finance: String,
    rich: Uuid,
    poor: Uuid,
}

/// What must not change when a request is refused.
#[derive(Debug, PartialEq)]
struct Snapshot {
    journal: usize,
    rich: Vec<Holding>,
    poor: Vec<Holding>,
}

impl World {
    async fn new(url: &str) -> Self {
        let server = TestServer::start(url).await;
        let admin = server.token(Role::Admin, None).await;
        let finance = server.token(Role::Finance, None).await;
        let mut world = Self {
            server,
            admin,
            finance,
            rich: Uuid::nil(),
            poor: Uuid::nil(),
        };
        let instrument = json!({
            "code": SO2,
            "kind": "pollutant_right",
            "pollutant": "SO2",
            "unit": "t",
            "scale": 4,
            "region_code": "320500",
            "valid_from": "2026-01-01",
            "valid_to": "2030-12-31",
        });
        world.created("POST", "/v1/instruments", &instrument).await;
        world.rich = world.participant(1, "Rich Chemical Co.").await;
        world.poor = world.participant(2, "Poor Textile Co.").await;
        let allocation = json!({
            "participant_id": world.rich,
            "instrument": SO2,
            "quantity": "10",
            "method": "free",
        });
        world.created("POST", "/v1/allocations", &allocation).await;
        let deposit = json!({
            "participant_id": world.rich,
            "amount": "100.00",
            "reference": "SETUP-1",
        });
        world.created("POST", "/v1/cash/deposits", &deposit).await;
        world
    }

    async fn participant(&self, n: u32, name: &str) -> Uuid {
        let body = json!({
            "name": name,
            "credit_code": credit_code(n),
            "region_code": "320500",
        });
        let created = self.created("POST", "/v1/participants", &body).await;
        Uuid::parse_str(created["id"].as_str().expect("an id")).expect("a UUID")
    }

    /// The token of the role that may call `path`.
    fn token_for(&self, path: &str) -> &str {
        if path.starts_with("/v1/cash/") {
            &self.finance
        } else {
            &self.admin
        }
    }

    async fn created(&self, method: &str, path: &str, body: &Value) -> Value {
        let answer = self.call(method, path, body).await;
        assert_eq!(answer.status, 201, "{method} {path}: {:?}", answer.body);
        answer.body
    }

    async fn call(&self, method: &str, path: &str, body: &Value) -> Answer {
        self.server
            .call(method, path, self.token_for(path), Some(body))
            .await
    }

    /// Sends raw bytes as the body, as the role that may call `path`.
    async fn raw(&self, method: &str, path: &str, extra: &[(&str, &str)], body: &[u8]) -> Answer {
        let authorization = format!("Bearer {}", self.token_for(path));
        let mut headers = vec![("Authorization", authorization.as_str())];
        headers.extend_from_slice(extra);
        self.server.send(method, path, &headers, body).await
    }

    async fn get(&self, path: &str) -> Answer {
        self.server.call("GET", path, &self.admin, None).await
    }

    async fn snapshot(&self) -> Snapshot {
        let store = &self.server.store;
        Snapshot {
            journal: store.journal(0, 1_000_000).await.expect("journal").len(),
            rich: store.holdings(self.rich, None).await.expect("holdings"),
            poor: store.holdings(self.poor, None).await.expect("holdings"),
        }
    }

    /// `answer` is the problem `status`/`code`, and nothing changed since `before`.
    async fn assert_refused(
        &self,
        before: &Snapshot,
        answer: &Answer,
        status: u16,
        code: &str,
        what: &str,
    ) {
        assert_problem(answer, status, code, what);
        assert_eq!(&self.snapshot().await, before, "{what}: something changed");
    }

    fn balance(holdings: &[Holding], instrument: &str) -> String {
        holdings
            .iter()
            .find(|h| h.instrument.as_str() == instrument)
            .map_or_else(|| "none".to_owned(), |h| h.balance.to_string())
    }
}

fn assert_problem(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with("application/problem+json")),
        "{what}: content type {:?}, body {:?}",
        answer.header("content-type"),
        answer.body
    );
    assert_eq!(answer.body["code"], code, "{what}: {:?}", answer.body);
    assert_eq!(answer.body["status"], status, "{what}: {:?}", answer.body);
    for field in ["type", "title", "detail"] {
        assert!(
            answer.body[field].is_string(),
            "{what}: problem without `{field}`: {:?}",
            answer.body
        );
    }
}

fn allocation(participant: Uuid, quantity: &Value) -> Value {
    json!({
        "participant_id": participant,
        "instrument": SO2,
        "quantity": quantity,
        "method": "free",
    })
}

fn cash(participant: Uuid, amount: &Value, reference: &str) -> Value {
    json!({ "participant_id": participant, "amount": amount, "reference": reference })
}

#[tokio::test]
async fn malformed_json_is_400_malformed_json() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        for (path, body) in [
            ("/v1/allocations", &b"{\"participant_id\": "[..]),
            ("/v1/allocations", b"not json at all"),
            ("/v1/cash/deposits", b"{\"amount\": \"1.00\",}"),
            ("/v1/cash/withdrawals", b""),
            ("/v1/participants", b"{'name': 'single quotes'}"),
        ] {
            let answer = world.raw("POST", path, &[], body).await;
            let what = format!("{:?} {path} {:?}", db.kind, String::from_utf8_lossy(body));
            world
                .assert_refused(&before, &answer, 400, "malformed_json", &what)
                .await;
        }
    }
}

#[tokio::test]
async fn an_unknown_or_a_missing_field_is_422_invalid_body() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;

        let mut unknown = allocation(world.rich, &json!("1"));
        unknown["colour"] = json!("red");
        let mut missing = allocation(world.rich, &json!("1"));
        missing.as_object_mut().expect("object").remove("quantity");
        let mut no_reference = cash(world.rich, &json!("1.00"), "R");
        no_reference
            .as_object_mut()
            .expect("object")
            .remove("reference");
        let mut extra_cash = cash(world.rich, &json!("1.00"), "R");
        extra_cash["currency"] = json!("CNY");
        let not_a_uuid = cash(Uuid::nil(), &json!("1.00"), "R");
        let mut not_a_uuid = not_a_uuid;
        not_a_uuid["participant_id"] = json!("participant-1");

        for (what, path, body) in [
            ("unknown field", "/v1/allocations", &unknown),
            ("missing quantity", "/v1/allocations", &missing),
            ("missing reference", "/v1/cash/withdrawals", &no_reference),
            ("unknown field on cash", "/v1/cash/deposits", &extra_cash),
            (
                "participant id not a UUID",
                "/v1/cash/deposits",
                &not_a_uuid,
            ),
        ] {
            let answer = world.call("POST", path, body).await;
            world
                .assert_refused(&before, &answer, 422, "invalid_body", what)
                .await;
        }
    }
}

#[tokio::test]
async fn a_json_number_where_a_decimal_string_belongs_is_422_invalid_decimal() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        for (what, path, body) in [
            (
                "quantity 12.5",
                "/v1/allocations",
                allocation(world.rich, &json!(12.5)),
            ),
            (
                "quantity 12",
                "/v1/allocations",
                allocation(world.rich, &json!(12)),
            ),
            (
                "amount 100",
                "/v1/cash/deposits",
                cash(world.rich, &json!(100), "R"),
            ),
            (
                "amount \"1e2\"",
                "/v1/cash/deposits",
                cash(world.rich, &json!("1e2"), "R"),
            ),
            (
                "amount 1.5",
                "/v1/cash/withdrawals",
                cash(world.rich, &json!(1.5), "R"),
            ),
        ] {
            let answer = world.call("POST", path, &body).await;
            world
                .assert_refused(&before, &answer, 422, "invalid_decimal", what)
                .await;
        }
    }
}

#[tokio::test]
async fn more_decimal_places_than_the_instrument_allows_is_422_scale_exceeded() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        for (what, path, body) in [
            (
                "5 places on a scale-4 right",
                "/v1/allocations",
                allocation(world.rich, &json!("1.00001")),
            ),
            (
                "3 places of CNY deposited",
                "/v1/cash/deposits",
                cash(world.rich, &json!("1.001"), "R"),
            ),
            (
                "3 places of CNY withdrawn",
                "/v1/cash/withdrawals",
                cash(world.rich, &json!("0.005"), "R"),
            ),
        ] {
            let answer = world.call("POST", path, &body).await;
            world
                .assert_refused(&before, &answer, 422, "scale_exceeded", what)
                .await;
        }
        // More places than a decimal keeps are refused, never rounded.
        let answer = world
            .call(
                "POST",
                "/v1/allocations",
                &allocation(world.rich, &json!("0.99999999999999999999999999999")),
            )
            .await;
        world
            .assert_refused(&before, &answer, 422, "scale_exceeded", "29 places")
            .await;
        // Trailing zeros are not extra places.
        let fine = world
            .call(
                "POST",
                "/v1/allocations",
                &allocation(world.rich, &json!("1.000000")),
            )
            .await;
        assert_eq!(fine.status, 201, "{:?}", fine.body);
    }
}

#[tokio::test]
async fn zero_and_negative_quantities_are_422_quantity_must_be_positive() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        for quantity in ["0", "0.0000", "-1", "-0.5"] {
            let answer = world
                .call(
                    "POST",
                    "/v1/allocations",
                    &allocation(world.rich, &json!(quantity)),
                )
                .await;
            world
                .assert_refused(
                    &before,
                    &answer,
                    422,
                    "quantity_must_be_positive",
                    &format!("allocation of {quantity}"),
                )
                .await;
        }
        for path in ["/v1/cash/deposits", "/v1/cash/withdrawals"] {
            for amount in ["0", "0.00", "-5.00"] {
                let answer = world
                    .call("POST", path, &cash(world.rich, &json!(amount), "R"))
                    .await;
                world
                    .assert_refused(
                        &before,
                        &answer,
                        422,
                        "quantity_must_be_positive",
                        &format!("{path} of {amount}"),
                    )
                    .await;
            }
        }
    }
}

#[tokio::test]
async fn an_impossible_date_is_422_invalid_body() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let paid = json!({
            "participant_id": world.rich,
            "instrument": SO2,
            "quantity": "1",
            "method": "paid",
            "unit_fee": "200",
            "years": 5,
            "due_date": "2026-13-40",
        });
        let answer = world.call("POST", "/v1/allocations", &paid).await;
        world
            .assert_refused(&before, &answer, 422, "invalid_body", "due date 2026-13-40")
            .await;

        let instrument = json!({
            "code": "NOX-320500-2026",
            "kind": "pollutant_right",
            "pollutant": "NOx",
            "unit": "t",
            "scale": 4,
            "region_code": "320500",
            "valid_from": "2026-02-30",
            "valid_to": "2030-12-31",
        });
        let answer = world.call("POST", "/v1/instruments", &instrument).await;
        world
            .assert_refused(
                &before,
                &answer,
                422,
                "invalid_body",
                "valid from 2026-02-30",
            )
            .await;
    }
}

#[tokio::test]
async fn a_credit_code_with_a_wrong_check_character_is_422_invalid_credit_code() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let good = credit_code(3);
        let (prefix, check) = good.split_at(17);
        let wrong = if check == "0" { "1" } else { "0" };
        for (what, code) in [
            ("wrong check character", format!("{prefix}{wrong}")),
            ("17 characters", prefix.to_owned()),
            ("a letter outside the alphabet", format!("{}I", &prefix)),
        ] {
            let body = json!({
                "name": "Checked Co.",
                "credit_code": code,
                "region_code": "320500",
            });
            let answer = world.call("POST", "/v1/participants", &body).await;
            world
                .assert_refused(&before, &answer, 422, "invalid_credit_code", what)
                .await;
        }
    }
}

#[tokio::test]
async fn withdrawing_more_than_is_available_is_422_insufficient_available_balance() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let answer = world
            .call(
                "POST",
                "/v1/cash/withdrawals",
                &cash(world.rich, &json!("100.01"), "OVER-1"),
            )
            .await;
        world
            .assert_refused(
                &before,
                &answer,
                422,
                "insufficient_available_balance",
                "one fen more than the balance",
            )
            .await;
        let answer = world
            .call(
                "POST",
                "/v1/cash/withdrawals",
                &cash(world.poor, &json!("0.01"), "OVER-2"),
            )
            .await;
        world
            .assert_refused(
                &before,
                &answer,
                422,
                "insufficient_available_balance",
                "a participant without a cash account",
            )
            .await;
        // Exactly the balance is fine.
        let all = world
            .call(
                "POST",
                "/v1/cash/withdrawals",
                &cash(world.rich, &json!("100.00"), "ALL"),
            )
            .await;
        assert_eq!(all.status, 201, "{:?}", all.body);
    }
}

/// A body just over 1 MiB that is otherwise a valid deposit.
fn oversized_deposit(participant: Uuid) -> Vec<u8> {
    let body = cash(
        participant,
        &json!("1.00"),
        &"x".repeat(ets_api::MAX_BODY_BYTES),
    );
    let bytes = body.to_string().into_bytes();
    assert!(bytes.len() > ets_api::MAX_BODY_BYTES);
    bytes
}

#[tokio::test]
async fn a_body_over_one_mebibyte_with_its_length_declared_is_413_payload_too_large() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let body = oversized_deposit(world.rich);
        let answer = world.raw("POST", "/v1/cash/deposits", &[], &body).await;
        world
            .assert_refused(
                &before,
                &answer,
                413,
                "payload_too_large",
                "Content-Length > 1 MiB",
            )
            .await;
    }
}

#[tokio::test]
async fn a_chunked_body_over_one_mebibyte_is_413_payload_too_large() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let body = oversized_deposit(world.rich);
        let answer = send_chunked(&world.server, "/v1/cash/deposits", &world.finance, &body).await;
        world
            .assert_refused(
                &before,
                &answer,
                413,
                "payload_too_large",
                "chunked > 1 MiB",
            )
            .await;
    }
}

/// POSTs `body` with `Transfer-Encoding: chunked` (no length declared),
/// reading the answer while still writing, as the server may answer early.
async fn send_chunked(server: &TestServer, path: &str, token: &str, body: &[u8]) -> Answer {
    let stream = tokio::net::TcpStream::connect(server.address)
        .await
        .expect("connect");
    let (mut reader, mut writer) = stream.into_split();
    let head = format!(
        "POST {path} HTTP/1.1\r\nHost: {}\r\nConnection: close\r\nContent-Type: application/json\r\n\
         Authorization: Bearer {token}\r\nTransfer-Encoding: chunked\r\n\r\n",
        server.address
    );
    let mut request = head.into_bytes();
    for chunk in body.chunks(64 * 1024) {
        request.extend_from_slice(format!("{:x}\r\n", chunk.len()).as_bytes());
        request.extend_from_slice(chunk);
        request.extend_from_slice(b"\r\n");
    }
    request.extend_from_slice(b"0\r\n\r\n");
    let write = tokio::spawn(async move {
        // The server may stop reading once it has refused: that is fine.
        let _ = writer.write_all(&request).await;
        let _ = writer.shutdown().await;
    });
    let mut raw = Vec::new();
    let mut buffer = [0u8; 16 * 1024];
    loop {
        match reader.read(&mut buffer).await {
            Ok(0) | Err(_) => break,
            Ok(n) => raw.extend_from_slice(&buffer[..n]),
        }
    }
    write.abort();
    parse_answer(&raw)
}

fn parse_answer(raw: &[u8]) -> Answer {
    let text = String::from_utf8_lossy(raw);
    let (head, body) = text.split_once("\r\n\r\n").expect("a head and a body");
    let mut lines = head.lines();
    let status = lines
        .next()
        .and_then(|l| l.split(' ').nth(1))
        .and_then(|s| s.parse().ok())
        .expect("a status line");
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_ascii_lowercase(), v.trim().to_owned()))
        .collect();
    let chunked = headers
        .iter()
        .any(|(n, v)| n == "transfer-encoding" && v.contains("chunked"));
    let body = if chunked {
        dechunk(body)
    } else {
        body.to_owned()
    };
    Answer {
        status,
        headers,
        body: serde_json::from_str(&body).unwrap_or(Value::Null),
    }
}

fn dechunk(mut text: &str) -> String {
    let mut out = String::new();
    while let Some((size, rest)) = text.split_once("\r\n") {
        let Ok(size) = usize::from_str_radix(size.trim(), 16) else {
            break;
        };
        if size == 0 || rest.len() < size {
            break;
        }
        out.push_str(&rest[..size]);
        text = rest[size..].trim_start_matches("\r\n");
    }
    out
}

#[tokio::test]
async fn a_second_participant_with_the_same_credit_code_is_409() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let body = json!({
            "name": "A Different Name Co.",
            "credit_code": credit_code(1),
            "region_code": "320500",
        });
        let answer = world.call("POST", "/v1/participants", &body).await;
        world
            .assert_refused(
                &before,
                &answer,
                409,
                "duplicate_credit_code",
                "same credit code",
            )
            .await;
    }
}

#[tokio::test]
async fn money_or_rights_for_an_unknown_participant_are_422() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let nobody = Uuid::now_v7();
        for (path, body) in [
            ("/v1/cash/withdrawals", cash(nobody, &json!("1.00"), "W")),
            ("/v1/cash/deposits", cash(nobody, &json!("1.00"), "D")),
            ("/v1/allocations", allocation(nobody, &json!("1"))),
        ] {
            let answer = world.call("POST", path, &body).await;
            world
                .assert_refused(&before, &answer, 422, "unknown_participant", path)
                .await;
        }
    }
}

#[tokio::test]
async fn bad_query_parameters_are_422_invalid_query_and_bad_cursors_422_invalid_cursor() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let rich = world.rich;
        for path in [
            format!("/v1/participants/{rich}/holdings?as_of=yesterday"),
            format!("/v1/participants/{rich}/holdings?as_of=2026-01-01"),
            format!("/v1/participants/{rich}/history?limit=0"),
            format!("/v1/participants/{rich}/history?limit=ten"),
            "/v1/participants?limit=501".to_owned(),
            "/v1/instruments?limit=-1".to_owned(),
        ] {
            let answer = world.get(&path).await;
            world
                .assert_refused(&before, &answer, 422, "invalid_query", &path)
                .await;
        }
        for path in [
            "/v1/participants?cursor=not-a-cursor".to_owned(),
            "/v1/participants?cursor=bm90IGpzb24".to_owned(),
            "/v1/instruments?cursor=%21%21%21".to_owned(),
            format!("/v1/participants/{rich}/history?cursor=garbage"),
        ] {
            let answer = world.get(&path).await;
            world
                .assert_refused(&before, &answer, 422, "invalid_cursor", &path)
                .await;
        }
    }
}

#[tokio::test]
async fn an_unknown_path_or_object_is_a_404_problem() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let unknown = Uuid::now_v7();
        for path in [
            "/v1/nothing-here".to_owned(),
            "/nothing".to_owned(),
            "/v1/participants/not-a-uuid".to_owned(),
            format!("/v1/participants/{unknown}"),
            format!("/v1/participants/{unknown}/holdings"),
            "/v1/instruments/NO-SUCH-CODE".to_owned(),
        ] {
            let answer = world.get(&path).await;
            world
                .assert_refused(&before, &answer, 404, "not_found", &path)
                .await;
        }
        let anonymous = world.server.get("/v1/nothing-here").await;
        world
            .assert_refused(
                &before,
                &anonymous,
                404,
                "not_found",
                "unknown path, no token",
            )
            .await;
    }
}

#[tokio::test]
async fn a_retry_with_the_same_idempotency_key_and_body_answers_the_first_result_once() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let key = [("Idempotency-Key", "deposit-2026-0001")];
        let body = cash(world.rich, &json!("25.50"), "BANK-0001")
            .to_string()
            .into_bytes();

        let first = world.raw("POST", "/v1/cash/deposits", &key, &body).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        let second = world.raw("POST", "/v1/cash/deposits", &key, &body).await;
        assert_eq!(second.status, first.status);
        assert_eq!(
            second.body, first.body,
            "the replay answers the first result"
        );

        let after = world.snapshot().await;
        assert_eq!(after.journal, before.journal + 1, "one journal entry");
        assert_eq!(World::balance(&before.rich, "CNY"), "100.00");
        assert_eq!(World::balance(&after.rich, "CNY"), "125.50", "one deposit");

        // The same key with another body is refused and changes nothing.
        let other = cash(world.rich, &json!("99.00"), "BANK-0001")
            .to_string()
            .into_bytes();
        let reused = world.raw("POST", "/v1/cash/deposits", &key, &other).await;
        world
            .assert_refused(
                &after,
                &reused,
                422,
                "idempotency_key_reused",
                "another body",
            )
            .await;

        // Allocations too: one allocation however often it is retried.
        let key = [("Idempotency-Key", "allocation-7")];
        let body = allocation(world.rich, &json!("2.5"))
            .to_string()
            .into_bytes();
        let first = world.raw("POST", "/v1/allocations", &key, &body).await;
        assert_eq!(first.status, 201, "{:?}", first.body);
        let second = world.raw("POST", "/v1/allocations", &key, &body).await;
        assert_eq!((second.status, &second.body), (201, &first.body));
        let allocated = world.snapshot().await;
        assert_eq!(allocated.journal, after.journal + 1);
        assert_eq!(World::balance(&allocated.rich, SO2), "12.5000");
        let changed = allocation(world.rich, &json!("3")).to_string().into_bytes();
        let reused = world.raw("POST", "/v1/allocations", &key, &changed).await;
        world
            .assert_refused(
                &allocated,
                &reused,
                422,
                "idempotency_key_reused",
                "allocation with another body",
            )
            .await;
    }
}

/// An RFC 3339 `…ffffffZ` instant one microsecond later (the same instant
/// in the one case in a million where that would carry into the seconds:
/// `as_of` includes postings at exactly that instant).
fn one_microsecond_after(at: &str) -> String {
    let (rest, micros) = at
        .strip_suffix('Z')
        .and_then(|t| t.rsplit_once('.'))
        .expect("an instant with microseconds, in UTC");
    let micros: u32 = micros.parse().expect("microseconds");
    if micros >= 999_999 {
        return at.to_owned();
    }
    format!("{rest}.{:06}Z", micros + 1)
}

#[tokio::test]
async fn a_tenth_and_two_tenths_make_exactly_three_tenths_now_and_one_tenth_in_between() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let participant = world.poor;
        for quantity in ["0.1", "0.2"] {
            world
                .created(
                    "POST",
                    "/v1/allocations",
                    &allocation(participant, &json!(quantity)),
                )
                .await;
            tokio::time::sleep(Duration::from_millis(50)).await;
        }

        let holdings = world
            .get(&format!("/v1/participants/{participant}/holdings"))
            .await;
        assert_eq!(holdings.status, 200, "{:?}", holdings.body);
        let row = |body: &Value| -> Value {
            body["holdings"]
                .as_array()
                .expect("holdings")
                .iter()
                .find(|h| h["instrument"] == SO2)
                .cloned()
                .unwrap_or(Value::Null)
        };
        let now = row(&holdings.body);
        assert_eq!(now["balance"], "0.3000", "{:?}", holdings.body);
        assert_eq!(now["available"], "0.3000");
        assert_eq!(now["held"], "0.0000");

        let history = world
            .get(&format!(
                "/v1/participants/{participant}/history?instrument={SO2}"
            ))
            .await;
        assert_eq!(history.status, 200, "{:?}", history.body);
        let items = history.body["items"].as_array().expect("items");
        assert_eq!(items.len(), 2, "{items:?}");
        assert_eq!(items[0]["balance_after"], "0.1000");
        assert_eq!(items[1]["balance_after"], "0.3000");
        let first_at = items[0]["at"].as_str().expect("at");
        let second_at = items[1]["at"].as_str().expect("at");
        let between = one_microsecond_after(first_at);
        assert!(
            first_at <= between.as_str() && between.as_str() < second_at,
            "{first_at} <= {between} < {second_at}"
        );

        let then = world
            .get(&format!(
                "/v1/participants/{participant}/holdings?as_of={between}"
            ))
            .await;
        assert_eq!(then.status, 200, "{:?}", then.body);
        assert_eq!(row(&then.body)["balance"], "0.1000", "{:?}", then.body);
        assert_eq!(then.body["as_of"], between.as_str());
    }
}

#[tokio::test]
async fn control_and_bidi_override_characters_are_422_invalid_text_everywhere() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let participant = |name: &str| json!({"name": name, "credit_code": credit_code(77), "region_code": "320500"});
        for (what, path, body) in [
            (
                "a NUL in a name",
                "/v1/participants",
                participant("苏州\u{0}钢铁"),
            ),
            (
                "a newline in a name",
                "/v1/participants",
                participant("苏州\n钢铁"),
            ),
            (
                "DEL in a name",
                "/v1/participants",
                participant("苏州\u{7f}钢铁"),
            ),
            (
                "a right-to-left override",
                "/v1/participants",
                participant("Steel\u{202E}oC"),
            ),
            (
                "a bidi isolate",
                "/v1/participants",
                participant("Steel\u{2066}Co"),
            ),
            (
                "a NUL in a reference",
                "/v1/cash/deposits",
                json!({"participant_id": world.rich, "amount": "1.00", "reference": "BANK\u{0}1"}),
            ),
        ] {
            let answer = world.call("POST", path, &body).await;
            world
                .assert_refused(&before, &answer, 422, "invalid_text", what)
                .await;
        }
        // The token endpoint, unauthenticated: a NUL or a forged log line in
        // the client id is refused before any lookup.
        for client_id in ["abc\u{0}def", "abc\nINFO forged line"] {
            let body = json!({"client_id": client_id, "client_secret": "x"});
            let answer = world
                .server
                .request("POST", "/v1/auth/token", Some(&body))
                .await;
            assert_problem(&answer, 422, "invalid_text", client_id);
        }
        // The path and the query, decoded.
        for (what, path) in [
            ("a NUL in a path segment", "/v1/credentials/abc%00def"),
            ("a NUL in a query", "/v1/credentials?role=%00"),
            (
                "an override in a query",
                "/v1/trades?instrument=SO2%E2%80%AE",
            ),
        ] {
            let method = if path.starts_with("/v1/credentials/") {
                "DELETE"
            } else {
                "GET"
            };
            let answer = world.server.call(method, path, &world.admin, None).await;
            assert_problem(&answer, 422, "invalid_text", what);
        }
        // A cursor that carries one is not one this server made.
        use base64::Engine as _;
        let cursor = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode("\"a\\u0000b\"");
        let answer = world.get(&format!("/v1/credentials?cursor={cursor}")).await;
        assert_problem(&answer, 422, "invalid_cursor", "a NUL in a cursor");
        assert_eq!(world.snapshot().await, before, "{:?}", db.kind);
    }
}

#[tokio::test]
async fn a_body_that_is_not_declared_application_json_is_415() {
    for db in TestDatabase::each().await {
        let world = World::new(&db.url).await;
        let before = world.snapshot().await;
        let body = cash(world.rich, &json!("1.00"), "R");
        let bytes = serde_json::to_vec(&body).expect("json");
        for content_type in [
            "application/jsonfoo",
            "text/plain",
            "application/xml",
            "json",
        ] {
            let answer = world
                .raw(
                    "POST",
                    "/v1/cash/deposits",
                    &[("Content-Type", content_type)],
                    &bytes,
                )
                .await;
            world
                .assert_refused(
                    &before,
                    &answer,
                    415,
                    "unsupported_media_type",
                    content_type,
                )
                .await;
        }
        // No Content-Type at all.
        let extra = format!("Authorization: Bearer {}\r\n", world.finance);
        let answer = world
            .server
            .send_as_is("POST", "/v1/cash/deposits", &extra, &bytes)
            .await;
        world
            .assert_refused(&before, &answer, 415, "unsupported_media_type", "none")
            .await;
        // JSON with parameters, in any case, is JSON.
        for content_type in ["application/json; charset=utf-8", "Application/JSON"] {
            let answer = world
                .raw(
                    "POST",
                    "/v1/cash/deposits",
                    &[("Content-Type", content_type)],
                    &bytes,
                )
                .await;
            assert_eq!(answer.status, 201, "{content_type}: {:?}", answer.body);
        }
    }
}

/// A write that cannot be answered within the request timeout (another
/// process holds SQLite's write lock) is 408 problem+json; it stays queued
/// and commits once the lock is gone, and its retry with the same key
/// replays it: the deposit is there once.
#[tokio::test]
async fn a_write_not_answered_in_time_is_408_and_its_retry_with_the_key_finds_it_once() {
    use sqlx::Connection as _;
    let db = TestDatabase::sqlite();
    let server =
        TestServer::start_configured(&db.url, None, Duration::from_millis(500), Vec::new()).await;
    let admin = server.token(Role::Admin, None).await;
    let finance = server.token(Role::Finance, None).await;
    let body = json!({"name": "超时企业", "credit_code": credit_code(71), "region_code": "320505"});
    let participant = server
        .call("POST", "/v1/participants", &admin, Some(&body))
        .await;
    assert_eq!(participant.status, 201, "{}", participant.body);
    let id = participant.body["id"].as_str().expect("an id").to_owned();

    let mut blocker = sqlx::SqliteConnection::connect(&db.url)
        .await
        .expect("a second connection");
    sqlx::query("BEGIN IMMEDIATE")
        .execute(&mut blocker)
        .await
        .expect("the write lock");
    let deposit =
        json!({"participant_id": id, "amount": "12.34", "reference": "SLOW-1"}).to_string();
    let authorization = format!("Bearer {finance}");
    let headers = [
        ("Authorization", authorization.as_str()),
        ("Idempotency-Key", "slow-deposit-1"),
    ];
    let timed_out = server
        .send("POST", "/v1/cash/deposits", &headers, deposit.as_bytes())
        .await;
    assert_eq!(timed_out.status, 408, "{}", timed_out.body);
    assert_eq!(
        timed_out.body["code"], "request_timeout",
        "{}",
        timed_out.body
    );
    assert!(
        timed_out
            .headers
            .iter()
            .any(|(name, value)| name == "content-type" && value == "application/problem+json"),
        "{:?}",
        timed_out.headers
    );
    sqlx::query("ROLLBACK")
        .execute(&mut blocker)
        .await
        .expect("release");

    // The retry finds it in flight (409) until it commits, then replays it.
    let mut replayed = None;
    for _ in 0..100 {
        let retry = server
            .send("POST", "/v1/cash/deposits", &headers, deposit.as_bytes())
            .await;
        if retry.status == 201 {
            replayed = Some(retry);
            break;
        }
        assert_eq!(retry.status, 409, "{}", retry.body);
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let replayed = replayed.expect("the deposit committed once the lock was gone");
    let holdings = server
        .call(
            "GET",
            &format!("/v1/participants/{id}/holdings"),
            &admin,
            None,
        )
        .await;
    let cash = holdings.body["holdings"]
        .as_array()
        .expect("holdings")
        .iter()
        .find(|row| row["instrument"] == "CNY")
        .cloned()
        .unwrap_or_default();
    assert_eq!(
        cash["balance"], "12.34",
        "one deposit: {} {}",
        holdings.body, replayed.body
    );
}
