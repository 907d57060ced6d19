//! Concurrent logins: legitimate concurrency is never refused (the throttle
//! charges failures only), and one client IP cannot hold more than its share
//! of the password checks.

use reqwest::Response;
use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, spawn_app, spawn_app_with};

/// `n` logins at once; `who(i)` gives the email and the X-Forwarded-For
/// value (if any) of the i-th. Returns the statuses.
async fn concurrent_logins(
    app: &TestApp,
    n: usize,
    who: impl Fn(usize) -> (String, Option<String>),
) -> Vec<u16> {
    let requests = (0..n).map(|i| {
        let (email, xff) = who(i);
        let mut request = app
            .client
            .post(app.url("/api/auth/login"))
            .json(&json!({ "username": email, "password": PASSWORD }));
        if let Some(xff) = xff {
            request = request.header("x-forwarded-for", xff);
        }
        request.send()
    });
    futures::future::join_all(requests)
        .await
        .into_iter()
        .map(|r: reqwest::Result<Response>| r.expect("send").status().as_u16())
        .collect()
}

async fn sign_up(app: &TestApp, emails: impl Iterator<Item = String>) {
    for email in emails {
        assert_eq!(app.signup(&email, PASSWORD).await.status(), 201);
    }
}

async fn sixteen_concurrent_right_password_logins_for_one_account_all_succeed() {
    // Sixteen at once overlap even at the test cost: bcrypt runs two at a
    // time, so the others are in flight, queued.
    let app = spawn_app().await;
    sign_up(&app, std::iter::once("ada@example.com".to_owned())).await;
    let statuses = concurrent_logins(&app, 16, |_| ("ada@example.com".to_owned(), None)).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

async fn forty_concurrent_right_password_logins_from_one_address_all_succeed() {
    let app = spawn_app_with(&[
        ("LOGIN_MAX_FAILURES_PER_IP", "10"),
        ("SIGNUP_MAX_PER_IP", "100"),
    ])
    .await;
    let email = |i: usize| format!("user{i}@example.com");
    sign_up(&app, (0..40).map(email)).await;
    let statuses = concurrent_logins(&app, 40, |i| (email(i), None)).await;
    assert!(statuses.iter().all(|s| *s == 200), "{statuses:?}");
}

async fn one_address_gets_at_most_its_share_of_password_checks_and_others_are_unaffected() {
    // No waiting: a check beyond the address's one slot is refused at once,
    // which makes the bound visible.
    let app = spawn_app_with(&[
        ("BCRYPT_COST", "10"),
        ("LOGIN_MAX_CONCURRENT_PER_IP", "1"),
        ("LOGIN_QUEUE_TIMEOUT", "0"),
        ("TRUSTED_PROXIES", "127.0.0.1"),
    ])
    .await;
    sign_up(&app, std::iter::once("ada@example.com".to_owned())).await;
    let one_address = concurrent_logins(&app, 6, |_| ("ada@example.com".to_owned(), None)).await;
    assert!(one_address.contains(&200), "{one_address:?}");
    assert!(one_address.contains(&429), "{one_address:?}");
    assert!(
        one_address.iter().all(|s| *s == 200 || *s == 429),
        "{one_address:?}"
    );
    // Six addresses behind the trusted proxy have a slot each.
    let six_addresses = concurrent_logins(&app, 6, |i| {
        (
            "ada@example.com".to_owned(),
            Some(format!("198.51.100.{i}")),
        )
    })
    .await;
    assert!(six_addresses.iter().all(|s| *s == 200), "{six_addresses:?}");
}

crate::tests![
    sixteen_concurrent_right_password_logins_for_one_account_all_succeed,
    forty_concurrent_right_password_logins_from_one_address_all_succeed,
    one_address_gets_at_most_its_share_of_password_checks_and_others_are_unaffected,
];
