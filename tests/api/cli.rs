//! The operator CLI, run as the real binary against a test database.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use serde_json::Value;

use crate::helpers::{PASSWORD, REVOCATION_BOUND, TestApp, assert_error, spawn_app, until_status};

pub(crate) fn cli(
    db_url: &str,
    args: &[&str],
    password_env: Option<&str>,
    stdin: Option<&str>,
) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_bff-gateway"));
    command
        .current_dir(env!("CARGO_MANIFEST_DIR"))
        .args(args)
        .env("APP_ENV", "test")
        .env("DATABASE_URL", db_url)
        .env("BCRYPT_COST", "4")
        .env_remove("BFF_USER_PASSWORD")
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    if let Some(password) = password_env {
        command.env("BFF_USER_PASSWORD", password);
    }
    let mut child = command.spawn().expect("run the CLI");
    if let Some(input) = stdin {
        child
            .stdin
            .take()
            .expect("stdin")
            .write_all(input.as_bytes())
            .expect("write stdin");
    }
    child.wait_with_output().expect("CLI output")
}

/// `set-role` through the real binary; it must succeed.
pub(crate) fn set_role(db_url: &str, email: &str, role: &str) {
    let out = cli(
        db_url,
        &["set-role", "--email", email, "--role", role],
        None,
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

async fn the_cli_creates_an_admin_and_changes_roles() {
    let app = spawn_app().await;
    let out = cli(
        &app.db_url,
        &[
            "create-user",
            "--email",
            "Root@Example.com",
            "--role",
            "admin",
        ],
        None,
        Some(&format!("{PASSWORD}\n")),
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    let response = app.login("root@example.com", PASSWORD).await;
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["role"], "admin");

    set_role(&app.db_url, "root@example.com", "user");
    let body: Value = app
        .login("root@example.com", PASSWORD)
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(body["role"], "user");

    // The password can also come from the environment.
    let out = cli(
        &app.db_url,
        &["create-user", "--email", "ops@example.com"],
        Some(PASSWORD),
        None,
    );
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.login("ops@example.com", PASSWORD).await.status(), 200);
}

async fn the_cli_refuses_passwords_in_argv_and_weak_passwords() {
    let app = spawn_app().await;
    let out = cli(
        &app.db_url,
        &[
            "create-user",
            "--email",
            "a@example.com",
            "--password",
            PASSWORD,
        ],
        None,
        None,
    );
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("BFF_USER_PASSWORD"));

    let out = cli(
        &app.db_url,
        &["create-user", "--email", "a@example.com"],
        Some("short"),
        None,
    );
    assert!(!out.status.success());
    assert_eq!(app.count("users"), 0);

    // Control characters are refused as at sign-up (an environment
    // variable cannot hold NUL; standard input can).
    let out = cli(
        &app.db_url,
        &["create-user", "--email", "a@example.com"],
        None,
        Some("correct horse\u{0}battery\n"),
    );
    assert!(!out.status.success());
    assert!(
        String::from_utf8_lossy(&out.stderr)
            .contains("password must not contain control characters"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(app.count("users"), 0);

    let out = cli(
        &app.db_url,
        &[
            "set-role",
            "--email",
            "nobody@example.com",
            "--role",
            "admin",
        ],
        None,
        None,
    );
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("no user with this email"));
}

/// Runs the CLI and asserts it succeeded; returns its standard output.
fn cli_ok(app: &TestApp, args: &[&str]) -> String {
    let out = cli(&app.db_url, args, None, None);
    assert!(
        out.status.success(),
        "{args:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8(out.stdout).expect("utf-8 output")
}

/// The CLI is another process: its write reaches this instance's session
/// cache through the database's notification, within the revocation bound
/// (as for another instance, tests/api/fleet.rs). Then the answer is 401
/// `token_revoked`.
async fn me_is_revoked_within_the_bound(app: &TestApp) {
    let done = std::time::Instant::now();
    let took = until_status(done, reqwest::StatusCode::UNAUTHORIZED, || async {
        app.get("/api/auth/me").await.status()
    })
    .await;
    assert!(took <= REVOCATION_BOUND, "refused after {took:?}");
    assert_error(app.get("/api/auth/me").await, 401, "token_revoked").await;
}

fn cli_fails_with(app: &TestApp, args: &[&str], message: &str) {
    let out = cli(&app.db_url, args, None, None);
    assert!(!out.status.success(), "{args:?} succeeded");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains(message), "{args:?}: {stderr}");
}

async fn the_cli_revokes_a_session_and_its_access_tokens_stop_within_the_revocation_bound() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    assert_eq!(app.get("/api/auth/me").await.status(), 200);

    let out = cli_ok(&app, &["revoke", "--email", "Ada@Example.com"]);
    assert!(out.contains("revoked the session of user"), "{out}");
    assert!(out.contains("email=ada@example.com"), "{out}");
    // The same, unexpired access token; no refresh in between.
    me_is_revoked_within_the_bound(&app).await;
    assert_error(
        app.post_empty("/api/auth/refresh").await,
        401,
        "refresh_token_invalid",
    )
    .await;
    assert_eq!(app.stored_session("ada@example.com"), (None, None));
    // The account itself is untouched: a new login works.
    assert_eq!(app.login("ada@example.com", PASSWORD).await.status(), 200);
    assert_eq!(app.get("/api/auth/me").await.status(), 200);

    cli_fails_with(
        &app,
        &["revoke", "--email", "nobody@example.com"],
        "no user with this email",
    );
}

async fn the_cli_deletes_a_user_who_is_signed_out_within_the_revocation_bound() {
    let app = spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    app.signup("bob@example.com", PASSWORD).await;

    let out = cli_ok(&app, &["delete-user", "--email", "ada@example.com"]);
    assert!(out.starts_with("deleted user id="), "{out}");
    me_is_revoked_within_the_bound(&app).await;
    assert_error(
        app.login("ada@example.com", PASSWORD).await,
        401,
        "invalid_credentials",
    )
    .await;
    assert_eq!(app.count("users"), 1, "only ada is gone");

    cli_fails_with(
        &app,
        &["delete-user", "--email", "ada@example.com"],
        "no user with this email",
    );
    assert_eq!(app.count("users"), 1);
}

async fn the_cli_lists_users_by_role_without_their_hashes() {
    let app = spawn_app().await;
    app.logged_in_admin("root@example.com").await;
    app.signup("ada@example.com", PASSWORD).await;

    let all = cli_ok(&app, &["list-users"]);
    let lines: Vec<&str> = all.lines().collect();
    assert_eq!(lines.len(), 3, "{all}");
    assert_eq!(lines[0], "2 users");
    assert!(
        lines[1].contains("email=root@example.com role=admin"),
        "{all}"
    );
    assert!(
        lines[1].contains("session=until "),
        "root is logged in: {all}"
    );
    assert!(
        lines[2].contains("email=ada@example.com role=user"),
        "{all}"
    );
    assert!(lines[2].ends_with("session=none"), "{all}");

    let admins = cli_ok(&app, &["list-users", "--role", "admin"]);
    assert_eq!(admins.lines().count(), 2, "{admins}");
    assert!(admins.contains("root@example.com") && !admins.contains("ada@"));

    let (hash, _) = app.stored_session("root@example.com");
    let password_hash = app.stored_password_hash("root@example.com");
    for secret in [password_hash.as_str(), hash.as_deref().expect("session")] {
        assert!(!all.contains(secret), "a hash in {all}");
    }
    assert!(!all.contains("$2"), "{all}");
}

/// `generate-relay-key` in an empty directory with production's
/// environment and none of its secrets: it reads no settings, prints only
/// the PEM, and the key it prints is one the gateway then publishes.
async fn the_cli_generates_a_relay_key_on_stdout_that_the_gateway_accepts() {
    use bff_gateway::{config::RelaySigningKey, relay::token::thumbprint};

    let dir = crate::startup::ScratchDir::new();
    let generate = || {
        let out = crate::binary::gateway(dir.path())
            .arg("generate-relay-key")
            .env("APP_ENV", "production")
            .stdout(Stdio::piped())
            .output()
            .expect("run the CLI");
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).expect("utf-8")
    };
    let pem = generate();
    assert!(pem.starts_with("-----BEGIN PRIVATE KEY-----\n"), "{pem}");
    assert!(pem.ends_with("-----END PRIVATE KEY-----\n"), "{pem}");
    assert_eq!(pem.lines().count(), 3, "nothing but the key: {pem}");
    let key = RelaySigningKey::from_pem(&pem).expect("a PKCS#8 Ed25519 key");
    assert_ne!(generate(), pem, "a new key each time");
    assert_eq!(
        std::fs::read_dir(dir.path()).expect("dir").count(),
        0,
        "writes no file"
    );

    let file = dir.path().join("relay.pem");
    std::fs::write(&file, &pem).expect("write");
    let file = file.display().to_string();
    let app = crate::helpers::spawn_app_with(&[("RELAY_SIGNING_KEY_FILE", &file)]).await;
    let jwks: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .expect("json");
    assert_eq!(jwks["keys"][0]["kid"], thumbprint(key.public_key()));
}

crate::tests![
    the_cli_creates_an_admin_and_changes_roles,
    the_cli_refuses_passwords_in_argv_and_weak_passwords,
    the_cli_revokes_a_session_and_its_access_tokens_stop_within_the_revocation_bound,
    the_cli_deletes_a_user_who_is_signed_out_within_the_revocation_bound,
    the_cli_lists_users_by_role_without_their_hashes;
    sqlite_only: the_cli_generates_a_relay_key_on_stdout_that_the_gateway_accepts,
];
