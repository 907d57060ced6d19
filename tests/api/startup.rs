//! Start-up as an operator sees it: the real binary, its exit status and
//! what it logs.

use std::{
    path::{Path, PathBuf},
    time::{Duration, Instant},
};

use serde_json::{Value, json};

use crate::{
    binary::{RunningServer, gateway, run_to_exit},
    helpers::{PASSWORD, find_cookie, server_url, set_cookies},
};

/// A scratch working directory: no `.env`, no `config/`, no `data/`.
pub(crate) struct ScratchDir(PathBuf);

impl ScratchDir {
    pub(crate) fn new() -> ScratchDir {
        let dir = std::env::temp_dir().join(format!("bff_fresh_{}", uuid::Uuid::new_v4().simple()));
        std::fs::create_dir_all(&dir).expect("scratch dir");
        ScratchDir(dir)
    }

    pub(crate) fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for ScratchDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// What `cargo run` does on a fresh clone: development, no variables at all
/// (the demo page's directory is named only because the scratch directory
/// has none).
fn fresh_server(dir: &Path) -> RunningServer {
    let mut command = gateway(dir);
    command
        .env("APP_PORT", "0")
        .env("BCRYPT_COST", "10")
        .env("STATIC_DIR", concat!(env!("CARGO_MANIFEST_DIR"), "/static"));
    RunningServer::start(command)
}

async fn sign_up_ada(client: &reqwest::Client, server: &RunningServer) {
    let signup = client
        .post(server.url("/api/auth/signup"))
        .json(&json!({ "email": "ada@example.com", "password": PASSWORD }))
        .send()
        .await
        .expect("signup");
    assert_eq!(signup.status(), 201);
}

fn log_in_ada(client: &reqwest::Client, server: &RunningServer) -> reqwest::RequestBuilder {
    client
        .post(server.url("/api/auth/login"))
        .json(&json!({ "username": "ada@example.com", "password": PASSWORD }))
}

async fn a_fresh_start_serves_on_sqlite_and_sessions_survive_a_restart() {
    let dir = ScratchDir::new();
    let server = fresh_server(dir.path());
    let client = reqwest::Client::new();

    let page = client.get(server.url("/")).send().await.expect("page");
    assert_eq!(page.status(), 200);
    assert!(page.text().await.expect("html").contains("<html"));
    sign_up_ada(&client, &server).await;
    let login = log_in_ada(&client, &server).send().await.expect("login");
    assert_eq!(login.status(), 200);
    let access = find_cookie(&set_cookies(&login), "accessToken").value;
    let log = server.stop();

    assert!(
        log.contains("database: sqlite at data/bff.sqlite3"),
        "{log}"
    );
    assert!(log.contains("data/access-token-secret.dev"), "{log}");
    assert!(!log.contains(&access), "{log}");
    assert!(dir.path().join("data/bff.sqlite3").is_file());
    let secret = std::fs::read_to_string(dir.path().join("data/access-token-secret.dev"))
        .expect("secret file");
    assert!(secret.trim().len() >= 32);
    assert!(!log.contains(secret.trim()), "the secret is never logged");

    // Same directory, new process: the user and the access token still work.
    let server = fresh_server(dir.path());
    let me = client
        .get(server.url("/api/auth/me"))
        .header("cookie", format!("accessToken={access}"))
        .send()
        .await
        .expect("me");
    assert_eq!(me.status(), 200);
    let me: Value = me.json().await.expect("json");
    assert_eq!(me["email"], "ada@example.com");
    server.stop();
}

fn start_up_error(database_url: &str) -> String {
    let dir = ScratchDir::new();
    let mut command = gateway(dir.path());
    command
        .env("APP_ENV", "test")
        .env("APP_PORT", "0")
        .env("DATABASE_URL", database_url)
        .env("DATABASE_STARTUP_TIMEOUT", "3s");
    let (status, log) = run_to_exit(command);
    assert!(
        !status.success(),
        "start-up must fail for {database_url}:\n{log}"
    );
    assert!(!log.contains("panicked"), "{log}");
    log
}

async fn an_unsupported_database_scheme_stops_start_up_naming_the_accepted_ones() {
    let log = start_up_error("mysql://root@127.0.0.1/app");
    assert!(log.contains("DATABASE_URL"), "{log}");
    assert!(
        log.contains("postgres://") && log.contains("sqlite://"),
        "{log}"
    );
}

/// The server's own words, not "Invalid connection url for multiconnection".
async fn postgres_connection_errors_report_the_real_cause() {
    // Unreachable: retried with a line per attempt, then given up.
    let refused = start_up_error("postgres://postgres@127.0.0.1:1/postgres");
    assert!(refused.contains("Connection refused"), "{refused}");
    assert!(refused.contains("waiting for database"), "{refused}");

    let host_and_port = server_url()
        .rsplit_once('@')
        .map(|(_, rest)| rest.to_owned())
        .expect("TEST_DATABASE_SERVER has user@host");
    let no_role = start_up_error(&format!("postgres://no_such_role@{host_and_port}/postgres"));
    assert!(
        no_role.contains("role \"no_such_role\" does not exist"),
        "{no_role}"
    );

    // Outside development a missing database is not created.
    let missing = start_up_error(&format!("{}/bff_no_such_database", server_url()));
    assert!(
        missing.contains("database \"bff_no_such_database\" does not exist"),
        "{missing}"
    );
    for log in [&refused, &no_role, &missing] {
        assert!(!log.contains("multiconnection"), "{log}");
    }
    // A wrong role or database name is not worth waiting for.
    for log in [&no_role, &missing] {
        assert!(!log.contains("waiting for database"), "{log}");
    }
}

fn send_signal(server: &RunningServer, name: &str) {
    let kill = std::process::Command::new("kill")
        .arg(format!("-{name}"))
        .arg(server.pid().to_string())
        .status()
        .expect("kill");
    assert!(kill.success(), "kill -{name}");
}

/// Both signals drain: the listener closes at once, a login already in
/// flight (bcrypt takes a while) still gets its answer, and the
/// process exits 0.
async fn sigterm_and_sigint_drain_an_in_flight_login_and_exit_cleanly() {
    let client = reqwest::Client::new();
    for signal in ["TERM", "INT"] {
        let dir = ScratchDir::new();
        let mut command = gateway(dir.path());
        command
            .env("APP_PORT", "0")
            // bcrypt is optimised even in test builds: cost 13 keeps the
            // login in flight well past the signal.
            .env("BCRYPT_COST", "13")
            .env("SHUTDOWN_TIMEOUT", "20s");
        let mut server = RunningServer::start(command);
        sign_up_ada(&client, &server).await;
        let login = log_in_ada(&client, &server).send();
        let login = actix_web::rt::spawn(async move { (login.await, Instant::now()) });
        actix_web::rt::time::sleep(Duration::from_millis(150)).await;
        let signalled = Instant::now();
        send_signal(&server, signal);
        actix_web::rt::time::sleep(Duration::from_millis(300)).await;
        let refused = client.get(server.url("/health")).send().await;
        assert!(refused.is_err(), "SIG{signal}: no new connections");
        let (login, answered) = login.await.expect("login task");
        let login = login.expect("login answered");
        assert_eq!(login.status(), 200, "SIG{signal}: the in-flight login");
        assert!(
            answered > signalled,
            "the login was still in flight when the signal came"
        );
        let (status, log) = server.wait_for_exit(Duration::from_secs(20));
        assert!(
            status.is_some_and(|s| s.success()),
            "SIG{signal}: {status:?}\n{log}"
        );
        assert!(
            log.contains(&format!("SIG{signal}: shutting down")),
            "{log}"
        );
    }
}

/// The database holds password and session hashes: owner-only, like the
/// development secret beside it.
async fn a_new_sqlite_database_and_its_wal_are_readable_by_the_owner_only() {
    use std::os::unix::fs::PermissionsExt;
    let app = crate::helpers::spawn_app().await;
    app.logged_in_user("ada@example.com").await;
    let file = PathBuf::from(app.db_url.trim_start_matches("sqlite://"));
    let wal = PathBuf::from(format!("{}-wal", file.display()));
    for path in [&file, &wal] {
        let mode = std::fs::metadata(path)
            .expect("file exists")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{}: {mode:o}", path.display());
    }
}

/// While a drain waits for a request that never finishes (its body never
/// arrives), a second signal exits at once, non-zero.
async fn a_second_signal_during_the_drain_exits_at_once() {
    use std::io::Write;
    let dir = ScratchDir::new();
    let mut command = gateway(dir.path());
    command.env("APP_PORT", "0").env("SHUTDOWN_TIMEOUT", "60s");
    let mut server = RunningServer::start(command);
    let address = server.base.trim_start_matches("http://").to_owned();
    let mut stalled = std::net::TcpStream::connect(&address).expect("connect");
    stalled
        .write_all(
            b"POST /api/auth/login HTTP/1.1\r\nHost: 127.0.0.1\r\n\
              Content-Type: application/json\r\nContent-Length: 100\r\n\r\n{",
        )
        .expect("half a request");
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    send_signal(&server, "TERM");
    actix_web::rt::time::sleep(Duration::from_millis(300)).await;
    let second = Instant::now();
    send_signal(&server, "INT");
    let (status, log) = server.wait_for_exit(Duration::from_secs(5));
    assert!(second.elapsed() < Duration::from_secs(5), "{log}");
    assert_eq!(status.and_then(|s| s.code()), Some(1), "{log}");
    assert!(log.contains("SIGINT during shutdown: exiting now"), "{log}");
    drop(stalled);
}

crate::tests![
    an_unsupported_database_scheme_stops_start_up_naming_the_accepted_ones;
    postgres_only: postgres_connection_errors_report_the_real_cause;
    sqlite_only: a_fresh_start_serves_on_sqlite_and_sessions_survive_a_restart,
        sigterm_and_sigint_drain_an_in_flight_login_and_exit_cleanly,
    a_new_sqlite_database_and_its_wal_are_readable_by_the_owner_only,
        a_second_signal_during_the_drain_exits_at_once,
];
