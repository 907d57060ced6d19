//! The bad-input matrix: each case is a JSON 4xx and stores nothing.

use reqwest::header::CONTENT_TYPE;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, assert_error, spawn_app};

async fn raw_post(
    app: &TestApp,
    path: &str,
    content_type: Option<&str>,
    body: impl Into<reqwest::Body>,
) -> reqwest::Response {
    let mut request = app.client.post(app.url(path)).body(body);
    if let Some(ct) = content_type {
        request = request.header(CONTENT_TYPE, ct);
    }
    app.send(request, path).await
}

async fn malformed_bodies_are_4xx_json_and_store_nothing() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let json_ct = Some("application/json");
    let cases: Vec<(&str, Option<&str>, String, u16, &str)> = vec![
        (
            "/api/people",
            json_ct,
            "{not json".into(),
            400,
            "invalid_json",
        ),
        ("/api/people", json_ct, "".into(), 400, "invalid_json"),
        ("/api/people", json_ct, "[1,2]".into(), 400, "invalid_body"),
        (
            "/api/people",
            json_ct,
            r#"{"firstName": 1, "lastName": true}"#.into(),
            400,
            "invalid_body",
        ),
        (
            "/api/people",
            None,
            r#"{"firstName":"A","lastName":"B"}"#.into(),
            415,
            "unsupported_media_type",
        ),
        (
            "/api/people",
            Some("text/plain"),
            r#"{"firstName":"A","lastName":"B"}"#.into(),
            415,
            "unsupported_media_type",
        ),
        (
            "/api/people",
            Some("application/x-www-form-urlencoded"),
            "firstName=A&lastName=B".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "/api/auth/signup",
            json_ct,
            "{\"email\":".into(),
            400,
            "invalid_json",
        ),
        (
            "/api/auth/signup",
            Some("text/plain"),
            json!({"email":"e@x.io","password":PASSWORD}).to_string(),
            415,
            "unsupported_media_type",
        ),
        (
            "/api/auth/login",
            json_ct,
            "null".into(),
            400,
            "invalid_body",
        ),
        (
            "/api/auth/refresh",
            Some("text/plain"),
            "refreshToken=x".into(),
            415,
            "unsupported_media_type",
        ),
        (
            "/api/auth/refresh",
            json_ct,
            "{oops".into(),
            400,
            "invalid_json",
        ),
    ];
    for (path, ct, body, status, code) in cases {
        let response = raw_post(&app, path, ct, body.clone()).await;
        let body_json = assert_error(response, status, code).await;
        let text = body_json.to_string();
        for leak in ["line", "column", "expected", "serde", "diesel", "src/"] {
            assert!(
                !text.contains(leak),
                "{path} {body:?} leaked `{leak}`: {text}"
            );
        }
    }
    assert_eq!(app.count("people"), 0);
    assert_eq!(app.count("users"), 1);
}

async fn oversize_bodies_are_413() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let huge = json!({ "firstName": "a".repeat(20_000), "lastName": "b" }).to_string();
    let response = raw_post(&app, "/api/people", Some("application/json"), huge.clone()).await;
    assert_error(response, 413, "payload_too_large").await;
    let response = raw_post(&app, "/api/auth/refresh", Some("application/json"), huge).await;
    assert_error(response, 413, "payload_too_large").await;
    assert_eq!(app.count("people"), 0);
}

async fn names_with_nul_sql_or_too_many_characters_are_rejected() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    for (first, last) in [
        ("Ro\u{0}bert", "Tables"),
        ("Robert'); DROP TABLE people;--", "Tables"),
        ("' OR 1=1 --", "x"),
        (&"a".repeat(31) as &str, "Smith"),
        ("", "Smith"),
        ("   ", "Smith"),
        ("<script>alert(1)</script>", "x"),
    ] {
        let response = app
            .post(
                "/api/people",
                json!({ "firstName": first, "lastName": last }),
            )
            .await;
        let body = assert_error(response, 400, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "firstName", "{first:?}");
    }
    // Exactly 30 characters, multi-byte, is fine.
    let thirty = "é".repeat(30);
    assert_eq!(
        app.post(
            "/api/people",
            json!({ "firstName": thirty, "lastName": "O'Brien" })
        )
        .await
        .status(),
        201
    );
    assert_eq!(app.count("people"), 1);
}

crate::tests![
    malformed_bodies_are_4xx_json_and_store_nothing,
    oversize_bodies_are_413,
    names_with_nul_sql_or_too_many_characters_are_rejected,
];
