//! Prometheus metrics on their own listener (`METRICS_ADDR`): the real
//! binary (the recorder is process-wide) runs a scripted session, and the
//! scrape afterwards must show exactly what happened.

use std::collections::{BTreeMap, HashMap};

use serde_json::json;

use crate::{
    binary::{RunningServer, gateway},
    helpers::{PASSWORD, TestDatabase, find_cookie, session_tokens, set_cookies, spawn_app},
};

/// Series → value; a series is `name{k="v",…}` with labels sorted, so the
/// exporter's label order does not matter.
type Scrape = HashMap<String, f64>;

fn series(name: &str, labels: &[(&str, &str)]) -> String {
    if labels.is_empty() {
        return name.to_owned();
    }
    let sorted: BTreeMap<&str, &str> = labels.iter().copied().collect();
    let inner: Vec<String> = sorted.iter().map(|(k, v)| format!("{k}=\"{v}\"")).collect();
    format!("{name}{{{}}}", inner.join(","))
}

fn parse(text: &str) -> Scrape {
    let mut scrape = Scrape::new();
    for line in text
        .lines()
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
    {
        let (key, value) = line.rsplit_once(' ').expect("`series value`");
        let value: f64 = value.parse().expect("numeric sample");
        let key = match key.split_once('{') {
            None => key.to_owned(),
            Some((name, rest)) => {
                let labels: Vec<(&str, &str)> = rest
                    .trim_end_matches('}')
                    .split("\",")
                    .map(|pair| {
                        let (k, v) = pair.split_once('=').expect("label=value");
                        (k, v.trim_matches('"'))
                    })
                    .collect();
                series(name, &labels)
            }
        };
        scrape.insert(key, value);
    }
    scrape
}

struct Metrics {
    url: String,
    client: reqwest::Client,
}

impl Metrics {
    async fn scrape(&self) -> (Scrape, String) {
        let response = self.client.get(&self.url).send().await.expect("scrape");
        assert_eq!(response.status(), 200);
        let content_type = response.headers()["content-type"]
            .to_str()
            .expect("ascii")
            .to_owned();
        assert!(content_type.starts_with("text/plain"), "{content_type}");
        let text = response.text().await.expect("body");
        (parse(&text), text)
    }
}

async fn status(request: reqwest::RequestBuilder) -> u16 {
    request
        .send()
        .await
        .expect("request is sent")
        .status()
        .as_u16()
}

fn delta(before: &Scrape, after: &Scrape, name: &str, labels: &[(&str, &str)]) -> f64 {
    let key = series(name, labels);
    after.get(&key).copied().unwrap_or(0.0) - before.get(&key).copied().unwrap_or(0.0)
}

/// The binary with metrics on a free port; returns it and its scrape URL.
fn start_with_metrics(database: &TestDatabase) -> (RunningServer, Metrics) {
    let mut command = gateway(env!("CARGO_MANIFEST_DIR").as_ref());
    command
        .env("APP_ENV", "test")
        .env("DATABASE_URL", &database.url)
        .env("APP_PORT", "0")
        .env("METRICS_ADDR", "127.0.0.1:0");
    let server = RunningServer::start(command);
    let url = server
        .start_up_log()
        .iter()
        .find_map(|line| line.split("metrics on ").nth(1))
        .map(|url| url.trim().to_owned())
        .unwrap_or_else(|| panic!("no metrics line in {:?}", server.start_up_log()));
    assert!(url.starts_with("http://127.0.0.1:"), "{url}");
    let metrics = Metrics {
        url,
        client: reqwest::Client::new(),
    };
    (server, metrics)
}

async fn a_scripted_session_shows_as_exact_counter_deltas() {
    let database = TestDatabase::create().await;
    let (server, metrics) = start_with_metrics(&database);
    let client = reqwest::Client::new();
    let url = |path: &str| server.url(path);
    let (before, _) = metrics.scrape().await;
    let email = "metrics@example.com";
    let credentials = json!({ "email": email, "username": email, "password": PASSWORD });

    let post = |path: &str| client.post(url(path));
    assert_eq!(
        status(post("/api/auth/signup").json(&credentials)).await,
        201
    );
    assert_eq!(
        status(post("/api/auth/signup").json(&credentials)).await,
        409
    );
    let wrong = json!({ "username": email, "password": "not the password" });
    assert_eq!(status(post("/api/auth/login").json(&wrong)).await, 401);
    let login = post("/api/auth/login")
        .json(&credentials)
        .send()
        .await
        .expect("login");
    assert_eq!(login.status(), 200);
    let (access, r0) = session_tokens(&login);
    let with_access = |request: reqwest::RequestBuilder| {
        request.header("cookie", format!("accessToken={access}"))
    };
    assert_eq!(
        status(with_access(client.get(url("/api/auth/me")))).await,
        200
    );
    assert_eq!(
        status(with_access(client.get(url("/api/people/987654")))).await,
        404
    );
    assert_eq!(
        status(client.get(url("/api/no/such/route/zzqx"))).await,
        404
    );
    assert_eq!(status(client.get(url("/app.js"))).await, 200);
    let propfind = reqwest::Method::from_bytes(b"PROPFIND").expect("method");
    assert_eq!(
        status(client.request(propfind, url("/api/people"))).await,
        405
    );

    let refresh =
        |token: &str| post("/api/auth/refresh").header("cookie", format!("refreshToken={token}"));
    let rotated = refresh(&r0).send().await.expect("refresh");
    assert_eq!(rotated.status(), 200);
    let r1 = find_cookie(&set_cookies(&rotated), "refreshToken").value;
    assert_eq!(status(refresh(&r0)).await, 200, "retried within the window");
    assert_eq!(status(refresh("not-a-token")).await, 401);
    assert_eq!(status(refresh(&r1)).await, 200);
    assert_eq!(status(refresh(&r0)).await, 401, "two back: theft");

    let forged = with_access(post("/api/people"))
        .header("origin", "https://evil.example")
        .json(&json!({ "firstName": "Evil", "lastName": "Forged" }));
    assert_eq!(status(forged).await, 403);
    let form = post("/api/people")
        .header("content-type", "text/plain")
        .body("firstName=Plain");
    assert_eq!(status(form).await, 415);

    let again = post("/api/auth/login")
        .json(&credentials)
        .send()
        .await
        .expect("login");
    assert_eq!(again.status(), 200);
    let access = find_cookie(&set_cookies(&again), "accessToken").value;
    assert_eq!(
        status(post("/api/auth/logout").bearer_auth(&access)).await,
        204
    );

    // Not on the public port.
    assert_eq!(status(client.get(url("/metrics"))).await, 404);

    let (after, text) = metrics.scrape().await;
    let d = |name: &str, labels: &[(&str, &str)]| delta(&before, &after, name, labels);
    for (name, labels, expected) in [
        ("auth_signups_total", &[("outcome", "success")][..], 1.0),
        ("auth_signups_total", &[("outcome", "taken")], 1.0),
        ("auth_signups_total", &[("outcome", "invalid")], 0.0),
        ("auth_logins_total", &[("outcome", "success")], 2.0),
        ("auth_logins_total", &[("outcome", "invalid")], 1.0),
        ("auth_logins_total", &[("outcome", "throttled")], 0.0),
        ("auth_logins_total", &[("outcome", "error")], 0.0),
        ("auth_refresh_total", &[("outcome", "rotated")], 2.0),
        ("auth_refresh_total", &[("outcome", "retried")], 1.0),
        ("auth_refresh_total", &[("outcome", "invalid")], 1.0),
        ("auth_refresh_total", &[("outcome", "reused")], 1.0),
        ("auth_refresh_total", &[("outcome", "expired")], 0.0),
        ("auth_logouts_total", &[], 1.0),
        ("auth_sessions_revoked_total", &[("cause", "reuse")], 1.0),
        ("auth_sessions_revoked_total", &[("cause", "logout")], 1.0),
        (
            "auth_csrf_rejected_total",
            &[("reason", "foreign_origin")],
            1.0,
        ),
        (
            "auth_csrf_rejected_total",
            &[("reason", "content_type")],
            1.0,
        ),
        ("db_errors_total", &[("kind", "query")], 0.0),
        ("db_errors_total", &[("kind", "pool_timeout")], 0.0),
        (
            "http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/auth/login"),
                ("status", "200"),
            ],
            2.0,
        ),
        (
            "http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/auth/login"),
                ("status", "401"),
            ],
            1.0,
        ),
        (
            "http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/auth/refresh"),
                ("status", "200"),
            ],
            3.0,
        ),
        (
            "http_requests_total",
            &[
                ("method", "POST"),
                ("route", "/api/auth/refresh"),
                ("status", "401"),
            ],
            2.0,
        ),
        (
            "http_requests_total",
            &[
                ("method", "GET"),
                ("route", "/api/people/{id}"),
                ("status", "404"),
            ],
            1.0,
        ),
        (
            "http_requests_total",
            &[("method", "GET"), ("route", "unmatched"), ("status", "404")],
            1.0,
        ),
        (
            "http_requests_total",
            &[("method", "GET"), ("route", "/"), ("status", "200")],
            1.0,
        ),
        (
            "http_requests_total",
            &[
                ("method", "other"),
                ("route", "/api/people"),
                ("status", "405"),
            ],
            1.0,
        ),
        (
            "http_request_duration_seconds_count",
            &[("method", "GET"), ("route", "/api/auth/me")],
            1.0,
        ),
        // Two sign-ups hash, three logins verify.
        ("bcrypt_queue_wait_seconds_count", &[], 5.0),
    ] {
        assert_eq!(
            d(name, labels),
            expected,
            "{} in\n{text}",
            series(name, labels)
        );
    }
    assert_eq!(after.get("bcrypt_inflight"), Some(&0.0), "{text}");
    // Two session checks (/me, /people/{id}), both through the live cache:
    // which of them hit depends on when the listener hears of the writes.
    let lookups = |result| d("session_cache_lookups_total", &[("result", result)]);
    assert_eq!(lookups("hit") + lookups("miss"), 2.0, "{text}");
    assert_eq!(lookups("bypassed"), 0.0, "{text}");
    assert_eq!(
        after.get("session_cache_listener_connected"),
        Some(&1.0),
        "{text}"
    );
    // The logout dropped its user's entry here.
    assert!(
        d("session_cache_invalidations_total", &[("scope", "user")]) >= 1.0,
        "{text}"
    );
    assert!(d("db_pool_wait_seconds_count", &[]) >= 8.0, "{text}");
    let idle = series("db_pool_connections", &[("state", "idle")]);
    let in_use = series("db_pool_connections", &[("state", "in_use")]);
    assert!(after.get(&idle).is_some_and(|n| *n >= 1.0), "{text}");
    assert_eq!(after.get(&in_use), Some(&0.0), "{text}");
    // Route templates only: no raw path or id reaches a label.
    for series in after.keys() {
        for raw in ["987654", "zzqx", "no/such", "app.js"] {
            assert!(!series.contains(raw), "`{raw}` in {series}");
        }
    }
    // Every metric has its help text.
    for name in [
        "http_requests_total",
        "auth_logins_total",
        "bcrypt_inflight",
    ] {
        assert!(text.contains(&format!("# HELP {name} ")), "{name}");
    }
    drop(server);
}

async fn the_public_port_serves_no_metrics() {
    let app = spawn_app().await;
    let response = app.get("/metrics").await;
    assert_eq!(response.status(), 404);
}

crate::tests![
    a_scripted_session_shows_as_exact_counter_deltas,
    the_public_port_serves_no_metrics,
];
