//! Operations an integrator relies on: concurrent retries with one
//! Idempotency-Key, cursor pagination under inserts, and the metrics page.

use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::TestDatabase;
use serde_json::json;

async fn participant(server: &TestServer, admin: &str, n: u32) -> String {
    let body = json!({"name": format!("企业 {n}"), "credit_code": credit_code(n), "region_code": "320500"});
    let answer = server
        .call("POST", "/v1/participants", admin, Some(&body))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    answer.body["id"].as_str().expect("id").to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_retries_with_one_idempotency_key_change_the_ledger_once() {
    for db in TestDatabase::each().await {
        let server = std::sync::Arc::new(TestServer::start(&db.url).await);
        let admin = server.token(Role::Admin, None).await;
        let id = participant(&server, &admin, 1).await;
        let finance = server.token(Role::Finance, None).await;
        let before = server
            .store
            .journal(0, 1_000_000)
            .await
            .expect("journal")
            .len();
        let body =
            json!({"participant_id": id, "amount": "100.00", "reference": "BANK-1"}).to_string();
        let mut tasks = Vec::new();
        for _ in 0..16 {
            let (server, finance, body) = (server.clone(), finance.clone(), body.clone());
            tasks.push(tokio::spawn(async move {
                let authorization = format!("Bearer {finance}");
                server
                    .send(
                        "POST",
                        "/v1/cash/deposits",
                        &[
                            ("Authorization", &authorization),
                            ("Idempotency-Key", "deposit-BANK-1"),
                        ],
                        body.as_bytes(),
                    )
                    .await
            }));
        }
        let mut created = Vec::new();
        for task in tasks {
            let answer = task.await.expect("task");
            match answer.status {
                201 => created.push(answer.body),
                409 => assert_eq!(answer.body["code"], "idempotency_key_in_flight"),
                other => panic!("unexpected {other}: {}", answer.body),
            }
        }
        assert!(!created.is_empty());
        assert!(
            created.windows(2).all(|w| w[0] == w[1]),
            "every success answers the first result"
        );
        let after = server
            .store
            .journal(0, 1_000_000)
            .await
            .expect("journal")
            .len();
        assert_eq!(after, before + 1, "one deposit, whatever the retries");
        let holdings = server
            .call(
                "GET",
                &format!("/v1/participants/{id}/holdings"),
                &finance,
                None,
            )
            .await;
        let cash = holdings.body["holdings"]
            .as_array()
            .and_then(|rows| rows.iter().find(|r| r["instrument"] == "CNY"))
            .expect("CNY");
        assert_eq!(cash["balance"], "100.00");
    }
}

#[tokio::test]
async fn participant_pages_neither_repeat_nor_skip_when_participants_are_added_meanwhile() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let mut expected = Vec::new();
        for n in 1..=5 {
            expected.push(participant(&server, &admin, n).await);
        }
        let mut seen = Vec::new();
        let mut cursor: Option<String> = None;
        let mut added = false;
        loop {
            let path = match &cursor {
                Some(c) => format!("/v1/participants?limit=2&cursor={c}"),
                None => "/v1/participants?limit=2".to_owned(),
            };
            let page = server.call("GET", &path, &admin, None).await;
            assert_eq!(page.status, 200, "{}", page.body);
            for item in page.body["items"].as_array().expect("items") {
                seen.push(item["id"].as_str().expect("id").to_owned());
            }
            if !added {
                // A participant registered between pages comes after the cursor.
                expected.push(participant(&server, &admin, 6).await);
                added = true;
            }
            match page.body["next_cursor"].as_str() {
                Some(next) => cursor = Some(next.to_owned()),
                None => break,
            }
        }
        assert_eq!(
            seen, expected,
            "every participant once, in registration order"
        );
    }
}

#[tokio::test]
async fn metrics_count_requests_by_route_and_show_the_pool_and_the_writer() {
    let db = TestDatabase::sqlite();
    let server = TestServer::start(&db.url).await;
    let admin = server.token(Role::Admin, None).await;
    participant(&server, &admin, 1).await;
    server.get("/healthz").await;
    let unauthorized = server.request("GET", "/v1/participants", None).await;
    assert_eq!(unauthorized.status, 401);
    let wrong = json!({"client_id": "ets_0000000000000000", "client_secret": "x"});
    let refused = server.request("POST", "/v1/auth/token", Some(&wrong)).await;
    assert_eq!(refused.status, 401);
    let mut stream = tokio::net::TcpStream::connect(server.address)
        .await
        .expect("connect");
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    stream
        .write_all(
            format!(
                "GET /metrics HTTP/1.1\r\nHost: {}\r\nConnection: close\r\n\r\n",
                server.address
            )
            .as_bytes(),
        )
        .await
        .expect("send");
    let mut text = String::new();
    stream.read_to_string(&mut text).await.expect("read");
    assert!(text.contains("text/plain; version=0.0.4"), "{text}");
    for line in [
        "ets_http_requests_total{method=\"GET\",route=\"/healthz\",status=\"200\"} 1",
        "ets_http_requests_total{method=\"POST\",route=\"/v1/participants\",status=\"201\"} 1",
        "ets_http_requests_total{method=\"GET\",route=\"/v1/participants\",status=\"401\"} 1",
        "ets_http_request_duration_seconds_count{route=\"/healthz\"} 1",
        "ets_db_pool_connections{state=\"open\"}",
        "ets_ledger_commands_total{result=\"committed\"}",
        "ets_writer_queue_depth 0",
        "ets_writer_up 1",
        "ets_logins_refused_total 1",
        "ets_writer_retries_total 0",
        "ets_writer_answer_seconds_sum ",
    ] {
        assert!(text.contains(line), "missing {line} in\n{text}");
    }
    // The signing key and the participant, at least, went through the writer.
    let answered: u64 = text
        .lines()
        .find_map(|l| l.strip_prefix("ets_writer_answer_seconds_count "))
        .and_then(|n| n.parse().ok())
        .expect("a count of answered writes");
    assert!(answered >= 2, "{answered}");
}
