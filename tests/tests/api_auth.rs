//! Authentication over a real socket, on both databases: the token exchange,
//! its failure limit, forged and broken tokens, revocation, the published
//! keys, and tokens that outlive a restart and work on every node.

use std::time::{SystemTime, UNIX_EPOCH};

use chrono::TimeDelta;

use ets_api::token::{SigningKey, TokenConfig, Tokens};
use ets_core::Role;
use ets_e2e::{Answer, TestServer};
use ets_testkit::TestDatabase;
use serde_json::{Value, json};
use uuid::Uuid;

const PROBLEM_JSON: &str = "application/problem+json";

/// Unpadded base64url, as JWTs use.
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            chunk.get(1).copied().unwrap_or(0),
            chunk.get(2).copied().unwrap_or(0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        let sextets = [(n >> 18) & 63, (n >> 12) & 63, (n >> 6) & 63, n & 63];
        for sextet in &sextets[..=chunk.len()] {
            out.push(char::from(ALPHABET[*sextet as usize]));
        }
    }
    out
}

/// Decodes unpadded base64url.
fn unbase64url(text: &str) -> Vec<u8> {
    let value = |c: u8| -> u32 {
        match c {
            b'A'..=b'Z' => u32::from(c - b'A'),
            b'a'..=b'z' => u32::from(c - b'a') + 26,
            b'0'..=b'9' => u32::from(c - b'0') + 52,
            b'-' => 62,
            b'_' => 63,
            other => panic!("not base64url: {other}"),
        }
    };
    let mut out = Vec::new();
    for chunk in text.as_bytes().chunks(4) {
        let mut n = 0u32;
        for (i, c) in chunk.iter().enumerate() {
            n |= value(*c) << (18 - 6 * i);
        }
        let bytes = n.to_be_bytes();
        out.extend_from_slice(&bytes[1..chunk.len()]);
    }
    out
}

/// The JSON of one part (header or payload) of a compact JWT.
fn jwt_part(token: &str, index: usize) -> Value {
    let part = token.split('.').nth(index).expect("a JWT part");
    serde_json::from_slice(&unbase64url(part)).expect("a JSON JWT part")
}

/// A compact JWT with exactly this header and payload, signed by `key`.
fn signed_jwt(key: &SigningKey, header: &Value, payload: &Value) -> String {
    let input = format!(
        "{}.{}",
        base64url(header.to_string().as_bytes()),
        base64url(payload.to_string().as_bytes())
    );
    let signature = key.sign(input.as_bytes());
    format!("{input}.{signature}")
}

fn eddsa_header(kid: &str) -> Value {
    json!({ "alg": "EdDSA", "typ": "JWT", "kid": kid })
}

fn unix_now() -> i64 {
    let secs = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .expect("after 1970")
        .as_secs();
    i64::try_from(secs).expect("in range")
}

/// Claims as the server writes them, for `client_id`, valid from now for 15 minutes.
fn claims(client_id: &str, role: Role) -> Value {
    let now = unix_now();
    json!({
        "iss": "ets-ledger",
        "aud": "ets-ledger-api",
        "sub": client_id,
        "role": role.as_str(),
        "exp": now + 900,
        "iat": now,
        "nbf": now,
        "jti": Uuid::new_v4().to_string(),
    })
}

/// The server's own signing key, as kept in its database.
async fn server_key(server: &TestServer) -> SigningKey {
    ets_api::auth::load_signing_key(&server.store, None)
        .await
        .expect("the stored signing key")
}

async fn exchange(server: &TestServer, client_id: &str, secret: &str) -> Answer {
    server
        .request(
            "POST",
            "/v1/auth/token",
            Some(&json!({ "client_id": client_id, "client_secret": secret })),
        )
        .await
}

fn assert_problem(answer: &Answer, status: u16, code: &str, what: &str) {
    assert_eq!(answer.status, status, "{what}: {:?}", answer.body);
    assert_eq!(answer.body["code"], code, "{what}: {:?}", answer.body);
    assert_eq!(answer.body["status"], status, "{what}: {:?}", answer.body);
    assert!(
        answer
            .header("content-type")
            .is_some_and(|t| t.starts_with(PROBLEM_JSON)),
        "{what}: content type {:?}",
        answer.header("content-type")
    );
}

/// `GET /v1/instruments` with this exact Authorization header (or none).
async fn instruments_with(server: &TestServer, authorization: Option<&str>) -> Answer {
    let headers: Vec<(&str, &str)> = authorization
        .map(|value| ("Authorization", value))
        .into_iter()
        .collect();
    server.send("GET", "/v1/instruments", &headers, b"").await
}

#[tokio::test]
async fn a_client_exchanges_its_credentials_for_a_fifteen_minute_bearer_token() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let (client_id, secret) = server.credential(Role::Regulator, None).await;

        let answer = exchange(&server, &client_id, &secret).await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
        assert_eq!(answer.body["token_type"], "Bearer");
        assert_eq!(answer.body["expires_in"], 900);
        assert_eq!(answer.header("cache-control"), Some("no-store"));
        let token = answer.body["access_token"].as_str().expect("a token");
        assert_eq!(token.split('.').count(), 3, "a compact JWT");

        let header = jwt_part(token, 0);
        assert_eq!(header["alg"], "EdDSA");
        let payload = jwt_part(token, 1);
        assert_eq!(payload["sub"], client_id.as_str());
        assert_eq!(payload["role"], "regulator");
        assert_eq!(payload["iss"], "ets-ledger");
        assert_eq!(payload["aud"], "ets-ledger-api");
        let exp = payload["exp"].as_i64().expect("exp");
        let iat = payload["iat"].as_i64().expect("iat");
        assert_eq!(exp - iat, 900);

        let used = server.call("GET", "/v1/instruments", token, None).await;
        assert_eq!(used.status, 200, "the token opens the API: {:?}", used.body);
    }
}

#[tokio::test]
async fn a_wrong_secret_an_unknown_client_or_a_revoked_credential_gets_invalid_client() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let (client_id, secret) = server.credential(Role::Finance, None).await;

        let wrong = exchange(&server, &client_id, "not-the-secret").await;
        assert_problem(&wrong, 401, "invalid_client", "wrong secret");
        assert!(wrong.body.get("access_token").is_none());

        let unknown = exchange(&server, "no-such-client", &secret).await;
        assert_problem(&unknown, 401, "invalid_client", "unknown client");

        let admin = server.token(Role::Admin, None).await;
        let (revoked_id, revoked_secret) = server.credential(Role::Finance, None).await;
        assert_eq!(
            exchange(&server, &revoked_id, &revoked_secret).await.status,
            200,
            "valid before it is revoked"
        );
        let revoke = server
            .call(
                "DELETE",
                &format!("/v1/credentials/{revoked_id}"),
                &admin,
                None,
            )
            .await;
        assert_eq!(revoke.status, 204, "{:?}", revoke.body);
        let after = exchange(&server, &revoked_id, &revoked_secret).await;
        assert_problem(&after, 401, "invalid_client", "revoked credential");

        // The right secret of a credential that is fine still works.
        assert_eq!(exchange(&server, &client_id, &secret).await.status, 200);
    }
}

#[tokio::test]
async fn after_five_failed_attempts_for_one_client_the_sixth_is_told_to_retry_later() {
    let db = TestDatabase::sqlite();
    let server = TestServer::start(&db.url).await;
    let (client_id, secret) = server.credential(Role::Finance, None).await;

    for attempt in 1..=5 {
        let answer = exchange(&server, &client_id, "wrong").await;
        assert_problem(
            &answer,
            401,
            "invalid_client",
            &format!("attempt {attempt}"),
        );
    }
    // Even the right secret waits now.
    let sixth = exchange(&server, &client_id, &secret).await;
    assert_problem(&sixth, 429, "too_many_attempts", "sixth attempt");
    let retry_after: u64 = sixth
        .header("retry-after")
        .expect("a Retry-After header")
        .parse()
        .expect("Retry-After in whole seconds");
    assert!(
        (1..=60).contains(&retry_after),
        "Retry-After {retry_after} s is within the 60 s window"
    );

    // Another client is not held back by this one's failures.
    let (other_id, other_secret) = server.credential(Role::Finance, None).await;
    assert_eq!(
        exchange(&server, &other_id, &other_secret).await.status,
        200
    );
}

/// The limit is taken before the hash, in one step with the check: forty
/// wrong secrets at once for one client are not all checked; at most the
/// limit is, and the rest are told to retry later.
#[tokio::test]
async fn forty_racing_wrong_secrets_for_one_client_are_checked_at_most_five_times() {
    for db in TestDatabase::each().await {
        let server = std::sync::Arc::new(TestServer::start(&db.url).await);
        let (client_id, _) = server.credential(Role::Finance, None).await;
        let racers: Vec<_> = (0..40)
            .map(|_| {
                let (server, client_id) = (server.clone(), client_id.clone());
                tokio::spawn(async move { exchange(&server, &client_id, "wrong").await })
            })
            .collect();
        let mut statuses = Vec::new();
        for racer in racers {
            let answer = racer.await.expect("a racer");
            if answer.status == 429 {
                assert!(answer.header("retry-after").is_some());
            }
            statuses.push(answer.status);
        }
        let checked = statuses.iter().filter(|s| **s == 401).count();
        let refused = statuses.iter().filter(|s| **s == 429).count();
        assert_eq!(
            (checked, refused),
            (ets_api::auth::TOKEN_FAILURES_PER_CLIENT as usize, 35),
            "{:?}: {statuses:?}",
            db.kind
        );
    }
}

/// Many failures from one address (unknown client ids) make that address
/// wait, but a client whose secret is right still gets its token from it.
#[tokio::test]
async fn a_right_secret_is_answered_from_an_address_others_abuse() {
    let db = TestDatabase::sqlite();
    let server = TestServer::start(&db.url).await;
    let (client_id, secret) = server.credential(Role::Finance, None).await;
    let mut refused = false;
    for n in 0..=ets_api::auth::TOKEN_FAILURES_PER_ADDRESS {
        let answer = exchange(&server, &format!("ets_{n:016x}"), "guess").await;
        refused |= answer.status == 429;
    }
    assert!(refused, "the address is made to wait for unknown ids");
    let answer = exchange(&server, &format!("ets_{:016x}", 999), "guess").await;
    assert_problem(&answer, 429, "too_many_attempts", "one more unknown id");
    let answer = exchange(&server, &client_id, &secret).await;
    assert_eq!(answer.status, 200, "{:?}", answer.body);
}

/// An unknown client id waits after five failures as a known one does, so
/// the limit does not tell which client ids exist.
#[tokio::test]
async fn an_unknown_client_id_is_limited_like_a_known_one() {
    let db = TestDatabase::sqlite();
    let server = TestServer::start(&db.url).await;
    let (known, _) = server.credential(Role::Finance, None).await;
    for client_id in [known.as_str(), "ets_00000000deadbeef"] {
        for attempt in 1..=ets_api::auth::TOKEN_FAILURES_PER_CLIENT {
            let answer = exchange(&server, client_id, "wrong").await;
            assert_problem(
                &answer,
                401,
                "invalid_client",
                &format!("{client_id} {attempt}"),
            );
        }
        let answer = exchange(&server, client_id, "wrong").await;
        assert_problem(&answer, 429, "too_many_attempts", client_id);
    }
}

/// A token request for an unknown client id, through a proxy that says it
/// came from `address`.
async fn login_from(server: &TestServer, address: &str, n: u32) -> Answer {
    let body = json!({"client_id": format!("ets_{n:016x}"), "client_secret": "guess"});
    let bytes = serde_json::to_vec(&body).expect("json");
    server
        .send(
            "POST",
            "/v1/auth/token",
            &[("X-Forwarded-For", address)],
            &bytes,
        )
        .await
}

/// Behind a trusted reverse proxy the client's address is the one it
/// forwards: one client's failures do not make another wait. A peer that is
/// not trusted cannot name another address to escape its own limit.
#[tokio::test]
async fn the_address_limit_counts_the_forwarded_address_only_from_a_trusted_proxy() {
    let db = TestDatabase::sqlite();
    let localhost: std::net::IpAddr = "127.0.0.1".parse().expect("an address");
    let proxied =
        TestServer::start_configured(&db.url, None, ets_api::REQUEST_TIMEOUT, vec![localhost])
            .await;
    for n in 0..ets_api::auth::TOKEN_FAILURES_PER_ADDRESS {
        assert_eq!(login_from(&proxied, "203.0.113.7", n).await.status, 401);
    }
    let answer = login_from(&proxied, "203.0.113.7", 99).await;
    assert_problem(&answer, 429, "too_many_attempts", "the abusing address");
    // Another client behind the same proxy, and a client that forges an
    // address left of the proxy's: counted by what the proxy saw.
    assert_eq!(login_from(&proxied, "198.51.100.9", 100).await.status, 401);
    let forged = login_from(&proxied, "198.51.100.10, 203.0.113.7", 101).await;
    assert_problem(&forged, 429, "too_many_attempts", "a forged hop");

    let direct = TestServer::start(&TestDatabase::sqlite().url).await;
    for n in 0..ets_api::auth::TOKEN_FAILURES_PER_ADDRESS {
        let _ = login_from(&direct, &format!("192.0.2.{n}"), n).await;
    }
    let answer = login_from(&direct, "192.0.2.200", 200).await;
    assert_problem(
        &answer,
        429,
        "too_many_attempts",
        "an untrusted peer's header",
    );
}

/// Each token is refused 401 `unauthorized` on `GET /v1/instruments`.
async fn assert_all_refused(server: &TestServer, db: &TestDatabase, tokens: &[(&str, String)]) {
    for (what, token) in tokens {
        let answer = server.call("GET", "/v1/instruments", token, None).await;
        assert_problem(
            &answer,
            401,
            "unauthorized",
            &format!("{:?}: {what}", db.kind),
        );
    }
}

/// The kid the server publishes.
async fn published_kid(server: &TestServer) -> String {
    let jwks = server.get("/.well-known/jwks.json").await;
    jwks.body["keys"][0]["kid"]
        .as_str()
        .expect("a kid")
        .to_owned()
}

#[tokio::test]
async fn tokens_the_server_did_not_sign_and_broken_authorization_headers_get_401() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let kid = published_kid(&server).await;
        let (client_id, secret) = server.credential(Role::Finance, None).await;
        let real = server.token_for(&client_id, &secret).await;
        assert_eq!(jwt_part(&real, 0)["kid"], kid.as_str());

        let mut forged: Vec<(&str, String)> = Vec::new();
        let other_key = SigningKey::generate().expect("a key");
        forged.push((
            "signed by another key under the server's kid",
            signed_jwt(
                &other_key,
                &eddsa_header(&kid),
                &claims(&client_id, Role::Finance),
            ),
        ));
        forged.push((
            "signed by another key under its own kid",
            signed_jwt(
                &other_key,
                &eddsa_header(other_key.kid()),
                &claims(&client_id, Role::Finance),
            ),
        ));
        let other_tokens = Tokens::new(
            TokenConfig::default(),
            SigningKey::generate().expect("a key"),
        );
        // A recent instant (the credential's creation), valid for 15 minutes.
        let recently = server
            .store
            .journal(0, 1_000_000)
            .await
            .expect("the journal")
            .last()
            .expect("an entry")
            .at;
        let other_issued = other_tokens
            .issue(&client_id, Role::Admin, None, recently)
            .expect("issue");
        forged.push((
            "issued by another ledger's token service",
            other_issued.access_token,
        ));

        let unsigned = format!(
            "{}.{}.",
            base64url(
                json!({ "alg": "none", "typ": "JWT", "kid": kid })
                    .to_string()
                    .as_bytes()
            ),
            base64url(claims(&client_id, Role::Admin).to_string().as_bytes())
        );
        let real_signature = real.rsplit('.').next().expect("a signature").to_owned();
        forged.push(("alg none without a signature", unsigned.clone()));
        forged.push((
            "alg none with a real signature glued on",
            format!("{unsigned}{real_signature}"),
        ));

        let parts: Vec<&str> = real.split('.').collect();
        let mut escalated = jwt_part(&real, 1);
        escalated["role"] = json!("admin");
        forged.push((
            "a real token with its payload tampered (role raised to admin)",
            format!(
                "{}.{}.{}",
                parts[0],
                base64url(escalated.to_string().as_bytes()),
                parts[2]
            ),
        ));
        let mut later = jwt_part(&real, 1);
        later["exp"] = json!(unix_now() + 86_400 * 365);
        forged.push((
            "a real token with its expiry pushed out",
            format!(
                "{}.{}.{}",
                parts[0],
                base64url(later.to_string().as_bytes()),
                parts[2]
            ),
        ));
        let mut flipped = real.clone().into_bytes();
        let last = flipped.len() - 2;
        flipped[last] = if flipped[last] == b'A' { b'B' } else { b'A' };
        forged.push((
            "a real token with its signature altered",
            String::from_utf8(flipped).expect("ASCII"),
        ));
        forged.push((
            "a real token without its signature",
            format!("{}.{}.", parts[0], parts[1]),
        ));
        forged.push(("garbage", "garbage".to_owned()));
        forged.push(("three empty parts", "..".to_owned()));
        assert_all_refused(&server, &db, &forged).await;

        let basic_credentials = base64url(format!("{client_id}:{secret}").as_bytes());
        let headers = [
            ("no Authorization header", None),
            ("an empty Authorization header", Some(String::new())),
            ("a bare token without a scheme", Some(real.clone())),
            ("Bearer without a token", Some("Bearer".to_owned())),
            ("Bearer and a blank", Some("Bearer ".to_owned())),
            ("Bearer garbage", Some("Bearer not.a.jwt".to_owned())),
            (
                "Basic with the client's id and secret",
                Some(format!("Basic {basic_credentials}")),
            ),
            ("Basic with a valid token", Some(format!("Basic {real}"))),
            ("Token scheme", Some(format!("Token {real}"))),
        ];
        for (what, header) in &headers {
            let answer = instruments_with(&server, header.as_deref()).await;
            assert_problem(
                &answer,
                401,
                "unauthorized",
                &format!("{:?}: {what}", db.kind),
            );
        }

        // The real token still works: nothing above disturbed it.
        let still = server.call("GET", "/v1/instruments", &real, None).await;
        assert_eq!(still.status, 200);
    }
}

#[tokio::test]
async fn tokens_signed_with_the_servers_own_key_but_expired_early_misaddressed_or_kidless_get_401()
{
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let (client_id, _) = server.credential(Role::Finance, None).await;
        let key = server_key(&server).await;
        let kid = published_kid(&server).await;
        assert_eq!(
            key.kid(),
            kid,
            "{:?}: the key kept in the database is the one the server signs with",
            db.kind
        );

        // A hand-built token signed with the server's key is accepted, so
        // each refusal below is down to the one thing that was changed.
        let genuine = signed_jwt(
            &key,
            &eddsa_header(&kid),
            &claims(&client_id, Role::Finance),
        );
        let accepted = server.call("GET", "/v1/instruments", &genuine, None).await;
        assert_eq!(accepted.status, 200, "{:?}: {:?}", db.kind, accepted.body);

        let mut forged: Vec<(&str, String)> = Vec::new();
        let mut expired = claims(&client_id, Role::Finance);
        expired["iat"] = json!(unix_now() - 7200);
        expired["nbf"] = json!(unix_now() - 7200);
        expired["exp"] = json!(unix_now() - 3600);
        forged.push(("expired", signed_jwt(&key, &eddsa_header(&kid), &expired)));

        let mut early = claims(&client_id, Role::Finance);
        early["nbf"] = json!(unix_now() + 3600);
        forged.push((
            "not yet valid",
            signed_jwt(&key, &eddsa_header(&kid), &early),
        ));

        let mut audience = claims(&client_id, Role::Finance);
        audience["aud"] = json!("someone-else");
        forged.push((
            "for another audience",
            signed_jwt(&key, &eddsa_header(&kid), &audience),
        ));

        let mut issuer = claims(&client_id, Role::Finance);
        issuer["iss"] = json!("someone-else");
        forged.push((
            "from another issuer",
            signed_jwt(&key, &eddsa_header(&kid), &issuer),
        ));

        forged.push((
            "without a kid",
            signed_jwt(
                &key,
                &json!({ "alg": "EdDSA", "typ": "JWT" }),
                &claims(&client_id, Role::Finance),
            ),
        ));
        forged.push((
            "for a client that does not exist",
            signed_jwt(
                &key,
                &eddsa_header(&kid),
                &claims("no-such-client", Role::Admin),
            ),
        ));
        assert_all_refused(&server, &db, &forged).await;
    }
}

/// Moves `node`'s clock 5 s past the revocation: `GET /v1/instruments`
/// with `token` must then be refused, and stay refused.
async fn assert_refused_five_seconds_later(node: &TestServer, token: &str, what: &str) {
    node.clock.advance(TimeDelta::seconds(5));
    let answer = node.call("GET", "/v1/instruments", token, None).await;
    assert_problem(&answer, 401, "unauthorized", what);
    let again = node.call("GET", "/v1/instruments", token, None).await;
    assert_eq!(again.status, 401, "{what}");
}

/// The node that revoked the credential refuses its tokens at once.
async fn assert_refused_at_once(node: &TestServer, token: &str, what: &str) {
    let answer = node.call("GET", "/v1/instruments", token, None).await;
    assert_problem(&answer, 401, "unauthorized", what);
}

async fn revoke(node: &TestServer, admin: &str, client_id: &str) {
    let answer = node
        .call(
            "DELETE",
            &format!("/v1/credentials/{client_id}"),
            admin,
            None,
        )
        .await;
    assert_eq!(answer.status, 204, "{:?}", answer.body);
}

#[tokio::test]
async fn a_revoked_credentials_token_stops_working_within_five_seconds() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let (client_id, secret) = server.credential(Role::Regulator, None).await;
        let token = server.token_for(&client_id, &secret).await;
        let answer = server.call("GET", "/v1/instruments", &token, None).await;
        assert_eq!(answer.status, 200, "works before: {:?}", answer.body);

        revoke(&server, &admin, &client_id).await;
        let what = format!("{:?}", db.kind);
        assert_refused_at_once(&server, &token, &what).await;
        assert_refused_five_seconds_later(&server, &token, &what).await;
    }
}

#[tokio::test]
async fn a_revoked_credentials_token_stops_working_within_five_seconds_on_another_node_too() {
    for db in TestDatabase::each().await {
        let first = TestServer::start(&db.url).await;
        let second = TestServer::start(&db.url).await;
        let admin = first.token(Role::Admin, None).await;
        let (client_id, secret) = first.credential(Role::Regulator, None).await;
        let token = first.token_for(&client_id, &secret).await;

        // Both nodes have seen (and may have cached) the credential as active.
        for (name, node) in [("first node", &first), ("second node", &second)] {
            let answer = node.call("GET", "/v1/instruments", &token, None).await;
            assert_eq!(
                answer.status, 200,
                "{:?} {name}, before revocation: {:?}",
                db.kind, answer.body
            );
        }

        revoke(&first, &admin, &client_id).await;
        let what = format!("{:?}, the revoking node", db.kind);
        assert_refused_at_once(&first, &token, &what).await;
        // Another node may trust what it read for a moment, never 5 s.
        let what = format!("{:?}, another node", db.kind);
        assert_refused_five_seconds_later(&second, &token, &what).await;
    }
}

#[tokio::test]
async fn the_jwks_is_public_and_publishes_the_one_key_that_signs_tokens() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let jwks = server.get("/.well-known/jwks.json").await;
        assert_eq!(jwks.status, 200, "no token needed: {:?}", jwks.body);
        let keys = jwks.body["keys"].as_array().expect("keys");
        assert_eq!(keys.len(), 1, "{:?}", jwks.body);
        let jwk = &keys[0];
        assert_eq!(jwk["kty"], "OKP");
        assert_eq!(jwk["crv"], "Ed25519");
        assert_eq!(jwk["alg"], "EdDSA");
        assert!(jwk.get("d").is_none(), "no private part is published");

        let key = server_key(&server).await;
        let x = unbase64url(jwk["x"].as_str().expect("x"));
        assert_eq!(x.len(), 32);
        assert_eq!(
            x,
            key.public_key(),
            "{:?}: the key kept in the database is the published one",
            db.kind
        );

        let token = server.token(Role::Finance, None).await;
        assert_eq!(
            jwt_part(&token, 0)["kid"],
            jwk["kid"],
            "{:?}: tokens name the published key",
            db.kind
        );
    }
}

#[tokio::test]
async fn a_token_issued_before_a_restart_works_after_it_and_on_every_node() {
    for db in TestDatabase::each().await {
        let before = TestServer::start(&db.url).await;
        let (client_id, secret) = before.credential(Role::Regulator, None).await;
        let old_token = before.token_for(&client_id, &secret).await;
        let old_jwks = before.get("/.well-known/jwks.json").await.body;

        // A node started later on the same database (a restart, or another
        // node beside the first) loads the same key from the database.
        let after = TestServer::start(&db.url).await;
        assert_eq!(
            after.get("/.well-known/jwks.json").await.body,
            old_jwks,
            "{:?}: the same key after a restart",
            db.kind
        );
        let answer = after.call("GET", "/v1/instruments", &old_token, None).await;
        assert_eq!(answer.status, 200, "{:?}: {:?}", db.kind, answer.body);

        // And the other way round: the new node's tokens work on the first.
        let new_token = after.token_for(&client_id, &secret).await;
        let answer = before
            .call("GET", "/v1/instruments", &new_token, None)
            .await;
        assert_eq!(answer.status, 200, "{:?}", answer.body);
    }
}

#[tokio::test]
async fn a_regulator_lists_credentials_by_role_without_ever_a_secret() {
    for db in TestDatabase::each().await {
        let server = TestServer::start(&db.url).await;
        let admin = server.token(Role::Admin, None).await;
        let regulator = server.token(Role::Regulator, None).await;
        let mut issued = Vec::new();
        for (name, role) in [
            ("财务一", "finance"),
            ("inspector", "regulator"),
            ("财务二", "finance"),
        ] {
            let made = server
                .call(
                    "POST",
                    "/v1/credentials",
                    &admin,
                    Some(&json!({"name": name, "role": role})),
                )
                .await;
            assert_eq!(made.status, 201, "{}", made.body);
            issued.push((
                made.body["client_id"].as_str().expect("id").to_owned(),
                made.body["client_secret"]
                    .as_str()
                    .expect("secret")
                    .to_owned(),
            ));
        }
        let revoked = &issued[2].0;
        let gone = server
            .call(
                "DELETE",
                &format!("/v1/credentials/{revoked}"),
                &admin,
                None,
            )
            .await;
        assert!(gone.status < 300, "{}", gone.body);

        // Finance credentials, one a page, by client id.
        let mut seen = Vec::new();
        let mut path = "/v1/credentials?role=finance&limit=1".to_owned();
        loop {
            let page = server.call("GET", &path, &regulator, None).await;
            assert_eq!(page.status, 200, "{}", page.body);
            let text = page.body.to_string();
            for (_, secret) in &issued {
                assert!(!text.contains(secret.as_str()), "a secret in {text}");
            }
            assert!(!text.contains("argon2"), "a hash in {text}");
            for item in page.body["items"].as_array().expect("items") {
                assert_eq!(item["role"], "finance");
                seen.push(item.clone());
            }
            match page.body["next_cursor"].as_str() {
                Some(cursor) => {
                    path = format!("/v1/credentials?role=finance&limit=1&cursor={cursor}")
                }
                None => break,
            }
        }
        let ids: Vec<&str> = seen
            .iter()
            .map(|item| item["client_id"].as_str().expect("id"))
            .collect();
        let mut expected: Vec<&str> = [&issued[0].0, &issued[2].0]
            .into_iter()
            .map(String::as_str)
            .collect();
        // The tokens' own credentials are an admin's and a regulator's: only
        // the two issued here are finance, listed by id byte by byte.
        expected.sort_unstable();
        assert_eq!(ids, expected);
        let of = |id: &str| {
            seen.iter()
                .find(|item| item["client_id"] == id)
                .expect("listed")
                .clone()
        };
        assert_eq!(of(&issued[0].0)["revoked_at"], Value::Null);
        assert!(of(revoked)["revoked_at"].is_string());
        assert_eq!(of(&issued[0].0)["name"], "财务一");

        let bad = server
            .call("GET", "/v1/credentials?role=auditor", &regulator, None)
            .await;
        assert_eq!(
            (bad.status, bad.body["code"].as_str()),
            (422, Some("invalid_query"))
        );
    }
}

/// The one answer that shows a new credential's secret is never cached.
#[tokio::test]
async fn a_new_credentials_secret_is_answered_no_store() {
    let db = TestDatabase::sqlite();
    let server = TestServer::start(&db.url).await;
    let admin = server.token(Role::Admin, None).await;
    let body = json!({"name": "inspector", "role": "regulator"});
    let answer = server
        .call("POST", "/v1/credentials", &admin, Some(&body))
        .await;
    assert_eq!(answer.status, 201, "{:?}", answer.body);
    assert!(answer.body["client_secret"].is_string());
    assert_eq!(answer.header("cache-control"), Some("no-store"));
}
