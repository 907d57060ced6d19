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
//! plus a `RUST_LOG=warn` instance for comparison. Rows come in groups, each
//! led by its baseline; after a one-second warm-up the members of a group
//! take turns for THROUGHPUT_ROUNDS rounds of
//! `wrk -t2 -c<connections> -d<seconds>s --latency`, so a change in the
//! machine's load hits a baseline and its gateway rows alike; every figure
//! is the median over the rounds, each ratio the median of the per-round
//! ratios. `POST /api/auth/refresh` uses this benchmark's own load
//! generator instead, since every connection must chain its own session's
//! refresh cookie (wrk cannot tell connections apart). Prints a Markdown
//! table with each gateway row as a percentage of its baseline, the RSS
//! after 256 connections, and whether each target is met.
//!
//! The relay group compares the example upstream (examples/upstream.rs,
//! built in release by this benchmark) called directly with a relay token
//! against the same upstream through `/api/upstream/orders/…` with the
//! session cookie; it reports the relayed share of the direct rps and the
//! p50 the relay adds.
//!
//! Knobs: THROUGHPUT_SECONDS (3 per round), THROUGHPUT_ROUNDS (3),
//! THROUGHPUT_CONNECTIONS (64), THROUGHPUT_GROUPS (all of
//! `health,me,people,relay,relay-unloaded`),
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
    accounts::Role,
    config::{RelaySigningKey, Settings},
    db::{self, DbPool},
    relay::token::RelayKeys,
    session::{SessionUser, access::JwtKeys, store},
};
use serde_json::{Value, json};
use support::{BenchDatabase, env_or, percentile};

const SECRET: &str = "throughput-benchmark-secret-0123456789abcdef";

fn main() {
    let seconds: u64 = env_or("THROUGHPUT_SECONDS", "3")
        .parse()
        .expect("THROUGHPUT_SECONDS");
    let rounds: usize = env_or("THROUGHPUT_ROUNDS", "3")
        .parse()
        .expect("THROUGHPUT_ROUNDS");
    let connections: usize = env_or("THROUGHPUT_CONNECTIONS", "64")
        .parse()
        .expect("THROUGHPUT_CONNECTIONS");
    if Command::new("wrk").arg("--version").output().is_err() {
        eprintln!("wrk is not installed: apt-get install -y wrk");
        std::process::exit(2);
    }
    let load_before = load_average();
    let database = BenchDatabase::create("postgres");
    let upstream_port = free_port();
    let relay_key = RelaySigningKey::generate()
        .expect("relay key")
        .to_pkcs8_pem()
        .expect("PEM");
    let vars = vec![
        ("APP_ENV", "test".to_owned()),
        ("DATABASE_URL", database.url()),
        ("ACCESS_TOKEN_SECRET", SECRET.to_owned()),
        ("BCRYPT_COST", "4".to_owned()),
        ("SIGNUP_MAX_PER_IP", "1000000".to_owned()),
        // The gateway and this benchmark mint with the same key.
        ("RELAY_SIGNING_KEY", relay_key),
        (
            "UPSTREAMS",
            format!("orders=http://127.0.0.1:{upstream_port}"),
        ),
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
    let warn = Gateway::start(&vars, "warn");
    let fixtures = runtime.block_on(fixtures(&info.base, connections));
    let baseline = start_baseline(&settings);
    let cookie = format!("Cookie: accessToken={}", fixtures.access);
    let wrk = |url: String, header: &str| -> Load<'_> {
        let header = header.to_owned();
        Box::new(move |seconds| Wrk::run(&url, &header, connections, seconds))
    };
    let upstream = Upstream::start(upstream_port, &info.base);
    let relay_keys = RelayKeys::new(&settings.relay_keys).expect("relay keys");
    let direct_url = format!("{}/whoami", upstream.base);
    let reader_id = JwtKeys::new(&settings.session)
        .verify(&fixtures.access)
        .ok()
        .and_then(|claims| claims.user_id())
        .expect("the reader's id");
    let reader = SessionUser {
        id: reader_id,
        email: READER.to_owned(),
        role: Role::User,
    };
    let (relay_keys, reader, direct_url) = (&relay_keys, &reader, &direct_url);
    // What the gateway would send: a token for this reader and this
    // upstream, minted afresh for each run (it lives at most 60 s).
    let direct = |connections: usize| -> Load<'_> {
        Box::new(move |seconds| {
            let token = relay_keys.mint(reader, "orders").expect("mint");
            let header = format!("Authorization: Bearer {token}");
            Wrk::run(direct_url, &header, connections, seconds)
        })
    };
    let relayed_url = format!("{}/api/upstream/orders/whoami", info.base);
    let relayed = |connections: usize| -> Load<'_> {
        let (url, header) = (relayed_url.clone(), cookie.clone());
        Box::new(move |seconds| Wrk::run(&url, &header, connections, seconds))
    };
    let mut tokens = fixtures.refresh_tokens;
    let refresh_url = info.base.clone();
    let refresh: Load<'_> = Box::new(|seconds| {
        let (measured, next) = runtime.block_on(refreshes(
            &refresh_url,
            std::mem::take(&mut tokens),
            Duration::from_secs(seconds),
        ));
        tokens = next;
        measured
    });

    // Each group: its baseline first; members take turns, round by round,
    // so a change in the machine's load hits baseline and gateway alike.
    let groups: Vec<(&str, Vec<Member<'_>>)> = vec![
        (
            "health",
            vec![
                Member::new("baseline: bare JSON", wrk(format!("{baseline}/bare"), "")),
                Member::new(
                    "gateway `GET /health`",
                    wrk(format!("{}/health", info.base), ""),
                ),
                Member::new(
                    "gateway `GET /health`, RUST_LOG=warn",
                    wrk(format!("{}/health", warn.base), ""),
                ),
            ],
        ),
        (
            "me",
            vec![
                Member::new(
                    "baseline: JWT verify from a cookie",
                    wrk(format!("{baseline}/jwt"), &cookie),
                ),
                Member::new(
                    "gateway `GET /api/auth/me`",
                    wrk(format!("{}/api/auth/me", info.base), &cookie),
                )
                .target(0.70),
                Member::new(
                    "gateway `GET /api/auth/me`, RUST_LOG=warn",
                    wrk(format!("{}/api/auth/me", warn.base), &cookie),
                ),
            ],
        ),
        (
            "people",
            vec![
                Member::new(
                    "baseline: JWT + one primary-key SELECT",
                    wrk(format!("{baseline}/jwt-select"), &cookie),
                ),
                Member::new(
                    "gateway `GET /api/people/{id}`",
                    wrk(
                        format!("{}/api/people/{}", info.base, fixtures.person),
                        &cookie,
                    ),
                )
                .target(0.80),
                Member::new(
                    "gateway `GET /api/people?limit=10`",
                    wrk(format!("{}/api/people?limit=10", info.base), &cookie),
                ),
                Member::new(
                    "gateway `POST /api/auth/refresh` (each connection chains its session)",
                    refresh,
                ),
            ],
        ),
        (
            "relay",
            vec![
                Member::new(
                    "baseline: the example upstream directly, with a relay token",
                    direct(connections),
                ),
                Member::new(
                    "gateway `GET /api/upstream/orders/whoami` (relayed, cookie)",
                    relayed(connections),
                )
                .target(0.50),
            ],
        ),
        (
            // One connection: no queueing, the hop's own latency.
            "relay-unloaded",
            vec![
                Member::new(
                    "baseline: the example upstream directly, 1 connection",
                    direct(1),
                ),
                Member::new("gateway, relayed, 1 connection", relayed(1)),
            ],
        ),
    ];
    // THROUGHPUT_GROUPS=relay,me runs only those groups.
    let only = std::env::var("THROUGHPUT_GROUPS").ok();
    let wanted = |name: &str| {
        only.as_deref()
            .is_none_or(|o| o.split(',').any(|g| g == name))
    };
    let mut rows = Vec::new();
    let mut added_p50 = Vec::new();
    for (name, group) in groups.into_iter().filter(|(name, _)| wanted(name)) {
        let measured = run_group(group, rounds, seconds);
        if name.starts_with("relay") {
            added_p50.push((name, measured[1].p50.saturating_sub(measured[0].p50)));
        }
        rows.extend(measured);
    }

    // Memory after many connections.
    Wrk::run(&format!("{}/api/auth/me", info.base), &cookie, 256, 5);
    let (rss, peak) = info.memory();

    println!(
        "\n{connections} connections, {rounds} rounds of {seconds} s per row (after a 1 s warm-up), {} cores, load average before / after: {load_before} / {}\n",
        std::thread::available_parallelism().map_or(0, |n| n.get()),
        load_average(),
    );
    println!("| endpoint | rps | p50 | p99 | % of baseline | target |");
    println!("|---|---|---|---|---|---|");
    for row in &rows {
        row.print();
    }
    let rss_mb = rss as f64 / 1024.0;
    println!(
        "\ngateway RSS after 5 s of 256 connections: {rss_mb:.1} MB (peak {:.1} MB); target < 40 MB: {}",
        peak as f64 / 1024.0,
        verdict(rss_mb < 40.0)
    );
    for (name, added) in added_p50 {
        if name == "relay" {
            println!(
                "p50 added by the relay at {connections} connections: {:.2} ms; target <= 1 ms: {}",
                ms(added),
                verdict(added <= Duration::from_millis(1))
            );
        } else {
            println!(
                "p50 added by the relay at 1 connection (no queueing): {:.2} ms",
                ms(added)
            );
        }
    }
    for row in rows
        .iter()
        .filter(|r| r.target.is_some() && !r.label.contains("relayed"))
    {
        println!(
            "p99 of {}: {:.2} ms; target <= 20 ms: {}",
            row.label,
            ms(row.p99),
            verdict(row.p99 <= Duration::from_millis(20))
        );
    }
    drop(upstream);
    drop(warn);
    drop(info);
}

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .expect("free port")
        .port()
}

/// Runs `seconds` of load and reports it.
type Load<'a> = Box<dyn FnMut(u64) -> Measured + 'a>;

struct Member<'a> {
    label: &'static str,
    load: Load<'a>,
    target: Option<f64>,
}

impl<'a> Member<'a> {
    fn new(label: &'static str, load: Load<'a>) -> Self {
        Member {
            label,
            load,
            target: None,
        }
    }

    /// The share of the group's baseline this row must reach.
    fn target(self, fraction: f64) -> Self {
        Member {
            target: Some(fraction),
            ..self
        }
    }
}

/// A warm-up, then `rounds` turns of `seconds` each; every figure is the
/// median over the rounds, and a ratio the median of the per-round ratios.
fn run_group(mut group: Vec<Member<'_>>, rounds: usize, seconds: u64) -> Vec<Row> {
    for member in &mut group {
        (member.load)(1);
    }
    let mut runs: Vec<Vec<Measured>> = group.iter().map(|_| Vec::new()).collect();
    for _ in 0..rounds.max(1) {
        for (member, runs) in group.iter_mut().zip(&mut runs) {
            runs.push((member.load)(seconds));
        }
    }
    let baseline_rps: Vec<f64> = runs[0].iter().map(|m| m.rps).collect();
    group
        .iter()
        .zip(&runs)
        .enumerate()
        .map(|(i, (member, runs))| {
            let ratios: Vec<f64> = runs
                .iter()
                .zip(&baseline_rps)
                .map(|(m, base)| m.rps / base)
                .collect();
            Row {
                label: member.label,
                rps: median(runs.iter().map(|m| m.rps).collect()),
                p50: Duration::from_secs_f64(median(
                    runs.iter().map(|m| m.p50.as_secs_f64()).collect(),
                )),
                p99: Duration::from_secs_f64(median(
                    runs.iter().map(|m| m.p99.as_secs_f64()).collect(),
                )),
                ratio: (i > 0).then(|| median(ratios)),
                target: member.target,
            }
        })
        .collect()
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values.get(values.len() / 2).copied().unwrap_or(0.0)
}

fn load_average() -> String {
    std::fs::read_to_string("/proc/loadavg")
        .map(|l| l.split_whitespace().take(3).collect::<Vec<_>>().join(" "))
        .unwrap_or_default()
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
    rps: f64,
    p50: Duration,
    p99: Duration,
    /// Share of the group's baseline rps, for gateway rows.
    ratio: Option<f64>,
    target: Option<f64>,
}

impl Row {
    fn print(&self) {
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
            self.rps,
            ms(self.p50),
            ms(self.p99)
        );
    }
}

/// wrk's own report, parsed.
struct Wrk;

impl Wrk {
    /// `header`: one request header line (`Cookie: …`), or empty.
    fn run(url: &str, header: &str, connections: usize, seconds: u64) -> Measured {
        let invoke = |seconds: u64| {
            let mut command = Command::new("wrk");
            // wrk needs at least one connection per thread.
            command.args([
                &format!("-t{}", connections.clamp(1, 2)),
                &format!("-c{connections}"),
                &format!("-d{seconds}s"),
                "--timeout",
                "5s",
                "--latency",
            ]);
            if !header.is_empty() {
                command.args(["-H", header]);
            }
            let out = command.arg(url).output().expect("wrk runs");
            assert!(out.status.success(), "wrk failed for {url}");
            String::from_utf8_lossy(&out.stdout).into_owned()
        };
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
        let port = free_port();
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
        wait_for_port(port, "the gateway");
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

fn wait_for_port(port: u16, what: &str) {
    let deadline = Instant::now() + Duration::from_secs(30);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(Instant::now() < deadline, "{what} did not start");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// The example upstream (examples/upstream.rs), release build, in its own
/// process; it verifies every token through the gateway's JWKS.
struct Upstream {
    base: String,
    child: Child,
}

impl Upstream {
    fn start(port: u16, gateway: &str) -> Upstream {
        // Cargo has released its lock by now; a no-op when already built.
        let built = Command::new(env!("CARGO"))
            .args(["build", "--release", "--example", "upstream"])
            .current_dir(env!("CARGO_MANIFEST_DIR"))
            .status()
            .expect("cargo build --example upstream");
        assert!(built.success(), "building the example upstream failed");
        let binary = std::path::Path::new(env!("CARGO_BIN_EXE_bff-gateway"))
            .with_file_name("examples")
            .join("upstream");
        let child = Command::new(binary)
            .env_clear()
            .env("UPSTREAM_ADDR", format!("127.0.0.1:{port}"))
            .env("UPSTREAM_AUDIENCE", "orders")
            .env("GATEWAY_URL", gateway)
            .env("RUST_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start the example upstream");
        let upstream = Upstream {
            base: format!("http://127.0.0.1:{port}"),
            child,
        };
        wait_for_port(port, "the example upstream");
        upstream
    }
}

impl Drop for Upstream {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

const READER: &str = "reader@example.com";

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
    let access = cookie_value(&login(&client, base, READER).await, "accessToken");
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
async fn refreshes(base: &str, tokens: Vec<String>, length: Duration) -> (Measured, Vec<String>) {
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
            (samples, token)
        })
    });
    let mut all = Vec::new();
    let mut tokens = Vec::new();
    for result in futures::future::join_all(tasks).await {
        let (samples, token) = result.expect("refresh task");
        all.extend(samples);
        tokens.push(token);
    }
    let elapsed = start.elapsed();
    all.sort();
    let measured = Measured {
        rps: all.len() as f64 / elapsed.as_secs_f64(),
        p50: percentile(&all, 0.5),
        p99: percentile(&all, 0.99),
    };
    (measured, tokens)
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
    base.keys.verify_uncached(cookie.value()).ok()?.user_id()
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
