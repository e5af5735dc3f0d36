//! The contract: `api-spec/openapi.yaml` and the router describe the same
//! endpoints, every `$ref` resolves, and the server serves the document.

use std::collections::BTreeSet;

use axum::body::Body;
use axum::http::Request;
use ets_api::{AppState, app, openapi_document, routes};
use ets_testkit::TestDatabase;
use serde_json::Value;
use tower::ServiceExt;

fn spec_operations() -> BTreeSet<(String, String)> {
    let document = openapi_document();
    let paths = document["paths"].as_object().expect("paths");
    let mut operations = BTreeSet::new();
    for (path, item) in paths {
        for method in ["get", "put", "post", "delete", "patch", "head", "options"] {
            if item.get(method).is_some() {
                operations.insert((method.to_uppercase(), path.clone()));
            }
        }
    }
    operations
}

fn router_operations() -> BTreeSet<(String, String)> {
    routes()
        .into_iter()
        .map(|(method, path, _)| (method.as_str().to_owned(), path.to_owned()))
        .collect()
}

#[test]
fn every_route_is_in_the_spec_and_every_spec_operation_is_routed() {
    let spec = spec_operations();
    let router = router_operations();
    let missing_from_spec: Vec<_> = router.difference(&spec).collect();
    let missing_from_router: Vec<_> = spec.difference(&router).collect();
    assert!(
        missing_from_spec.is_empty(),
        "routed but not in the spec: {missing_from_spec:?}"
    );
    assert!(
        missing_from_router.is_empty(),
        "in the spec but not routed: {missing_from_router:?}"
    );
}

fn resolve<'a>(document: &'a Value, reference: &str) -> Option<&'a Value> {
    let pointer = reference.strip_prefix('#')?;
    document.pointer(pointer)
}

fn check_refs(document: &Value, value: &Value, broken: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(reference)) = map.get("$ref")
                && resolve(document, reference).is_none()
            {
                broken.push(reference.clone());
            }
            for child in map.values() {
                check_refs(document, child, broken);
            }
        }
        Value::Array(items) => items
            .iter()
            .for_each(|item| check_refs(document, item, broken)),
        _ => {}
    }
}

#[test]
fn the_spec_is_openapi_3_1_and_every_reference_resolves() {
    let document = openapi_document();
    assert_eq!(document["openapi"], "3.1.0");
    assert!(document["info"]["title"].is_string() && document["info"]["version"].is_string());
    let mut broken = Vec::new();
    check_refs(document, document, &mut broken);
    assert!(broken.is_empty(), "unresolved $refs: {broken:?}");
    for (path, item) in document["paths"].as_object().expect("paths") {
        assert!(path.starts_with('/'), "{path}");
        for (method, operation) in item.as_object().expect("a path item") {
            let responses = operation["responses"]
                .as_object()
                .unwrap_or_else(|| panic!("{method} {path}: responses"));
            assert!(
                !responses.is_empty(),
                "{method} {path} documents no response"
            );
            assert!(
                operation["operationId"].is_string(),
                "{method} {path}: operationId"
            );
        }
    }
}

#[tokio::test]
async fn every_routed_operation_reaches_a_handler_and_the_spec_is_served() {
    let db = TestDatabase::sqlite();
    let store = ets_store::Store::open(&db.url).await.expect("store");
    let state = AppState::load(store, ets_api::token::TokenConfig::default(), None)
        .await
        .expect("state");
    let app = app(state);
    for (method, path, _) in routes() {
        let concrete = path
            .replace("{client_id}", "nobody")
            .replace("{id}", "x")
            .replace("{code}", "X");
        let request = Request::builder()
            .method(method.clone())
            .uri(&concrete)
            .body(Body::empty())
            .expect("request");
        let response = app.clone().oneshot(request).await.expect("response");
        let status = response.status().as_u16();
        let body = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .expect("body");
        let text = String::from_utf8_lossy(&body);
        assert!(status != 405, "{method} {path} is not routed");
        assert!(
            !text.contains("No such path."),
            "{method} {path} fell through to the fallback"
        );
    }
    let request = Request::builder()
        .uri("/v1/openapi.json")
        .body(Body::empty())
        .expect("request");
    let response = app.oneshot(request).await.expect("response");
    assert_eq!(response.status(), 200);
    let body = axum::body::to_bytes(response.into_body(), 1 << 22)
        .await
        .expect("body");
    let served: Value = serde_json::from_slice(&body).expect("JSON");
    assert_eq!(&served, openapi_document());
}
