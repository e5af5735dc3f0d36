//! The settlement of a business day over a real socket, on each database:
//! a day with deposits, a book trade, a negotiated trade, an invoice paid
//! from cash, a withdrawal and a reclamation's compensation. Every figure is
//! checked against the ledger read another way (each participant's CNY
//! history), and the CSV and XLSX downloads against the JSON.

use ets_core::Decimal;
use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::{Kind, TestDatabase};
use serde_json::{Value, json};

fn dec(value: &Value) -> Decimal {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("a decimal string, not {value}"))
}

async fn post(server: &TestServer, token: &str, path: &str, body: Value) -> Value {
    let answer = server.call("POST", path, token, Some(&body)).await;
    assert!(
        answer.status == 201 || answer.status == 200,
        "POST {path}: {} {}",
        answer.status,
        answer.body
    );
    answer.body
}

/// Seller A and buyer B trade SO2 on the book and by negotiation; B pays
/// an invoice from cash; A withdraws and is compensated for a reclamation.
async fn a_day(server: &TestServer) -> (String, String) {
    let admin = server.token(Role::Admin, None).await;
    let finance = server.token(Role::Finance, None).await;
    let mut ids = Vec::new();
    for (n, name) in [(1, "苏州甲化工有限公司"), (2, "Suzhou \"B\", Steel")] {
        let body = json!({"name": name, "credit_code": credit_code(n), "region_code": "320500"});
        ids.push(
            post(server, &admin, "/v1/participants", body).await["id"]
                .as_str()
                .expect("id")
                .to_owned(),
        );
    }
    let (a, b) = (ids[0].clone(), ids[1].clone());
    let instrument = json!({
        "code": "SO2-320500-2026", "kind": "pollutant_right", "pollutant": "SO2", "unit": "t", "scale": 4,
        "region_code": "320500", "valid_from": "2026-01-01", "valid_to": "2030-12-31", "commission_rate": "0.0015"
    });
    post(server, &admin, "/v1/instruments", instrument).await;
    let free = json!({"participant_id": a, "instrument": "SO2-320500-2026", "quantity": "100", "method": "free"});
    post(server, &admin, "/v1/allocations", free).await;
    // 0.1 t at SO2's published 200 CNY/t·a for 5 years: 100.00.
    let paid = json!({"participant_id": b, "instrument": "SO2-320500-2026", "quantity": "0.1", "method": "paid"});
    let invoice = post(server, &admin, "/v1/allocations", paid).await["invoice_id"]
        .as_str()
        .expect("invoice")
        .to_owned();
    for (who, amount) in [(&a, "1000.00"), (&b, "10000.00")] {
        let body = json!({"participant_id": who, "amount": amount, "reference": "ICBC"});
        post(server, &finance, "/v1/cash/deposits", body).await;
    }
    let seller = server
        .token(Role::Enterprise, Some(a.parse().expect("uuid")))
        .await;
    let buyer = server
        .token(Role::Enterprise, Some(b.parse().expect("uuid")))
        .await;
    // 4 t at 50.00: 200.00, 0.30 commission a side.
    let sell = json!({"instrument": "SO2-320500-2026", "side": "sell", "quantity": "10", "price": "50.00"});
    post(server, &seller, "/v1/orders", sell).await;
    let buy =
        json!({"instrument": "SO2-320500-2026", "side": "buy", "quantity": "4", "price": "50.00"});
    post(server, &buyer, "/v1/orders", buy).await;
    // 2 t at 40.00: 80.00, 0.12 a side.
    let offer = json!({"buyer_participant_id": b, "instrument": "SO2-320500-2026", "quantity": "2", "price": "40.00"});
    let offer = post(server, &seller, "/v1/negotiated-trades", offer).await;
    let accept = format!(
        "/v1/negotiated-trades/{}/accept",
        offer["id"].as_str().expect("id")
    );
    post(server, &buyer, &accept, json!({})).await;
    let payment = json!({"amount": "100.00", "source": "cash_account", "reference": "PAY-1"});
    post(
        server,
        &finance,
        &format!("/v1/invoices/{invoice}/payments"),
        payment,
    )
    .await;
    let withdrawal = json!({"participant_id": a, "amount": "50.00", "reference": "ICBC-W"});
    post(server, &finance, "/v1/cash/withdrawals", withdrawal).await;
    let reclaim = json!({"participant_id": a, "instrument": "SO2-320500-2026", "quantity": "1", "reason": "unused", "compensation": "10.00"});
    post(server, &admin, "/v1/reclamations", reclaim).await;
    (a, b)
}

/// The participant's CNY history of the day, summed: (opening, net, closing).
async fn history(
    server: &TestServer,
    token: &str,
    participant: &str,
) -> (Decimal, Decimal, Decimal) {
    let path = format!("/v1/participants/{participant}/history?instrument=CNY&limit=500");
    let answer = server.call("GET", &path, token, None).await;
    let items = answer.body["items"].as_array().expect("items");
    let net: Decimal = items.iter().map(|i| dec(&i["quantity"])).sum();
    let closing = dec(&items.last().expect("a movement")["balance_after"]);
    (closing - net, net, closing)
}

#[tokio::test]
async fn a_days_settlement_reconciles_with_the_ledger_in_json_csv_and_xlsx() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let (a, b) = a_day(&server).await;
        let finance = server.token(Role::Finance, None).await;
        let today = server.store.business_date(server.store.now());
        let answer = server
            .call("GET", &format!("/v1/settlements/{today}"), &finance, None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let settlement = answer.body;
        let rows = settlement["participants"].as_array().expect("rows");
        assert_eq!(rows.len(), 2, "{settlement}");
        let row = |id: &str| {
            rows.iter()
                .find(|r| r["participant_id"] == id)
                .expect("a row")
                .clone()
        };
        let columns = |row: &Value| {
            [
                "opening_cash",
                "bought_value",
                "sold_value",
                "commissions",
                "fees_paid",
                "deposits",
                "withdrawals",
                "other",
                "closing_cash",
            ]
            .map(|c| row[c].as_str().expect("a figure").to_owned())
        };
        // A: 1,000.00 in, 280.00 sold, 0.42 commission, 50.00 out, 10.00 compensation.
        assert_eq!(
            columns(&row(&a)),
            [
                "0.00", "0.00", "280.00", "0.42", "0.00", "1000.00", "50.00", "10.00", "1239.58"
            ]
            .map(str::to_owned)
        );
        // B: 10,000.00 in, 280.00 bought, 0.42 commission, the 100.00 invoice.
        assert_eq!(
            columns(&row(&b)),
            [
                "0.00", "280.00", "0.00", "0.42", "100.00", "10000.00", "0.00", "0.00", "9619.58"
            ]
            .map(str::to_owned)
        );
        // The ledger read another way: each participant's CNY history.
        for id in [&a, &b] {
            let (opening, net, closing) = history(&server, &finance, id).await;
            let r = row(id);
            assert_eq!(
                (dec(&r["opening_cash"]), dec(&r["closing_cash"])),
                (opening, closing)
            );
            assert_eq!(dec(&r["closing_cash"]) - dec(&r["opening_cash"]), net);
        }
        assert_eq!(settlement["totals"]["closing_cash"], "10859.16");
        let methods: Vec<&str> = settlement["trades"]
            .as_array()
            .expect("trades")
            .iter()
            .map(|t| t["method"].as_str().expect("method"))
            .collect();
        assert_eq!(methods, ["order_book", "negotiated"]);

        let (status, headers, csv) = server
            .download(&format!("/v1/settlements/{today}?format=csv"), &finance)
            .await;
        assert_eq!(status, 200);
        let header = |name: &str| {
            headers
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.clone())
                .unwrap_or_default()
        };
        assert!(header("content-type").starts_with("text/csv"));
        assert_eq!(
            header("content-disposition"),
            format!("attachment; filename=\"settlement-{today}.csv\"")
        );
        let text = String::from_utf8(csv).expect("UTF-8");
        let mut lines = text.strip_prefix('\u{feff}').expect("a BOM").lines();
        assert_eq!(
            lines.next(),
            Some(
                "participant_id,name,opening_cash,bought_value,sold_value,commissions,fees_paid,deposits,withdrawals,other,closing_cash"
            )
        );
        assert!(
            text.contains("\"Suzhou \"\"B\"\", Steel\""),
            "quoted: {text}"
        );
        assert!(text.contains("苏州甲化工有限公司"));
        assert_eq!(lines.count(), 2);
        let (status, headers, xlsx) = server
            .download(&format!("/v1/settlements/{today}?format=xlsx"), &finance)
            .await;
        assert_eq!(status, 200);
        assert!(
            headers.iter().any(|(n, v)| n == "content-disposition"
                && v.contains(&format!("settlement-{today}.xlsx")))
        );
        assert!(xlsx.starts_with(b"PK"), "a workbook");

        // Refused: a day after today, a malformed date or format, an enterprise.
        let tomorrow = today.succ_opt().expect("a date");
        let answer = server
            .call(
                "GET",
                &format!("/v1/settlements/{tomorrow}"),
                &finance,
                None,
            )
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("date_in_future"))
        );
        let answer = server
            .call("GET", "/v1/settlements/2026-13-01", &finance, None)
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("invalid_date"))
        );
        let answer = server
            .call(
                "GET",
                &format!("/v1/settlements/{today}?format=pdf"),
                &finance,
                None,
            )
            .await;
        assert_eq!(answer.status, 422);
        let enterprise = server
            .token(Role::Enterprise, Some(a.parse().expect("uuid")))
            .await;
        let answer = server
            .call(
                "GET",
                &format!("/v1/settlements/{today}"),
                &enterprise,
                None,
            )
            .await;
        assert_eq!(answer.status, 403);
        // Yesterday nothing moved.
        let yesterday = today.pred_opt().expect("a date");
        let answer = server
            .call(
                "GET",
                &format!("/v1/settlements/{yesterday}"),
                &finance,
                None,
            )
            .await;
        assert_eq!(
            answer.body["participants"].as_array().map(Vec::len),
            Some(0)
        );
        assert_eq!(answer.body["totals"]["closing_cash"], "0.00");
        let answer = server
            .call("GET", "/v1/settlements/-262144-01-01", &finance, None)
            .await;
        assert_eq!(
            (answer.status, answer.body["code"].as_str()),
            (422, Some("invalid_date"))
        );

        // The next day opens with the last one's closing cash; a resting
        // buy only holds cash (the balance, held cash included, does not
        // move), so its participant is not listed.
        server.clock.advance(chrono::Duration::days(1));
        let next = server.store.business_date(server.store.now());
        let finance = server.token(Role::Finance, None).await;
        let deposit = json!({"participant_id": a, "amount": "5.00", "reference": "ICBC-2"});
        post(&server, &finance, "/v1/cash/deposits", deposit).await;
        let buyer = server
            .token(Role::Enterprise, Some(b.parse().expect("uuid")))
            .await;
        let resting = json!({"instrument": "SO2-320500-2026", "side": "buy", "quantity": "1", "price": "10.00"});
        let order = post(&server, &buyer, "/v1/orders", resting).await;
        assert_eq!(order["status"], "open");
        let answer = server
            .call("GET", &format!("/v1/settlements/{next}"), &finance, None)
            .await;
        let rows = answer.body["participants"].as_array().expect("rows");
        assert_eq!(rows.len(), 1, "{}", answer.body);
        assert_eq!(
            columns(&rows[0]),
            [
                "1239.58", "0.00", "0.00", "0.00", "0.00", "5.00", "0.00", "0.00", "1244.58"
            ]
            .map(str::to_owned)
        );
    }
}

/// Runs SQL on the test's database behind the ledger's back.
async fn behind_the_ledger(db: &TestDatabase, statement: &str) {
    use sqlx::Connection;
    match db.kind {
        Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect(statement);
            conn.close().await.ok();
        }
        Kind::Sqlite => {
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
            sqlx::query(statement)
                .execute(&mut conn)
                .await
                .expect(statement);
            conn.close().await.ok();
        }
    }
}

#[tokio::test]
async fn a_day_that_does_not_reconcile_is_never_printed() {
    // A trade's value changed in the database: its parties' postings no
    // longer add up to their trades. The CSV, made whole before
    // it is answered, is a 500; the JSON and the workbook, already streaming
    // when the last trade is counted, end without their last chunk, so no
    // reader can take them for a whole settlement (or, when the check is
    // done before the head leaves, end with nothing sent).
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        a_day(&server).await;
        let finance = server.token(Role::Finance, None).await;
        let today = server.store.business_date(server.store.now());
        let path = format!("/v1/settlements/{today}");
        let (status, _, body) = server.download_raw(&path, &finance).await;
        assert_eq!(status, 200);
        let whole = ets_e2e::dechunk(&body).expect("the untouched day downloads whole");
        let settlement: Value = serde_json::from_slice(&whole).expect("JSON");
        assert_eq!(settlement["trades"].as_array().map(Vec::len), Some(2));
        // Compressed, as a browser or a client library asks for it, every
        // format and the trade export still come whole.
        for path in [
            path.clone(),
            format!("{path}?format=csv"),
            format!("{path}?format=xlsx"),
            "/v1/audit/trades?format=csv".to_owned(),
        ] {
            let token = if path.starts_with("/v1/audit") {
                server.token(Role::Regulator, None).await
            } else {
                finance.clone()
            };
            let (status, headers, body) = server
                .download_raw_with(&path, &token, "Accept-Encoding: gzip\r\n")
                .await;
            assert_eq!(status, 200, "{path}");
            let chunked = headers
                .iter()
                .any(|(name, value)| name == "transfer-encoding" && value == "chunked");
            if chunked {
                assert!(ets_e2e::dechunk(&body).is_some(), "{path} was cut short");
            }
        }

        behind_the_ledger(
            &db,
            "UPDATE trades SET value = '0.01' WHERE method = 'negotiated'",
        )
        .await;

        let csv = server
            .call("GET", &format!("{path}?format=csv"), &finance, None)
            .await;
        assert_eq!(csv.status, 500, "{}", csv.body);
        assert_eq!(csv.body["code"], "internal_error");
        for format in ["json", "xlsx"] {
            // The check fails after the head is sent but, on a busy
            // machine, may fail before hyper has flushed it: then the
            // connection closes with nothing on it, which prints nothing.
            let Some((status, headers, body)) = server
                .download_or_nothing(&format!("{path}?format={format}"), &finance, "")
                .await
            else {
                continue;
            };
            assert_eq!(status, 200, "{format}: the answer began before the check");
            assert!(
                headers
                    .iter()
                    .any(|(name, value)| name == "transfer-encoding" && value == "chunked"),
                "{format}: {headers:?}"
            );
            assert_eq!(
                ets_e2e::dechunk(&body),
                None,
                "{format}: a day that does not reconcile must be cut short"
            );
        }
    }
}

/// A ledger whose business days are counted in UTC-5: a day traded at
/// 01:00 UTC is the day before there (20:00), and the next day in Shanghai
/// (09:00). The settlement, the trades' business date and the writer's day
/// all follow the ledger's zone; a node started in another zone is refused.
#[tokio::test]
async fn a_ledger_in_another_zone_counts_its_days_there() {
    let zone: ets_core::BusinessZone = "-05:00".parse().expect("a zone");
    for db in TestDatabase::each().await {
        let server = TestServer::start_in_zone(&db.url, Some(zone)).await;
        assert_eq!(server.store.business_zone(), zone);
        // Move the clock to the next 01:00 UTC, a minute ahead at least.
        let now = server.store.now() + chrono::Duration::minutes(1);
        let one_am = now
            .date_naive()
            .and_hms_opt(1, 0, 0)
            .expect("a time")
            .and_utc();
        let target = if one_am > now {
            one_am
        } else {
            one_am + chrono::Duration::days(1)
        };
        server.clock.advance(target - server.store.now());
        let (a, b) = a_day(&server).await;
        let there = target.date_naive().pred_opt().expect("a date");
        assert_eq!(zone.date(target), there);
        let finance = server.token(Role::Finance, None).await;
        let answer = server
            .call("GET", &format!("/v1/settlements/{there}"), &finance, None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let body = &answer.body;
        // The settlement reads the trades by their stored business date.
        assert_eq!(body["trades"].as_array().map(Vec::len), Some(2), "{body}");
        let moved: Vec<&str> = body["participants"]
            .as_array()
            .expect("participants")
            .iter()
            .filter_map(|p| p["participant_id"].as_str())
            .collect();
        assert!(
            moved.contains(&a.as_str()) && moved.contains(&b.as_str()),
            "{body}"
        );
        // Shanghai's date of the same instants holds nothing in this ledger
        // (asked a day later, when that day is over here too).
        server.clock.advance(chrono::Duration::days(1));
        let finance = server.token(Role::Finance, None).await;
        let shanghai = ets_core::BusinessZone::SHANGHAI.date(target);
        let answer = server
            .call(
                "GET",
                &format!("/v1/settlements/{shanghai}"),
                &finance,
                None,
            )
            .await;
        assert_eq!(
            answer.body["trades"],
            json!([]),
            "{:?}: {}",
            db.kind,
            answer.body
        );
        assert_eq!(answer.body["participants"], json!([]));
        // The zone is the database's: another node keeps it, or is refused.
        let clock = std::sync::Arc::new(ets_store::SystemClock::default());
        let again = ets_store::Store::open_configured(&db.url, clock.clone(), None)
            .await
            .expect("the same ledger");
        assert_eq!(again.business_zone(), zone);
        let refused = ets_store::Store::open_configured(
            &db.url,
            clock,
            Some(ets_core::BusinessZone::SHANGHAI),
        )
        .await;
        assert!(
            matches!(refused, Err(ets_store::StoreError::ZoneMismatch { .. })),
            "{:?}",
            refused.err()
        );
    }
}

/// Trades enough for a settlement of several megabytes: `count` one-unit
/// bids of B, each hit by A's sells, placed through the store (many at once,
/// so the writer batches them) rather than over HTTP.
async fn many_trades(server: &TestServer, count: usize) {
    use ets_core::matching::Side;
    use ets_store::{Command, NewOrder};
    let admin = server.token(Role::Admin, None).await;
    let finance = server.token(Role::Finance, None).await;
    let mut ids = Vec::new();
    for n in [1, 2] {
        let body = json!({"name": format!("苏州交易企业 {n}"), "credit_code": credit_code(n), "region_code": "320500"});
        let created = post(server, &admin, "/v1/participants", body).await;
        ids.push(
            created["id"]
                .as_str()
                .expect("id")
                .parse::<uuid::Uuid>()
                .expect("uuid"),
        );
    }
    let (seller, buyer) = (ids[0], ids[1]);
    let instrument = json!({
        "code": "SO2-320500-2026", "kind": "pollutant_right", "pollutant": "SO2", "unit": "t", "scale": 0,
        "region_code": "320500", "valid_from": "2026-01-01", "valid_to": "2030-12-31", "commission_rate": "0.001"
    });
    post(server, &admin, "/v1/instruments", instrument).await;
    let rights = json!({"participant_id": seller, "instrument": "SO2-320500-2026", "quantity": count.to_string(), "method": "free"});
    post(server, &admin, "/v1/allocations", rights).await;
    let cash = json!({"participant_id": buyer, "amount": "100000000.00", "reference": "ICBC"});
    post(server, &finance, "/v1/cash/deposits", cash).await;
    let order = |participant_id, side, quantity: usize| {
        Command::PlaceOrder(NewOrder {
            id: uuid::Uuid::now_v7(),
            participant_id,
            instrument: ets_core::InstrumentCode::parse("SO2-320500-2026").expect("code"),
            side,
            quantity: Decimal::from(quantity),
            price: "10.00".parse().expect("price"),
        })
    };
    let actor = ets_core::Actor {
        client_id: "seeding".to_owned(),
        role: "enterprise".to_owned(),
    };
    let tasks = 32;
    let bidders: Vec<_> = (0..tasks)
        .map(|task| {
            let (store, actor) = (server.store.clone(), actor.clone());
            let bids: Vec<Command> = (task..count)
                .step_by(tasks)
                .map(|_| order(buyer, Side::Buy, 1))
                .collect();
            tokio::spawn(async move {
                for bid in bids {
                    store.execute(actor.clone(), bid).await.expect("a bid");
                }
            })
        })
        .collect();
    for bidder in bidders {
        bidder.await.expect("bids placed");
    }
    let sweep = 500;
    for _ in 0..count.div_ceil(sweep) {
        let sell = order(seller, Side::Sell, sweep.min(count));
        server
            .store
            .execute(actor.clone(), sell)
            .await
            .expect("a sell");
    }
}

/// Reads `path` over a socket with a small receive buffer, a chunk every
/// few milliseconds: a download far slower than the server could send it.
/// Answers the status line and the de-chunked body (`None` if cut short).
async fn read_slowly(server: &TestServer, path: &str, token: &str) -> (String, Option<Vec<u8>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let socket = tokio::net::TcpSocket::new_v4().expect("a socket");
    socket
        .set_recv_buffer_size(16 * 1024)
        .expect("a small buffer");
    let mut stream = socket.connect(server.address).await.expect("connect");
    let request = format!(
        "GET {path} HTTP/1.1\r\nHost: localhost\r\nAuthorization: Bearer {token}\r\nConnection: close\r\n\r\n"
    );
    stream.write_all(request.as_bytes()).await.expect("send");
    let mut raw = Vec::new();
    let mut chunk = vec![0u8; 16 * 1024];
    loop {
        let read = stream.read(&mut chunk).await.expect("read");
        if read == 0 {
            break;
        }
        raw.extend_from_slice(&chunk[..read]);
        // At most 16 KiB a read and 10 ms after each: the several megabytes
        // below take 4 s at least, however fast the machine.
        tokio::time::sleep(std::time::Duration::from_millis(10)).await;
    }
    let head_end = raw
        .windows(4)
        .position(|w| w == b"\r\n\r\n")
        .expect("a head");
    let head = String::from_utf8_lossy(&raw[..head_end]).into_owned();
    let status = head.lines().next().unwrap_or_default().to_owned();
    (status, ets_e2e::dechunk(&raw[head_end + 4..]))
}

/// The request timeout bounds the wait for an answer's head, never a
/// download: a settlement of several megabytes read slowly for many times
/// the timeout arrives whole.
#[tokio::test]
async fn a_download_outlasting_the_request_timeout_arrives_whole() {
    let trades = 20_000;
    for db in TestDatabase::each().await {
        let timeout = std::time::Duration::from_millis(500);
        let server = TestServer::start_configured(&db.url, None, timeout, Vec::new()).await;
        many_trades(&server, trades).await;
        let finance = server.token(Role::Finance, None).await;
        let today = server.store.business_date(server.store.now());
        let started = std::time::Instant::now();
        let (status, body) =
            read_slowly(&server, &format!("/v1/settlements/{today}"), &finance).await;
        let took = started.elapsed();
        assert!(status.contains(" 200 "), "{status}");
        let body = body.unwrap_or_else(|| panic!("{:?}: the download was cut short", db.kind));
        assert!(body.len() > 6 << 20, "a settlement of {} bytes", body.len());
        // The premise, by construction (a read every 10 ms, at most 16 KiB
        // each): the download lasted many times the timeout.
        assert!(took > timeout * 4, "{took:?}");
        let settlement: Value = serde_json::from_slice(&body).expect("whole JSON");
        assert_eq!(
            settlement["trades"].as_array().map(Vec::len),
            Some(trades),
            "{:?}",
            db.kind
        );
    }
}
