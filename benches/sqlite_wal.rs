//! SQLite WAL benchmark: how large does the `-wal` file get under sustained
//! writes, and does it shrink back when idle? (Target: below 64 MiB under
//! 20 s of 64-connection writes, near zero when idle.) Every write is an
//! `INSERT … RETURNING` (`POST /api/people`), the kind SQLite's own
//! auto-checkpoint never sees (src/db/wal.rs).
//!
//!     cargo bench --bench sqlite_wal
//!
//! Knobs: WAL_SECONDS (20), WAL_CONCURRENCY (64). Only 127.0.0.1 is
//! contacted; the load stops after WAL_SECONDS.

// Only the scratch database and the server start of the shared support.
#[allow(dead_code)]
mod support;

use std::{
    path::Path,
    rc::Rc,
    time::{Duration, Instant},
};

use serde_json::json;
use support::{BenchDatabase, env_or, signed_in, start_server};

const MIB: f64 = 1024.0 * 1024.0;
const TARGET_BYTES: u64 = 64 * 1024 * 1024;

fn size(path: &Path) -> u64 {
    std::fs::metadata(path).map_or(0, |m| m.len())
}

#[actix_web::main]
async fn main() {
    let seconds: u64 = env_or("WAL_SECONDS", "20").parse().expect("WAL_SECONDS");
    let concurrency: usize = env_or("WAL_CONCURRENCY", "64")
        .parse()
        .expect("WAL_CONCURRENCY");
    let database = BenchDatabase::create("sqlite");
    let url = database.url();
    let file = url.trim_start_matches("sqlite://").to_owned();
    let wal = format!("{file}-wal");
    let vars = [("DATABASE_URL", url), ("BCRYPT_COST", "4".to_owned())];
    let (base, _) = start_server(&vars).await;
    let client = reqwest::Client::builder()
        .pool_max_idle_per_host(concurrency)
        .build()
        .expect("client");
    let cookie =
        Rc::new(signed_in(&client, &base, "bench@example.com", "correct horse battery").await);
    let people = Rc::new(format!("{base}/api/people"));

    let load_for = Duration::from_secs(seconds);
    let start = Instant::now();
    let writers = (0..concurrency).map(|i| {
        let (client, cookie, people) = (client.clone(), cookie.clone(), people.clone());
        async move {
            let (mut created, mut refused) = (0u64, 0u64);
            while start.elapsed() < load_for {
                let response = client
                    .post(people.as_str())
                    .header("cookie", cookie.as_str())
                    .json(
                        &json!({ "firstName": format!("W{i}"), "lastName": format!("{created}") }),
                    )
                    .send()
                    .await
                    .expect("write");
                if response.status() == 201 {
                    created += 1;
                } else {
                    refused += 1;
                }
            }
            (created, refused)
        }
    });
    let wal_path = Path::new(&wal).to_owned();
    let sampler = async {
        let mut largest = 0;
        while start.elapsed() < load_for {
            largest = largest.max(size(&wal_path));
            actix_web::rt::time::sleep(Duration::from_millis(50)).await;
        }
        largest
    };
    let (counts, largest) = futures::join!(futures::future::join_all(writers), sampler);
    let created: u64 = counts.iter().map(|c| c.0).sum();
    let refused: u64 = counts.iter().map(|c| c.1).sum();
    let at_end = size(&wal_path);
    actix_web::rt::time::sleep(Duration::from_secs(3)).await;
    let idle = size(&wal_path);
    let db = size(Path::new(&file));

    println!("sqlite WAL under {concurrency} writers for {seconds}s:");
    println!(
        "  inserts            {created} ({:.0}/s), non-201 answers {refused}",
        created as f64 / seconds as f64
    );
    println!(
        "  largest WAL        {:.1} MiB ({:.2} of the 64 MiB target)",
        largest as f64 / MIB,
        largest as f64 / TARGET_BYTES as f64
    );
    println!("  WAL at the end     {:.1} MiB", at_end as f64 / MIB);
    println!("  WAL after 3 s idle {idle} bytes");
    println!(
        "  database file      {:.1} MiB (largest WAL / database = {:.2})",
        db as f64 / MIB,
        largest as f64 / db.max(1) as f64
    );
    assert!(largest < TARGET_BYTES, "the WAL outgrew the target");
}
