use std::time::Instant;

use crate::helpers::{PASSWORD, assert_error, find_cookie, set_cookies, spawn_app};
use serde_json::{Value, json};

async fn login_sets_exactly_specified_cookies_and_returns_no_tokens() {
    let app = spawn_app().await;
    app.signup("ada@example.com", PASSWORD).await;
    let response = app.login("ADA@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let cookies = set_cookies(&response);
    assert_eq!(cookies.len(), 2);

    let access = find_cookie(&cookies, "accessToken");
    assert_eq!(access.attr("path"), Some("/"));
    assert_eq!(access.attr("max-age"), Some("900"));
    for flag in ["httponly", "secure"] {
        assert_eq!(access.attr(flag), Some(""), "access cookie {flag}");
    }
    assert_eq!(access.attr("samesite"), Some("Strict"));
    assert_eq!(access.attr("domain"), None);

    let refresh = find_cookie(&cookies, "refreshToken");
    assert_eq!(refresh.attr("path"), Some("/api/auth/refresh"));
    assert_eq!(refresh.attr("max-age"), Some("3600"));
    for flag in ["httponly", "secure"] {
        assert_eq!(refresh.attr(flag), Some(""), "refresh cookie {flag}");
    }
    assert_eq!(refresh.attr("samesite"), Some("Strict"));
    assert_eq!(refresh.attr("domain"), None);
    assert!(refresh.value.len() >= 43, "≥ 256 bits, base64url");

    let text = response.text().await.expect("body");
    let body: Value = serde_json::from_str(&text).expect("json");
    assert_eq!(body["email"], "ada@example.com");
    assert_eq!(body["role"], "user");
    assert!(body["id"].is_number());
    assert!(!text.contains(&access.value) && !text.contains(&refresh.value));

    // Only the SHA-256 of the refresh token is stored.
    let (hash, expiry) = app.stored_session("ada@example.com");
    let hash = hash.expect("stored hash");
    assert_eq!(hash.len(), 64);
    assert_ne!(hash, refresh.value);
    assert!(expiry.is_some());

    // The access cookie authenticates.
    let me: Value = app.get("/api/auth/me").await.json().await.expect("json");
    assert_eq!(
        me,
        json!({
            "id": body["id"],
            "username": "ada@example.com",
            "email": "ada@example.com",
            "role": "user"
        })
    );
}

async fn login_accepts_email_as_the_field_name() {
    let app = spawn_app().await;
    app.signup("ada@example.com", PASSWORD).await;
    let response = app
        .post(
            "/api/auth/login",
            json!({ "email": "ada@example.com", "password": PASSWORD }),
        )
        .await;
    assert_eq!(response.status(), 200);
}

async fn unknown_user_and_wrong_password_are_indistinguishable() {
    let app = spawn_app_with_real_cost().await;
    app.signup("ada@example.com", PASSWORD).await;

    let wrong = app.login("ada@example.com", "wrong password!").await;
    let unknown = app.login("nobody@example.com", "wrong password!").await;
    assert_eq!(wrong.status(), 401);
    assert_eq!(unknown.status(), 401);
    assert!(set_cookies(&wrong).is_empty() && set_cookies(&unknown).is_empty());
    let wrong = wrong.bytes().await.expect("body");
    let unknown = unknown.bytes().await.expect("body");
    assert_eq!(wrong, unknown, "byte-identical bodies");
    let body: Value = serde_json::from_slice(&wrong).expect("json");
    assert_eq!(body["code"], "invalid_credentials");
    assert_eq!(body["message"], "Invalid username or password");

    // Both paths run bcrypt: an unknown user is not answered measurably
    // faster. Coarse on purpose (bcrypt cost 10 ≈ 50 ms per call here).
    let mut known_total = 0u128;
    let mut unknown_total = 0u128;
    for _ in 0..3 {
        let start = Instant::now();
        app.login("ada@example.com", "wrong password!").await;
        known_total += start.elapsed().as_micros();
        let start = Instant::now();
        app.login("nobody@example.com", "wrong password!").await;
        unknown_total += start.elapsed().as_micros();
    }
    assert!(
        unknown_total * 2 > known_total,
        "unknown users skip bcrypt? known {known_total}µs, unknown {unknown_total}µs"
    );
}

async fn spawn_app_with_real_cost() -> crate::helpers::TestApp {
    crate::helpers::spawn_app_with(&[("BCRYPT_COST", "10")]).await
}

async fn missing_login_fields_are_400_with_field_errors() {
    let app = spawn_app().await;
    let body = assert_error(
        app.post("/api/auth/login", json!({})).await,
        400,
        "validation_failed",
    )
    .await;
    let fields: Vec<&str> = body["errors"]
        .as_array()
        .expect("errors")
        .iter()
        .filter_map(|e| e["field"].as_str())
        .collect();
    assert_eq!(fields, ["username", "password"]);
}

async fn sql_looking_or_nul_usernames_are_just_wrong_credentials() {
    let app = spawn_app().await;
    app.signup("ada@example.com", PASSWORD).await;
    for username in ["' OR '1'='1", "ada@example.com' --", "ada@example.com\u{0}"] {
        let response = app.login(username, PASSWORD).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
}

async fn a_new_login_replaces_the_previous_refresh_session() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let first_refresh = app.jar_value("refreshToken").expect("refresh cookie");
    let second = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(second.status(), 200);
    // The first device's refresh token no longer works.
    let response = app.refresh_with(&first_refresh).await;
    assert_error(response, 401, "refresh_token_invalid").await;
}

async fn body_token_delivery_is_refused_unless_enabled() {
    let app = spawn_app().await;
    app.signup("ada@example.com", PASSWORD).await;
    let response = app
        .post(
            "/api/auth/login",
            json!({ "username": "ada@example.com", "password": PASSWORD, "tokenDelivery": "body" }),
        )
        .await;
    assert!(set_cookies(&response).is_empty());
    assert_error(response, 400, "token_body_disabled").await;
}

async fn non_browser_clients_get_tokens_in_the_body_only_when_enabled_and_asked() {
    let app = crate::helpers::spawn_app_with(&[("TOKEN_BODY_DELIVERY", "true")]).await;
    app.signup("bot@example.com", PASSWORD).await;
    // Not asked: cookies, no tokens in the body.
    let response = app.login("bot@example.com", PASSWORD).await;
    assert_eq!(set_cookies(&response).len(), 2);
    let body: Value = response.json().await.expect("json");
    assert!(body.get("accessToken").is_none());

    let response = app
        .post(
            "/api/auth/login",
            json!({ "username": "bot@example.com", "password": PASSWORD, "tokenDelivery": "body" }),
        )
        .await;
    assert_eq!(response.status(), 200);
    assert!(
        set_cookies(&response).is_empty(),
        "body mode sets no cookies"
    );
    let body: Value = response.json().await.expect("json");
    let access = body["accessToken"].as_str().expect("access token");
    let refresh = body["refreshToken"].as_str().expect("refresh token");
    assert_eq!(body["tokenType"], "Bearer");

    let me = app
        .client
        .get(app.url("/api/auth/me"))
        .bearer_auth(access)
        .send()
        .await
        .expect("send");
    assert_eq!(me.status(), 200);

    let refreshed = app
        .client
        .post(app.url("/api/auth/refresh"))
        .json(&json!({ "refreshToken": refresh }))
        .send()
        .await
        .expect("send");
    assert_eq!(refreshed.status(), 200);
    let body: Value = refreshed.json().await.expect("json");
    assert_ne!(body["refreshToken"].as_str(), Some(refresh));
}

async fn cookie_names_are_configurable_with_prefixes() {
    let app = crate::helpers::spawn_app_with(&[
        ("ACCESS_COOKIE_NAME", "__Host-access"),
        ("REFRESH_COOKIE_NAME", "__Secure-refresh"),
    ])
    .await;
    app.signup("ada@example.com", PASSWORD).await;
    let response = app.login("ada@example.com", PASSWORD).await;
    let cookies = set_cookies(&response);
    assert_eq!(
        find_cookie(&cookies, "__Host-access").attr("path"),
        Some("/")
    );
    assert_eq!(
        find_cookie(&cookies, "__Secure-refresh").attr("path"),
        Some("/api/auth/refresh")
    );
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 200);
    // The default names mean nothing to this server.
    let token = app.jar_value("__Host-access").expect("cookie");
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header("cookie", format!("accessToken={token}"))
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "token_missing").await;
}

async fn control_character_passwords_are_failed_logins_even_for_an_old_row() {
    let app = crate::helpers::spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    // A row stored before sign-up refused such passwords.
    let old_password = "correct horse\u{0}battery";
    let hasher =
        bff_gateway::accounts::PasswordHasher::new(&app.settings.passwords).expect("hasher");
    let hash = hasher.hash(old_password).await.expect("hash");
    bff_gateway::db::users::insert(
        &mut app.db(),
        &bff_gateway::db::models::NewUser {
            email: "old@example.com",
            password_hash: &hash,
            role: "user",
        },
    )
    .expect("insert old row");
    let unknown = app
        .login("nobody@example.com", "wrong password!")
        .await
        .bytes()
        .await
        .expect("body");
    for _ in 0..3 {
        let response = app.login("old@example.com", old_password).await;
        assert!(set_cookies(&response).is_empty());
        assert_eq!(response.status(), 401);
        let body = response.bytes().await.expect("body");
        assert_eq!(body, unknown, "the same answer as an unknown account");
    }
    assert_eq!(app.stored_session("old@example.com"), (None, None));
    // Each attempt counted as a failure: the account is now throttled.
    let response = app.login("old@example.com", old_password).await;
    assert_error(response, 429, "too_many_requests").await;

    app.signup("ada@example.com", PASSWORD).await;
    for password in ["correct horse\tbattery", "correct horse battery\u{7f}"] {
        let response = app.login("ada@example.com", password).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

crate::tests![
    login_sets_exactly_specified_cookies_and_returns_no_tokens,
    login_accepts_email_as_the_field_name,
    unknown_user_and_wrong_password_are_indistinguishable,
    missing_login_fields_are_400_with_field_errors,
    sql_looking_or_nul_usernames_are_just_wrong_credentials,
    a_new_login_replaces_the_previous_refresh_session,
    body_token_delivery_is_refused_unless_enabled,
    non_browser_clients_get_tokens_in_the_body_only_when_enabled_and_asked,
    cookie_names_are_configurable_with_prefixes,
    control_character_passwords_are_failed_logins_even_for_an_old_row,
];
