//! The OpenAPI document (`GET /api/openapi.json`) against the route table it
//! describes. The contract itself (responses match the document) is checked
//! by schemathesis against a live gateway: `.ci/schemathesis.sh`.

use std::collections::BTreeSet;

use bff_gateway::routes;
use reqwest::header;
use serde_json::Value;

use crate::helpers::{TestApp, assert_error, spawn_app};

async fn document(app: &TestApp) -> Value {
    let response = app.get("/api/openapi.json").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response
            .headers()
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok()),
        Some("application/json")
    );
    response.json().await.expect("the document is JSON")
}

async fn the_openapi_document_is_served_as_openapi_3_1_json() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let version = doc["openapi"].as_str().expect("openapi is a string");
    assert!(version.starts_with("3.1."), "openapi: {version}");
    assert_eq!(doc["info"]["title"], "bff-gateway");
    assert!(doc["info"].get("license").is_none(), "no empty license");
}

async fn the_openapi_document_lists_every_route_of_the_route_table_with_its_methods() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let documented: BTreeSet<(String, String)> = doc["paths"]
        .as_object()
        .expect("paths")
        .iter()
        .flat_map(|(path, item)| {
            item.as_object()
                .expect("path item")
                .keys()
                .filter(|key| !matches!(key.as_str(), "parameters" | "summary" | "description"))
                .map(move |method| (path.clone(), method.to_uppercase()))
        })
        .collect();
    let routed: BTreeSet<(String, String)> = routes::table()
        .into_iter()
        .flat_map(|(path, methods)| {
            methods
                .into_iter()
                .map(move |method| (path.clone(), method.to_string()))
        })
        .collect();
    let undocumented: Vec<_> = routed.difference(&documented).collect();
    let unrouted: Vec<_> = documented.difference(&routed).collect();
    assert!(
        undocumented.is_empty(),
        "routes without a document entry: {undocumented:?}"
    );
    assert!(
        unrouted.is_empty(),
        "documented but not routed: {unrouted:?}"
    );
    assert!(routed.contains(&("/api/people/{id}".into(), "DELETE".into())));
}

/// Every `$ref` in `value`.
fn references(value: &Value, found: &mut Vec<String>) {
    match value {
        Value::Object(map) => {
            if let Some(Value::String(target)) = map.get("$ref") {
                found.push(target.clone());
            }
            map.values().for_each(|v| references(v, found));
        }
        Value::Array(items) => items.iter().for_each(|v| references(v, found)),
        _ => {}
    }
}

async fn every_reference_in_the_openapi_document_resolves() {
    let app = spawn_app().await;
    let doc = document(&app).await;
    let mut found = Vec::new();
    references(&doc, &mut found);
    assert!(found.len() > 10, "the document uses references: {found:?}");
    for target in found {
        let pointer = target.strip_prefix('#').expect("a local reference");
        assert!(
            doc.pointer(pointer).is_some(),
            "dangling reference {target}"
        );
    }
    for scheme in ["accessCookie", "refreshCookie", "bearerAuth"] {
        assert!(
            doc["components"]["securitySchemes"][scheme].is_object(),
            "security scheme {scheme}"
        );
    }
}

/// The document lets a refresh's optional body be JSON `null`; the
/// gateway reads it as no body.
async fn a_refresh_with_a_json_null_body_is_a_refresh_without_a_body() {
    let app = spawn_app().await;
    let response = app
        .send(
            app.client
                .post(app.url("/api/auth/refresh"))
                .header(header::CONTENT_TYPE, "application/json")
                .body("null"),
            "/api/auth/refresh",
        )
        .await;
    assert_error(response, 401, "refresh_token_missing").await;
}

crate::tests![
    the_openapi_document_is_served_as_openapi_3_1_json,
    the_openapi_document_lists_every_route_of_the_route_table_with_its_methods,
    every_reference_in_the_openapi_document_resolves,
    a_refresh_with_a_json_null_body_is_a_refresh_without_a_body,
];
