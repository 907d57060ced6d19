//! Throughput against baselines measured in the same run: how close does
//! the gateway come to what actix, a JWT check and one primary-key SELECT
//! allow on this machine?
//!
//!     apt-get install -y wrk        # Debian's wrk is the load generator
//!     cargo bench --bench throughput
//!
//! Baselines are minimal handlers served by this benchmark itself (same
//! actix, jsonwebtoken, Diesel, r2d2 and pool size as the gateway): bare
//! JSON, HS256 JWT verify from a cookie (the gateway's own `JwtKeys`), and
//! JWT + one primary-key SELECT through `db::run` on the same kind of pool.
//! The gateway is the real release binary in its own process (its RSS is
//! reported), at the default log level with the log going to /dev/null,
//! plus a `RUST_LOG=warn` instance for comparison. Each row runs
//! `wrk -t2 -c<connections> -d<seconds>s --latency` after a one-second
//! warm-up; `POST /api/auth/refresh` uses this benchmark's own load
//! generator instead, since every connection must chain its own session's
//! refresh cookie (wrk cannot tell connections apart). Prints a Markdown
//! table with each gateway row as a percentage of its baseline, and the
//! targets.
//!
//! Knobs: THROUGHPUT_SECONDS (10), THROUGHPUT_CONNECTIONS (64),
//! TEST_DATABASE_SERVER (postgres://postgres@127.0.0.1:5432).
//! Only 127.0.0.1 is contacted; every run is bounded in time.

#[allow(dead_code)] // shared with the other benchmarks; this one uses part
mod support;

use std::{
    net::TcpListener,
    process::{Child, Command, Stdio},
    sync::Arc,
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bff_gateway::{
    config::Settings,
    db::{self, DbPool},
    session::{access::JwtKeys, store},
};
use serde_json::{Value, json};
use support::{BenchDatabase, env_or, percentile};

const SECRET: &str = "throughput-benchmark-secret-0123456789abcdef";

fn main() {
    let seconds: u64 = env_or("THROUGHPUT_SECONDS", "10")
        .parse()
        .expect("THROUGHPUT_SECONDS");
    let connections: usize = env_or("THROUGHPUT_CONNECTIONS", "64")
        .parse()
        .expect("THROUGHPUT_CONNECTIONS");
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install -y wrk");
        std::process::exit(2);
    }
    let database = BenchDatabase::create("postgres");
    let vars = vec![
        ("APP_ENV", "test".to_owned()),
        ("DATABASE_URL", database.url()),
        ("ACCESS_TOKEN_SECRET", SECRET.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
        ("SIGNUP_MAX_PER_IP", "1000000".to_owned()),
    ];
    let settings = Settings::from_vars(|k| {
        vars.iter()
            .find(|(key, _)| *key == k)
            .map(|(_, v)| v.clone())
    })
    .expect("settings");
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");

    let info = Gateway::start(&vars, "info");
    let fixtures = runtime.block_on(fixtures(&info.base, connections));
    let baseline = start_baseline(&settings);
    let cookie = format!("accessToken={}", fixtures.access);
    let wrk = |url: String, cookie: &str| Wrk::run(&url, cookie, connections, seconds);

    let mut rows = Vec::new();
    let bare = wrk(format!("{baseline}/bare"), "");
    rows.push(Row::baseline("baseline: bare JSON", &bare));
    rows.push(Row::gateway(
        "gateway `GET /health`",
        &wrk(format!("{}/health", info.base), ""),
        &bare,
    ));
    let jwt = wrk(format!("{baseline}/jwt"), &cookie);
    rows.push(Row::baseline("baseline: JWT verify from a cookie", &jwt));
    let me = wrk(format!("{}/api/auth/me", info.base), &cookie);
    rows.push(Row::gateway("gateway `GET /api/auth/me`", &me, &jwt).target(0.70));
    let select = wrk(format!("{baseline}/jwt-select"), &cookie);
    rows.push(Row::baseline(
        "baseline: JWT + one primary-key SELECT",
        &select,
    ));
    let person = wrk(
        format!("{}/api/people/{}", info.base, fixtures.person),
        &cookie,
    );
    rows.push(Row::gateway("gateway `GET /api/people/{id}`", &person, &select).target(0.80));
    rows.push(Row::gateway(
        "gateway `GET /api/people?limit=10`",
        &wrk(format!("{}/api/people?limit=10", info.base), &cookie),
        &select,
    ));
    let refresh = runtime.block_on(refreshes(
        &info.base,
        fixtures.refresh_tokens,
        Duration::from_secs(seconds),
    ));
    rows.push(Row::gateway(
        "gateway `POST /api/auth/refresh` (chained per connection)",
        &refresh,
        &select,
    ));

    // Memory after many connections, before anything else runs there.
    Wrk::run(
        &format!("{}/api/auth/me", info.base),
        &cookie,
        256,
        seconds.min(5),
    );
    let (rss, peak) = info.memory();

    let warn = Gateway::start(&vars, "warn");
    let health_warn = wrk(format!("{}/health", warn.base), "");
    let me_warn = wrk(format!("{}/api/auth/me", warn.base), &cookie);
    rows.push(Row::gateway(
        "gateway `GET /health`, RUST_LOG=warn",
        &health_warn,
        &bare,
    ));
    rows.push(Row::gateway(
        "gateway `GET /api/auth/me`, RUST_LOG=warn",
        &me_warn,
        &jwt,
    ));

    println!(
        "\n{} connections, {seconds}s per row, {} cores, PostgreSQL at {}\n",
        connections,
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        env_or("TEST_DATABASE_SERVER", "127.0.0.1:5432")
    );
    println!("| endpoint | rps | p50 | p99 | % of baseline | target |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        row.print();
    }
    let rss_mb = rss as f64 / 1024.0;
    println!(
        "\ngateway RSS after {} s of 256 connections: {rss_mb:.1} MB (peak {:.1} MB); target < 40 MB: {}",
        seconds.min(5),
        peak as f64 / 1024.0,
        verdict(rss_mb < 40.0)
    );
    for (label, m) in [("/api/auth/me", &me), ("/api/people/{id}", &person)] {
        println!(
            "p99 of {label}: {:.2} ms; target <= 20 ms: {}",
            ms(m.p99),
            verdict(m.p99 <= Duration::from_millis(20))
        );
    }
    drop(warn);
    drop(info);
}

fn verdict(met: bool) -> &'static str {
    if met { "met" } else { "MISSED" }
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

/// One measured row.
struct Measured {
    rps: f64,
    p50: Duration,
    p99: Duration,
}

struct Row {
    label: &'static str,
    measured: (f64, Duration, Duration),
    /// Fraction of the baseline's rps, for gateway rows.
    ratio: Option<f64>,
    target: Option<f64>,
}

impl Row {
    fn baseline(label: &'static str, m: &Measured) -> Row {
        Row {
            label,
            measured: (m.rps, m.p50, m.p99),
            ratio: None,
            target: None,
        }
    }

    fn gateway(label: &'static str, m: &Measured, baseline: &Measured) -> Row {
        Row {
            ratio: Some(m.rps / baseline.rps),
            ..Row::baseline(label, m)
        }
    }

    fn target(self, fraction: f64) -> Row {
        Row {
            target: Some(fraction),
            ..self
        }
    }

    fn print(&self) {
        let (rps, p50, p99) = self.measured;
        let ratio = self
            .ratio
            .map_or(String::new(), |r| format!("{:.0}%", r * 100.0));
        let target = match (self.target, self.ratio) {
            (Some(t), Some(r)) => format!("≥ {:.0}%: {}", t * 100.0, verdict(r >= t)),
            _ => String::new(),
        };
        println!(
            "| {} | {:.0} | {:.2} ms | {:.2} ms | {ratio} | {target} |",
            self.label,
            rps,
            ms(p50),
            ms(p99)
        );
    }
}

/// wrk's own report, parsed.
struct Wrk;

impl Wrk {
    fn run(url: &str, cookie: &str, connections: usize, seconds: u64) -> Measured {
        let invoke = |seconds: u64| {
            let mut command = Command::new("wrk");
            command.args([
                "-t2",
                &format!("-c{connections}"),
                &format!("-d{seconds}s"),
                "--timeout",
                "5s",
                "--latency",
            ]);
            if !cookie.is_empty() {
                command.args(["-H", &format!("Cookie: {cookie}")]);
            }
            let out = command.arg(url).output().expect("wrk runs");
            assert!(out.status.success(), "wrk failed for {url}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
        invoke(1);
        let report = invoke(seconds);
        assert!(
            !report.contains("Non-2xx"),
            "{url} answered errors:\n{report}"
        );
        let field = |prefix: &str| {
            report
                .lines()
                .map(str::trim)
                .find_map(|l| l.strip_prefix(prefix))
                .map(str::trim)
                .unwrap_or_else(|| panic!("no `{prefix}` in wrk's report:\n{report}"))
                .to_owned()
        };
        Measured {
            rps: field("Requests/sec:").parse().expect("rps"),
            p50: wrk_duration(&field("50%")),
            p99: wrk_duration(&field("99%")),
        }
    }
}

/// `812.00us`, `3.21ms`, `1.02s`.
fn wrk_duration(text: &str) -> Duration {
    let split = text
        .find(|c: char| c.is_ascii_alphabetic())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: f64 = number.parse().expect("wrk latency");
    let seconds = match unit {
        "us" => number / 1e6,
        "ms" => number / 1e3,
        "s" => number,
        "m" => number * 60.0,
        other => panic!("unknown wrk unit {other}"),
    };
    Duration::from_secs_f64(seconds)
}

/// The real release binary, in its own process; killed on drop.
struct Gateway {
    base: String,
    child: Child,
}

impl Gateway {
    fn start(vars: &[(&str, String)], log: &str) -> Gateway {
        let port = TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .expect("free port")
            .port();
        let dir = std::env::temp_dir();
        let child = Command::new(env!("CARGO_BIN_EXE_bff-gateway"))
            // No .env or config/*.env of the checkout: only these variables.
            .current_dir(&dir)
            .env_clear()
            .envs(vars.iter().map(|(k, v)| (*k, v.as_str())))
            .env("APP_PORT", port.to_string())
            .env("RUST_LOG", log)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the gateway");
        let gateway = Gateway {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        let deadline = Instant::now() + Duration::from_secs(30);
        while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
            assert!(Instant::now() < deadline, "the gateway did not start");
            std::thread::sleep(Duration::from_millis(50));
        }
        gateway
    }

    /// (VmRSS, VmHWM) in KiB.
    fn memory(&self) -> (u64, u64) {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .expect("/proc status");
        let kib = |key: &str| {
            status
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .and_then(|v| v.split_whitespace().next())
                .and_then(|v| v.parse().ok())
                .unwrap_or(0)
        };
        (kib("VmRSS:"), kib("VmHWM:"))
    }
}

impl Drop for Gateway {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

struct Fixtures {
    access: String,
    person: i64,
    refresh_tokens: Vec<String>,
}

fn cookie_value(response: &reqwest::Response, name: &str) -> String {
    response
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|v| v.to_str().ok())
        .find_map(|v| v.strip_prefix(&format!("{name}=")))
        .and_then(|v| v.split(';').next())
        .unwrap_or_else(|| panic!("no {name} cookie"))
        .to_owned()
}

async fn login(client: &reqwest::Client, base: &str, email: &str) -> reqwest::Response {
    let body = json!({ "email": email, "password": "benchmark password" });
    client
        .post(format!("{base}/api/auth/signup"))
        .json(&body)
        .send()
        .await
        .expect("signup");
    let login = client
        .post(format!("{base}/api/auth/login"))
        .json(&json!({ "username": email, "password": "benchmark password" }))
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    login
}

/// A reader with an access token, a dozen people, and one session per
/// refresh connection.
async fn fixtures(base: &str, connections: usize) -> Fixtures {
    let client = reqwest::Client::new();
    let access = cookie_value(
        &login(&client, base, "reader@example.com").await,
        "accessToken",
    );
    let mut person = 0;
    for i in 0..12 {
        let created: Value = client
            .post(format!("{base}/api/people"))
            .header("cookie", format!("accessToken={access}"))
            .json(&json!({ "firstName": format!("Ada{i}"), "lastName": "Lovelace" }))
            .send()
            .await
            .expect("create person")
            .json()
            .await
            .expect("json");
        person = created["id"].as_i64().expect("id");
    }
    let mut refresh_tokens = Vec::with_capacity(connections);
    for i in 0..connections {
        let response = login(&client, base, &format!("refresher{i}@example.com")).await;
        refresh_tokens.push(cookie_value(&response, "refreshToken"));
    }
    Fixtures {
        access,
        person,
        refresh_tokens,
    }
}

/// One task and connection per session, each refreshing with the token
/// its previous refresh returned, for `length`.
async fn refreshes(base: &str, tokens: Vec<String>, length: Duration) -> Measured {
    let url = Arc::new(format!("{base}/api/auth/refresh"));
    let start = Instant::now();
    let deadline = start + length;
    let tasks = tokens.into_iter().map(|mut token| {
        let url = Arc::clone(&url);
        tokio::spawn(async move {
            let client = reqwest::Client::new();
            let mut samples = Vec::new();
            while Instant::now() < deadline {
                let sent = Instant::now();
                let response = client
                    .post(url.as_str())
                    .header("cookie", format!("refreshToken={token}"))
                    .send()
                    .await
                    .expect("refresh");
                assert_eq!(response.status(), 200, "refresh failed");
                token = cookie_value(&response, "refreshToken");
                samples.push(sent.elapsed());
            }
            samples
        })
    });
    let mut all: Vec<Duration> = futures::future::join_all(tasks)
        .await
        .into_iter()
        .flat_map(|r| r.expect("refresh task"))
        .collect();
    let elapsed = start.elapsed();
    all.sort();
    Measured {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    }
}

struct Baseline {
    keys: JwtKeys,
    pool: DbPool,
}

async fn bare() -> HttpResponse {
    HttpResponse::Ok().json(json!({ "ok": true }))
}

fn verified(req: &HttpRequest, base: &Baseline) -> Option<i32> {
    let cookie = req.cookie("accessToken")?;
    base.keys.verify(cookie.value()).ok()?.user_id()
}

async fn jwt(req: HttpRequest, base: web::Data<Baseline>) -> HttpResponse {
    match verified(&req, &base) {
        Some(id) => HttpResponse::Ok().json(json!({ "id": id })),
        None => HttpResponse::Unauthorized().finish(),
    }
}

async fn jwt_select(req: HttpRequest, base: web::Data<Baseline>) -> HttpResponse {
    let Some(id) = verified(&req, &base) else {
        return HttpResponse::Unauthorized().finish();
    };
    match db::run(&base.pool, move |conn| Ok(store::session_state(conn, id)?)).await {
        Ok(Some(row)) => HttpResponse::Ok().json(json!({ "id": id, "email": row.email })),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

/// The baseline handlers on their own actix system, with the gateway's
/// worker count and pool settings; returns the base URL.
fn start_baseline(settings: &Settings) -> String {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind");
    let base = format!(
        "http://127.0.0.1:{}",
        listener.local_addr().expect("addr").port()
    );
    let pool = db::connect_and_migrate(&settings.database).expect("pool");
    let state = web::Data::new(Baseline {
        keys: JwtKeys::new(&settings.session),
        pool,
    });
    let workers = settings.server.workers;
    std::thread::spawn(move || {
        actix_web::rt::System::new().block_on(async move {
            HttpServer::new(move || {
                App::new()
                    .app_data(state.clone())
                    .route("/bare", web::get().to(bare))
                    .route("/jwt", web::get().to(jwt))
                    .route("/jwt-select", web::get().to(jwt_select))
            })
            .workers(workers)
            .listen(listener)
            .expect("listen")
            .run()
            .await
            .expect("baseline server");
        });
    });
    base
}
