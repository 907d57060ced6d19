use std::time::Duration;

use crate::helpers::{PASSWORD, assert_error, find_cookie, set_cookies, spawn_app, spawn_app_with};
use serde_json::{Value, json};

async fn refresh_rotates_both_cookies_and_the_stored_hash() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let old_refresh = app.jar_value("refreshToken").expect("refresh cookie");
    let old_access = app.jar_value("accessToken").expect("access cookie");
    let (old_hash, expiry) = app.stored_session("ada@example.com");

    let response = app.post_empty("/api/auth/refresh").await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&response);
    let refresh = find_cookie(&cookies, "refreshToken");
    let access = find_cookie(&cookies, "accessToken");
    assert_eq!(refresh.attr("path"), Some("/api/auth/refresh"));
    assert_eq!(access.attr("path"), Some("/"));
    assert_ne!(refresh.value, old_refresh);
    assert_ne!(access.value, old_access);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["email"], "ada@example.com");
    assert!(body.get("accessToken").is_none() && body.get("refreshToken").is_none());

    let (new_hash, new_expiry) = app.stored_session("ada@example.com");
    assert_ne!(new_hash, old_hash);
    assert_eq!(new_expiry, expiry, "the absolute expiry never moves");
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
}

async fn refresh_without_a_token_is_401_and_clears_cookies() {
    let app = spawn_app().await;
    let response = app.post_empty("/api/auth/refresh").await;
    assert_eq!(set_cookies(&response).len(), 2);
    assert!(response.headers().contains_key("www-authenticate"));
    assert_error(response, 401, "refresh_token_missing").await;

    assert_error(
        app.refresh_with("not-a-real-token").await,
        401,
        "refresh_token_invalid",
    )
    .await;
}

async fn a_json_refresh_token_is_only_for_enabled_non_browser_mode() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let token = app.jar_value("refreshToken").expect("cookie");
    let response = app
        .client
        .post(app.url("/api/auth/refresh"))
        .json(&json!({ "refreshToken": token }))
        .send()
        .await
        .expect("send");
    assert_error(response, 400, "token_body_disabled").await;
    // The token was not consumed.
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 200);
}

async fn the_refresh_access_token_role_comes_from_the_database() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let me: Value = app.get("/api/auth/me").await.json().await.expect("json");
    assert_eq!(me["role"], "user");
    assert_eq!(me["username"], "ada@example.com");
    assert_eq!(me["email"], "ada@example.com");
    bff_gateway::db::users::set_role(
        &mut app.db(),
        "ada@example.com",
        "admin",
        chrono::Utc::now().naive_utc(),
    )
    .expect("promote");
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 200);
    let me: Value = app.get("/api/auth/me").await.json().await.expect("json");
    assert_eq!(me["role"], "admin");
}

/// Exactly one request rotates; the others arrive inside the reuse window
/// with the now-previous token and get the very same successor.
async fn concurrent_refreshes_with_one_token_rotate_exactly_once() {
    let app = spawn_app_with(&[("DATABASE_POOL_SIZE", "8")]).await;
    app.logged_in_user("ada@example.com").await;
    let (first_hash, _) = app.stored_session("ada@example.com");
    let t0 = app.jar_value("refreshToken").expect("refresh cookie");
    let successor = app
        .concurrent_refreshes_agree(&[app.address.as_str()], &t0, 12)
        .await;
    let (hash, _) = app.stored_session("ada@example.com");
    assert_ne!(hash, first_hash);
    assert_eq!(
        hash.as_deref(),
        Some(crate::helpers::token_hash(&successor).as_str())
    );
    assert_eq!(app.refresh_with(&successor).await.status(), 200);
}

async fn the_session_has_an_absolute_expiry() {
    let app = spawn_app_with(&[("REFRESH_TOKEN_TTL", "4s"), ("ACCESS_TOKEN_TTL", "1s")]).await;
    app.signup("ada@example.com", PASSWORD).await;
    let login = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(
        find_cookie(&set_cookies(&login), "refreshToken").max_age(),
        4
    );

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let first = app.post_empty("/api/auth/refresh").await;
    assert_eq!(first.status(), 200);
    let first_age = find_cookie(&set_cookies(&first), "refreshToken").max_age();
    assert!((1..=3).contains(&first_age), "Max-Age {first_age}");

    tokio::time::sleep(Duration::from_millis(1200)).await;
    let second = app.post_empty("/api/auth/refresh").await;
    assert_eq!(second.status(), 200);
    let second_age = find_cookie(&set_cookies(&second), "refreshToken").max_age();
    assert!(
        second_age < first_age,
        "Max-Age decreases: {first_age} then {second_age}"
    );

    tokio::time::sleep(Duration::from_millis(2200)).await;
    // The cookie is kept in the jar regardless of Max-Age: the server itself
    // must refuse the expired session, and clear it.
    let expired = app.post_empty("/api/auth/refresh").await;
    assert_error(expired, 401, "refresh_token_expired").await;
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
}

/// Refreshed every 1.2 s, the session outlives its 2-second idle timeout;
/// left alone for longer, it ends although its absolute expiry is an hour away.
async fn a_session_not_refreshed_for_the_idle_timeout_ends() {
    let app = spawn_app_with(&[
        ("REFRESH_IDLE_TIMEOUT", "2s"),
        ("ACCESS_TOKEN_TTL", "1s"),
        ("REFRESH_TOKEN_TTL", "1h"),
    ])
    .await;
    app.logged_in_user("ada@example.com").await;
    let (_, expiry) = app.stored_session("ada@example.com");
    for _ in 0..2 {
        tokio::time::sleep(Duration::from_millis(1200)).await;
        let response = app.post_empty("/api/auth/refresh").await;
        assert_eq!(response.status(), 200);
        // Max-Age still counts down to the absolute expiry, not the idle one.
        let max_age = find_cookie(&set_cookies(&response), "refreshToken").max_age();
        assert!((3590..=3600).contains(&max_age), "Max-Age {max_age}");
        assert_eq!(app.stored_session("ada@example.com").1, expiry);
    }

    tokio::time::sleep(Duration::from_millis(2200)).await;
    let idle = app.post_empty("/api/auth/refresh").await;
    let cookies = set_cookies(&idle);
    for name in ["accessToken", "refreshToken"] {
        assert_eq!(find_cookie(&cookies, name).attr("max-age"), Some("0"));
    }
    assert_error(idle, 401, "refresh_token_expired").await;
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
}

crate::tests![
    refresh_rotates_both_cookies_and_the_stored_hash,
    refresh_without_a_token_is_401_and_clears_cookies,
    a_json_refresh_token_is_only_for_enabled_non_browser_mode,
    the_refresh_access_token_role_comes_from_the_database,
    concurrent_refreshes_with_one_token_rotate_exactly_once,
    the_session_has_an_absolute_expiry,
    a_session_not_refreshed_for_the_idle_timeout_ends,
];
