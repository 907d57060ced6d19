//! Response hygiene: what every response says about itself, and which
//! methods a resource answers.

use reqwest::{Method, Response, header::CONTENT_TYPE};
use serde_json::json;

use crate::helpers::{PASSWORD, assert_error, assert_security_headers, spawn_app};

const ALLOWED: &str = "http://localhost:4200";
const EVIL: &str = "https://evil.example";

fn checked(response: Response, status: u16) -> Response {
    assert_eq!(response.status(), status, "{}", response.url().path());
    assert_security_headers(&response);
    response
}

async fn every_response_carries_the_security_headers_whatever_its_status() {
    let app = spawn_app().await;
    let anonymous = |method: Method, path: &str| app.client.request(method, app.url(path));
    let send = |request: reqwest::RequestBuilder| async move {
        request.send().await.expect("request is sent")
    };

    // Successes: the API, a probe outside it, the demo page.
    app.logged_in_user("user@example.com").await;
    checked(app.get("/api/auth/me").await, 200);
    let id = app.create_person("Ada", "Lovelace").await;
    checked(app.get(&format!("/api/people/{id}")).await, 200);
    checked(send(anonymous(Method::GET, "/health")).await, 200);
    checked(send(anonymous(Method::GET, "/")).await, 200);

    // Errors made by handlers and extractors.
    checked(send(anonymous(Method::GET, "/api/auth/me")).await, 401);
    checked(
        app.request(Method::DELETE, &format!("/api/people/{id}"), None)
            .await,
        403,
    );
    let forged = anonymous(Method::POST, "/api/people")
        .header("origin", EVIL)
        .json(&json!({ "firstName": "Evil", "lastName": "Forged" }));
    checked(app.send(forged, "/api/people").await, 403);
    checked(app.get("/api/people/abc").await, 400);
    checked(app.get("/api/people/999999").await, 404);
    checked(app.request(Method::DELETE, "/api/people", None).await, 405);
    let huge = json!({ "firstName": "a".repeat(20_000), "lastName": "b" }).to_string();
    let oversize = anonymous(Method::POST, "/api/people")
        .header(CONTENT_TYPE, "application/json")
        .body(huge.clone());
    checked(app.send(oversize, "/api/people").await, 413);
    checked(
        send(
            anonymous(Method::POST, "/api/auth/signup")
                .header(CONTENT_TYPE, "text/plain")
                .body("{}"),
        )
        .await,
        415,
    );

    // Responses made outside any handler: default services, the body
    // limit of a raw-bytes route, CORS preflights either way.
    checked(send(anonymous(Method::GET, "/api/nothing-here")).await, 404);
    checked(send(anonymous(Method::POST, "/api")).await, 404);
    checked(send(anonymous(Method::GET, "/no-such-file.txt")).await, 404);
    checked(
        send(
            anonymous(Method::POST, "/api/auth/refresh")
                .header(CONTENT_TYPE, "application/json")
                .body(huge),
        )
        .await,
        413,
    );
    let preflight = |origin: &'static str| {
        anonymous(Method::OPTIONS, "/api/people")
            .header("origin", origin)
            .header("access-control-request-method", "POST")
    };
    checked(send(preflight(ALLOWED)).await, 200);
    checked(send(preflight(EVIL)).await, 400);
}

async fn no_response_names_the_server_software() {
    let app = spawn_app().await;
    for path in ["/", "/health", "/api/auth/me", "/api/nothing-here"] {
        let response = app.get(path).await;
        assert!(response.headers().get("server").is_none(), "{path}");
        assert!(response.headers().get("x-powered-by").is_none(), "{path}");
    }
}

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

async fn both_logout_routes_tell_the_browser_to_clear_its_cookies() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let clear_site_data = |response: &Response| response.headers().get("clear-site-data").cloned();
    let refreshed = app.post_empty("/api/auth/refresh").await;
    assert_eq!(refreshed.status(), 200);
    assert_eq!(clear_site_data(&refreshed), None, "only logout clears");

    for path in ["/api/auth/logout", "/api/auth/refresh/revoke"] {
        let login = app.login("ada@example.com", PASSWORD).await;
        assert_eq!(login.status(), 200);
        // With a session, and again without one (logout is idempotent).
        for _ in 0..2 {
            let response = checked(app.post_empty(path).await, 204);
            assert_eq!(
                clear_site_data(&response).as_ref().map(|v| v.to_str().ok()),
                Some(Some("\"cookies\"")),
                "{path}"
            );
        }
    }
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
}

crate::tests![
    every_response_carries_the_security_headers_whatever_its_status,
    no_response_names_the_server_software,
    a_405_lists_exactly_the_methods_the_resource_answers,
    method_override_headers_and_query_are_ignored,
    both_logout_routes_tell_the_browser_to_clear_its_cookies,
];
