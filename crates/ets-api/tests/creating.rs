//! A creating request with several things wrong at once answers the first
//! of them in one fixed order: the token, the Idempotency-Key, the content
//! type, the body, and only then the caller's role.

use axum::body::Body;
use axum::http::Request;
use ets_api::{AppState, app};
use ets_core::Role;
use ets_engine::{Command, NewCredential};
use ets_testkit::TestDatabase;
use serde_json::Value;
use tower::ServiceExt;

/// The app over a fresh SQLite store (which lives as long as the database
/// returned), and a token of each role asked for.
async fn app_with_tokens(roles: &[Role]) -> (TestDatabase, axum::Router, Vec<String>) {
    let db = TestDatabase::sqlite();
    let store = ets_store::Store::open(&db.url).await.expect("store");
    let state = AppState::load(store.clone(), ets_api::token::TokenConfig::default(), None)
        .await
        .expect("state");
    let mut tokens = Vec::new();
    for role in roles {
        let client_id = ets_api::secret::new_client_id().expect("random");
        let credential = NewCredential {
            client_id: client_id.clone(),
            name: format!("test {}", role.as_str()),
            role: *role,
            participant_id: None,
            secret_hash: "unused".to_owned(),
        };
        store
            .execute(
                ets_core::Actor::cli(),
                Command::CreateCredential(credential),
            )
            .await
            .expect("credential");
        let issued = state
            .tokens
            .issue(&client_id, *role, None, store.now())
            .expect("token");
        tokens.push(issued.access_token);
    }
    (db, app(state), tokens)
}

async fn post(
    app: &axum::Router,
    token: Option<&str>,
    headers: &[(&str, &str)],
    body: &str,
) -> (u16, Value) {
    let mut request = Request::builder().method("POST").uri("/v1/allocations");
    if let Some(token) = token {
        request = request.header("authorization", format!("Bearer {token}"));
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request.body(Body::from(body.to_owned())).expect("request");
    let response = app.clone().oneshot(request).await.expect("response");
    let status = response.status().as_u16();
    let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
        .await
        .expect("body");
    (
        status,
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// What is wrong, the token, the headers, the body, and the status and code
/// expected.
type Case<'a> = (
    &'a str,
    Option<&'a str>,
    Vec<(&'a str, &'a str)>,
    &'a str,
    u16,
    &'a str,
);

#[tokio::test]
async fn the_token_wins_then_the_key_then_the_content_type_then_the_body_then_the_role() {
    let (_db, app, tokens) = app_with_tokens(&[Role::Admin, Role::Finance]).await;
    let (admin, finance) = (tokens[0].as_str(), tokens[1].as_str());
    let bad_key = ("idempotency-key", "");
    let text = ("content-type", "text/plain");
    let json = ("content-type", "application/json");
    let cases: [Case; 6] = [
        (
            "no token",
            None,
            vec![bad_key, text],
            "{",
            401,
            "unauthorized",
        ),
        (
            "a bad key",
            Some(admin),
            vec![bad_key, text],
            "{",
            422,
            "invalid_idempotency_key",
        ),
        (
            "not JSON",
            Some(admin),
            vec![text],
            "{",
            415,
            "unsupported_media_type",
        ),
        (
            "a malformed body",
            Some(finance),
            vec![json],
            "{",
            400,
            "malformed_json",
        ),
        (
            "a body of the wrong shape",
            Some(finance),
            vec![json],
            "{\"colour\": \"red\"}",
            422,
            "invalid_body",
        ),
        (
            "the wrong role",
            Some(finance),
            vec![json],
            "{\"participant_id\": \"00000000-0000-0000-0000-000000000000\", \
             \"instrument\": \"SO2\", \"quantity\": \"1\", \"method\": \"free\"}",
            403,
            "forbidden",
        ),
    ];
    for (what, token, headers, body, status, code) in cases {
        let (answered, problem) = post(&app, token, &headers, body).await;
        assert_eq!(answered, status, "{what}: {problem}");
        assert_eq!(problem["code"], code, "{what}: {problem}");
    }
}
