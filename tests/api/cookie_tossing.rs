//! Cookie tossing: a page on a sibling subdomain can plant a cookie under
//! the session cookie's name (`Domain=example.com; Path=/api`), and the
//! browser then sends both values, the planted one first. A request with
//! more than one value for a session cookie is authenticated with none of
//! them, and logout ends every session presented.

use reqwest::{Method, Response, header};
use serde_json::json;

use crate::helpers::{TestApp, assert_error, spawn_app};

/// Logs in `email` (a fresh account) and returns its (access, refresh) tokens.
async fn tokens_of(app: &TestApp, email: &str) -> (String, String) {
    app.logged_in_user(email).await;
    (
        app.jar_value("accessToken").expect("access cookie"),
        app.jar_value("refreshToken").expect("refresh cookie"),
    )
}

async fn send(app: &TestApp, method: Method, path: &str, cookie: &str) -> Response {
    let mut request = app
        .client
        .request(method.clone(), app.url(path))
        .header(header::COOKIE, cookie);
    if method == Method::POST && path == "/api/people" {
        request = request.json(&json!({ "firstName": "Mallory", "lastName": "Planted" }));
    }
    request.send().await.expect("request is sent")
}

async fn duplicate_access_cookies_authenticate_no_one_on_me_or_on_a_write() {
    let app = spawn_app().await;
    let (attacker, _) = tokens_of(&app, "eve@example.com").await;
    let (victim, _) = tokens_of(&app, "ada@example.com").await;
    // Either order: the browser puts the planted, longer-path cookie first.
    for cookie in [
        format!("accessToken={attacker}; accessToken={victim}"),
        format!("accessToken={victim}; accessToken={attacker}"),
    ] {
        let response = send(&app, Method::GET, "/api/auth/me", &cookie).await;
        assert_error(response, 401, "cookie_duplicated").await;
        let response = send(&app, Method::POST, "/api/people", &cookie).await;
        assert_error(response, 401, "cookie_duplicated").await;
    }
    // Two Cookie header lines are the same as one.
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header(header::COOKIE, format!("accessToken={attacker}"))
        .header(header::COOKIE, format!("accessToken={victim}"))
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "cookie_duplicated").await;
    assert_eq!(app.count("people"), 0);
    // The victim's own single cookie still works.
    let response = send(
        &app,
        Method::GET,
        "/api/auth/me",
        &format!("accessToken={victim}"),
    )
    .await;
    assert_eq!(response.status(), 200);
}

async fn a_planted_refresh_cookie_cannot_shadow_the_victims_revoke_or_refresh() {
    let app = spawn_app().await;
    let (_, attacker) = tokens_of(&app, "eve@example.com").await;
    let (_, victim) = tokens_of(&app, "ada@example.com").await;
    let cookie = format!("refreshToken={attacker}; refreshToken={victim}");
    let response = send(&app, Method::POST, "/api/auth/refresh", &cookie).await;
    assert_error(response, 401, "cookie_duplicated").await;
    assert!(app.stored_session("ada@example.com").0.is_some());

    let response = send(&app, Method::POST, "/api/auth/refresh/revoke", &cookie).await;
    assert_eq!(response.status(), 204);
    // Every session presented has ended, the victim's included.
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
    assert_eq!(app.stored_session("eve@example.com"), (None, None));
    assert_error(
        app.refresh_with(&victim).await,
        401,
        "refresh_token_invalid",
    )
    .await;
}

async fn logout_with_two_access_cookies_ends_both_sessions() {
    let app = spawn_app().await;
    let (attacker, _) = tokens_of(&app, "eve@example.com").await;
    let (victim, _) = tokens_of(&app, "ada@example.com").await;
    let cookie = format!("accessToken={attacker}; accessToken={victim}");
    let response = send(&app, Method::POST, "/api/auth/logout", &cookie).await;
    assert_eq!(response.status(), 204);
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
    assert_eq!(app.stored_session("eve@example.com"), (None, None));
    let response = send(
        &app,
        Method::GET,
        "/api/auth/me",
        &format!("accessToken={victim}"),
    )
    .await;
    assert_error(response, 401, "token_revoked").await;
}

crate::tests![
    duplicate_access_cookies_authenticate_no_one_on_me_or_on_a_write,
    a_planted_refresh_cookie_cannot_shadow_the_victims_revoke_or_refresh,
    logout_with_two_access_cookies_ends_both_sessions,
];
