//! The operator CLI, run as the real binary against a test database.

use std::{
    io::Write,
    process::{Command, Output, Stdio},
};

use serde_json::Value;

use crate::helpers::{PASSWORD, spawn_app};

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

crate::tests![
    the_cli_creates_an_admin_and_changes_roles,
    the_cli_refuses_passwords_in_argv_and_weak_passwords,
];
