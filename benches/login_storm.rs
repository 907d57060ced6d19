//! Login-storm benchmark: how much do concurrent bcrypt logins slow down
//! everything else? Runs the real server against a fresh PostgreSQL database
//! and reports latencies of cheap authenticated reads while a storm of wrong-
//! password logins (real bcrypt cost) is in flight.
//!
//!     cargo bench --bench login_storm
//!
//! Knobs: STORM_LOGINS (default 64), STORM_BCRYPT_COST (12),
//! STORM_CONCURRENCY (BCRYPT_MAX_CONCURRENCY, default: CPU count),
//! TEST_DATABASE_SERVER (default postgres://postgres@127.0.0.1:5432).
//! Only 127.0.0.1 is contacted; request counts are bounded.

mod support;

use std::time::{Duration, Instant};

use serde_json::json;
use support::{BenchDatabase, env_or, probe, report, signed_in, start_server};

#[actix_web::main]
async fn main() {
    let logins: usize = env_or("STORM_LOGINS", "64").parse().expect("STORM_LOGINS");
    let cost = env_or("STORM_BCRYPT_COST", "12");
    let cores = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .to_string();
    let concurrency = env_or("STORM_CONCURRENCY", &cores);
    let database = BenchDatabase::create("postgres");

    let vars = [
        ("DATABASE_URL", database.url()),
        ("BCRYPT_COST", cost.clone()),
        ("BCRYPT_MAX_CONCURRENCY", concurrency.clone()),
        // The storm is one client hammering one account: room for all of it,
        // or the throttle would answer most of it with 429 before bcrypt.
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", logins.max(1).to_string()),
        ("LOGIN_MAX_FAILURES_PER_IP", logins.max(1).to_string()),
    ];
    let (base, _) = start_server(&vars).await;
    let client = reqwest::Client::new();
    let cookie = signed_in(&client, &base, "bench@example.com", "benchmark password").await;
    let me = format!("{base}/api/auth/me");
    let people = format!("{base}/api/people");

    println!(
        "bcrypt cost {cost}, BCRYPT_MAX_CONCURRENCY {concurrency}, {logins} concurrent logins"
    );
    report(
        "idle  GET /api/auth/me",
        &probe(&client, &me, &cookie, 50).await,
    );
    report(
        "idle  GET /api/people",
        &probe(&client, &people, &cookie, 50).await,
    );

    let storm_start = Instant::now();
    let storm = futures::future::join_all((0..logins).map(|_| {
        client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({ "username": "bench@example.com", "password": "wrong password" }))
            .send()
    }));
    let storm = actix_web::rt::spawn(storm);
    tokio::time::sleep(Duration::from_millis(50)).await;
    report(
        "storm GET /api/auth/me",
        &probe(&client, &me, &cookie, 50).await,
    );
    report(
        "storm GET /api/people",
        &probe(&client, &people, &cookie, 50).await,
    );
    let results = storm.await.expect("storm task");
    let refused = results
        .iter()
        .filter(|r| r.as_ref().is_ok_and(|r| r.status() == 401))
        .count();
    println!(
        "storm: {refused}/{logins} logins answered 401 in {:.2?}",
        storm_start.elapsed()
    );
}
