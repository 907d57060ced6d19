//! Runs the real binary and reads everything it logged, in both
//! `LOG_FORMAT`s: no password, token, cookie or email may appear, even at
//! debug level; every line of a request carries its request id.

use serde_json::{Value, json};

use crate::{
    binary::{RunningServer, gateway, run_to_exit},
    helpers::{PASSWORD, TestDatabase, find_cookie, session_tokens, set_cookies},
};

const SIGNING_KEY: &str = "logged-never-signing-key-0123456789";
const PREVIOUS_KEY: &str = "logged-never-previous-key-012345678";

/// Sent with the successful login, to find that request's lines.
const LOGIN_REQUEST_ID: &str = "login-probe-7f3a";

/// What a whole session logged, and everything that must never appear.
struct SessionLog {
    log: String,
    user_id: i64,
    secrets: Vec<String>,
}

async fn run_session(format: &str) -> SessionLog {
    let database = TestDatabase::create().await;
    let mut command = gateway(env!("CARGO_MANIFEST_DIR").as_ref());
    command
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &database.url)
        .env("APP_PORT", "0")
        .env("RUST_LOG", "debug")
        .env("LOG_FORMAT", format)
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
        .header("x-request-id", LOGIN_REQUEST_ID)
        .json(&json!({ "username": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let (access, refresh) = session_tokens(&login);
    let user_id = login.json::<Value>().await.expect("json")["id"]
        .as_i64()
        .expect("id");
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
    // The reuse ended the session, and with it `access`: log in again for
    // a logout that ends something.
    let again = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login again");
    assert_eq!(again.status(), 200);
    let live_access = find_cookie(&set_cookies(&again), "accessToken").value;
    let logout = client
        .post(format!("{base}/api/auth/logout"))
        .bearer_auth(&live_access)
        .send()
        .await
        .expect("logout");
    assert_eq!(logout.status(), 204);

    let log = server.stop();
    // Not even a fragment of a JWT.
    let signature = access.rsplit('.').next().expect("jwt").to_owned();
    let secrets = [
        PASSWORD,
        "not-the-password",
        &access,
        &live_access,
        &refresh,
        &new_refresh,
        email,
        "probe=1",
        &signature,
        SIGNING_KEY,
        PREVIOUS_KEY,
    ]
    .map(str::to_owned)
    .to_vec();
    SessionLog {
        log,
        user_id,
        secrets,
    }
}

fn assert_no_secrets(session: &SessionLog) {
    for secret in &session.secrets {
        assert!(
            !session.log.contains(secret.as_str()),
            "the log contains `{secret}`:\n{}",
            session.log
        );
    }
}

async fn text_logs_never_contain_secrets_tokens_or_emails() {
    let session = run_session("text").await;
    let log = &session.log;
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
    // The login's event line and its request line carry its id.
    let tagged: Vec<&str> = log
        .lines()
        .filter(|l| l.contains(&format!("request_id={LOGIN_REQUEST_ID}]")))
        .collect();
    assert!(
        tagged.iter().any(|l| l.contains("login: user_id=")),
        "{log}"
    );
    assert!(
        tagged.iter().any(|l| l.contains("POST /api/auth/login 200")
            && l.ends_with(&format!("user_id={}", session.user_id))),
        "{log}"
    );
    assert_no_secrets(&session);
}

async fn json_logs_are_one_object_per_line_and_never_contain_secrets() {
    let session = run_session("json").await;
    let lines: Vec<Value> = session
        .log
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    for line in &lines {
        for field in ["ts", "level", "target", "message"] {
            assert!(line[field].is_string(), "{field} in {line}");
        }
    }
    let find = |pred: &dyn Fn(&Value) -> bool| {
        lines
            .iter()
            .find(|l| pred(l))
            .unwrap_or_else(|| panic!("no such line in\n{}", session.log))
            .clone()
    };
    let message = |l: &Value, text: &str| l["message"].as_str().is_some_and(|m| m.contains(text));
    let event = find(&|l| message(l, "login: user_id="));
    assert_eq!(event["request_id"], LOGIN_REQUEST_ID, "{event}");
    let request = find(&|l| l["request_id"] == LOGIN_REQUEST_ID && l["status"].is_number());
    assert_eq!(request["method"], "POST");
    assert_eq!(request["route"], "/api/auth/login");
    assert_eq!(request["status"], 200);
    assert!(
        request["latency_ms"].as_f64().is_some_and(|ms| ms > 0.0),
        "{request}"
    );
    assert_eq!(request["user_id"], session.user_id, "{request}");
    assert_eq!(request["level"], "INFO");
    // A request line the server named the id of; authenticated: the user.
    let me = find(&|l| l["route"] == "/api/auth/me");
    assert_eq!(me["user_id"], session.user_id, "{me}");
    assert_eq!(me["request_id"].as_str().map(str::len), Some(32), "{me}");
    let theft = find(&|l| message(l, "refresh token reuse detected"));
    assert_eq!(theft["level"], "WARN");
    assert!(theft["request_id"].is_string(), "{theft}");
    let csrf = find(&|l| message(l, "csrf rejected: POST /api/people"));
    assert!(csrf["request_id"].is_string(), "{csrf}");
    // Start-up lines belong to no request.
    let listening = find(&|l| message(l, "listening on"));
    assert!(listening.get("request_id").is_none(), "{listening}");
    assert_no_secrets(&session);
}

async fn an_unknown_log_format_stops_start_up_naming_the_variable() {
    let mut command = gateway(env!("CARGO_MANIFEST_DIR").as_ref());
    command
        .env("APP_ENV", "test")
        .env("APP_PORT", "0")
        .env("LOG_FORMAT", "xml");
    let (status, log) = run_to_exit(command);
    assert!(!status.success(), "{log}");
    assert!(log.contains("LOG_FORMAT is invalid"), "{log}");
    assert!(!log.contains("listening on"), "{log}");
}

crate::tests![
    text_logs_never_contain_secrets_tokens_or_emails,
    json_logs_are_one_object_per_line_and_never_contain_secrets,
    an_unknown_log_format_stops_start_up_naming_the_variable,
];
