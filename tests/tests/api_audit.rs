//! The regulator's audit over a real socket, on both databases: the journal
//! read page by page and every hash recomputed from the answer alone, its
//! verification in the database catching an edited row and a deleted tail
//! made behind the ledger's back, and bad query input.

use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::{Kind, TestDatabase};
use serde_json::{Value, json};
use sha2::{Digest, Sha256};

/// Canonical JSON as SPEC §6 and ets-core's journal doc define it, written
/// here again on purpose: object keys sorted by their UTF-8 bytes, no
/// whitespace, strings and numbers as JSON writes them.
fn canonical(value: &Value) -> String {
    match value {
        Value::Object(map) => {
            let mut keys: Vec<&String> = map.keys().collect();
            keys.sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
            let fields: Vec<String> = keys
                .into_iter()
                .map(|key| format!("{}:{}", Value::from(key.as_str()), canonical(&map[key])))
                .collect();
            format!("{{{}}}", fields.join(","))
        }
        Value::Array(items) => {
            let items: Vec<String> = items.iter().map(canonical).collect();
            format!("[{}]", items.join(","))
        }
        scalar => scalar.to_string(),
    }
}

/// `hash = SHA-256(prev_hash as 32 bytes ‖ canonical {actor, at, kind,
/// payload, seq})`, from an answered item alone.
fn recomputed_hash(item: &Value) -> String {
    let body = json!({
        "actor": item["actor"],
        "at": item["at"],
        "kind": item["kind"],
        "payload": item["payload"],
        "seq": item["seq"],
    });
    let prev = hex::decode(item["prev_hash"].as_str().expect("prev_hash")).expect("hex");
    assert_eq!(prev.len(), 32);
    let mut hasher = Sha256::new();
    hasher.update(&prev);
    hasher.update(canonical(&body).as_bytes());
    hex::encode(hasher.finalize())
}

/// A small history: a participant, an instrument, an allocation, a deposit.
async fn some_history(server: &TestServer, admin: &str, finance: &str) {
    let participant = server
        .call(
            "POST",
            "/v1/participants",
            admin,
            Some(&json!({"name": "苏州 \"Quoted\" Steel\\Co", "credit_code": credit_code(7), "region_code": "320500"})),
        )
        .await;
    assert_eq!(participant.status, 201, "{}", participant.body);
    let id = participant.body["id"].as_str().expect("id").to_owned();
    let instrument = json!({
        "code": "SO2-320500-2026", "kind": "pollutant_right", "pollutant": "SO2", "unit": "t", "scale": 4,
        "region_code": "320500", "valid_from": "2026-01-01", "valid_to": "2030-12-31"
    });
    let answer = server
        .call("POST", "/v1/instruments", admin, Some(&instrument))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let allocation = json!({"participant_id": id, "instrument": "SO2-320500-2026", "quantity": "12.5", "method": "free"});
    let answer = server
        .call("POST", "/v1/allocations", admin, Some(&allocation))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let deposit = json!({"participant_id": id, "amount": "1000.50", "reference": "BANK-1"});
    let answer = server
        .call("POST", "/v1/cash/deposits", finance, Some(&deposit))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
}

/// Every page of `GET /v1/audit/journal?limit=` followed by its cursor.
async fn whole_journal(server: &TestServer, token: &str, limit: u32) -> Vec<Value> {
    let mut items = Vec::new();
    let mut path = format!("/v1/audit/journal?limit={limit}");
    loop {
        let answer = server.call("GET", &path, token, None).await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        let page = answer.body["items"].as_array().expect("items");
        assert!(page.len() <= limit as usize);
        items.extend(page.iter().cloned());
        match answer.body["next_cursor"].as_str() {
            Some(cursor) => path = format!("/v1/audit/journal?limit={limit}&cursor={cursor}"),
            None => break,
        }
    }
    items
}

#[tokio::test]
async fn the_journal_over_http_recomputes_hash_for_hash_and_matches_the_export() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let finance = server.token(Role::Finance, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        some_history(&server, &admin, &finance).await;

        let items = whole_journal(&server, &regulator, 2).await;
        let stored = server.store.journal(0, 1000).await.expect("the journal");
        assert!(items.len() >= 8, "{:?}: {} entries", db.kind, items.len());
        assert_eq!(items.len(), stored.len(), "{:?}", db.kind);
        let mut prev_hash = "0".repeat(64);
        for (n, (item, entry)) in items.iter().zip(&stored).enumerate() {
            let what = format!("{:?} item {n}", db.kind);
            assert_eq!(item["seq"], json!(n + 1), "{what}: seq without gaps");
            assert_eq!(item["prev_hash"], prev_hash.as_str(), "{what}: linked");
            let hash = recomputed_hash(item);
            assert_eq!(item["hash"], hash.as_str(), "{what}: recomputed");
            prev_hash = hash;
            // Exactly the line `ets-ledger journal export` writes.
            assert_eq!(
                canonical(item),
                ets_core::audit::export_line(entry),
                "{what}"
            );
            let keys: Vec<&String> = item.as_object().expect("an object").keys().collect();
            assert_eq!(
                keys,
                ["actor", "at", "hash", "kind", "payload", "prev_hash", "seq"],
                "{what}"
            );
        }
        let head = server.store.journal_head().await.expect("head");
        assert_eq!(prev_hash, head.hash);

        // after_seq starts a page after that seq, as the cursor does.
        let answer = server
            .call("GET", "/v1/audit/journal?after_seq=3&limit=2", &admin, None)
            .await;
        assert_eq!(answer.status, 200, "{}", answer.body);
        assert_eq!(answer.body["items"][0], items[3]);
        assert_eq!(answer.body["items"][1], items[4]);
        assert!(answer.body["next_cursor"].is_string());
        let past_end = format!("/v1/audit/journal?after_seq={}", items.len());
        let answer = server.call("GET", &past_end, &admin, None).await;
        assert_eq!(answer.body, json!({"items": [], "next_cursor": null}));
    }
}

#[tokio::test]
async fn bad_journal_queries_are_422_with_stable_codes_and_change_nothing() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let regulator = server.token(Role::Regulator, None).await;
        let before = server.store.journal_head().await.expect("head");
        for (query, code) in [
            ("after_seq=-1", "invalid_query"),
            ("after_seq=x", "invalid_query"),
            ("after_seq=1.5", "invalid_query"),
            ("limit=0", "invalid_query"),
            ("limit=501", "invalid_query"),
            ("limit=-3", "invalid_query"),
            ("cursor=not-a-cursor", "invalid_cursor"),
            ("after_seq=1&cursor=Mg", "invalid_query"),
        ] {
            let path = format!("/v1/audit/journal?{query}");
            let answer = server.call("GET", &path, &regulator, None).await;
            assert_eq!(
                (answer.status, answer.body["code"].as_str()),
                (422, Some(code)),
                "{:?} {query}: {}",
                db.kind,
                answer.body
            );
            assert_eq!(
                answer.header("content-type"),
                Some("application/problem+json")
            );
        }
        assert_eq!(server.store.journal_head().await.expect("head"), before);
    }
}

/// Runs SQL on the test's database behind the ledger's back, the journal's
/// triggers out of the way (PostgreSQL: disabled for the statement, as the
/// owner can; SQLite: dropped, as anyone with the file can).
async fn tamper(db: &TestDatabase, statement: &str) {
    use sqlx::Connection;
    match db.kind {
        Kind::Postgres => {
            let mut conn = sqlx::PgConnection::connect(&db.url).await.expect("connect");
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
            let mut conn = sqlx::SqliteConnection::connect(&db.url)
                .await
                .expect("connect");
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

async fn verdict(server: &TestServer, token: &str) -> Value {
    let answer = server.call("GET", "/v1/audit/verify", token, None).await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    answer.body
}

#[tokio::test]
async fn verification_names_an_edited_row_and_a_deleted_tail_made_in_the_database() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let finance = server.token(Role::Finance, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        some_history(&server, &admin, &finance).await;
        let head = server.store.journal_head().await.expect("head");
        let what = format!("{:?}", db.kind);

        assert_eq!(
            verdict(&server, &regulator).await,
            json!({"ok": true, "entries": head.seq, "head_hash": head.hash, "first_bad_seq": null}),
            "{what}"
        );

        // One byte of one payload: the deposit's amount.
        let deposit_seq = head.seq;
        let original = server
            .store
            .journal(deposit_seq - 1, 1)
            .await
            .expect("entry")[0]
            .clone();
        assert_eq!(original.kind, "cash.deposit", "{what}");
        tamper(
            &db,
            &format!("UPDATE journal SET payload = replace(payload, '1000.50', '9000.50') WHERE seq = {deposit_seq}"),
        )
        .await;
        let edited = verdict(&server, &admin).await;
        assert_eq!(edited["ok"], false, "{what}: {edited}");
        assert_eq!(edited["first_bad_seq"], deposit_seq, "{what}: {edited}");
        assert_eq!(edited["entries"], head.seq, "{what}");

        // An earlier row's actor.
        tamper(
            &db,
            &format!("UPDATE journal SET payload = replace(payload, '9000.50', '1000.50') WHERE seq = {deposit_seq}"),
        )
        .await;
        assert_eq!(
            verdict(&server, &admin).await["ok"],
            true,
            "{what}: restored"
        );
        let role = server.store.journal(2, 1).await.expect("entry")[0]
            .actor
            .role
            .clone();
        tamper(
            &db,
            "UPDATE journal SET actor_role = 'auditor' WHERE seq = 3",
        )
        .await;
        assert_eq!(verdict(&server, &admin).await["first_bad_seq"], 3, "{what}");
        tamper(
            &db,
            &format!("UPDATE journal SET actor_role = '{role}' WHERE seq = 3"),
        )
        .await;
        assert_eq!(
            verdict(&server, &admin).await["ok"],
            true,
            "{what}: restored"
        );

        // The last two entries deleted: the chain itself is intact, but it
        // stops short of the head the ledger records.
        tamper(
            &db,
            &format!("DELETE FROM journal WHERE seq > {}", head.seq - 2),
        )
        .await;
        let deleted = verdict(&server, &regulator).await;
        assert_eq!(deleted["ok"], false, "{what}: {deleted}");
        assert_eq!(deleted["first_bad_seq"], head.seq - 1, "{what}: {deleted}");
        assert_eq!(deleted["entries"], head.seq - 2, "{what}: {deleted}");
    }
}
