//! Raising `BCRYPT_COST` takes effect as users log in: a hash made at a lower
//! cost is redone at the current one after a successful login.

use std::time::{Duration, Instant};

use serde_json::json;

use crate::helpers::{PASSWORD, TestApp, spawn_app};

async fn login_at(app: &TestApp, base: &str, password: &str) -> u16 {
    app.client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": "ada@example.com", "password": password }))
        .send()
        .await
        .expect("send")
        .status()
        .as_u16()
}

/// The stored hash once it has changed from `old`, waiting at most 10 s
/// (the upgrade runs after the login's answer).
async fn changed_hash(app: &TestApp, old: &str) -> String {
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let hash = app.stored_password_hash("ada@example.com");
        if hash != old || Instant::now() > deadline {
            return hash;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn a_hash_of_a_lower_cost_is_upgraded_after_login_and_still_logs_in() {
    // config/test.env: BCRYPT_COST=4.
    let app = spawn_app().await;
    assert_eq!(app.signup("ada@example.com", PASSWORD).await.status(), 201);
    let cost_4 = app.stored_password_hash("ada@example.com");
    assert!(cost_4.starts_with("$2b$04$"), "{cost_4}");
    assert_eq!(login_at(&app, &app.address, PASSWORD).await, 200);

    let raised = app.restart_with(&[("BCRYPT_COST", "5")]).await;
    assert_eq!(login_at(&app, &raised, "wrong password").await, 401);
    assert_eq!(login_at(&app, &raised, PASSWORD).await, 200);
    let cost_5 = changed_hash(&app, &cost_4).await;
    assert!(cost_5.starts_with("$2b$05$"), "upgraded: {cost_5}");

    // Still the same password, on either cost; never rewritten again nor
    // downgraded by the instance still at cost 4.
    assert_eq!(login_at(&app, &raised, PASSWORD).await, 200);
    assert_eq!(login_at(&app, &app.address, PASSWORD).await, 200);
    assert_eq!(login_at(&app, &raised, "wrong password").await, 401);
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(app.stored_password_hash("ada@example.com"), cost_5);
}

crate::tests![a_hash_of_a_lower_cost_is_upgraded_after_login_and_still_logs_in];
