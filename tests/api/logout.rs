use std::time::Duration;

use crate::helpers::{assert_error, find_cookie, set_cookies, spawn_app, spawn_app_with};

fn assert_clearing(response: &reqwest::Response) {
    let cookies = set_cookies(response);
    let access = find_cookie(&cookies, "accessToken");
    let refresh = find_cookie(&cookies, "refreshToken");
    for (cookie, path) in [(&access, "/"), (&refresh, "/api/auth/refresh")] {
        assert_eq!(cookie.value, "");
        assert_eq!(cookie.attr("max-age"), Some("0"));
        assert_eq!(cookie.attr("path"), Some(path));
        assert_eq!(cookie.attr("httponly"), Some(""));
        assert_eq!(cookie.attr("secure"), Some(""));
        assert_eq!(cookie.attr("samesite"), Some("Strict"));
        assert_eq!(cookie.attr("domain"), None);
    }
}

async fn logout_with_a_live_access_cookie_revokes_the_refresh_token() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let refresh = app.jar_value("refreshToken").expect("cookie");
    let response = app.post_empty("/api/auth/logout").await;
    assert_eq!(response.status(), 204);
    assert_clearing(&response);
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
    // The browser's cookies are gone, and the old refresh token is dead.
    assert!(app.jar_value("accessToken").is_none());
    assert_error(
        app.refresh_with(&refresh).await,
        401,
        "refresh_token_invalid",
    )
    .await;
}

async fn logout_with_an_expired_access_token_still_revokes() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL", "1s")]).await;
    app.logged_in_user("ada@example.com").await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_error(app.get("/api/auth/me").await, 401, "token_expired").await;
    let response = app.post_empty("/api/auth/logout").await;
    assert_eq!(response.status(), 204);
    assert_clearing(&response);
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
}

async fn with_only_the_refresh_cookie_the_revoke_route_ends_the_session() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    // The browser dropped the access cookie (its Max-Age ran out).
    app.remove_from_jar("accessToken");
    // /api/auth/logout never sees the refresh cookie (its Path), so it
    // cannot revoke; it still clears the browser's cookies.
    assert!(app.cookie_header("/api/auth/logout").is_none());
    let response = app.post_empty("/api/auth/refresh/revoke").await;
    assert_eq!(response.status(), 204);
    assert_clearing(&response);
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
}

async fn logout_without_any_cookie_is_idempotent() {
    let app = spawn_app().await;
    for path in [
        "/api/auth/logout",
        "/api/auth/refresh/revoke",
        "/api/auth/logout",
    ] {
        let response = app.post_empty(path).await;
        assert_eq!(response.status(), 204, "{path}");
        assert_clearing(&response);
    }
}

async fn a_forged_access_token_cannot_log_someone_out() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let stored = app.stored_session("ada@example.com");
    let forged = app
        .jar_value("accessToken")
        .expect("cookie")
        .replace('.', ".x");
    let response = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(forged)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 204);
    assert_eq!(app.stored_session("ada@example.com"), stored);
}

async fn logout_with_a_stale_access_token_leaves_the_newer_session_alive() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let old = app.jar_value("accessToken").expect("cookie");
    assert_eq!(app.post_empty("/api/auth/logout").await.status(), 204);
    let response = app.login("ada@example.com", crate::helpers::PASSWORD).await;
    assert_eq!(response.status(), 200);
    let session = app.stored_session("ada@example.com");
    assert!(session.0.is_some());
    // Bearer skips the CSRF gate, so any origin could send this.
    let response = app
        .client
        .post(app.url("/api/auth/logout"))
        .bearer_auth(&old)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 204, "already logged out");
    assert_clearing(&response);
    assert_eq!(app.stored_session("ada@example.com"), session);
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
}

crate::tests![
    logout_with_a_live_access_cookie_revokes_the_refresh_token,
    logout_with_an_expired_access_token_still_revokes,
    with_only_the_refresh_cookie_the_revoke_route_ends_the_session,
    logout_without_any_cookie_is_idempotent,
    a_forged_access_token_cannot_log_someone_out,
    logout_with_a_stale_access_token_leaves_the_newer_session_alive,
];
