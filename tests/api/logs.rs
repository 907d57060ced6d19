//! Runs the real binary and reads everything it logged: no password, token,
//! cookie or email may appear, even at debug level.

use serde_json::json;

use crate::{
    binary::{RunningServer, gateway},
    helpers::{PASSWORD, TestDatabase, find_cookie, set_cookies},
};

const SIGNING_KEY: &str = "logged-never-signing-key-0123456789";
const PREVIOUS_KEY: &str = "logged-never-previous-key-012345678";

async fn logs_never_contain_secrets_tokens_or_emails() {
    let database = TestDatabase::create().await;
    let mut command = gateway(env!("CARGO_MANIFEST_DIR").as_ref());
    command
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &database.url)
        .env("APP_PORT", "0")
        .env("RUST_LOG", "debug")
        // Every reuse is theft, so the theft warning is exercised too.
        .env("REFRESH_REUSE_WINDOW", "0s")
        .env("ACCESS_TOKEN_SECRET", SIGNING_KEY)
        .env("ACCESS_TOKEN_PREVIOUS_SECRETS", PREVIOUS_KEY);
    let server = RunningServer::start(command);

    let base = server.base.clone();
    let client = reqwest::Client::new();
    let email = "secret.person@example.com";
    let signup = client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({ "email": email, "password": PASSWORD }))
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 201);
    let wrong = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": email, "password": "not-the-password" }))
        .send()
        .await
        .expect("login");
    assert_eq!(wrong.status(), 401);
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let cookies = set_cookies(&login);
    let access = find_cookie(&cookies, "accessToken").value;
    let refresh = find_cookie(&cookies, "refreshToken").value;
    let me = client
        .get(format!("{base}/api/auth/me?probe=1"))
        .header("cookie", format!("accessToken={access}"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let rotated = client
        .post(format!("{base}/api/auth/refresh"))
        .header("cookie", format!("refreshToken={refresh}"))
        .send()
        .await
        .expect("refresh");
    assert_eq!(rotated.status(), 200);
    let new_refresh = find_cookie(&set_cookies(&rotated), "refreshToken").value;
    let replayed = client
        .post(format!("{base}/api/auth/refresh"))
        .header("cookie", format!("refreshToken={refresh}"))
        .send()
        .await
        .expect("replay");
    assert_eq!(replayed.status(), 401);
    let forged = client
        .post(format!("{base}/api/people?probe=1"))
        .header("cookie", format!("accessToken={access}"))
        .header("origin", "https://evil.example")
        .json(&json!({ "firstName": "Evil", "lastName": "Forged" }))
        .send()
        .await
        .expect("forged write");
    assert_eq!(forged.status(), 403);
    let logout = client
        .post(format!("{base}/api/auth/logout"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);

    let log = server.stop();

    // The log did record the events, by user id.
    assert!(log.contains("login: user_id="), "{log}");
    assert!(log.contains("login failed: user_id="), "{log}");
    assert!(log.contains("refresh: user_id="), "{log}");
    assert!(log.contains("logout: user_id="), "{log}");
    assert!(
        log.contains("refresh token reuse detected: user_id="),
        "{log}"
    );
    assert!(log.contains("POST /api/auth/login 200"), "{log}");
    assert!(
        log.contains(
            r#"csrf rejected: POST /api/people origin="https://evil.example" sec-fetch-site=-"#
        ),
        "{log}"
    );
    for secret in [
        PASSWORD,
        "not-the-password",
        &access,
        &refresh,
        &new_refresh,
        email,
        "probe=1",
        SIGNING_KEY,
        PREVIOUS_KEY,
    ] {
        assert!(!log.contains(secret), "the log contains `{secret}`:\n{log}");
    }
    // Not even a fragment of a JWT.
    let signature = access.rsplit('.').next().expect("jwt");
    assert!(!log.contains(signature));
}

crate::tests![logs_never_contain_secrets_tokens_or_emails,];
