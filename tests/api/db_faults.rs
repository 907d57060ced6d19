//! Real database faults on a private PostgreSQL cluster (pg_cluster.rs): a
//! refused (stopped) server and a hung (SIGSTOPped) one. Every request must
//! stay bounded and honest, and the service must recover by itself.

use std::time::{Duration, Instant};

use reqwest::{Response, header};
use serde_json::Value;

use crate::{
    binary::gateway,
    helpers::{TestApp, assert_error, set_cookies, spawn_app_on},
    pg_cluster::PrivateCluster,
};

/// Short deadlines so each test takes seconds: a visit gives up after 2 s.
const FAULT_SETTINGS: &[(&str, &str)] = &[
    ("DATABASE_CONNECT_TIMEOUT", "1s"),
    ("DATABASE_CHECKOUT_TIMEOUT", "1s"),
    ("DATABASE_STATEMENT_TIMEOUT", "1s"),
    ("DATABASE_REQUEST_TIMEOUT", "2s"),
];

/// The bound the tests hold the server to: the request deadline plus
/// scheduling slack on a busy 2-core machine.
const BOUND: Duration = Duration::from_millis(3000);

/// The test's own patience: old code hangs for as long as the database does.
const CLIENT_PATIENCE: Duration = Duration::from_secs(8);

/// A private cluster and the app on it, with ada logged in.
async fn ada_on_a_private_cluster(extra: &[(&str, &str)]) -> (PrivateCluster, TestApp) {
    let cluster = PrivateCluster::start();
    let mut overrides = FAULT_SETTINGS.to_vec();
    overrides.extend_from_slice(extra);
    let app = spawn_app_on(&cluster.url(), &overrides).await;
    app.logged_in_user("ada@example.com").await;
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
    (cluster, app)
}

/// Polls `path` until it answers 200: the service recovers by itself.
async fn until_ok(app: &TestApp, path: &str) {
    let start = Instant::now();
    while app.get(path).await.status() != 200 {
        assert!(
            start.elapsed() < Duration::from_secs(10),
            "{path} did not recover"
        );
        actix_web::rt::time::sleep(Duration::from_millis(100)).await;
    }
}

/// A request as the browser would send it (jar cookies), timed, within the
/// test's own patience.
async fn timed(app: &TestApp, method: reqwest::Method, path: &str) -> (Response, Duration) {
    let request = app
        .client
        .request(method, app.url(path))
        .timeout(CLIENT_PATIENCE);
    let request = match app.cookie_header(path) {
        Some(cookies) => request.header(header::COOKIE, cookies),
        None => request,
    };
    let start = Instant::now();
    let response = request
        .send()
        .await
        .unwrap_or_else(|e| panic!("{path} gave no answer within {CLIENT_PATIENCE:?}: {e}"));
    (response, start.elapsed())
}

async fn assert_unavailable(response: Response) {
    let retry_after = response.headers().get(header::RETRY_AFTER).cloned();
    assert_error(response, 503, "service_unavailable").await;
    assert!(retry_after.is_some(), "a 503 says when to retry");
}

async fn a_refused_database_gets_fast_503s_and_ready_answers_within_a_second() {
    let (mut cluster, app) = ada_on_a_private_cluster(&[]).await;

    cluster.stop_service();
    let mut latencies = Vec::new();
    // `/api/people` always reads the database; a session check may be
    // answered by the session cache for the few milliseconds until its
    // listener sees the database go (then it is bypassed).
    for _ in 0..6 {
        let (response, took) = timed(&app, reqwest::Method::GET, "/api/people").await;
        assert_unavailable(response).await;
        latencies.push(took);
    }
    let (ready, ready_took) = timed(&app, reqwest::Method::GET, "/ready").await;
    assert_unavailable(ready).await;
    assert!(
        ready_took < Duration::from_secs(1),
        "/ready took {ready_took:?}"
    );
    assert_eq!(app.get("/health").await.status(), 200);
    println!("refused: /api/people latencies {latencies:?}, /ready {ready_took:?}");
    assert!(
        latencies.iter().all(|t| *t < Duration::from_millis(1500)),
        "{latencies:?}"
    );
    // Once the pool has seen the database refuse, it does not make each
    // request wait the checkout timeout.
    assert!(
        latencies[1..]
            .iter()
            .all(|t| *t < Duration::from_millis(700)),
        "{latencies:?}"
    );

    cluster.resume_service();
    until_ok(&app, "/ready").await;
    assert_eq!(app.get("/api/auth/me").await.status(), 200);
}

async fn a_hung_database_gets_bounded_503s_and_recovers_after_sigcont() {
    let (mut cluster, app) = ada_on_a_private_cluster(&[]).await;

    cluster.freeze();
    // More requests at once than the pool has connections (4). A read of
    // the people table, since the session check itself may be answered by
    // the session cache, whose listener cannot tell a frozen server from an
    // idle one (nothing can be revoked while the database is frozen).
    let burst = (0..8).map(|_| timed(&app, reqwest::Method::GET, "/api/people"));
    let burst = futures::future::join_all(burst).await;
    let mut latencies = Vec::new();
    for (response, took) in burst {
        assert_unavailable(response).await;
        latencies.push(took);
    }
    let (me, me_took) = timed(&app, reqwest::Method::GET, "/api/people?limit=1").await;
    assert_unavailable(me).await;
    let (ready, ready_took) = timed(&app, reqwest::Method::GET, "/ready").await;
    assert_unavailable(ready).await;
    println!("hung: burst of 8 {latencies:?}, then {me_took:?}, /ready {ready_took:?}");
    let slowest = latencies.iter().max().copied().unwrap_or_default();
    assert!(slowest < BOUND, "slowest {slowest:?}");
    assert!(me_took < BOUND, "{me_took:?}");
    assert!(
        ready_took < Duration::from_secs(1),
        "/ready took {ready_took:?}"
    );

    cluster.thaw();
    until_ok(&app, "/api/people").await;
    assert_eq!(app.get("/ready").await.status(), 200);
}

async fn logout_during_an_outage_keeps_the_cookies_and_reports_the_failure() {
    let (mut cluster, app) = ada_on_a_private_cluster(&[]).await;
    let refresh = app.jar_value("refreshToken").expect("refresh cookie");

    cluster.stop_service();
    let (response, _) = timed(&app, reqwest::Method::POST, "/api/auth/refresh/revoke").await;
    assert!(set_cookies(&response).is_empty(), "cookies kept");
    assert!(response.headers().get("clear-site-data").is_none());
    assert_unavailable(response).await;

    // The client still holds its cookies and retries once the database is back.
    cluster.resume_service();
    until_ok(&app, "/ready").await;
    let retried = app.post_empty("/api/auth/refresh/revoke").await;
    assert_eq!(retried.status(), 204);
    assert!(retried.headers().get("clear-site-data").is_some());
    assert_error(
        app.refresh_with(&refresh).await,
        401,
        "refresh_token_invalid",
    )
    .await;
}

/// The database hangs longer than the reuse window while a refresh waits:
/// that rotation must not land later with its old timestamp, or the
/// client's retry with the same token looks like a replay.
async fn a_refresh_retried_after_a_hang_longer_than_the_reuse_window_is_not_a_replay() {
    let (mut cluster, app) = ada_on_a_private_cluster(&[("REFRESH_REUSE_WINDOW", "1s")]).await;
    let token = app.jar_value("refreshToken").expect("refresh cookie");

    cluster.freeze();
    let hang = Instant::now();
    let (response, took) = timed(&app, reqwest::Method::POST, "/api/auth/refresh").await;
    assert!(set_cookies(&response).is_empty(), "cookies kept");
    assert_unavailable(response).await;
    assert!(took < BOUND, "{took:?}");
    let hang_for = Duration::from_millis(3000);
    actix_web::rt::time::sleep(hang_for.saturating_sub(hang.elapsed())).await;
    cluster.thaw();
    cluster.wait_until_answering(Duration::from_secs(10));
    // Whatever the server had left waiting on the database is done by now.
    actix_web::rt::time::sleep(Duration::from_millis(500)).await;

    let retry = app.refresh_with(&token).await;
    let status = retry.status();
    let body: Value = retry.json().await.unwrap_or_default();
    assert_eq!(
        status, 200,
        "the retry is served, not judged a replay: {body}"
    );
    let next = app.jar_value("refreshToken").expect("rotated cookie");
    assert_ne!(next, token);
    assert_eq!(app.refresh_with(&next).await.status(), 200);
}

async fn start_up_against_a_hung_database_gives_up_in_time_saying_why() {
    let mut cluster = PrivateCluster::start();
    cluster.freeze();
    let dir = std::env::temp_dir();
    let mut command = gateway(&dir);
    command
        .env("APP_ENV", "test")
        .env("APP_PORT", "0")
        .env("DATABASE_URL", cluster.url())
        .env("DATABASE_CONNECT_TIMEOUT", "1s")
        .env("DATABASE_STARTUP_TIMEOUT", "4s");
    let start = Instant::now();
    let mut child = command.spawn().expect("start the binary");
    let status = loop {
        if let Some(status) = child.try_wait().expect("wait") {
            break Some(status);
        }
        if start.elapsed() > Duration::from_secs(15) {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(50));
    };
    let took = start.elapsed();
    let mut log = String::new();
    if let Some(mut stderr) = child.stderr.take() {
        use std::io::Read;
        let _ = stderr.read_to_string(&mut log);
    }
    cluster.thaw();
    let status = status.unwrap_or_else(|| panic!("start-up hung for {took:?}:\n{log}"));
    println!("hung start-up gave up after {took:?}");
    assert!(!status.success(), "{log}");
    assert!(took < Duration::from_secs(8), "took {took:?}:\n{log}");
    assert!(log.contains("waiting for database"), "{log}");
    assert!(log.contains("timeout"), "{log}");
    assert!(!log.contains("listening on"), "{log}");
}

async fn logins_and_signups_during_an_outage_get_503_and_the_budget_holds_after_it() {
    let (mut cluster, app) =
        ada_on_a_private_cluster(&[("LOGIN_MAX_FAILURES_PER_ACCOUNT", "2")]).await;
    assert_eq!(
        app.login("ada@example.com", "wrong password!")
            .await
            .status(),
        401
    );

    cluster.stop_service();
    // The throttle's own visit fails first: 503, never a check that skipped it.
    for _ in 0..3 {
        assert_unavailable(app.login("ada@example.com", "wrong password!").await).await;
        assert_unavailable(
            app.signup("eve@example.com", "a long enough password")
                .await,
        )
        .await;
    }

    cluster.resume_service();
    until_ok(&app, "/ready").await;
    // The failure stored before the outage still counts, and the outage
    // charged nothing: one attempt left, then 429.
    assert_eq!(
        app.login("ada@example.com", "wrong password!")
            .await
            .status(),
        401
    );
    let response = app.login("ada@example.com", "wrong password!").await;
    assert_error(response, 429, "too_many_requests").await;
}

crate::tests![
    ;
    postgres_only:
        a_refused_database_gets_fast_503s_and_ready_answers_within_a_second,
        a_hung_database_gets_bounded_503s_and_recovers_after_sigcont,
        logout_during_an_outage_keeps_the_cookies_and_reports_the_failure,
        a_refresh_retried_after_a_hang_longer_than_the_reuse_window_is_not_a_replay,
        start_up_against_a_hung_database_gives_up_in_time_saying_why,
        logins_and_signups_during_an_outage_get_503_and_the_budget_holds_after_it,
];
