//! Password-hash upgrade benchmark: what does the first login after raising
//! `BCRYPT_COST` cost, now that the rehash runs after the answer? Users are
//! created at a low cost, the server is restarted on the same PostgreSQL
//! database at a high one, and each user logs in twice, one at a time.
//!
//!     cargo bench --bench password_upgrade
//!
//! Reported against the baseline measured in the same run (a login at the
//! low cost, no upgrade due): the first login after the raise (verify at
//! the low cost, at most one rehash in the background at a time), how many
//! login passes it takes until every hash is upgraded, and a login once
//! upgraded (verify at the high cost, which is also about what an inline
//! upgrade would have added to the first one).
//! Knobs: UPGRADE_USERS (default 8), UPGRADE_FROM_COST (4), UPGRADE_TO_COST
//! (12), TEST_DATABASE_SERVER. Only 127.0.0.1 is contacted.

#[expect(
    dead_code,
    reason = "shared by the benchmarks; this one probes no reads"
)]
mod support;

use std::time::{Duration, Instant};

use bff_gateway::{
    config::DatabaseTarget,
    db::{establish, schema::users},
};
use diesel::prelude::*;
use serde_json::json;
use support::{BenchDatabase, env_or, percentile, report, start_server};

const PASSWORD: &str = "benchmark password";

async fn logins(client: &reqwest::Client, base: &str, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for i in 0..n {
        let start = Instant::now();
        let response = client
            .post(format!("{base}/api/auth/login"))
            .json(&json!({ "username": format!("user{i}@example.com"), "password": PASSWORD }))
            .send()
            .await
            .expect("login");
        assert_eq!(response.status(), 200);
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

#[actix_web::main]
async fn main() {
    let n: usize = env_or("UPGRADE_USERS", "8").parse().expect("UPGRADE_USERS");
    let from = env_or("UPGRADE_FROM_COST", "4");
    let to = env_or("UPGRADE_TO_COST", "12");
    let database = BenchDatabase::create("postgres");
    let vars = |cost: &str| {
        [
            ("DATABASE_URL", database.url()),
            ("BCRYPT_COST", cost.to_owned()),
            (
                "ACCESS_TOKEN_SECRET",
                "password-upgrade-benchmark-secret-0001".to_owned(),
            ),
        ]
    };
    let client = reqwest::Client::new();
    let (low, _) = start_server(&vars(&from)).await;
    for i in 0..n {
        let response = client
            .post(format!("{low}/api/auth/signup"))
            .json(&json!({ "email": format!("user{i}@example.com"), "password": PASSWORD }))
            .send()
            .await
            .expect("signup");
        assert_eq!(response.status(), 201);
    }
    println!("{n} users created at bcrypt cost {from}; server restarted at cost {to}");
    let baseline = logins(&client, &low, n).await;
    report(&format!("login, cost {from}, no upgrade due"), &baseline);

    let (high, _) = start_server(&vars(&to)).await;
    let target = DatabaseTarget::parse(&database.url()).expect("url");
    let mut conn = establish(&target).expect("connect");
    let prefix = format!("$2b${to:0>2}$%");
    let mut count_upgraded = || -> usize {
        let n: i64 = users::table
            .filter(users::password_hash.like(&prefix))
            .count()
            .get_result(&mut conn)
            .expect("count");
        n as usize
    };
    let started = Instant::now();
    let upgrading = logins(&client, &high, n).await;
    report("first login after the raise", &upgrading);
    // One rehash at a time, and a busy one skips: the rest upgrade at later
    // logins. Log in again (once the running rehash is stored) until done.
    let mut passes = 1;
    while count_upgraded() < n && passes < 50 {
        let settle = Instant::now() + Duration::from_secs(30);
        let before = count_upgraded();
        while count_upgraded() == before && Instant::now() < settle {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        if count_upgraded() < n {
            logins(&client, &high, n).await;
            passes += 1;
        }
    }
    println!(
        "{}/{n} hashes stored at cost {to} after {passes} login passes, {:.2?} after the first",
        count_upgraded(),
        started.elapsed()
    );
    let upgraded = logins(&client, &high, n).await;
    report(&format!("next login, cost {to}"), &upgraded);

    let p50 = |s: &[Duration]| percentile(s, 0.5).as_secs_f64();
    println!(
        "p50 ratios to the baseline: first login after the raise {:.2}x, next login (≈ an inline upgrade's extra cost) {:.2}x",
        p50(&upgrading) / p50(&baseline),
        p50(&upgraded) / p50(&baseline)
    );
}
