//! Two real gateway instances on one database, each with its own session
//! cache and listener: a revocation on either is refused by both within the
//! stated bound, with the listener up or down, and the cache serves
//! authenticated reads without the database.

use std::time::{Duration, Instant};

use diesel::{Connection, PgConnection, RunQueryDsl, connection::SimpleConnection};
use reqwest::{StatusCode, header};
use serde_json::{Value, json};

use crate::{
    cli::set_role,
    helpers::{
        PASSWORD, REVOCATION_BOUND, TestApp, find_cookie, server_url, set_cookies, spawn_app,
        until_status,
    },
};

const BOUND: Duration = REVOCATION_BOUND;

/// (access token, refresh token) of one login or refresh.
type Tokens = (String, String);

fn tokens(response: &reqwest::Response) -> Tokens {
    let cookies = set_cookies(response);
    (
        find_cookie(&cookies, "accessToken").value,
        find_cookie(&cookies, "refreshToken").value,
    )
}

async fn login(app: &TestApp, email: &str) -> Tokens {
    let response = app
        .client
        .post(app.url("/api/auth/login"))
        .json(&json!({ "username": email, "password": PASSWORD }))
        .send()
        .await
        .expect("login");
    assert_eq!(response.status(), 200);
    tokens(&response)
}

/// A POST with one cookie and no body, as a browser sends it.
async fn post_with(app: &TestApp, path: &str, cookie: String) -> reqwest::Response {
    app.client
        .post(app.url(path))
        .header(header::COOKIE, cookie)
        .send()
        .await
        .expect("post")
}

async fn refresh(app: &TestApp, refresh: &str) -> Tokens {
    let response = post_with(app, "/api/auth/refresh", format!("refreshToken={refresh}")).await;
    assert_eq!(response.status(), 200);
    tokens(&response)
}

async fn logout(app: &TestApp, access: &str) {
    let response = post_with(app, "/api/auth/logout", format!("accessToken={access}")).await;
    assert_eq!(response.status(), 204);
}

/// `GET /api/auth/me` with `access`: its status and the role it reports.
async fn me(app: &TestApp, access: &str) -> (StatusCode, Option<String>) {
    let response = app
        .client
        .get(app.url("/api/auth/me"))
        .header(header::COOKIE, format!("accessToken={access}"))
        .timeout(Duration::from_secs(5))
        .send()
        .await
        .expect("me");
    let status = response.status();
    let body: Value = response.json().await.unwrap_or_default();
    (status, body["role"].as_str().map(str::to_owned))
}

/// An admin-only request that changes nothing (no such person): 404 for an
/// admin, 403 for anyone else.
async fn admin_probe(app: &TestApp, access: &str) -> StatusCode {
    app.client
        .delete(app.url("/api/people/999999"))
        .header(header::COOKIE, format!("accessToken={access}"))
        .send()
        .await
        .expect("delete")
        .status()
}

fn assert_within_bound(what: &str, mut delays: Vec<Duration>) {
    delays.sort();
    let worst = delays[delays.len() - 1];
    assert!(
        worst <= BOUND,
        "{what}: worst of {} trials took {worst:?} (bound {BOUND:?}); all: {delays:?}",
        delays.len()
    );
}

/// Two instances whose caches are both live, and a signed-up user.
async fn fleet(email: &str) -> (TestApp, TestApp) {
    let a = spawn_app().await;
    let b = a.spawn_peer().await;
    assert_eq!(a.signup(email, PASSWORD).await.status(), 201);
    a.cache_is_live().await;
    b.cache_is_live().await;
    (a, b)
}

/// Reads twice on `app`, so the second answer comes from its cache.
async fn cached_on(app: &TestApp, access: &str) {
    for _ in 0..2 {
        assert_eq!(me(app, access).await.0, StatusCode::OK);
    }
}

/// Logs `access` out on `a`, which must refuse it at once; how long until
/// `b` refuses it (counting the check on `a`).
async fn logout_seen_by(a: &TestApp, b: &TestApp, access: &str) -> Duration {
    logout(a, access).await;
    let done = Instant::now();
    assert_eq!(
        me(a, access).await.0,
        StatusCode::UNAUTHORIZED,
        "at once on A"
    );
    until_status(done, StatusCode::UNAUTHORIZED, || async {
        me(b, access).await.0
    })
    .await
}

async fn a_logout_on_one_instance_is_refused_by_the_other_within_100_ms() {
    let (a, b) = fleet("ada@example.com").await;
    let mut delays = Vec::new();
    for _ in 0..20 {
        let (access, _) = login(&a, "ada@example.com").await;
        cached_on(&b, &access).await;
        delays.push(logout_seen_by(&a, &b, &access).await);
    }
    assert_within_bound("logout on A, refused by B", delays);
}

async fn a_role_change_by_the_cli_is_refused_on_both_instances_within_100_ms() {
    let (a, b) = fleet("root@example.com").await;
    let mut delays = Vec::new();
    for _ in 0..5 {
        set_role(&a.db_url, "root@example.com", "admin");
        let (access, _) = login(&a, "root@example.com").await;
        for app in [&a, &b] {
            for _ in 0..2 {
                assert_eq!(admin_probe(app, &access).await, StatusCode::NOT_FOUND);
            }
        }
        set_role(&a.db_url, "root@example.com", "user");
        let done = Instant::now();
        for app in [&a, &b] {
            delays.push(
                until_status(done, StatusCode::FORBIDDEN, || admin_probe(app, &access)).await,
            );
        }
    }
    assert_within_bound("set-role by the CLI, refused by A and B", delays);
}

/// A connection of the test's own to the shared PostgreSQL database.
fn pg(app: &TestApp) -> PgConnection {
    PgConnection::establish(&app.db_url).expect("connect to the test database")
}

#[derive(diesel::QueryableByName)]
struct Count {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    n: i64,
}

/// Kills (or, with `kill` false, counts) the listeners' backends on this
/// database; returns how many there were.
fn listeners(conn: &mut PgConnection, kill: bool) -> i64 {
    let count = if kill {
        "count(*) FILTER (WHERE pg_terminate_backend(pid))"
    } else {
        "count(*)"
    };
    // Materialized first: the filter must pick the rows before anything is killed.
    diesel::sql_query(format!(
        "WITH l AS MATERIALIZED (SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND application_name = $1) SELECT {count} AS n FROM l"
    ))
    .bind::<diesel::sql_types::Text, _>(bff_gateway::session::listener::APPLICATION_NAME)
    .get_result::<Count>(conn)
    .expect("pg_stat_activity")
    .n
}

/// New connections to the test database allowed or not (existing ones stay).
fn allow_connections(app: &TestApp, allow: bool) {
    let mut maintenance = PgConnection::establish(&format!("{}/postgres", server_url()))
        .expect("maintenance database");
    maintenance
        .batch_execute(&format!(
            "ALTER DATABASE \"{}\" WITH ALLOW_CONNECTIONS {allow}",
            app.db_name
        ))
        .expect("ALTER DATABASE");
}

/// With `users` locked by another transaction, any read of it waits: what
/// answers then answered from the cache.
async fn answers_with_users_locked(
    lock: &mut PgConnection,
    probe: &TestApp,
    access: &str,
) -> StatusCode {
    lock.batch_execute("BEGIN; LOCK TABLE users IN ACCESS EXCLUSIVE MODE;")
        .expect("lock users");
    let response = probe
        .client
        .get(probe.url("/api/auth/me"))
        .header(header::COOKIE, format!("accessToken={access}"))
        .timeout(Duration::from_secs(1))
        .send()
        .await;
    lock.batch_execute("ROLLBACK").expect("unlock users");
    response.map_or(StatusCode::GATEWAY_TIMEOUT, |r| r.status())
}

async fn a_cached_session_is_answered_without_the_database() {
    let (a, b) = fleet("ada@example.com").await;
    let (access, _) = login(&a, "ada@example.com").await;
    cached_on(&b, &access).await;
    let mut own = pg(&a);
    assert_eq!(
        answers_with_users_locked(&mut own, &b, &access).await,
        StatusCode::OK
    );
}

async fn with_its_listener_down_an_instance_reads_the_database_and_recovers() {
    let (a, b) = fleet("ada@example.com").await;
    let (access, _) = login(&a, "ada@example.com").await;
    cached_on(&b, &access).await;

    // Killed with no way back for now: the listeners cannot reconnect.
    // Opened before new connections are refused.
    let mut own = pg(&a);
    allow_connections(&a, false);
    assert_eq!(listeners(&mut own, true), 2);
    let deadline = Instant::now() + Duration::from_secs(2);
    while b.session_cache_status().await != "bypassed" {
        assert!(
            Instant::now() < deadline,
            "B never noticed its listener died"
        );
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    // Bypassed: the very next request reads the database.
    logout(&a, &access).await;
    assert_eq!(me(&b, &access).await.0, StatusCode::UNAUTHORIZED);
    let (access, _) = login(&a, "ada@example.com").await;
    cached_on(&b, &access).await;
    assert_eq!(
        answers_with_users_locked(&mut own, &b, &access).await,
        StatusCode::GATEWAY_TIMEOUT,
        "nothing is served from the cache while it is bypassed"
    );

    allow_connections(&a, true);
    a.cache_is_live().await;
    b.cache_is_live().await;
    assert_eq!(listeners(&mut own, false), 2);
    cached_on(&b, &access).await;
    assert_eq!(
        answers_with_users_locked(&mut own, &b, &access).await,
        StatusCode::OK
    );
    let delay = logout_seen_by(&a, &b, &access).await;
    assert_within_bound("logout on A after the listener came back", vec![delay]);
}

async fn a_killed_listener_never_delays_a_revocation_past_the_bound() {
    let (a, b) = fleet("ada@example.com").await;
    let mut own = pg(&a);
    let mut delays = Vec::new();
    for _ in 0..5 {
        let (access, _) = login(&a, "ada@example.com").await;
        a.cache_is_live().await;
        b.cache_is_live().await;
        cached_on(&b, &access).await;
        assert_eq!(listeners(&mut own, true), 2);
        // Right away, before B may even have noticed.
        delays.push(logout_seen_by(&a, &b, &access).await);
    }
    assert_within_bound("logout on A while B's listener was killed", delays);
    a.cache_is_live().await;
    b.cache_is_live().await;
}

/// xorshift64: reproducible from the seed printed with any failure.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

async fn random_logouts_refreshes_and_role_changes_never_outlive_the_bound() {
    let (a, b) = fleet("ada@example.com").await;
    let apps = [&a, &b];
    let seed = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(1, |d| d.as_nanos() as u64)
        | 1;
    let mut rng = Rng(seed);
    // Every access token issued, newest last, with when it was revoked.
    let (access, mut refresh_token) = login(apps[rng.below(2) as usize], "ada@example.com").await;
    let mut issued: Vec<(String, Option<Instant>)> = vec![(access, None)];
    let mut role = "user";
    let mut role_changed = Instant::now() - BOUND;
    for step in 0..40 {
        let on = apps[rng.below(2) as usize];
        match rng.below(3) {
            0 => {
                let (access, next) = refresh(on, &refresh_token).await;
                refresh_token = next;
                issued.push((access, None));
            }
            1 => {
                let current = issued.last().map(|(t, _)| t.clone()).unwrap_or_default();
                logout(on, &current).await;
                let now = Instant::now();
                for (_, revoked) in issued.iter_mut().filter(|(_, r)| r.is_none()) {
                    *revoked = Some(now);
                }
                let (access, next) = login(apps[rng.below(2) as usize], "ada@example.com").await;
                refresh_token = next;
                issued.push((access, None));
            }
            _ => {
                role = if role == "user" { "admin" } else { "user" };
                bff_gateway::db::users::set_role(
                    &mut a.db(),
                    "ada@example.com",
                    role,
                    chrono::Utc::now().naive_utc(),
                )
                .expect("set role");
                role_changed = Instant::now();
            }
        }
        tokio::time::sleep(Duration::from_millis(rng.below(20))).await;
        // The newest tokens, revoked or not, on both instances.
        for (token, revoked) in issued.iter().rev().take(5) {
            for app in apps {
                let (status, seen_role) = me(app, token).await;
                let context = format!("seed {seed}, step {step}, {}", app.address);
                match revoked {
                    Some(at) if at.elapsed() > BOUND => {
                        assert_eq!(
                            status,
                            StatusCode::UNAUTHORIZED,
                            "revoked {:?} ago; {context}",
                            at.elapsed()
                        );
                    }
                    Some(_) => {}
                    None => {
                        assert_eq!(status, StatusCode::OK, "a live session; {context}");
                        if role_changed.elapsed() > BOUND {
                            assert_eq!(seen_role.as_deref(), Some(role), "{context}");
                        }
                    }
                }
            }
        }
    }
}

crate::tests![
    a_logout_on_one_instance_is_refused_by_the_other_within_100_ms,
    a_role_change_by_the_cli_is_refused_on_both_instances_within_100_ms,
    random_logouts_refreshes_and_role_changes_never_outlive_the_bound;
    postgres_only:
    a_cached_session_is_answered_without_the_database,
    with_its_listener_down_an_instance_reads_the_database_and_recovers,
    a_killed_listener_never_delays_a_revocation_past_the_bound,
];
