//! Rotating `ACCESS_TOKEN_SECRET` without logging anyone out: the gateway
//! restarted on the same database with a new key and the old one listed in
//! `ACCESS_TOKEN_PREVIOUS_SECRETS`, then with the old one removed.

use bff_gateway::session::access::key_id;
use reqwest::Response;

use crate::helpers::{TestApp, assert_error, find_cookie, set_cookies, spawn_app_with};

const OLD_KEY: &str = "old-signing-key-old-signing-key-0001";
const NEW_KEY: &str = "new-signing-key-new-signing-key-0002";

async fn me(app: &TestApp, base: &str, access: &str) -> Response {
    app.client
        .get(format!("{base}/api/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("send")
}

/// A refresh with `token` at `base`; returns (refresh, access) on success.
async fn refresh(app: &TestApp, base: &str, token: &str) -> (String, String) {
    let response = app
        .client
        .post(format!("{base}/api/auth/refresh"))
        .header("cookie", format!("refreshToken={token}"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200, "refresh at {base}");
    let cookies = set_cookies(&response);
    (
        find_cookie(&cookies, "refreshToken").value,
        find_cookie(&cookies, "accessToken").value,
    )
}

fn kid(access: &str) -> Option<String> {
    jsonwebtoken::decode_header(access).expect("a JWT").kid
}

/// Logged in under the old key: (access token, refresh token).
async fn session_under_the_old_key(app: &TestApp) -> (String, String) {
    app.logged_in_user("ada@example.com").await;
    let access = app.jar_value("accessToken").expect("access cookie");
    let refresh = app.jar_value("refreshToken").expect("refresh cookie");
    assert_eq!(kid(&access), Some(key_id(OLD_KEY.as_bytes())));
    (access, refresh)
}

/// Restarts with the new key and the old one listed; the old key's access
/// token still works there. Returns the restarted gateway's address.
async fn rotate_keys(app: &TestApp, old_access: &str) -> String {
    let rotated = app
        .restart_with(&[
            ("ACCESS_TOKEN_SECRET", NEW_KEY),
            ("ACCESS_TOKEN_PREVIOUS_SECRETS", OLD_KEY),
        ])
        .await;
    assert_eq!(me(app, &rotated, old_access).await.status(), 200);
    rotated
}

async fn rotating_the_signing_key_mid_session_logs_nobody_out() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_SECRET", OLD_KEY)]).await;
    let (old_access, t0) = session_under_the_old_key(&app).await;
    // Rotated just before the key rotation; the response was lost, so the
    // client still holds t0.
    let (t1, _) = refresh(&app, &app.address, &t0).await;

    let rotated = rotate_keys(&app, &old_access).await;

    // The retry after the rotation still gets the successor stored before it.
    let (retried, access) = refresh(&app, &rotated, &t0).await;
    assert_eq!(retried, t1, "the same successor across the key rotation");
    assert_eq!(kid(&access), Some(key_id(NEW_KEY.as_bytes())));
    assert_eq!(me(&app, &rotated, &access).await.status(), 200);

    // Rotation under the new key, and its own retry window.
    let (t2, access) = refresh(&app, &rotated, &t1).await;
    assert_ne!(t2, t1);
    assert_eq!(refresh(&app, &rotated, &t1).await.0, t2);
    assert_eq!(me(&app, &rotated, &access).await.status(), 200);
    assert_eq!(
        app.stored_session("ada@example.com").0.as_deref(),
        Some(crate::helpers::token_hash(&t2).as_str())
    );
}

async fn removing_the_previous_key_ends_its_access_tokens_but_not_the_session() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_SECRET", OLD_KEY)]).await;
    let (old_access, t0) = session_under_the_old_key(&app).await;
    rotate_keys(&app, &old_access).await;

    let removed = app.restart_with(&[("ACCESS_TOKEN_SECRET", NEW_KEY)]).await;
    assert_error(me(&app, &removed, &old_access).await, 401, "token_invalid").await;
    let (t1, access) = refresh(&app, &removed, &t0).await;
    assert_eq!(me(&app, &removed, &access).await.status(), 200);
    assert_ne!(refresh(&app, &removed, &t1).await.0, t1);
}

crate::tests![
    rotating_the_signing_key_mid_session_logs_nobody_out,
    removing_the_previous_key_ends_its_access_tokens_but_not_the_session,
];
