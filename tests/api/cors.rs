use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

const ALLOWED: &str = "http://localhost:4200";
const EVIL: &str = "https://evil.example";

fn allow_headers(response: &reqwest::Response) -> Vec<String> {
    response
        .headers()
        .keys()
        .map(|k| k.as_str().to_owned())
        .filter(|k| k.starts_with("access-control-allow-"))
        .collect()
}

async fn an_allowed_origin_gets_a_credentialed_preflight() {
    let app = spawn_app().await;
    let response = app
        .client
        .request(Method::OPTIONS, app.url("/api/people"))
        .header("origin", ALLOWED)
        .header("access-control-request-method", "POST")
        .header("access-control-request-headers", "content-type")
        .send()
        .await
        .expect("send");
    assert!(response.status().is_success());
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], ALLOWED);
    assert_eq!(h["access-control-allow-credentials"], "true");
    let methods = h["access-control-allow-methods"].to_str().expect("ascii");
    for m in ["GET", "HEAD", "POST", "PUT", "PATCH", "DELETE"] {
        assert!(methods.contains(m), "{methods}");
    }
    assert!(h["vary"].to_str().expect("ascii").contains("Origin"));
}

async fn a_disallowed_origin_gets_no_allow_headers_anywhere() {
    let app = spawn_app().await;
    let preflight = app
        .client
        .request(Method::OPTIONS, app.url("/api/people"))
        .header("origin", EVIL)
        .header("access-control-request-method", "POST")
        .send()
        .await
        .expect("send");
    assert_eq!(allow_headers(&preflight), Vec::<String>::new());
    assert!(preflight.status().is_client_error());

    let actual = app
        .client
        .get(app.url("/api/auth/me"))
        .header("origin", EVIL)
        .send()
        .await
        .expect("send");
    assert_eq!(allow_headers(&actual), Vec::<String>::new());
    assert_error(actual, 401, "token_missing").await;
}

async fn errors_to_an_allowed_origin_are_readable() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header("origin", ALLOWED)
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(
        response.headers()["access-control-allow-credentials"],
        "true"
    );
    assert_error(response, 401, "token_missing").await;

    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .header("origin", ALLOWED)
        .json(&json!({ "username": "nobody@example.com", "password": "whatever1" }))
        .send()
        .await
        .expect("send");
    assert_eq!(response.headers()["access-control-allow-origin"], ALLOWED);
    assert_error(response, 401, "invalid_credentials").await;
}

crate::tests![
    an_allowed_origin_gets_a_credentialed_preflight,
    a_disallowed_origin_gets_no_allow_headers_anywhere,
    errors_to_an_allowed_origin_are_readable,
];
