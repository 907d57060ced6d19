//! Request ids: a valid incoming `X-Request-Id` is kept, anything else is
//! replaced by a generated one, and every response echoes it, errors
//! included. (That log lines carry it is tests/api/logs.rs.)

use reqwest::{Method, RequestBuilder, header::CONTENT_TYPE};
use serde_json::json;

use crate::helpers::{TestApp, spawn_app};

const HEADER: &str = "x-request-id";

fn echoed(response: &reqwest::Response) -> String {
    response
        .headers()
        .get(HEADER)
        .unwrap_or_else(|| panic!("no {HEADER} on {} {}", response.status(), response.url()))
        .to_str()
        .expect("visible ASCII")
        .to_owned()
}

async fn health_with_id(app: &TestApp, id: &str) -> reqwest::Response {
    let request = app.client.get(app.url("/health")).header(HEADER, id);
    request.send().await.expect("health")
}

fn generated(id: &str) -> bool {
    id.len() == 32 && id.bytes().all(|b| b.is_ascii_hexdigit())
}

async fn a_well_formed_incoming_request_id_is_echoed_back() {
    let app = spawn_app().await;
    for id in [
        "abc-123",
        "0af7651916cd43dd8448eb211c80319c",
        "trace.id:part_2",
        &"x".repeat(64),
    ] {
        let response = health_with_id(&app, id).await;
        assert_eq!(response.status(), 200);
        assert_eq!(echoed(&response), id);
    }
}

async fn a_malformed_or_oversized_request_id_is_replaced_by_a_generated_one() {
    let app = spawn_app().await;
    for id in [
        &"x".repeat(65),
        "has space",
        "semi;colon",
        "<script>",
        "a/b",
    ] {
        let got = echoed(&health_with_id(&app, id).await);
        assert_ne!(got, id);
        assert!(generated(&got), "{got}");
    }
}

async fn requests_without_an_id_each_get_their_own() {
    let app = spawn_app().await;
    let mut seen = std::collections::HashSet::new();
    for _ in 0..20 {
        let id = echoed(&app.get("/health").await);
        assert!(generated(&id), "{id}");
        assert!(seen.insert(id), "ids repeat");
    }
}

async fn error_responses_echo_the_request_id_too() {
    let app = spawn_app().await;
    let request = |method: Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .header(HEADER, "error-probe")
    };
    let cases: Vec<(RequestBuilder, u16)> = vec![
        (request(Method::GET, "/api/auth/me"), 401),
        (request(Method::GET, "/api/nothing-here"), 404),
        (request(Method::GET, "/no-such-file.txt"), 404),
        (request(Method::DELETE, "/health"), 405),
        (
            request(Method::POST, "/api/auth/signup")
                .header(CONTENT_TYPE, "text/plain")
                .body("{}"),
            415,
        ),
        (
            request(Method::POST, "/api/auth/login")
                .header(CONTENT_TYPE, "application/json")
                .body(json!({ "username": "a".repeat(20_000) }).to_string()),
            413,
        ),
        (
            request(Method::POST, "/api/people")
                .header("origin", "https://evil.example")
                .json(&json!({})),
            403,
        ),
        // A refused CORS preflight: an error that escapes every middleware.
        (
            request(Method::OPTIONS, "/api/people")
                .header("origin", "https://evil.example")
                .header("access-control-request-method", "POST"),
            400,
        ),
    ];
    for (request, status) in cases {
        let response = request.send().await.expect("sent");
        assert_eq!(response.status(), status, "{}", response.url());
        assert_eq!(echoed(&response), "error-probe", "{}", response.url());
    }
}

async fn a_cross_origin_page_may_send_and_read_the_request_id() {
    let app = spawn_app().await;
    let origin = "http://localhost:4200"; // CORS_ALLOWED_ORIGINS in config/test.env
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/auth/me"))
        .header("origin", origin)
        .header("access-control-request-method", "GET")
        .header("access-control-request-headers", HEADER)
        .send()
        .await
        .expect("preflight");
    assert_eq!(preflight.status(), 200);
    let allowed = preflight.headers()["access-control-allow-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(allowed.contains(HEADER), "{allowed}");
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header("origin", origin)
        .header(HEADER, "spa-42")
        .send()
        .await
        .expect("me");
    assert_eq!(echoed(&response), "spa-42");
    let exposed = response.headers()["access-control-expose-headers"]
        .to_str()
        .expect("ascii")
        .to_ascii_lowercase();
    assert!(exposed.contains(HEADER), "{exposed}");
}

crate::tests![
    a_cross_origin_page_may_send_and_read_the_request_id,
    a_well_formed_incoming_request_id_is_echoed_back,
    a_malformed_or_oversized_request_id_is_replaced_by_a_generated_one,
    requests_without_an_id_each_get_their_own,
    error_responses_echo_the_request_id_too,
];
