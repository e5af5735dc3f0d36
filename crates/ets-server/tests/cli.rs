//! The `ets-ledger` binary as an operator uses it: serve in an empty folder,
//! issue a credential, export the journal and verify it offline.

use std::io::Write;
use std::net::TcpStream;
use std::path::Path;
use std::process::Command;
use std::time::Duration;

use ets_testkit::TestDatabase;
use serde_json::{Value, json};

mod binary;

use binary::{BINARY, Server, empty_folder, ets};

#[test]
fn serve_in_an_empty_folder_creates_the_embedded_database_and_answers_health_checks() {
    let dir = empty_folder();
    let server = Server::start(&dir, None);
    assert!(
        dir.join("ets-ledger.db").exists(),
        "the SQLite file is created in the working folder"
    );
    assert_eq!(
        server.get("/healthz"),
        (200, serde_json::json!({"status": "ok"}))
    );
    let (status, body) = server.get("/readyz");
    assert_eq!((status, body["database"].as_str()), (200, Some("sqlite")));
}

#[tokio::test]
async fn serve_with_a_postgres_url_uses_postgresql() {
    let Some(db) = TestDatabase::postgres().await else {
        return;
    };
    let dir = empty_folder();
    let url = db.url.clone();
    let (status, body) = tokio::task::spawn_blocking(move || {
        let server = Server::start(&dir, Some(&url));
        assert!(
            !dir.join("ets-ledger.db").exists(),
            "no SQLite file when PostgreSQL is named"
        );
        server.get("/readyz")
    })
    .await
    .expect("server");
    assert_eq!((status, body["database"].as_str()), (200, Some("postgres")));
}

#[test]
fn a_credential_is_printed_once_and_stored_only_as_an_argon2id_hash() {
    let dir = empty_folder();
    let output = ets(
        &dir,
        &[
            "credential",
            "create",
            "--role",
            "regulator",
            "--name",
            "生态环境局 inspector",
        ],
    );
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let printed: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    let client_id = printed["client_id"].as_str().expect("client_id");
    let secret = printed["client_secret"].as_str().expect("client_secret");
    assert!(
        !String::from_utf8_lossy(&output.stderr).contains(secret),
        "the secret is never logged"
    );

    let database = std::fs::read(dir.join("ets-ledger.db")).expect("the database file");
    let wal = std::fs::read(dir.join("ets-ledger.db-wal")).unwrap_or_default();
    let stored = String::from_utf8_lossy(&database).into_owned() + &String::from_utf8_lossy(&wal);
    assert!(stored.contains(client_id));
    assert!(stored.contains("$argon2id$"), "the hash is stored");
    assert!(!stored.contains(secret), "the secret itself is not");

    let refused = ets(
        &dir,
        &[
            "credential",
            "create",
            "--role",
            "enterprise",
            "--name",
            "no participant",
        ],
    );
    assert!(
        !refused.status.success(),
        "an enterprise credential needs its participant"
    );
    let refused = ets(
        &dir,
        &["credential", "create", "--role", "superuser", "--name", "x"],
    );
    assert!(!refused.status.success());
}

fn exported_journal(dir: &Path) -> Vec<String> {
    for n in 0..4 {
        let output = ets(
            dir,
            &[
                "credential",
                "create",
                "--role",
                "finance",
                "--name",
                &format!("clerk {n}"),
            ],
        );
        assert!(output.status.success());
    }
    let output = ets(dir, &["journal", "export", "--out", "journal.jsonl"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let text = std::fs::read_to_string(dir.join("journal.jsonl")).expect("the export");
    text.lines().map(str::to_owned).collect()
}

fn verify(dir: &Path, lines: &[String]) -> (bool, Value) {
    std::fs::write(dir.join("check.jsonl"), lines.join("\n") + "\n").expect("write");
    let output = ets(dir, &["journal", "verify", "--file", "check.jsonl"]);
    let verdict: Value = serde_json::from_slice(&output.stdout).expect("a JSON verdict");
    (output.status.success(), verdict)
}

#[test]
fn an_exported_journal_verifies_offline_and_any_edit_deletion_or_reordering_is_named() {
    let dir = empty_folder();
    let lines = exported_journal(&dir);
    assert_eq!(lines.len(), 4);
    let (ok, verdict) = verify(&dir, &lines);
    assert!(ok, "{verdict}");
    assert_eq!(verdict["entries"], 4);

    let mut edited = lines.clone();
    edited[1] = edited[1].replace("clerk 1", "clerk 9");
    let (ok, verdict) = verify(&dir, &edited);
    assert!(!ok);
    assert_eq!(verdict["first_bad_seq"], 2);

    let mut deleted = lines.clone();
    deleted.remove(2);
    let (ok, verdict) = verify(&dir, &deleted);
    assert!(!ok);
    assert_eq!(verdict["first_bad_seq"], 3);

    let mut reordered = lines.clone();
    reordered.swap(0, 1);
    let (ok, verdict) = verify(&dir, &reordered);
    assert!(!ok);
    assert_eq!(verdict["first_bad_seq"], 1);

    let mut garbled = lines;
    garbled[3] = "not json".to_owned();
    let (ok, verdict) = verify(&dir, &garbled);
    assert!(!ok);
    assert_eq!(verdict["first_bad_seq"], 4);
}

#[test]
fn database_url_in_the_environment_works_like_the_flag() {
    let dir = empty_folder();
    let output = Command::new(BINARY)
        .args(["migrate"])
        .current_dir(&dir)
        .env("DATABASE_URL", "sqlite:elsewhere.db")
        .output()
        .expect("run");
    assert!(output.status.success());
    assert!(dir.join("elsewhere.db").exists());
    assert!(!dir.join("ets-ledger.db").exists());
    let output = ets(&dir, &["migrate", "--database-url", "sqlite:flagged.db"]);
    assert!(output.status.success());
    assert!(dir.join("flagged.db").exists());
}

#[test]
fn the_business_zone_is_fixed_when_the_database_is_created() {
    let dir = empty_folder();
    let created = Command::new(BINARY)
        .args(["migrate"])
        .current_dir(&dir)
        .env("ETS_BUSINESS_ZONE", "-05:00")
        .output()
        .expect("run");
    assert!(created.status.success());
    // Without the setting, a command keeps the database's zone.
    assert!(ets(&dir, &["migrate"]).status.success());
    assert!(
        ets(&dir, &["migrate", "--business-zone=-05:00"])
            .status
            .success()
    );
    let moved = ets(&dir, &["migrate", "--business-zone", "Asia/Shanghai"]);
    assert!(!moved.status.success(), "the days of a ledger never move");
    let said = String::from_utf8_lossy(&moved.stderr);
    assert!(
        said.contains("UTC-05:00") && said.contains("UTC+08:00"),
        "{said}"
    );
    let bad = ets(&dir, &["migrate", "--business-zone", "Europe/Paris"]);
    assert!(!bad.status.success());
}

#[test]
fn the_demo_fills_an_empty_database_once_and_is_journaled() {
    let dir = empty_folder();
    let output = ets(&dir, &["demo"]);
    assert!(
        output.status.success(),
        "{}",
        String::from_utf8_lossy(&output.stderr)
    );
    let demo: Value = serde_json::from_slice(&output.stdout).expect("JSON on stdout");
    assert_eq!(demo["participants"].as_array().map(Vec::len), Some(12));
    for role in ["admin", "regulator", "finance", "enterprise"] {
        assert!(
            demo["credentials"][role]["client_secret"].is_string(),
            "{role}"
        );
    }
    assert!(demo["credentials"]["enterprise"]["participant_id"].is_string());
    // The first market day: two book trades, and the auction clears at the
    // marginal bid's price.
    assert_eq!(demo["market"]["book_trades"], 2, "{demo}");
    assert_eq!(demo["market"]["auction"]["clearing_price"], "85.00");
    // The 2025 compliance year: twelve carbon records, one enterprise short.
    let compliance = &demo["compliance"];
    assert_eq!(compliance["records"], 12, "{compliance}");
    assert_eq!(compliance["compliant"], 11, "{compliance}");
    let short = &compliance["shortfall"][0];
    assert_eq!(short["name"], "苏州金峰水泥有限公司", "{compliance}");
    assert_eq!(
        (&short["obligation"], &short["covered"], &short["shortfall"]),
        (&json!("600000"), &json!("560000"), &json!("40000"))
    );
    // A signed checkpoint and its key set are kept next to the output.
    assert!(dir.join("demo-checkpoint.json").exists());
    assert!(dir.join("demo-jwks.json").exists());
    let again = ets(&dir, &["demo"]);
    assert!(
        !again.status.success(),
        "a second demo would duplicate the city"
    );

    let server = Server::start(&dir, None);
    let (status, _) = server.get("/readyz");
    assert_eq!(status, 200);
    let lines = {
        let output = ets(&dir, &["journal", "export", "--out", "journal.jsonl"]);
        assert!(output.status.success());
        std::fs::read_to_string(dir.join("journal.jsonl"))
            .expect("export")
            .lines()
            .count()
    };
    assert!(lines > 60, "the demo is journaled: {lines} entries");
    let (ok, verdict) = verify(
        &dir,
        &std::fs::read_to_string(dir.join("journal.jsonl"))
            .expect("export")
            .lines()
            .map(str::to_owned)
            .collect::<Vec<_>>(),
    );
    assert!(ok, "{verdict}");
    // The export, made after the server started, extends the kept checkpoint.
    let kept = ets(
        &dir,
        &[
            "journal",
            "verify",
            "--file",
            "journal.jsonl",
            "--checkpoint",
            "demo-checkpoint.json",
            "--jwks",
            "demo-jwks.json",
        ],
    );
    assert!(
        kept.status.success(),
        "{}{}",
        String::from_utf8_lossy(&kept.stdout),
        String::from_utf8_lossy(&kept.stderr)
    );
    let verdict: Value = serde_json::from_slice(&kept.stdout).expect("a verdict");
    assert_eq!(verdict["checkpoint_seq"], demo["checkpoint"]["seq"]);
}

fn decimal(value: &Value) -> rust_decimal::Decimal {
    value
        .as_str()
        .and_then(|text| text.parse().ok())
        .unwrap_or_else(|| panic!("a decimal string, not {value}"))
}

#[test]
fn the_demo_days_settlement_exports_as_json_csv_and_xlsx_and_reconciles() {
    let dir = empty_folder();
    assert!(ets(&dir, &["demo"]).status.success());
    // The demo's business day: its last journal entry's date in Shanghai.
    assert!(
        ets(&dir, &["journal", "export", "--out", "journal.jsonl"])
            .status
            .success()
    );
    let journal = std::fs::read_to_string(dir.join("journal.jsonl")).expect("export");
    let last: Value =
        serde_json::from_str(journal.lines().last().expect("entries")).expect("entry");
    let at: chrono::DateTime<chrono::Utc> =
        last["at"].as_str().expect("at").parse().expect("a time");
    let date = (at + chrono::Duration::hours(8)).date_naive().to_string();

    for format in ["json", "csv", "xlsx"] {
        let out = format!("settlement.{format}");
        let args = [
            "settlement",
            "export",
            "--date",
            &date,
            "--format",
            format,
            "--out",
            &out,
        ];
        let output = ets(&dir, &args);
        assert!(
            output.status.success(),
            "{}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
    let json: Value =
        serde_json::from_slice(&std::fs::read(dir.join("settlement.json")).expect("json"))
            .expect("JSON");
    let rows = json["participants"].as_array().expect("rows");
    assert!(
        rows.len() >= 12,
        "every enterprise's cash moved on the demo day: {json}"
    );
    assert_eq!(
        json["trades"].as_array().map(Vec::len),
        Some(6),
        "two book trades, a negotiated one, three awards: {json}"
    );
    let columns = [
        "bought_value",
        "sold_value",
        "commissions",
        "fees_paid",
        "deposits",
        "withdrawals",
        "other",
    ];
    for row in rows {
        let [
            bought,
            sold,
            commissions,
            fees,
            deposits,
            withdrawals,
            other,
        ] = columns.map(|column| decimal(&row[column]));
        assert_eq!(
            decimal(&row["opening_cash"]) - bought + sold - commissions - fees + deposits
                - withdrawals
                + other,
            decimal(&row["closing_cash"]),
            "{row}"
        );
    }
    for column in columns.iter().chain(&["opening_cash", "closing_cash"]) {
        let sum: rust_decimal::Decimal = rows.iter().map(|row| decimal(&row[*column])).sum();
        assert_eq!(sum, decimal(&json["totals"][*column]), "{column}");
    }
    assert!(
        decimal(&json["totals"]["fees_paid"]) > rust_decimal::Decimal::ZERO,
        "the demo pays an invoice from cash: {json}"
    );
    let csv = std::fs::read(dir.join("settlement.csv")).expect("csv");
    assert!(
        csv.starts_with(b"\xEF\xBB\xBFparticipant_id,name,opening_cash,"),
        "a BOM and the header"
    );
    assert_eq!(
        String::from_utf8(csv).expect("UTF-8").lines().count(),
        rows.len() + 1
    );
    let xlsx = std::fs::read(dir.join("settlement.xlsx")).expect("xlsx");
    assert!(xlsx.starts_with(b"PK"), "a workbook is a zip");
    // No settlement exists yet for tomorrow.
    let tomorrow = (at + chrono::Duration::hours(8 + 48))
        .date_naive()
        .to_string();
    let output = ets(
        &dir,
        &[
            "settlement",
            "export",
            "--date",
            &tomorrow,
            "--out",
            "x.json",
        ],
    );
    assert!(!output.status.success());
}

/// A client that sends its request head too slowly (slowloris) loses its
/// connection once the head's deadline passes; a prompt client is served.
#[test]
fn a_request_head_sent_too_slowly_loses_its_connection() {
    use std::io::Read;
    let dir = empty_folder();
    let server = Server::start_with(&dir, None, &[("ETS_HEADER_READ_TIMEOUT_SECS", "1")]);
    let mut slow = TcpStream::connect(&server.address).expect("connect");
    slow.set_read_timeout(Some(Duration::from_secs(10)))
        .expect("timeout");
    write!(slow, "GET /healthz HTTP/1.1\r\nHost: x\r\n").expect("a first part");
    std::thread::sleep(Duration::from_millis(2_500));
    // The server has closed it: the rest cannot make a request of it.
    let _ = write!(slow, "\r\n");
    let mut answer = Vec::new();
    let read = slow.read_to_end(&mut answer);
    let text = String::from_utf8_lossy(&answer);
    assert!(
        read.is_err() || !text.contains("200 OK"),
        "a head of 2.5 s was served: {text}"
    );
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);
}

/// A head the server cannot read gets problem+json with a stable code, as
/// every other error does (hyper answers these itself, with an empty body,
/// before any handler runs), and the connection is closed.
#[test]
fn an_unreadable_request_head_is_answered_with_problem_json() {
    use std::io::Read;
    let dir = empty_folder();
    let server = Server::start(&dir, None);
    let long_url = format!("GET /v1/{} HTTP/1.1\r\nHost: x\r\n\r\n", "a".repeat(70_000));
    let big_head = format!(
        "GET /healthz HTTP/1.1\r\nHost: x\r\nX-Padding: {}\r\n\r\n",
        "a".repeat(300_000)
    );
    let cases = [
        (long_url.as_str(), 414, "uri_too_long"),
        (big_head.as_str(), 431, "headers_too_large"),
        ("NOT HTTP AT ALL\r\n\r\n", 400, "malformed_request"),
    ];
    for (request, status, code) in cases {
        let mut stream = TcpStream::connect(&server.address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        // The server may answer and close before it has read everything.
        let _ = stream.write_all(request.as_bytes());
        let mut answer = Vec::new();
        let _ = stream.read_to_end(&mut answer);
        let answer = String::from_utf8_lossy(&answer);
        let (head, body) = answer.split_once("\r\n\r\n").expect("a head and a body");
        assert!(
            head.starts_with(&format!("HTTP/1.1 {status} ")),
            "{code}: {head}"
        );
        assert!(
            head.to_ascii_lowercase()
                .contains("content-type: application/problem+json"),
            "{head}"
        );
        let problem: Value = serde_json::from_str(body).expect("a JSON body");
        assert_eq!(problem["code"], code, "{problem}");
        assert_eq!(problem["status"], status, "{problem}");
    }
    let (status, _) = server.get("/healthz");
    assert_eq!(status, 200);
}
