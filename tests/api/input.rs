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

async fn names_with_control_characters_blank_or_too_long_are_rejected() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let too_long = "a".repeat(31);
    // 31 characters after NFC, though only "e" and a combining accent.
    let too_long_decomposed = "e\u{301}".repeat(31);
    for (first, message) in [
        ("Ro\u{0}bert", "must not contain control characters"),
        ("Ro\nbert", "must not contain control characters"),
        ("Ro\tbert", "must not contain control characters"),
        ("Robert\u{7f}", "must not contain control characters"),
        ("Ro\u{85}bert", "must not contain control characters"),
        ("Ro\u{2028}bert", "must not contain control characters"),
        ("Ro\u{2029}bert", "must not contain control characters"),
        ("Robert\n", "must not contain control characters"),
        (&too_long, "must be at most 30 characters"),
        (&too_long_decomposed, "must be at most 30 characters"),
        ("", "must not be empty"),
        ("   ", "must not be empty"),
    ] {
        let response = app
            .post(
                "/api/people",
                json!({ "firstName": first, "lastName": "Tables" }),
            )
            .await;
        let body = assert_error(response, 400, "validation_failed").await;
        assert_eq!(
            body["errors"],
            json!([{ "field": "firstName", "message": message }]),
            "{first:?}"
        );
    }
    assert_eq!(app.count("people"), 0);

    // Exactly 30 characters, multi-byte, is fine.
    let thirty = "é".repeat(30);
    let response = app
        .post(
            "/api/people",
            json!({ "firstName": thirty, "lastName": "O'Brien" }),
        )
        .await;
    assert_eq!(response.status(), 201);
    let id = response.json::<serde_json::Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
    assert_eq!(app.count("people"), 1);

    // An update with a control character changes nothing.
    let response = app
        .request(
            reqwest::Method::PUT,
            &format!("/api/people/{id}"),
            Some(json!({ "firstName": "Ada", "lastName": "Love\u{0}lace" })),
        )
        .await;
    let body = assert_error(response, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "lastName");
    assert_eq!(app.stored_person(id), (thirty, "O'Brien".to_owned()));
    assert_eq!(app.count("people"), 1);
}

crate::tests![
    malformed_bodies_are_4xx_json_and_store_nothing,
    oversize_bodies_are_413,
    names_with_control_characters_blank_or_too_long_are_rejected,
];
