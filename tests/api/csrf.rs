//! Cross-site request forgery: cookie-authenticated writes are refused
//! unless they come from the gateway's own origin or an allowlisted one, and
//! every write is JSON or bodiless. Refused requests change nothing.

use reqwest::{Method, Response, header};
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, TestApp, assert_error, assert_security_headers, set_cookies, spawn_app,
    spawn_app_with,
};

/// In CORS_ALLOWED_ORIGINS of config/test.env.
const ALLOWED: &str = "http://localhost:4200";
const EVIL: &str = "https://evil.example";

/// A request as the browser would send it (with the jar's cookies), plus
/// the given extra headers.
async fn send_with(
    app: &TestApp,
    method: Method,
    path: &str,
    body: Option<Value>,
    headers: &[(&str, &str)],
) -> Response {
    let mut request = app.client.request(method, app.url(path));
    if let Some(body) = body {
        request = request.json(&body);
    }
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    app.send(request, path).await
}

fn ada() -> Value {
    json!({ "firstName": "Ada", "lastName": "Lovelace" })
}

async fn people(app: &TestApp) -> Value {
    let response = app.get("/api/people").await;
    assert_eq!(response.status(), 200);
    response.json().await.expect("json")
}

async fn assert_refused(response: Response) {
    assert_security_headers(&response);
    assert!(
        set_cookies(&response).is_empty(),
        "a refused request sets no cookie"
    );
    assert_error(response, 403, "csrf_rejected").await;
}

async fn a_cross_origin_post_with_a_valid_session_cookie_is_refused_and_creates_nothing() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let port = app.address.rsplit(':').next().expect("port");
    let other_port = format!(
        "http://127.0.0.1:{}",
        port.parse::<u16>().expect("port") ^ 1
    );
    let other_scheme = format!("https://127.0.0.1:{port}");
    // A sibling subdomain is the same site: SameSite=Strict lets the cookie
    // through, so the Origin is all that stops it.
    for origin in [
        EVIL,
        "http://evil.localhost:4200",
        "http://localhost:4201",
        &other_port,
        &other_scheme,
    ] {
        let response = send_with(
            &app,
            Method::POST,
            "/api/people",
            Some(ada()),
            &[("origin", origin), ("sec-fetch-site", "same-site")],
        )
        .await;
        assert_refused(response).await;
    }
    assert_eq!(people(&app).await, json!([]));
}

async fn cross_origin_updates_deletes_refreshes_and_logouts_change_nothing() {
    let app = spawn_app().await;
    app.logged_in_admin("admin@example.com").await;
    let id = app.create_person("Ada", "Lovelace").await;
    let path = format!("/api/people/{id}");
    let session = app.stored_session("admin@example.com");
    let evil = [("origin", EVIL)];

    let update = json!({ "firstName": "Evil", "lastName": "Update" });
    assert_refused(send_with(&app, Method::PUT, &path, Some(update), &evil).await).await;
    assert_refused(send_with(&app, Method::DELETE, &path, None, &evil).await).await;
    for auth_path in [
        "/api/auth/refresh",
        "/api/auth/logout",
        "/api/auth/refresh/revoke",
    ] {
        assert_refused(send_with(&app, Method::POST, auth_path, None, &evil).await).await;
    }

    assert_eq!(
        people(&app).await,
        json!([{ "id": id, "firstName": "Ada", "lastName": "Lovelace" }])
    );
    // Neither rotated nor revoked: the same refresh session still works.
    assert_eq!(app.stored_session("admin@example.com"), session);
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 200);
}

async fn a_cross_site_request_is_refused_even_from_an_allowlisted_origin() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let cross_site = ("sec-fetch-site", "cross-site");
    for headers in [
        &[cross_site][..],
        &[("origin", ALLOWED), cross_site],
        &[("origin", app.address.as_str()), cross_site],
    ] {
        let response = send_with(&app, Method::POST, "/api/people", Some(ada()), headers).await;
        assert_refused(response).await;
    }
    assert_eq!(people(&app).await, json!([]));
}

async fn an_opaque_origin_is_refused_unless_the_browser_says_same_origin() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    for site in [None, Some("same-site"), Some("none")] {
        let mut headers = vec![("origin", "null")];
        headers.extend(site.map(|s| ("sec-fetch-site", s)));
        let response = send_with(&app, Method::POST, "/api/people", Some(ada()), &headers).await;
        assert_refused(response).await;
    }
    assert_eq!(people(&app).await, json!([]));

    // A same-origin form post from a page with Referrer-Policy: no-referrer.
    let response = send_with(
        &app,
        Method::POST,
        "/api/people",
        Some(ada()),
        &[("origin", "null"), ("sec-fetch-site", "same-origin")],
    )
    .await;
    assert_eq!(response.status(), 201);
}

async fn writes_from_the_same_origin_an_allowlisted_origin_or_no_browser_succeed() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let own = app.address.clone();
    let upper = own.to_ascii_uppercase();
    for headers in [
        &[("origin", own.as_str()), ("sec-fetch-site", "same-origin")][..],
        &[("origin", upper.as_str())],
        &[("origin", ALLOWED), ("sec-fetch-site", "same-site")],
        // curl and other non-browser clients send no Origin.
        &[],
    ] {
        let response = send_with(&app, Method::POST, "/api/people", Some(ada()), headers).await;
        assert_eq!(response.status(), 201, "{headers:?}");
    }
    assert_eq!(people(&app).await.as_array().map(Vec::len), Some(4));

    // The allowlisted origin can also read what it was told.
    let response = send_with(
        &app,
        Method::POST,
        "/api/people",
        Some(ada()),
        &[("origin", ALLOWED)],
    )
    .await;
    assert_eq!(response.headers()["access-control-allow-origin"], ALLOWED);
    assert_eq!(response.status(), 201);
}

async fn behind_a_tls_proxy_the_forwarded_scheme_and_host_define_the_own_origin() {
    let app = spawn_app_with(&[("TRUSTED_PROXIES", "127.0.0.1")]).await;
    app.logged_in_user("user@example.com").await;
    let host = app.address.trim_start_matches("http://").to_owned();
    let https_self = format!("https://{host}");
    // Without the proxy's word the connection is plain HTTP: an https page
    // of the same host is another origin.
    let response = send_with(
        &app,
        Method::POST,
        "/api/people",
        Some(ada()),
        &[("origin", https_self.as_str())],
    )
    .await;
    assert_refused(response).await;

    for headers in [
        &[
            ("origin", https_self.as_str()),
            ("x-forwarded-proto", "https"),
        ][..],
        &[
            ("origin", "https://api.example.com"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "api.example.com"),
        ],
        &[
            ("origin", "https://api.example.com"),
            ("forwarded", "proto=https;host=api.example.com"),
        ],
    ] {
        let response = send_with(&app, Method::POST, "/api/people", Some(ada()), headers).await;
        assert_eq!(response.status(), 201, "{headers:?}");
    }
    assert_eq!(people(&app).await.as_array().map(Vec::len), Some(3));
}

async fn forwarded_host_and_scheme_from_an_untrusted_peer_are_ignored() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    for headers in [
        &[
            ("origin", "https://evil.example"),
            ("x-forwarded-proto", "https"),
            ("x-forwarded-host", "evil.example"),
        ][..],
        &[
            ("origin", "https://evil.example"),
            ("forwarded", "proto=https;host=evil.example"),
        ],
    ] {
        let response = send_with(&app, Method::POST, "/api/people", Some(ada()), headers).await;
        assert_refused(response).await;
    }
    assert_eq!(people(&app).await.as_array().map(Vec::len), Some(0));
}

async fn an_allowlisted_origin_with_a_second_port_is_refused() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let origin = format!("{ALLOWED}:80");
    let response = send_with(
        &app,
        Method::POST,
        "/api/people",
        Some(ada()),
        &[("origin", origin.as_str())],
    )
    .await;
    assert_refused(response).await;
    assert_eq!(people(&app).await.as_array().map(Vec::len), Some(0));
}

async fn a_cross_site_fetch_metadata_value_counts_even_when_repeated_second() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let response = send_with(
        &app,
        Method::POST,
        "/api/people",
        Some(ada()),
        &[
            ("origin", ALLOWED),
            ("sec-fetch-site", "same-origin"),
            ("sec-fetch-site", "cross-site"),
        ],
    )
    .await;
    assert_refused(response).await;
    assert_eq!(people(&app).await.as_array().map(Vec::len), Some(0));
}

async fn a_bearer_authenticated_write_is_not_subject_to_the_origin_check() {
    let app = spawn_app_with(&[("TOKEN_BODY_DELIVERY", "true")]).await;
    assert_eq!(app.signup("bot@example.com", PASSWORD).await.status(), 201);
    let login = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": "bot@example.com", "password": PASSWORD, "tokenDelivery": "body" }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let tokens: Value = login.json().await.expect("json");
    let access = tokens["accessToken"].as_str().expect("access token");
    // No cookie jar: this client authenticates by the header alone.
    let response = app
        .client
        .post(app.url("/api/people"))
        .bearer_auth(access)
        .header("origin", EVIL)
        .header("sec-fetch-site", "cross-site")
        .json(&ada())
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 201);
    assert_eq!(app.count("people"), 1);
}

async fn a_bearer_header_does_not_exempt_a_request_that_carries_the_session_cookie() {
    let app = spawn_app().await;
    app.logged_in_user("user@example.com").await;
    let access = app.jar_value("accessToken").expect("access cookie");
    let bearer = format!("Bearer {access}");
    let response = send_with(
        &app,
        Method::POST,
        "/api/people",
        Some(ada()),
        &[("origin", EVIL), ("authorization", bearer.as_str())],
    )
    .await;
    assert_refused(response).await;

    // Nor on refresh, where the refresh cookie would be what counts.
    app.remove_from_jar("accessToken");
    let session = app.stored_session("user@example.com");
    let response = send_with(
        &app,
        Method::POST,
        "/api/auth/refresh",
        None,
        &[("origin", EVIL), ("authorization", "Bearer whatever")],
    )
    .await;
    assert_refused(response).await;
    assert_eq!(app.stored_session("user@example.com"), session);
    assert_eq!(app.count("people"), 0);
}

async fn a_login_or_signup_from_a_foreign_origin_is_refused_without_setting_cookies() {
    let app = spawn_app().await;
    let credentials = json!({ "email": "ada@example.com", "password": PASSWORD });
    let response = send_with(
        &app,
        Method::POST,
        "/api/auth/signup",
        Some(credentials),
        &[("origin", EVIL)],
    )
    .await;
    assert_refused(response).await;
    assert_eq!(app.count("users"), 0);

    assert_eq!(app.signup("ada@example.com", PASSWORD).await.status(), 201);
    // Login CSRF would sign the victim's browser into the attacker's account.
    let response = send_with(
        &app,
        Method::POST,
        "/api/auth/login",
        Some(json!({ "username": "ada@example.com", "password": PASSWORD })),
        &[("origin", EVIL)],
    )
    .await;
    assert_refused(response).await;
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
    assert!(app.jar_value("accessToken").is_none());
}

async fn a_non_json_body_is_415_on_every_write_and_changes_nothing() {
    let app = spawn_app().await;
    app.logged_in_admin("admin@example.com").await;
    let id = app.create_person("Ada", "Lovelace").await;
    let person = format!("/api/people/{id}");
    let session = app.stored_session("admin@example.com");
    let own = app.address.clone();
    let writes = [
        (Method::POST, "/api/auth/signup"),
        (Method::POST, "/api/auth/login"),
        (Method::POST, "/api/auth/refresh"),
        (Method::POST, "/api/auth/logout"),
        (Method::POST, "/api/auth/refresh/revoke"),
        (Method::POST, "/api/people"),
        (Method::PUT, person.as_str()),
        (Method::DELETE, person.as_str()),
    ];
    let body = r#"{"firstName":"Evil","lastName":"Plain","email":"e@x.io","password":"correct horse battery"}"#;
    for (method, path) in writes {
        for (content_type, body) in [
            (Some("text/plain"), body),
            (Some("application/x-www-form-urlencoded"), "firstName=Evil"),
            (Some("multipart/form-data; boundary=x"), "--x--"),
            // What a cross-site form with no fields sends.
            (Some("application/x-www-form-urlencoded"), ""),
            (None, body),
        ] {
            let mut request = app
                .client
                .request(method.clone(), app.url(path))
                .header("origin", &own)
                .body(body);
            if let Some(content_type) = content_type {
                request = request.header(header::CONTENT_TYPE, content_type);
            }
            let response = app.send(request, path).await;
            assert_security_headers(&response);
            assert!(set_cookies(&response).is_empty(), "{method} {path}");
            assert_error(response, 415, "unsupported_media_type").await;
        }
    }
    assert_eq!(
        people(&app).await,
        json!([{ "id": id, "firstName": "Ada", "lastName": "Lovelace" }])
    );
    assert_eq!(app.count("users"), 1);
    assert_eq!(app.stored_session("admin@example.com"), session);
}

async fn bodiless_writes_need_no_content_type() {
    let app = spawn_app().await;
    app.logged_in_admin("admin@example.com").await;
    let own = app.address.clone();
    let json_ct = ("content-type", "application/json");
    let same_origin = ("origin", own.as_str());
    // As curl, the README's fetch snippet and Angular's post(url, null) send
    // them, and as the demo page does (JSON content type, empty body).
    for headers in [&[][..], &[same_origin], &[same_origin, json_ct]] {
        let refreshed = send_with(&app, Method::POST, "/api/auth/refresh", None, headers).await;
        assert_eq!(refreshed.status(), 200, "{headers:?}");
        let id = app.create_person("Ada", "Lovelace").await;
        let path = format!("/api/people/{id}");
        let deleted = send_with(&app, Method::DELETE, &path, None, headers).await;
        assert_eq!(deleted.status(), 204, "{headers:?}");
    }
    assert_eq!(app.count("people"), 0);

    let revoked = send_with(
        &app,
        Method::POST,
        "/api/auth/refresh/revoke",
        None,
        &[same_origin],
    )
    .await;
    assert_eq!(revoked.status(), 204);
    let logged_out = send_with(
        &app,
        Method::POST,
        "/api/auth/logout",
        None,
        &[same_origin, json_ct],
    )
    .await;
    assert_eq!(logged_out.status(), 204);
    assert_eq!(app.stored_session("admin@example.com"), (None, None));
}

crate::tests![
    a_cross_origin_post_with_a_valid_session_cookie_is_refused_and_creates_nothing,
    cross_origin_updates_deletes_refreshes_and_logouts_change_nothing,
    a_cross_site_request_is_refused_even_from_an_allowlisted_origin,
    an_opaque_origin_is_refused_unless_the_browser_says_same_origin,
    writes_from_the_same_origin_an_allowlisted_origin_or_no_browser_succeed,
    behind_a_tls_proxy_the_forwarded_scheme_and_host_define_the_own_origin,
    forwarded_host_and_scheme_from_an_untrusted_peer_are_ignored,
    an_allowlisted_origin_with_a_second_port_is_refused,
    a_cross_site_fetch_metadata_value_counts_even_when_repeated_second,
    a_bearer_authenticated_write_is_not_subject_to_the_origin_check,
    a_bearer_header_does_not_exempt_a_request_that_carries_the_session_cookie,
    a_login_or_signup_from_a_foreign_origin_is_refused_without_setting_cookies,
    a_non_json_body_is_415_on_every_write_and_changes_nothing,
    bodiless_writes_need_no_content_type,
];
