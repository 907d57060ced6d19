use std::time::Duration;

use base64::{Engine, engine::general_purpose::URL_SAFE_NO_PAD};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, spawn_app, spawn_app_with};

async fn me_with_bearer(app: &TestApp, token: &str) -> reqwest::Response {
    app.client
        .get(app.url("/api/auth/me"))
        .bearer_auth(token)
        .send()
        .await
        .expect("send")
}

fn claims(app: &TestApp, sub: i64, role: &str) -> Value {
    let now = chrono::Utc::now().timestamp();
    json!({
        "sub": sub.to_string(), "email": "x@example.com", "role": role,
        "iat": now, "exp": now + 300,
        "iss": app.settings.session.issuer, "aud": app.settings.session.audience, "jti": "test", "sv": 1,
    })
}

fn sign(app: &TestApp, header: Header, claims: &Value) -> String {
    let key = EncodingKey::from_secret(app.settings.session.access_token_secret.expose());
    jsonwebtoken::encode(&header, claims, &key).expect("sign")
}

fn at_jwt() -> Header {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".into());
    header
}

async fn protected_routes_need_a_token_and_say_why_not() {
    let app = spawn_app().await;
    let response = app.get("/api/people").await;
    assert_eq!(response.headers()["www-authenticate"], "Bearer");
    assert_error(response, 401, "token_missing").await;

    let response = me_with_bearer(&app, "garbage").await;
    assert!(
        response.headers()["www-authenticate"]
            .to_str()
            .expect("ascii")
            .starts_with("Bearer")
    );
    assert_error(response, 401, "token_invalid").await;

    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header("authorization", "Basic YTpi")
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "token_missing").await;
}

async fn a_bearer_token_works_when_there_is_no_cookie() {
    let app = spawn_app().await;
    let id = app.logged_in_user("ada@example.com").await;
    let token = app.jar_value("accessToken").expect("cookie");
    let response = me_with_bearer(&app, &token).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["id"], id);
}

async fn tampered_tokens_are_rejected() {
    let app = spawn_app().await;
    let id = app.logged_in_user("ada@example.com").await;
    let token = app.jar_value("accessToken").expect("cookie");
    let parts: Vec<&str> = token.split('.').collect();

    // Role changed to admin, original signature kept.
    let mut payload: Value =
        serde_json::from_slice(&URL_SAFE_NO_PAD.decode(parts[1]).expect("b64")).expect("json");
    payload["role"] = "admin".into();
    let tampered = format!(
        "{}.{}.{}",
        parts[0],
        URL_SAFE_NO_PAD.encode(payload.to_string()),
        parts[2]
    );
    assert_error(me_with_bearer(&app, &tampered).await, 401, "token_invalid").await;

    // alg: none.
    let none = format!(
        "{}.{}.",
        URL_SAFE_NO_PAD.encode(r#"{"alg":"none","typ":"at+jwt"}"#),
        URL_SAFE_NO_PAD.encode(claims(&app, id, "admin").to_string())
    );
    assert_error(me_with_bearer(&app, &none).await, 401, "token_invalid").await;

    // Right key, other algorithm.
    let mut hs512 = Header::new(Algorithm::HS512);
    hs512.typ = Some("at+jwt".into());
    assert_error(
        me_with_bearer(&app, &sign(&app, hs512, &claims(&app, id, "user"))).await,
        401,
        "token_invalid",
    )
    .await;

    // Right key, not typed as an access token.
    let plain = Header::new(Algorithm::HS256);
    assert_error(
        me_with_bearer(&app, &sign(&app, plain, &claims(&app, id, "user"))).await,
        401,
        "token_invalid",
    )
    .await;

    // Wrong issuer / audience.
    for (field, value) in [("iss", "evil"), ("aud", "evil")] {
        let mut c = claims(&app, id, "user");
        c[field] = value.into();
        assert_error(
            me_with_bearer(&app, &sign(&app, at_jwt(), &c)).await,
            401,
            "token_invalid",
        )
        .await;
    }

    // Right key and claims: accepted (so the cases above fail for their reason).
    let good = sign(&app, at_jwt(), &claims(&app, id, "user"));
    assert_eq!(me_with_bearer(&app, &good).await.status(), 200);
}

async fn an_expired_access_token_says_token_expired() {
    let app = spawn_app_with(&[("ACCESS_TOKEN_TTL", "1s")]).await;
    app.logged_in_user("ada@example.com").await;
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
    tokio::time::sleep(Duration::from_millis(2100)).await;
    let response = app.get("/api/auth/me").await;
    assert_eq!(
        response.headers()["www-authenticate"],
        "Bearer error=\"invalid_token\""
    );
    assert_error(response, 401, "token_expired").await;
    // ... and a refresh brings the session back.
    assert_eq!(app.post_empty("/api/auth/refresh").await.status(), 200);
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
}

async fn refresh_and_access_tokens_are_not_interchangeable() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let access = app.jar_value("accessToken").expect("cookie");
    let refresh = app.jar_value("refreshToken").expect("cookie");

    // The refresh token as an access token, by header and by cookie.
    assert_error(me_with_bearer(&app, &refresh).await, 401, "token_invalid").await;
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header("cookie", format!("accessToken={refresh}"))
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "token_invalid").await;

    // The access token as a refresh token.
    let response = app
        .client
        .post(app.url("/api/auth/refresh"))
        .header("cookie", format!("refreshToken={access}"))
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "refresh_token_invalid").await;
}

async fn a_failed_check_never_reaches_the_handler() {
    let app = spawn_app().await;
    let response = app
        .client
        .post(app.url("/api/people"))
        .bearer_auth("forged.token.here")
        .json(&json!({ "firstName": "Eve", "lastName": "Forger" }))
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "token_invalid").await;
    assert_eq!(app.count("people"), 0);
}

crate::tests![
    protected_routes_need_a_token_and_say_why_not,
    a_bearer_token_works_when_there_is_no_cookie,
    tampered_tokens_are_rejected,
    an_expired_access_token_says_token_expired,
    refresh_and_access_tokens_are_not_interchangeable,
    a_failed_check_never_reaches_the_handler,
];
