//! Shared by the benchmarks: a scratch database on either backend, latency
//! probes and their report. Only 127.0.0.1 is contacted.

use std::time::{Duration, Instant};

use bff_gateway::{config::Settings, startup::Application};
use diesel::{Connection, PgConnection, RunQueryDsl};
use serde_json::json;

pub fn env_or(key: &str, default: &str) -> String {
    std::env::var(key).unwrap_or_else(|_| default.to_owned())
}

pub fn percentile(sorted: &[Duration], p: f64) -> Duration {
    let index = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[index.min(sorted.len() - 1)]
}

/// `n` sequential GETs with `cookie`; sorted latencies. Every answer must be 200.
pub async fn probe(client: &reqwest::Client, url: &str, cookie: &str, n: usize) -> Vec<Duration> {
    let mut samples = Vec::with_capacity(n);
    for _ in 0..n {
        let start = Instant::now();
        let response = client
            .get(url)
            .header("cookie", cookie)
            .send()
            .await
            .expect("probe request");
        assert_eq!(response.status(), 200);
        samples.push(start.elapsed());
    }
    samples.sort();
    samples
}

pub fn report(label: &str, samples: &[Duration]) {
    println!(
        "{label:<36} n={:<5} p50={:>8.2?} p95={:>8.2?} max={:>8.2?}",
        samples.len(),
        percentile(samples, 0.5),
        percentile(samples, 0.95),
        samples[samples.len() - 1]
    );
}

/// A fresh database for one benchmark run, removed on drop.
pub enum BenchDatabase {
    Postgres { server: String, name: String },
    Sqlite { dir: std::path::PathBuf },
}

impl BenchDatabase {
    /// `backend` is `postgres` (on TEST_DATABASE_SERVER) or `sqlite`.
    pub fn create(backend: &str) -> BenchDatabase {
        let name = format!("bff_bench_{}", uuid::Uuid::new_v4().simple());
        match backend {
            "postgres" => {
                let server = env_or("TEST_DATABASE_SERVER", "postgres://postgres@127.0.0.1:5432");
                let mut admin =
                    PgConnection::establish(&format!("{server}/postgres")).expect("PostgreSQL");
                diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
                    .execute(&mut admin)
                    .expect("create database");
                BenchDatabase::Postgres { server, name }
            }
            "sqlite" => BenchDatabase::Sqlite {
                dir: std::env::temp_dir().join(name),
            },
            other => panic!("unknown backend {other} (postgres or sqlite)"),
        }
    }

    pub fn url(&self) -> String {
        match self {
            BenchDatabase::Postgres { server, name } => format!("{server}/{name}"),
            BenchDatabase::Sqlite { dir } => {
                format!("sqlite://{}", dir.join("bench.sqlite3").display())
            }
        }
    }
}

impl Drop for BenchDatabase {
    fn drop(&mut self) {
        match self {
            BenchDatabase::Postgres { server, name } => {
                if let Ok(mut admin) = PgConnection::establish(&format!("{server}/postgres")) {
                    let _ = diesel::sql_query(format!("DROP DATABASE \"{name}\" WITH (FORCE)"))
                        .execute(&mut admin);
                }
            }
            BenchDatabase::Sqlite { dir } => {
                let _ = std::fs::remove_dir_all(dir);
            }
        }
    }
}

/// The real server on a free port with `vars` (APP_ENV=test and APP_PORT=0
/// added); returns its base URL and settings.
pub async fn start_server(vars: &[(&str, String)]) -> (String, Settings) {
    let lookup = |k: &str| match k {
        "APP_ENV" => Some("test".to_owned()),
        "APP_PORT" => Some("0".to_owned()),
        _ => vars
            .iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.clone()),
    };
    let settings = Settings::from_vars(lookup).expect("settings");
    let app = Application::build(settings.clone()).await.expect("server");
    let base = format!("http://127.0.0.1:{}", app.port());
    actix_web::rt::spawn(app.run_until_stopped());
    (base, settings)
}

/// Signs `email` up and logs in; returns the `accessToken=…` cookie pair.
pub async fn signed_in(
    client: &reqwest::Client,
    base: &str,
    email: &str,
    password: &str,
) -> String {
    client
        .post(format!("{base}/api/auth/signup"))
        .json(&json!({ "email": email, "password": password }))
        .send()
        .await
        .expect("signup");
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": email, "password": password }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    login
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find(|v| v.starts_with("accessToken="))
        .and_then(|v| v.split(';').next())
        .expect("access cookie")
        .to_owned()
}
