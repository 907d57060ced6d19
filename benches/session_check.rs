//! Session-check benchmark: what does immediate revocation cost per
//! authenticated request? Every authenticated request verifies its JWT and
//! then does one primary-key lookup (session version, role, email) on the
//! blocking pool. This measures, against the real server on a fresh
//! database of each backend:
//!
//! - `GET /health`: no authentication, no database (the floor);
//! - `GET /api/auth/me`: JWT + session lookup, nothing else;
//! - the session lookup alone, through the same `db::run` path;
//! - `GET /api/auth/me` throughput with SESSION_CONCURRENCY clients.
//!
//!     cargo bench --bench session_check
//!
//! Knobs: SESSION_BACKENDS (default `sqlite,postgres`), SESSION_REQUESTS
//! (2000 per probe), SESSION_CONCURRENCY (16), TEST_DATABASE_SERVER.
//! Only 127.0.0.1 is contacted; request counts are bounded.

mod support;

use std::time::{Duration, Instant};

use bff_gateway::{db, session};
use support::{BenchDatabase, env_or, percentile, probe, report, signed_in, start_server};

#[actix_web::main]
async fn main() {
    let requests: usize = env_or("SESSION_REQUESTS", "2000")
        .parse()
        .expect("SESSION_REQUESTS");
    let concurrency: usize = env_or("SESSION_CONCURRENCY", "16")
        .parse()
        .expect("SESSION_CONCURRENCY");
    for backend in env_or("SESSION_BACKENDS", "sqlite,postgres").split(',') {
        run(backend.trim(), requests, concurrency).await;
    }
}

async fn run(backend: &str, requests: usize, concurrency: usize) {
    let database = BenchDatabase::create(backend);
    let vars = [
        ("DATABASE_URL", database.url()),
        ("BCRYPT_COST", "4".to_owned()),
    ];
    let (base, settings) = start_server(&vars).await;
    // The same pool path the extractor uses, for the lookup-alone probe.
    let (state, _listener) = bff_gateway::startup::build_state(&settings)
        .await
        .expect("state");
    let client = reqwest::Client::new();
    let cookie = signed_in(&client, &base, "bench@example.com", "correct horse battery").await;
    let me = format!("{base}/api/auth/me");
    let user_id: i32 = client
        .get(&me)
        .header("cookie", &cookie)
        .send()
        .await
        .expect("me")
        .json::<serde_json::Value>()
        .await
        .expect("json")["id"]
        .as_i64()
        .expect("id") as i32;

    println!("\n== backend: {backend}");
    // Warm-up: connections, caches.
    probe(&client, &me, &cookie, 100).await;
    report(
        "GET /health (floor)",
        &probe(&client, &format!("{base}/health"), "", requests).await,
    );
    report(
        "GET /api/auth/me (JWT + lookup)",
        &probe(&client, &me, &cookie, requests).await,
    );

    let mut lookups = Vec::with_capacity(requests);
    for _ in 0..requests {
        let start = Instant::now();
        db::run(&state.db, move |conn| {
            Ok(session::store::session_state(conn, user_id)?)
        })
        .await
        .expect("lookup")
        .expect("user exists");
        lookups.push(start.elapsed());
    }
    lookups.sort();
    report("session lookup alone (db::run)", &lookups);

    let start = Instant::now();
    let per_client = requests / concurrency.max(1);
    let clients = (0..concurrency).map(|_| probe(&client, &me, &cookie, per_client));
    let mut all: Vec<Duration> = futures::future::join_all(clients).await.concat();
    let elapsed = start.elapsed();
    all.sort();
    println!(
        "{:<36} n={:<5} {:.0} req/s, p50={:.2?} p95={:.2?}",
        format!("GET /api/auth/me x{concurrency} clients"),
        all.len(),
        all.len() as f64 / elapsed.as_secs_f64(),
        percentile(&all, 0.5),
        percentile(&all, 0.95)
    );
}
