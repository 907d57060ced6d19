//! Brute-force and enumeration controls: failed logins per account and per
//! client IP, sign-ups per client IP, and which client IP counts.

use std::time::Duration;

use reqwest::{Response, header};
use serde_json::json;

use crate::helpers::{
    PASSWORD, TestApp, assert_error, assert_security_headers, set_cookies, spawn_app_with,
};

const WRONG: &str = "wrong password!";
/// In config/test.env's CORS_ALLOWED_ORIGINS.
const ALLOWED: &str = "http://localhost:4200";

/// The whole-second `Retry-After` of a 429.
fn retry_after(response: &Response) -> u64 {
    response
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
        .expect("Retry-After in whole seconds")
}

/// A login as a client behind a proxy that sent `X-Forwarded-For: xff`.
async fn login_via(app: &TestApp, xff: &str, email: &str, password: &str) -> Response {
    app.client
        .post(app.url("/api/auth/login"))
        .header("x-forwarded-for", xff)
        .json(&json!({ "username": email, "password": password }))
        .send()
        .await
        .expect("request is sent")
}

async fn assert_throttled(response: Response) -> u64 {
    let seconds = retry_after(&response);
    assert!(seconds >= 1, "Retry-After {seconds}");
    assert_security_headers(&response);
    assert!(set_cookies(&response).is_empty(), "no cookies on a 429");
    let body = assert_error(response, 429, "too_many_requests").await;
    assert_eq!(body["message"], "Too many attempts; try again later");
    seconds
}

async fn failed_logins_past_the_account_limit_get_429_with_retry_after() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    app.signup("ada@example.com", PASSWORD).await;
    for _ in 0..3 {
        let response = app.login("ada@example.com", WRONG).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    let seconds = assert_throttled(app.login("ada@example.com", WRONG).await).await;
    // One attempt refills every 60 s / 3.
    assert!(seconds <= 20, "Retry-After {seconds}");
    // The same email in another spelling is the same account.
    assert_throttled(app.login("  ADA@Example.com ", WRONG).await).await;
    // Other accounts from the same client are not affected.
    let response = app.login("bob@example.com", WRONG).await;
    assert_error(response, 401, "invalid_credentials").await;
}

async fn the_right_password_is_refused_while_throttled_and_no_session_starts() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    app.signup("ada@example.com", PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(app.login("ada@example.com", WRONG).await.status(), 401);
    }
    assert_throttled(app.login("ada@example.com", PASSWORD).await).await;
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
    assert_error(app.get("/api/auth/me").await, 401, "token_missing").await;
}

async fn unknown_accounts_are_throttled_exactly_like_known_ones() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    app.signup("ada@example.com", PASSWORD).await;
    let mut answers = Vec::new();
    for email in ["ada@example.com", "nobody@example.com"] {
        for _ in 0..2 {
            assert_eq!(app.login(email, WRONG).await.status(), 401, "{email}");
        }
        let response = app.login(email, WRONG).await;
        assert_eq!(response.status(), 429, "{email}");
        let seconds = retry_after(&response);
        answers.push((seconds, response.bytes().await.expect("body")));
    }
    assert_eq!(answers[0].1, answers[1].1, "byte-identical 429 bodies");
    assert!(answers[0].0.abs_diff(answers[1].0) <= 1, "{answers:?}");
}

async fn throttled_logins_recover_by_themselves_and_success_resets_the_account() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2"),
        ("LOGIN_FAILURE_WINDOW", "2s"),
    ])
    .await;
    app.signup("ada@example.com", PASSWORD).await;
    for _ in 0..2 {
        assert_eq!(app.login("ada@example.com", WRONG).await.status(), 401);
    }
    let seconds = assert_throttled(app.login("ada@example.com", PASSWORD).await).await;
    assert!(seconds <= 2, "never longer than the window: {seconds}");

    // Waiting as long as Retry-After says is enough.
    tokio::time::sleep(Duration::from_secs(seconds) + Duration::from_millis(50)).await;
    let response = app.login("ada@example.com", PASSWORD).await;
    assert_eq!(response.status(), 200);
    assert_eq!(set_cookies(&response).len(), 2);

    // The success forgot the account's failures: a full budget again.
    for _ in 0..2 {
        assert_eq!(app.login("ada@example.com", WRONG).await.status(), 401);
    }
    assert_eq!(app.login("ada@example.com", WRONG).await.status(), 429);
}

async fn the_per_ip_limit_spans_accounts_and_ignores_successes() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "10"),
        ("LOGIN_MAX_FAILURES_PER_IP", "3"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    app.signup("ada@example.com", PASSWORD).await;
    // Successful logins do not use up the client's budget (a busy NAT).
    for _ in 0..5 {
        assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    }
    for n in 0..3 {
        let email = format!("victim{n}@example.com");
        assert_eq!(app.login(&email, WRONG).await.status(), 401);
    }
    assert_throttled(app.login("victim9@example.com", WRONG).await).await;
    // The client is throttled, whichever account and password it tries.
    assert_throttled(app.login("ada@example.com", PASSWORD).await).await;
}

async fn signups_past_the_per_ip_limit_get_429_and_create_nothing() {
    let app = spawn_app_with(&[("SIGNUP_MAX_PER_IP", "3"), ("SIGNUP_WINDOW", "1h")]).await;
    // Refused input reaches no account and is not counted.
    let invalid = app.signup("not-an-email", PASSWORD).await;
    assert_error(invalid, 400, "validation_failed").await;

    assert_eq!(app.signup("ada@example.com", PASSWORD).await.status(), 201);
    assert_eq!(app.signup("bob@example.com", PASSWORD).await.status(), 201);
    // A duplicate counts: 409 is what an enumeration probe looks for.
    let duplicate = app.signup("ada@example.com", PASSWORD).await;
    assert_error(duplicate, 409, "email_taken").await;

    assert_throttled(app.signup("carol@example.com", PASSWORD).await).await;
    assert_throttled(app.signup("ada@example.com", PASSWORD).await).await;
    assert_eq!(app.count("users"), 2);
    // Logging in is a separate budget.
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

async fn forwarded_for_from_an_untrusted_peer_cannot_escape_the_ip_limit() {
    // TRUSTED_PROXIES is empty by default.
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_IP", "3"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    for n in 0..3 {
        let response = login_via(
            &app,
            &format!("198.51.100.{n}"),
            &format!("victim{n}@example.com"),
            WRONG,
        )
        .await;
        assert_eq!(response.status(), 401);
    }
    for n in 3..8 {
        let response = login_via(
            &app,
            &format!("198.51.100.{n}, 203.0.113.{n}"),
            &format!("victim{n}@example.com"),
            WRONG,
        )
        .await;
        assert_throttled(response).await;
    }
}

async fn forwarded_for_from_a_trusted_proxy_gives_each_client_its_own_budget() {
    let app = spawn_app_with(&[
        ("TRUSTED_PROXIES", "127.0.0.1"),
        ("LOGIN_MAX_FAILURES_PER_IP", "2"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    for n in 0..2 {
        let email = format!("a{n}@example.com");
        let response = login_via(&app, "198.51.100.1", &email, WRONG).await;
        assert_eq!(response.status(), 401);
    }
    assert_throttled(login_via(&app, "198.51.100.1", "a9@example.com", WRONG).await).await;
    // What the client wrote left of the address the proxy saw is ignored.
    let spoofed = login_via(&app, "203.0.113.7, 198.51.100.1", "a8@example.com", WRONG).await;
    assert_throttled(spoofed).await;

    // Another client behind the same proxy has its own budget.
    let other = login_via(&app, "198.51.100.2", "b0@example.com", WRONG).await;
    assert_error(other, 401, "invalid_credentials").await;
    // Without the header, the proxy itself is the client.
    let direct = app.login("c0@example.com", WRONG).await;
    assert_error(direct, 401, "invalid_credentials").await;
}

async fn a_cross_origin_spa_can_read_retry_after_and_other_origins_get_no_cors_headers() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "1"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    let login_from = |origin: &'static str| {
        app.client
            .post(app.url("/api/auth/login"))
            .header("origin", origin)
            .json(&json!({ "username": "ada@example.com", "password": WRONG }))
            .send()
    };
    assert_eq!(login_from(ALLOWED).await.expect("send").status(), 401);

    let response = login_from(ALLOWED).await.expect("send");
    assert_eq!(response.status(), 429);
    let h = response.headers();
    assert_eq!(h["access-control-allow-origin"], ALLOWED);
    let exposed = h["access-control-expose-headers"].to_str().expect("ascii");
    assert!(
        exposed.to_ascii_lowercase().contains("retry-after"),
        "{exposed}"
    );

    // A foreign origin is refused before throttling (CSRF), and learns nothing.
    let response = login_from("https://evil.example").await.expect("send");
    assert_eq!(response.status(), 403);
    let cors: Vec<&str> = response
        .headers()
        .keys()
        .map(|k| k.as_str())
        .filter(|k| k.starts_with("access-control-"))
        .collect();
    assert!(cors.is_empty(), "{cors:?}");
}

/// Rows in `throttle_buckets`: the shared state, as stored.
fn stored_buckets(app: &TestApp) -> i64 {
    bff_gateway::db::throttle::count(&mut app.db()).expect("count throttle buckets")
}

async fn ten_failed_logins_spread_over_two_instances_lock_the_account_on_both() {
    let a = spawn_app_with(&[("LOGIN_FAILURE_WINDOW", "60s")]).await;
    let b = a.spawn_peer().await;
    a.signup("ada@example.com", PASSWORD).await;
    // The default per-account budget is 10: five failures on each instance.
    for i in 0..10 {
        let app = if i % 2 == 0 { &a } else { &b };
        let response = app.login("ada@example.com", WRONG).await;
        assert_error(response, 401, "invalid_credentials").await;
    }
    for app in [&a, &b] {
        assert_throttled(app.login("ada@example.com", WRONG).await).await;
        assert_throttled(app.login("ada@example.com", PASSWORD).await).await;
    }
    assert_eq!(a.stored_session("ada@example.com"), (None, None));
}

async fn the_budget_survives_a_restart_because_it_is_stored_in_the_database() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(app.login("ada@example.com", WRONG).await.status(), 401);
    }
    // Account and client buckets; no email address is stored.
    assert_eq!(stored_buckets(&app), 2);
    // A fresh instance on the same database: nothing of the first one's
    // memory, as after a restart.
    let restarted = app.spawn_peer().await;
    drop(app);
    let seconds = assert_throttled(restarted.login("ada@example.com", WRONG).await).await;
    assert!((1..=30).contains(&seconds), "Retry-After {seconds}");
}

async fn concurrent_wrong_passwords_on_two_instances_never_charge_past_the_budget() {
    let a = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
        ("LOGIN_FAILURE_WINDOW", "60s"),
    ])
    .await;
    let b = a.spawn_peer().await;
    a.signup("ada@example.com", PASSWORD).await;
    let logins = (0..16).map(|i| {
        let app = if i % 2 == 0 { &a } else { &b };
        app.login("ada@example.com", WRONG)
    });
    let statuses: Vec<u16> = futures::future::join_all(logins)
        .await
        .iter()
        .map(|r| r.status().as_u16())
        .collect();
    let checked = statuses.iter().filter(|s| **s == 401).count();
    let throttled = statuses.iter().filter(|s| **s == 429).count();
    // Exactly the budget reaches bcrypt; the rest waited and were refused.
    assert_eq!((checked, throttled), (3, 13), "{statuses:?}");
    for app in [&a, &b] {
        assert_throttled(app.login("ada@example.com", PASSWORD).await).await;
    }
}

async fn idle_buckets_are_swept_from_the_table() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2"),
        ("LOGIN_FAILURE_WINDOW", "1s"),
        ("SIGNUP_WINDOW", "1s"),
    ])
    .await;
    for i in 0..5 {
        let response = app.login(&format!("user{i}@example.com"), WRONG).await;
        assert_eq!(response.status(), 401);
    }
    assert_eq!(stored_buckets(&app), 6, "five accounts and the client");
    tokio::time::sleep(Duration::from_millis(1100)).await;
    // The next visit after a window sweeps what has refilled meanwhile;
    // only the new attempt's buckets stay.
    assert_eq!(app.login("eve@example.com", WRONG).await.status(), 401);
    assert_eq!(stored_buckets(&app), 2);
    // A success leaves nothing behind for its account.
    app.signup("ada@example.com", PASSWORD).await;
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
}

crate::tests![
    failed_logins_past_the_account_limit_get_429_with_retry_after,
    the_right_password_is_refused_while_throttled_and_no_session_starts,
    unknown_accounts_are_throttled_exactly_like_known_ones,
    throttled_logins_recover_by_themselves_and_success_resets_the_account,
    the_per_ip_limit_spans_accounts_and_ignores_successes,
    signups_past_the_per_ip_limit_get_429_and_create_nothing,
    forwarded_for_from_an_untrusted_peer_cannot_escape_the_ip_limit,
    forwarded_for_from_a_trusted_proxy_gives_each_client_its_own_budget,
    a_cross_origin_spa_can_read_retry_after_and_other_origins_get_no_cors_headers,
    ten_failed_logins_spread_over_two_instances_lock_the_account_on_both,
    the_budget_survives_a_restart_because_it_is_stored_in_the_database,
    concurrent_wrong_passwords_on_two_instances_never_charge_past_the_budget,
    idle_buckets_are_swept_from_the_table,
];
