//! Login-storm benchmark: how much do concurrent bcrypt logins slow down
//! everything else? Runs the real server against a fresh PostgreSQL database
//! (real bcrypt cost) and measures, against baselines taken in the same run:
//!
//! 1. cheap authenticated reads while a storm of wrong-password logins is in
//!    flight;
//! 2. a victim's login from another address (127.0.0.2) while one address
//!    (127.0.0.1) keeps `STORM_CONNECTIONS` right-password logins of its own
//!    account in flight: the per-IP bound on password checks should keep the
//!    victim within 3x its idle login latency.
//!
//!     cargo bench --bench login_storm
//!
//! Knobs: STORM_LOGINS (default 64), STORM_BCRYPT_COST (12),
//! STORM_CONCURRENCY (BCRYPT_MAX_CONCURRENCY, default: CPU count),
//! STORM_CONNECTIONS (24), STORM_PER_IP (LOGIN_MAX_CONCURRENT_PER_IP, 2),
//! VICTIM_LOGINS (20), TEST_DATABASE_SERVER (default
//! postgres://postgres@127.0.0.1:5432). Only 127.0.0.1 and 127.0.0.2 (both
//! loopback) are contacted; request counts are bounded.

mod support;

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicBool, AtomicUsize, Ordering},
    },
    time::{Duration, Instant},
};

use serde_json::json;
use support::{BenchDatabase, env_or, percentile, probe, report, signed_in, start_server};

#[actix_web::main]
async fn main() {
    let logins: usize = env_or("STORM_LOGINS", "64").parse().expect("STORM_LOGINS");
    let cost = env_or("STORM_BCRYPT_COST", "12");
    let cores = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .to_string();
    let concurrency = env_or("STORM_CONCURRENCY", &cores);
    let connections: usize = env_or("STORM_CONNECTIONS", "24")
        .parse()
        .expect("STORM_CONNECTIONS");
    let per_ip = env_or("STORM_PER_IP", "2");
    let victim_logins: usize = env_or("VICTIM_LOGINS", "20")
        .parse()
        .expect("VICTIM_LOGINS");
    let database = BenchDatabase::create("postgres");

    let vars = [
        ("DATABASE_URL", database.url()),
        ("BCRYPT_COST", cost.clone()),
        ("BCRYPT_MAX_CONCURRENCY", concurrency.clone()),
        // The storm is one client hammering one account: room for all of it,
        // or the throttle would answer most of it with 429 before bcrypt.
        ("LOGIN_MAX_FAILURES_PER_ACCOUNT", logins.max(1).to_string()),
        ("LOGIN_MAX_FAILURES_PER_IP", logins.max(1).to_string()),
        // Part 1 measures the global bcrypt bound alone: the storm's one
        // address may fill it.
        ("LOGIN_MAX_CONCURRENT_PER_IP", "64".to_owned()),
        ("LOGIN_QUEUE_TIMEOUT", "60s".to_owned()),
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
    drop(database);

    // Part 2 on a server of its own, with the per-IP bound under test.
    let database = BenchDatabase::create("postgres");
    let vars = [
        ("DATABASE_URL", database.url()),
        ("BCRYPT_COST", cost),
        ("BCRYPT_MAX_CONCURRENCY", concurrency),
        ("LOGIN_MAX_CONCURRENT_PER_IP", per_ip.clone()),
        // Room for the whole right-password storm to queue at its address.
        ("LOGIN_QUEUE_TIMEOUT", "60s".to_owned()),
    ];
    let (base, _) = start_server(&vars).await;
    victim_during_a_right_password_storm(&base, connections, &per_ip, victim_logins).await;
}

/// Part 2: the victim logs in from 127.0.0.2, idle and then while
/// 127.0.0.1 keeps `connections` right-password logins in flight.
async fn victim_during_a_right_password_storm(
    base: &str,
    connections: usize,
    per_ip: &str,
    victim_logins: usize,
) {
    let from = |ip: [u8; 4]| {
        reqwest::Client::builder()
            .local_address(IpAddr::from(ip))
            .build()
            .expect("client")
    };
    let (storm_client, victim_client) = (from([127, 0, 0, 1]), from([127, 0, 0, 2]));
    signed_in(&storm_client, base, "storm@example.com", "storm password").await;
    signed_in(
        &victim_client,
        base,
        "victim@example.com",
        "victim password",
    )
    .await;
    let login = |client: &reqwest::Client, email: &str, password: &str| {
        client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({ "username": email, "password": password }))
            .send()
    };
    let victim = || async {
        let mut samples = Vec::with_capacity(victim_logins);
        for _ in 0..victim_logins {
            let start = Instant::now();
            let response = login(&victim_client, "victim@example.com", "victim password")
                .await
                .expect("victim login");
            assert_eq!(response.status(), 200, "the victim is never refused");
            samples.push(start.elapsed());
        }
        samples.sort();
        samples
    };

    println!(
        "\nvictim login from 127.0.0.2 vs a {connections}-connection right-password storm from 127.0.0.1 (LOGIN_MAX_CONCURRENT_PER_IP {per_ip}, at most BCRYPT_MAX_CONCURRENCY - 1)"
    );
    let idle = victim().await;
    report("idle  victim POST /api/auth/login", &idle);

    let stop = Arc::new(AtomicBool::new(false));
    let (ok, refused) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let storm: Vec<_> = (0..connections)
        .map(|_| {
            let (stop, ok, refused) = (stop.clone(), ok.clone(), refused.clone());
            let (client, base) = (storm_client.clone(), base.to_owned());
            actix_web::rt::spawn(async move {
                while !stop.load(Ordering::Relaxed) {
                    let response = client
                        .post(format!("{base}/api/auth/login"))
                        .json(&json!({ "username": "storm@example.com", "password": "storm password" }))
                        .send()
                        .await;
                    match response.map(|r| r.status().as_u16()) {
                        Ok(200) => ok.fetch_add(1, Ordering::Relaxed),
                        _ => refused.fetch_add(1, Ordering::Relaxed),
                    };
                }
            })
        })
        .collect();
    // Let the storm fill the queues first.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let during = victim().await;
    stop.store(true, Ordering::Relaxed);
    for task in storm {
        task.await.expect("storm task");
    }
    report("storm victim POST /api/auth/login", &during);
    println!(
        "storm: {} right-password logins answered 200, {} not",
        ok.load(Ordering::Relaxed),
        refused.load(Ordering::Relaxed)
    );
    let ratio = |p: f64| percentile(&during, p).as_secs_f64() / percentile(&idle, p).as_secs_f64();
    let (p50, p95) = (ratio(0.5), ratio(0.95));
    println!(
        "victim login during the storm / idle: p50 {p50:.2}x, p95 {p95:.2}x (target <= 3x): {}",
        if p50 <= 3.0 && p95 <= 3.0 {
            "OK"
        } else {
            "OVER"
        }
    );
}
