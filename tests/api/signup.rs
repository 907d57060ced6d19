use crate::helpers::{PASSWORD, assert_error, spawn_app};
use serde_json::{Value, json};

async fn signup_creates_a_user_with_a_normalized_email_and_role_user() {
    let app = spawn_app().await;
    let response = app.signup("  Ada.Lovelace@Example.COM ", PASSWORD).await;
    assert_eq!(response.status(), 201);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["statusCode"], 201);
    assert_eq!(body["message"], "User is created");
    assert_eq!(body["user"]["email"], "ada.lovelace@example.com");
    assert_eq!(body["user"]["role"], "user");

    use bff_gateway::db::schema::users::dsl as u;
    use diesel::prelude::*;
    let (email, role, hash): (String, String, String) = u::users
        .select((u::email, u::role, u::password_hash))
        .first(&mut app.db())
        .expect("row");
    assert_eq!(email, "ada.lovelace@example.com");
    assert_eq!(role, "user");
    assert!(hash.starts_with("$2"), "bcrypt hash stored");
    assert!(!hash.contains(PASSWORD));
}

async fn a_duplicate_email_is_409_whatever_its_case() {
    let app = spawn_app().await;
    assert_eq!(app.signup("bob@example.com", PASSWORD).await.status(), 201);
    let body = assert_error(
        app.signup("BOB@example.com", PASSWORD).await,
        409,
        "email_taken",
    )
    .await;
    assert_eq!(body["message"], "User already exists");
    assert_eq!(app.count("users"), 1);
}

async fn concurrent_duplicate_signups_create_exactly_one_row() {
    let app = spawn_app().await;
    let attempts = (0..8).map(|_| app.signup("race@example.com", PASSWORD));
    let statuses: Vec<u16> = futures::future::join_all(attempts)
        .await
        .into_iter()
        .map(|r| r.status().as_u16())
        .collect();
    assert_eq!(
        statuses.iter().filter(|s| **s == 201).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        7,
        "{statuses:?}"
    );
    assert_eq!(app.count("users"), 1);
}

async fn a_role_in_the_signup_body_is_rejected_and_nothing_is_stored() {
    let app = spawn_app().await;
    let response = app
        .post(
            "/api/auth/signup",
            json!({ "email": "mallory@example.com", "password": PASSWORD, "role": "admin" }),
        )
        .await;
    let body = assert_error(response, 400, "validation_failed").await;
    assert_eq!(body["errors"][0]["field"], "role");
    assert_eq!(app.count("users"), 0);
}

async fn password_rules_are_length_only_and_never_truncate() {
    let app = spawn_app().await;
    // Too short.
    let body = assert_error(
        app.signup("a@example.com", "1234567").await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(body["errors"][0]["field"], "password");
    // 64 characters of any Unicode are accepted, without composition rules.
    let unicode = "пароль🔑".repeat(8);
    assert_eq!(unicode.chars().count(), 56);
    let long_unicode = format!("{unicode}ÿÿÿÿÿÿÿÿ");
    assert_eq!(
        app.signup("b@example.com", &long_unicode).await.status(),
        201
    );
    assert_eq!(
        app.login("b@example.com", &long_unicode).await.status(),
        200
    );
    // Two passwords sharing their first 72 bytes are different passwords.
    let base = "a".repeat(72);
    assert_eq!(
        app.signup("c@example.com", &format!("{base}XYZ"))
            .await
            .status(),
        201
    );
    assert_eq!(
        app.login("c@example.com", &format!("{base}XYZ"))
            .await
            .status(),
        200
    );
    assert_eq!(
        app.login("c@example.com", &format!("{base}QQQ"))
            .await
            .status(),
        401
    );
    assert_eq!(app.login("c@example.com", &base).await.status(), 401);
    // Above the documented maximum.
    assert_error(
        app.signup("d@example.com", &"a".repeat(129)).await,
        400,
        "validation_failed",
    )
    .await;
    assert_eq!(app.count("users"), 2);
}

async fn invalid_emails_are_rejected_with_field_errors() {
    let app = spawn_app().await;
    for email in [
        "",
        "not-an-email",
        "x' OR 1=1 --@example.com",
        "robert'); DROP TABLE users;--@x.io",
        "nul\u{0}@example.com",
    ] {
        let body = assert_error(app.signup(email, PASSWORD).await, 400, "validation_failed").await;
        assert_eq!(body["errors"][0]["field"], "email", "{email:?}");
    }
    let too_long = format!("{}@example.com", "a".repeat(250));
    assert_error(
        app.signup(&too_long, PASSWORD).await,
        400,
        "validation_failed",
    )
    .await;
    let response = app
        .post("/api/auth/signup", json!({ "password": PASSWORD }))
        .await;
    let body = assert_error(response, 400, "validation_failed").await;
    assert_eq!(
        body["errors"][0],
        json!({ "field": "email", "message": "is required" })
    );
    assert_eq!(app.count("users"), 0);
}

async fn passwords_with_control_characters_are_refused_and_store_nothing() {
    let app = spawn_app().await;
    for password in [
        "correct horse\u{0}battery",
        "correct\thorse battery",
        "correct horse battery\n",
        "\u{7f}correct horse battery",
        "correct\u{85}horse battery",
        "correct horse\u{2028}battery",
    ] {
        let body = assert_error(
            app.signup("ada@example.com", password).await,
            400,
            "validation_failed",
        )
        .await;
        assert_eq!(
            body["errors"],
            json!([{ "field": "password", "message": "must not contain control characters" }]),
            "{password:?}"
        );
    }
    assert_eq!(app.count("users"), 0);
}

crate::tests![
    signup_creates_a_user_with_a_normalized_email_and_role_user,
    a_duplicate_email_is_409_whatever_its_case,
    concurrent_duplicate_signups_create_exactly_one_row,
    a_role_in_the_signup_body_is_rejected_and_nothing_is_stored,
    password_rules_are_length_only_and_never_truncate,
    invalid_emails_are_rejected_with_field_errors,
    passwords_with_control_characters_are_refused_and_store_nothing,
];
