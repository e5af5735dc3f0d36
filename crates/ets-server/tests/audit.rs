//! Signed checkpoints as a regulator uses them, on both databases: take a
//! checkpoint and keep it with the day's JWKS, trade on, export the journal
//! with the binary and prove offline that the export extends the kept
//! checkpoint; any changed byte of the export or of the checkpoint fails,
//! saying why; after `ets-ledger key rotate` every node signs with the new
//! key, the old checkpoint still verifies, and tokens of the old key live
//! until they expire.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use chrono::TimeDelta;
use ets_core::Role;
use ets_e2e::{TestServer, credit_code};
use ets_testkit::TestDatabase;
use serde_json::{Value, json};

const BINARY: &str = env!("CARGO_BIN_EXE_ets-ledger");
const INSTRUMENT: &str = "SO2-320500-2026";

fn empty_folder() -> PathBuf {
    let dir = std::env::temp_dir().join(format!("ets-audit-{}", uuid::Uuid::new_v4().simple()));
    std::fs::create_dir_all(&dir).expect("a temporary folder");
    dir
}

fn ets(dir: &Path, args: &[&str]) -> Output {
    Command::new(BINARY)
        .args(args)
        .current_dir(dir)
        .env_remove("DATABASE_URL")
        .output()
        .expect("run ets-ledger")
}

/// Two enterprises in one region, one with rights and one with cash, and
/// their tokens.
struct Market {
    seller: String,
    buyer: String,
}

async fn market(server: &TestServer) -> Market {
    let admin = server.token(Role::Admin, None).await;
    let finance = server.token(Role::Finance, None).await;
    let instrument = json!({
        "code": INSTRUMENT, "kind": "pollutant_right", "pollutant": "SO2", "unit": "t", "scale": 4,
        "region_code": "320500", "valid_from": "2026-01-01", "valid_to": "2030-12-31"
    });
    let answer = server
        .call("POST", "/v1/instruments", &admin, Some(&instrument))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let mut parties = Vec::new();
    for n in 1..=2 {
        let body = json!({"name": format!("Suzhou Works {n}"), "credit_code": credit_code(n), "region_code": "320500"});
        let answer = server
            .call("POST", "/v1/participants", &admin, Some(&body))
            .await;
        assert_eq!(answer.status, 201, "{}", answer.body);
        let id: uuid::Uuid = answer.body["id"]
            .as_str()
            .expect("id")
            .parse()
            .expect("uuid");
        parties.push(id);
    }
    let allocation = json!({"participant_id": parties[0], "instrument": INSTRUMENT, "quantity": "50", "method": "free"});
    let answer = server
        .call("POST", "/v1/allocations", &admin, Some(&allocation))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    let deposit =
        json!({"participant_id": parties[1], "amount": "100000.00", "reference": "BANK-1"});
    let answer = server
        .call("POST", "/v1/cash/deposits", &finance, Some(&deposit))
        .await;
    assert_eq!(answer.status, 201, "{}", answer.body);
    Market {
        seller: server.token(Role::Enterprise, Some(parties[0])).await,
        buyer: server.token(Role::Enterprise, Some(parties[1])).await,
    }
}

/// One book trade of 1 t at `price`.
async fn trade(server: &TestServer, market: &Market, price: &str) {
    for (token, side) in [(&market.seller, "sell"), (&market.buyer, "buy")] {
        let order =
            json!({"instrument": INSTRUMENT, "side": side, "quantity": "1", "price": price});
        let answer = server.call("POST", "/v1/orders", token, Some(&order)).await;
        assert_eq!(answer.status, 201, "{}", answer.body);
    }
}

/// A checkpoint and the key set of the moment, as a regulator keeps them.
async fn keep_checkpoint(server: &TestServer, token: &str) -> (Value, Value) {
    let answer = server
        .call("GET", "/v1/audit/checkpoint", token, None)
        .await;
    assert_eq!(answer.status, 200, "{}", answer.body);
    let jwks = server.get("/.well-known/jwks.json").await;
    assert_eq!(jwks.status, 200);
    (answer.body, jwks.body)
}

/// `journal verify` of `export` against a checkpoint and a key set, each
/// written to a file first: whether it passed, its verdict and its stderr.
fn verify(dir: &Path, export: &[u8], checkpoint: &Value, jwks: &Value) -> (bool, Value, String) {
    std::fs::write(dir.join("check.jsonl"), export).expect("write");
    std::fs::write(dir.join("checkpoint.json"), checkpoint.to_string()).expect("write");
    std::fs::write(dir.join("jwks.json"), jwks.to_string()).expect("write");
    let output = ets(
        dir,
        &[
            "journal",
            "verify",
            "--file",
            "check.jsonl",
            "--checkpoint",
            "checkpoint.json",
            "--jwks",
            "jwks.json",
        ],
    );
    let verdict: Value = serde_json::from_slice(&output.stdout).expect("a JSON verdict");
    let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
    if output.status.success() {
        assert_eq!(verdict["ok"], true);
    } else {
        assert_eq!(output.status.code(), Some(1), "{stderr}");
        assert_eq!(verdict["ok"], false);
    }
    (output.status.success(), verdict, stderr)
}

fn export(dir: &Path, url: &str) -> Vec<u8> {
    let output = ets(
        dir,
        &[
            "journal",
            "export",
            "--out",
            "journal.jsonl",
            "--database-url",
            url,
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    std::fs::read(dir.join("journal.jsonl")).expect("the export")
}

fn assert_fails(result: (bool, Value, String), reason: &str, what: &str) {
    let (ok, verdict, stderr) = result;
    assert!(!ok, "{what}: passed");
    assert!(
        stderr.contains(reason)
            && verdict["reason"]
                .as_str()
                .is_some_and(|r| r.contains(reason)),
        "{what}: expected {reason:?}, got {verdict} / {stderr}"
    );
}

#[tokio::test]
async fn an_export_extends_a_kept_checkpoint_and_any_change_fails_saying_why() {
    for db in TestDatabase::each().await {
        let dir = empty_folder();
        let what = format!("{:?}", db.kind);
        let server = TestServer::start(&db.url).await;
        let regulator = server.token(Role::Regulator, None).await;
        let market = market(&server).await;
        trade(&server, &market, "100.00").await;

        let head = server.store.journal_head().await.expect("head");
        let (checkpoint, jwks) = keep_checkpoint(&server, &regulator).await;
        assert_eq!(checkpoint["seq"], head.seq, "{what}");
        assert_eq!(checkpoint["head_hash"], head.hash.as_str(), "{what}");
        assert_eq!(checkpoint["kid"], jwks["keys"][0]["kid"], "{what}");
        assert_eq!(
            server.store.journal_head().await.expect("head"),
            head,
            "{what}: a checkpoint is a read"
        );

        trade(&server, &market, "101.00").await;
        trade(&server, &market, "102.50").await;
        let bytes = export(&dir, &db.url);
        let (ok, verdict, stderr) = verify(&dir, &bytes, &checkpoint, &jwks);
        assert!(ok, "{what}: {verdict} {stderr}");
        assert_eq!(verdict["checkpoint_seq"], head.seq);
        assert!(verdict["entries"].as_i64().expect("entries") > head.seq);

        // Any byte of the export: at the start, in the middle of lines, the
        // newlines, the end.
        let newlines: Vec<usize> = bytes
            .iter()
            .enumerate()
            .filter(|(_, b)| **b == b'\n')
            .map(|(i, _)| i)
            .collect();
        let mut positions = vec![
            0,
            1,
            bytes.len() - 1,
            bytes.len() - 2,
            newlines[0],
            newlines[2],
        ];
        positions.extend((1..12).map(|k| bytes.len() * k / 12));
        for position in positions {
            let mut changed = bytes.clone();
            changed[position] = if changed[position] == b'1' {
                b'2'
            } else {
                b'1'
            };
            let (ok, verdict, stderr) = verify(&dir, &changed, &checkpoint, &jwks);
            assert!(!ok, "{what}: byte {position} changed, yet it passed");
            assert!(
                verdict["reason"].is_string() && stderr.contains("journal verify failed"),
                "{what}: byte {position}: {verdict} {stderr}"
            );
        }
        // An export cut before the checkpoint.
        let cut = newlines[usize::try_from(head.seq).expect("seq") - 3] + 1;
        assert_fails(
            verify(&dir, &bytes[..cut], &checkpoint, &jwks),
            "shorter than the checkpoint",
            &what,
        );
        // A line rewritten in another form of the same JSON.
        let text = String::from_utf8(bytes.clone()).expect("UTF-8");
        let spaced = text.replacen("{\"actor\":", "{\"actor\": ", 1);
        assert_fails(
            verify(&dir, spaced.as_bytes(), &checkpoint, &jwks),
            "line 1 is not in canonical form",
            &what,
        );
        // Any field of the kept checkpoint.
        let mut changed = checkpoint.clone();
        changed["seq"] = json!(head.seq - 1);
        assert_fails(
            verify(&dir, &bytes, &changed, &jwks),
            "wrong signature",
            &what,
        );
        let mut changed = checkpoint.clone();
        let hash = head.hash.clone();
        let flipped = if hash.starts_with('0') { "1" } else { "0" };
        changed["head_hash"] = json!(format!("{flipped}{}", &hash[1..]));
        assert_fails(
            verify(&dir, &bytes, &changed, &jwks),
            "wrong signature",
            &what,
        );
        let mut changed = checkpoint.clone();
        changed["kid"] = json!("0123456789abcdef");
        assert_fails(verify(&dir, &bytes, &changed, &jwks), "unknown kid", &what);
        let signature = checkpoint["signature"].as_str().expect("signature");
        for index in [0, signature.len() / 2, signature.len() - 2] {
            let mut chars: Vec<char> = signature.chars().collect();
            chars[index] = if chars[index] == 'A' { 'B' } else { 'A' };
            let mut changed = checkpoint.clone();
            changed["signature"] = json!(chars.into_iter().collect::<String>());
            assert_fails(
                verify(&dir, &bytes, &changed, &jwks),
                "wrong signature",
                &what,
            );
        }
        // And the key set: another key under the checkpoint's kid.
        let mut forged = jwks.clone();
        forged["keys"][0]["x"] = json!("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo");
        assert_fails(
            verify(&dir, &bytes, &checkpoint, &forged),
            "wrong signature",
            &what,
        );
        let _ = std::fs::remove_dir_all(&dir);
    }
}

fn kid_of_token(token: &str) -> String {
    use base64::Engine as _;
    let header = token.split('.').next().expect("a header");
    let header = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(header)
        .expect("base64url");
    let header: Value = serde_json::from_slice(&header).expect("JSON");
    header["kid"].as_str().expect("a kid").to_owned()
}

#[tokio::test]
async fn after_a_key_rotation_every_node_signs_with_the_new_key_and_old_checkpoints_still_verify() {
    for db in TestDatabase::each().await {
        let dir = empty_folder();
        let what = format!("{:?}", db.kind);
        let node = TestServer::start(&db.url).await;
        let other_node = TestServer::start(&db.url).await;
        let regulator = node.token(Role::Regulator, None).await;
        let market = market(&node).await;
        trade(&node, &market, "100.00").await;
        let (old_checkpoint, old_jwks) = keep_checkpoint(&node, &regulator).await;
        let old_kid = old_checkpoint["kid"].as_str().expect("kid").to_owned();
        assert_eq!(kid_of_token(&regulator), old_kid);

        // A node that read the keys just before the rotation.
        let stale_node = TestServer::start(&db.url).await;
        let head_before = node.store.journal_head().await.expect("head");
        let output = ets(&dir, &["key", "rotate", "--database-url", &db.url]);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
        let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON");
        let new_kid = printed["kid"].as_str().expect("kid").to_owned();
        assert_ne!(new_kid, old_kid);
        let rotation = node.store.journal(head_before.seq, 1).await.expect("entry");
        assert_eq!(rotation[0].kind, "signing_key.rotated", "{what}: journaled");
        assert_eq!(rotation[0].actor.client_id, "cli");
        assert_eq!(rotation[0].payload["kid"], new_kid.as_str());

        // Within seconds (the clock moved, not slept on), both nodes sign
        // with the new key and publish both.
        for server in [&node, &other_node] {
            server
                .clock
                .advance(ets_api::auth::KEY_REFRESH + TimeDelta::milliseconds(1));
            let (checkpoint, jwks) = keep_checkpoint(server, &regulator).await;
            assert_eq!(checkpoint["kid"], new_kid.as_str(), "{what}");
            let kids: Vec<&str> = jwks["keys"]
                .as_array()
                .expect("keys")
                .iter()
                .filter_map(|key| key["kid"].as_str())
                .collect();
            assert_eq!(kids, [new_kid.as_str(), old_kid.as_str()], "{what}");
        }
        trade(&node, &market, "99.00").await;
        let (new_checkpoint, new_jwks) = keep_checkpoint(&other_node, &regulator).await;

        let bytes = export(&dir, &db.url);
        let (ok, verdict, stderr) = verify(&dir, &bytes, &old_checkpoint, &old_jwks);
        assert!(
            ok,
            "{what}: the old checkpoint with the old key set: {verdict} {stderr}"
        );
        let (ok, verdict, stderr) = verify(&dir, &bytes, &old_checkpoint, &new_jwks);
        assert!(
            ok,
            "{what}: the old checkpoint with today's key set: {verdict} {stderr}"
        );
        let (ok, verdict, stderr) = verify(&dir, &bytes, &new_checkpoint, &new_jwks);
        assert!(ok, "{what}: the new checkpoint: {verdict} {stderr}");
        assert_fails(
            verify(&dir, &bytes, &new_checkpoint, &old_jwks),
            "unknown kid",
            &what,
        );

        // A token of the new key works on a node that has not read the keys
        // again yet; a token of the old key works until it expires.
        let fresh = node.token(Role::Regulator, None).await;
        assert_eq!(kid_of_token(&fresh), new_kid);
        stale_node
            .clock
            .advance(ets_api::auth::KEY_RELOAD_AT_MOST_EVERY);
        let answer = stale_node
            .call("GET", "/v1/audit/verify", &fresh, None)
            .await;
        assert_eq!(
            (answer.status, &answer.body["ok"]),
            (200, &json!(true)),
            "{what}"
        );

        node.clock.advance(TimeDelta::minutes(10));
        let later = node.token(Role::Regulator, None).await;
        node.clock.advance(TimeDelta::minutes(6));
        let answer = node
            .call("GET", "/v1/audit/checkpoint", &regulator, None)
            .await;
        assert_eq!(answer.status, 401, "{what}: the old key's token expired");
        let answer = node.call("GET", "/v1/audit/checkpoint", &later, None).await;
        assert_eq!(answer.status, 200, "{what}");
        assert_eq!(answer.body["kid"], new_kid.as_str());
        let _ = std::fs::remove_dir_all(&dir);
    }
}
