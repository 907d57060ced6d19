//! Response hygiene: what every response says about itself, and which
//! methods a resource answers.

use reqwest::Method;
use serde_json::json;

use crate::helpers::{assert_error, spawn_app};

#[actix_web::test]
async fn a_405_lists_exactly_the_methods_the_resource_answers() {
    let app = spawn_app().await;
    for (method, path, allow) in [
        (Method::DELETE, "/health", "GET"),
        (Method::POST, "/ready", "GET"),
        (Method::GET, "/api/auth/login", "POST"),
        (Method::PUT, "/api/auth/refresh/revoke", "POST"),
        (Method::POST, "/api/auth/me", "GET"),
        (Method::DELETE, "/api/people", "GET, POST"),
        (Method::PATCH, "/api/people/1", "GET, PUT, DELETE"),
        (Method::HEAD, "/api/people/1", "GET, PUT, DELETE"),
        (
            Method::from_bytes(b"PURGE").expect("method"),
            "/api/people",
            "GET, POST",
        ),
    ] {
        let response = app.request(method.clone(), path, None).await;
        assert_eq!(response.status(), 405, "{method} {path}");
        assert_eq!(
            response.headers().get("allow").map(|v| v.to_str().ok()),
            Some(Some(allow)),
            "{method} {path}"
        );
        if method != Method::HEAD {
            assert_error(response, 405, "method_not_allowed").await;
        }
    }
}

#[actix_web::test]
async fn method_override_headers_and_query_are_ignored() {
    let app = spawn_app().await;
    app.logged_in_admin("admin@example.com").await;
    let id = app.create_person("Ada", "Lovelace").await;
    let path = format!("/api/people/{id}");
    for header in [
        "x-http-method-override",
        "x-http-method",
        "x-method-override",
    ] {
        // POST is not a method of /api/people/{id}: honouring the header
        // would have turned it into a DELETE an admin may make.
        let request = app
            .client
            .post(app.url(&path))
            .header(header, "DELETE")
            .json(&json!({}));
        let response = app.send(request, &path).await;
        assert_error(response, 405, "method_not_allowed").await;
        // A GET stays a read.
        let request = app.client.get(app.url(&path)).header(header, "DELETE");
        assert_eq!(app.send(request, &path).await.status(), 200, "{header}");
    }
    let overridden = format!("{path}?_method=DELETE");
    let response = app
        .request(Method::POST, &overridden, Some(json!({})))
        .await;
    assert_error(response, 405, "method_not_allowed").await;
    assert_eq!(app.get(&overridden).await.status(), 200);

    assert_eq!(app.count("people"), 1);
    assert_eq!(app.get(&path).await.status(), 200);
}
