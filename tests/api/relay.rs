//! The token relay (`/api/upstream/{name}/{path…}`) between a real browser-
//! like client and a real upstream: an actix-web server started here on
//! 127.0.0.1 port 0, mounted at `/base`, that records every request it gets
//! (method, raw target, headers, how much body arrived and whether all of it).

use std::{
    collections::HashMap,
    io::{Read, Write},
    net::TcpStream,
    sync::{Mutex, PoisonError},
    time::{Duration, Instant},
};

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use bff_gateway::{accounts::Role, relay::token::RelayClaims};
use futures::StreamExt;
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::{Method, StatusCode, header};
use serde_json::{Value, json};

use crate::helpers::{TestApp, assert_error, assert_security_headers, spawn_app_with};

const MB: usize = 1_000_000;
/// What `/base/download` sends.
const DOWNLOAD: usize = 5 * MB;

/// One request as the upstream received it.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    /// Path and query exactly as they arrived.
    target: String,
    headers: HashMap<String, Vec<String>>,
    body_len: usize,
    /// The body arrived to its end (not cut off by the gateway).
    complete: bool,
    /// The first bytes of the body.
    body: Vec<u8>,
}

impl Seen {
    fn header(&self, name: &str) -> Vec<&str> {
        self.headers
            .get(name)
            .map(|values| values.iter().map(String::as_str).collect())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Log(Mutex<Vec<Seen>>);

impl Log {
    fn lock(&self) -> std::sync::MutexGuard<'_, Vec<Seen>> {
        self.0.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// The recording upstream.
struct Upstream {
    port: u16,
    log: web::Data<Log>,
}

impl Upstream {
    async fn start() -> Upstream {
        let log = web::Data::new(Log::default());
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind the upstream");
        let port = listener.local_addr().expect("address").port();
        let data = log.clone();
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .default_service(web::to(record))
        })
        .workers(1)
        .disable_signals()
        .shutdown_timeout(1)
        .listen(listener)
        .expect("listen")
        .run();
        actix_web::rt::spawn(server);
        Upstream { port, log }
    }

    fn seen(&self) -> Vec<Seen> {
        self.log.lock().clone()
    }

    fn last(&self) -> Seen {
        self.seen().pop().expect("the upstream received a request")
    }
}

async fn record(req: HttpRequest, mut payload: web::Payload, log: web::Data<Log>) -> HttpResponse {
    let mut headers: HashMap<String, Vec<String>> = HashMap::new();
    for (name, value) in req.headers() {
        headers
            .entry(name.as_str().to_owned())
            .or_default()
            .push(String::from_utf8_lossy(value.as_bytes()).into_owned());
    }
    let index = {
        let mut seen = log.lock();
        seen.push(Seen {
            method: req.method().to_string(),
            target: req.uri().to_string(),
            headers,
            body_len: 0,
            complete: false,
            body: Vec::new(),
        });
        seen.len() - 1
    };
    while let Some(chunk) = payload.next().await {
        let Ok(chunk) = chunk else {
            return HttpResponse::BadRequest().finish();
        };
        let mut seen = log.lock();
        let entry = &mut seen[index];
        entry.body_len += chunk.len();
        if entry.body.len() < 4096 {
            entry
                .body
                .extend_from_slice(&chunk[..chunk.len().min(4096)]);
        }
    }
    let (target, body_len) = {
        let mut seen = log.lock();
        seen[index].complete = true;
        (seen[index].target.clone(), seen[index].body_len)
    };
    let path = req.path().strip_prefix("/base").unwrap_or_default();
    match path {
        "/slow" => {
            actix_web::rt::time::sleep(Duration::from_secs(5)).await;
            HttpResponse::Ok().body("late")
        }
        "/stall" => {
            // The head and a first chunk at once, the rest much later.
            let first = futures::stream::once(async {
                Ok::<_, actix_web::Error>(web::Bytes::from_static(b"first"))
            });
            let late = futures::stream::once(async {
                actix_web::rt::time::sleep(Duration::from_secs(5)).await;
                Ok::<_, actix_web::Error>(web::Bytes::from_static(b"late"))
            });
            HttpResponse::Ok().streaming(first.chain(late))
        }
        "/download" => {
            let chunks = (0..DOWNLOAD / 50_000).map(|n| {
                let chunk: Vec<u8> = (0..50_000)
                    .map(|i| ((n * 50_000 + i) % 251) as u8)
                    .collect();
                Ok::<_, actix_web::Error>(web::Bytes::from(chunk))
            });
            HttpResponse::Ok()
                .content_type("application/octet-stream")
                .streaming(futures::stream::iter(chunks))
        }
        "/cookie" => HttpResponse::Ok()
            .insert_header(("set-cookie", "accessToken=forged; Path=/"))
            .append_header(("set-cookie", "upstream=1; Path=/"))
            .insert_header(("cache-control", "public, max-age=3600"))
            .insert_header(("content-security-policy", "script-src *"))
            .insert_header(("access-control-allow-origin", "*"))
            .insert_header(("clear-site-data", "\"cookies\""))
            .insert_header(("x-upstream", "kept"))
            .content_type("text/html")
            .body("<script>alert(1)</script>"),
        "/unauthorized" => HttpResponse::Unauthorized()
            .insert_header(("www-authenticate", "Bearer error=\"invalid_token\""))
            .json(json!({ "error": "invalid_token" })),
        "/created" => HttpResponse::Created()
            .insert_header(("location", "/v1/orders/7"))
            .json(json!({ "id": 7 })),
        _ => HttpResponse::Ok().json(json!({
            "method": req.method().as_str(),
            "target": target,
            "bodyLen": body_len,
        })),
    }
}

/// An upstream, and a gateway relaying to it under several names, with a
/// logged-in user:
/// - `orders`: plain; `reports`: admin only; `small`: `max_body=1MiB`;
/// - `slow`: `timeout=1s`; `down`: a closed port;
/// - `v1`: `allow=/v1` with its own audience.
struct Relay {
    app: TestApp,
    upstream: Upstream,
    user_id: i64,
}

const USER: &str = "ada@example.com";

async fn relay() -> Relay {
    let upstream = Upstream::start().await;
    let closed = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
        listener.local_addr().expect("address").port()
    };
    let base = format!("http://127.0.0.1:{}/base", upstream.port);
    let list = format!(
        "orders={base};reports={base}|role=admin;small={base}|max_body=1MiB;\
         slow={base}|timeout=1s|connect_timeout=500ms;down=http://127.0.0.1:{closed}/base;\
         v1={base}|allow=/v1|audience=https://v1.example"
    );
    let app = spawn_app_with(&[("UPSTREAMS", &list), ("RELAY_TOKEN_TTL", "20s")]).await;
    let user_id = app.logged_in_user(USER).await;
    Relay {
        app,
        upstream,
        user_id,
    }
}

impl Relay {
    async fn call(&self, method: Method, path: &str) -> reqwest::Response {
        self.app
            .send(self.app.client.request(method, self.app.url(path)), path)
            .await
    }

    async fn get(&self, path: &str) -> reqwest::Response {
        self.call(Method::GET, path).await
    }

    /// A JSON body of exactly `len` bytes, with its `Content-Length`.
    async fn post_json_of_size(&self, path: &str, len: usize) -> reqwest::Response {
        let request = self.app.client.post(self.app.url(path));
        let request = request
            .header(header::CONTENT_TYPE, "application/json")
            .body(json_of_size(len));
        self.app.send(request, path).await
    }
}

/// Verifies a relay token as an upstream does: the key its kid names in the
/// gateway's JWKS, EdDSA only, issuer and audience checked.
async fn verify(
    app: &TestApp,
    authorization: &str,
    audience: &str,
) -> jsonwebtoken::errors::Result<RelayClaims> {
    let token = authorization
        .strip_prefix("Bearer ")
        .expect("a Bearer token");
    let jwks: JwkSet = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .expect("the JWKS");
    let kid = jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .expect("a kid");
    let key = DecodingKey::from_jwk(jwks.find(&kid).expect("the kid is published")).expect("key");
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["bff-gateway"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<RelayClaims>(token, &key, &validation).map(|data| data.claims)
}

async fn verified(app: &TestApp, authorization: &str, audience: &str) -> RelayClaims {
    verify(app, authorization, audience)
        .await
        .expect("the relay token verifies")
}

/// Sends `head` (and `body`, written in pieces) over a plain TCP connection,
/// for requests a URL library would normalise; returns the status and the
/// upstream-visible rest. Write errors are ignored: the gateway may answer
/// and close before the body is all sent.
async fn raw(app: &TestApp, head: String, body: Vec<Vec<u8>>) -> (u16, String) {
    let address = app
        .address
        .strip_prefix("http://")
        .expect("http address")
        .to_owned();
    actix_web::rt::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(address).expect("connect");
        stream
            .set_read_timeout(Some(Duration::from_secs(10)))
            .expect("timeout");
        stream.write_all(head.as_bytes()).expect("write the head");
        for piece in body {
            if stream.write_all(&piece).is_err() {
                break;
            }
        }
        let mut response = Vec::new();
        let _ = stream.read_to_end(&mut response);
        let text = String::from_utf8_lossy(&response).into_owned();
        let status = text
            .split(' ')
            .nth(1)
            .and_then(|s| s.parse().ok())
            .unwrap_or_else(|| panic!("no status line in {text:?}"));
        (status, text)
    })
    .await
    .expect("raw request")
}

fn raw_head(app: &TestApp, method: &str, target: &str, extra: &str) -> String {
    let cookie = app.cookie_header(target).expect("logged in");
    format!(
        "{method} {target} HTTP/1.1\r\nHost: {}\r\nCookie: {cookie}\r\nConnection: close\r\n{extra}\r\n",
        app.address.trim_start_matches("http://")
    )
}

async fn the_upstream_gets_a_relay_token_for_the_user_and_never_the_cookie() {
    let r = relay().await;
    let response = r.get("/api/upstream/orders/v1/orders?status=open").await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["target"], "/base/v1/orders?status=open");
    let seen = r.upstream.last();
    assert!(seen.header("cookie").is_empty(), "{seen:?}");
    let authorization = seen.header("authorization");
    assert_eq!(authorization.len(), 1, "{seen:?}");
    let claims = verified(&r.app, authorization[0], "orders").await;
    assert_eq!(claims.sub, r.user_id.to_string());
    assert_eq!(claims.email, USER);
    assert_eq!(claims.role, Role::User);
    let now = chrono::Utc::now().timestamp();
    assert!(claims.exp - claims.iat <= 60, "{claims:?}");
    assert_eq!(claims.exp - claims.iat, 20, "RELAY_TOKEN_TTL");
    assert!(claims.exp > now && claims.exp <= now + 21, "{claims:?}");
    // Audience-bound: another upstream's audience does not verify it.
    let other = r.get("/api/upstream/v1/v1/x").await;
    assert_eq!(other.status(), 200);
    let seen = r.upstream.last();
    let v1_token = seen.header("authorization")[0].to_owned();
    verified(&r.app, &v1_token, "https://v1.example").await;
    assert!(verify(&r.app, &v1_token, "orders").await.is_err());
    // Two requests, two tokens.
    assert_ne!(authorization[0], v1_token);
}

async fn a_client_authorization_header_never_reaches_the_upstream() {
    let r = relay().await;
    // A Bearer caller: its access token authenticates it here and goes no further.
    let login = r.app.login(USER, crate::helpers::PASSWORD).await;
    let (access, _) = crate::helpers::session_tokens(&login);
    let response = r
        .app
        .client
        .get(r.app.url("/api/upstream/orders/x"))
        .bearer_auth(&access)
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let seen = r.upstream.last();
    let authorization = seen.header("authorization");
    assert_eq!(authorization.len(), 1);
    assert!(!authorization[0].contains(&access));
    verified(&r.app, authorization[0], "orders").await;
    // With the cookie as well: still only the relay token.
    let path = "/api/upstream/orders/y";
    let response = r
        .app
        .send(
            r.app
                .client
                .get(r.app.url(path))
                .bearer_auth("client-chosen"),
            path,
        )
        .await;
    assert_eq!(response.status(), 200);
    let seen = r.upstream.last();
    assert!(!seen.header("authorization")[0].contains("client-chosen"));
    assert!(seen.header("cookie").is_empty());
}

async fn queries_bodies_and_all_six_methods_pass() {
    let r = relay().await;
    let path = "/api/upstream/orders/v1/items/42?sort=-date&q=a%20b&tag=x&tag=y";
    for method in [
        Method::GET,
        Method::HEAD,
        Method::POST,
        Method::PUT,
        Method::PATCH,
        Method::DELETE,
    ] {
        let writes = !matches!(method, Method::GET | Method::HEAD);
        let mut request = r.app.client.request(method.clone(), r.app.url(path));
        if writes {
            request = request.json(&json!({ "method": method.as_str() }));
        }
        let response = r.app.send(request, path).await;
        assert_eq!(response.status(), 200, "{method}");
        let seen = r.upstream.last();
        assert_eq!(seen.method, method.as_str());
        assert_eq!(
            seen.target,
            "/base/v1/items/42?sort=-date&q=a%20b&tag=x&tag=y"
        );
        assert!(seen.complete);
        if writes {
            let sent: Value = serde_json::from_slice(&seen.body).expect("json body");
            assert_eq!(sent["method"], method.as_str(), "{method}");
            assert_eq!(seen.header("content-type"), ["application/json"]);
        } else {
            assert_eq!(seen.body_len, 0);
        }
        if method == Method::HEAD {
            assert!(response.bytes().await.expect("body").is_empty());
        } else {
            let body: Value = response.json().await.expect("json");
            assert_eq!(body["method"], method.as_str());
        }
    }
    assert_eq!(r.upstream.seen().len(), 6);
    // Statuses and end-to-end headers come back as the upstream sent them.
    let response = r.call(Method::POST, "/api/upstream/orders/created").await;
    assert_eq!(response.status(), StatusCode::CREATED);
    assert_eq!(response.headers()[header::LOCATION], "/v1/orders/7");
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["id"], 7);
}

async fn traversal_attempts_never_reach_outside_the_base_path() {
    let r = relay().await;
    let attempts = [
        "/api/upstream/orders/../secret",
        "/api/upstream/orders/a/../../secret",
        "/api/upstream/orders/%2e%2e/secret",
        "/api/upstream/orders/%2E%2E/secret",
        "/api/upstream/orders/.%2E/secret",
        "/api/upstream/orders/%2e./secret",
        "/api/upstream/orders/./x",
        "/api/upstream/orders/..;/secret",
        "/api/upstream/orders/%2e%2e%2fsecret",
        "/api/upstream/orders/..%2fsecret",
        "/api/upstream/orders/..%2Fsecret",
        "/api/upstream/orders/..%5csecret",
        "/api/upstream/orders/..\\secret",
        "/api/upstream/orders//secret",
        "/api/upstream/orders/a//..//secret",
        "/api/upstream/orders/%00",
        "/api/upstream/orders/a%0d%0aX-Injected:%201",
        "/api/upstream/orders/%zz",
        "/api/upstream/orders/%252e%252e/secret",
        "/api/upstream/orders/..",
        "/api/upstream/v1/v2/secret",
        "/api/upstream/v1/v10",
    ];
    for target in attempts {
        let (status, text) = raw(&r.app, raw_head(&r.app, "GET", target, ""), Vec::new()).await;
        assert_eq!(status, 400, "{target}: {text}");
        assert!(text.contains("invalid_upstream_path"), "{target}: {text}");
    }
    assert!(
        r.upstream.seen().is_empty(),
        "the upstream received {:?}",
        r.upstream.seen()
    );
    // An encoded name does not reach another upstream either.
    let (status, _) = raw(
        &r.app,
        raw_head(&r.app, "GET", "/api/upstream/ord%65rs/x", ""),
        Vec::new(),
    )
    .await;
    assert_eq!(status, 404);
    // What passes lies below the base, byte for byte.
    for (target, upstream_target) in [
        (
            "/api/upstream/orders/a/.hidden/..x/b%20c",
            "/base/a/.hidden/..x/b%20c",
        ),
        ("/api/upstream/orders/", "/base/"),
        ("/api/upstream/v1/v1/orders", "/base/v1/orders"),
    ] {
        let (status, text) = raw(&r.app, raw_head(&r.app, "GET", target, ""), Vec::new()).await;
        assert_eq!(status, 200, "{target}: {text}");
        assert_eq!(r.upstream.last().target, upstream_target);
    }
    for seen in r.upstream.seen() {
        assert!(seen.target.starts_with("/base/"), "{}", seen.target);
    }
}

/// A JSON string of `n` bytes in all.
fn json_of_size(n: usize) -> Vec<u8> {
    let mut body = Vec::with_capacity(n);
    body.push(b'"');
    body.resize(n - 1, b'a');
    body.push(b'"');
    body
}

async fn a_5_mb_upload_and_a_5_mb_download_stream_through() {
    let r = relay().await;
    let path = "/api/upstream/orders/upload";
    let response = r.post_json_of_size(path, 5 * MB).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["bodyLen"], 5 * MB);
    let seen = r.upstream.last();
    assert!(
        seen.complete && seen.body_len == 5 * MB,
        "{}",
        seen.body_len
    );
    assert_eq!(seen.header("content-length"), ["5000000"]);

    let response = r.get("/api/upstream/orders/download").await;
    assert_eq!(response.status(), 200);
    assert_eq!(
        response.headers()[header::CONTENT_TYPE],
        "application/octet-stream"
    );
    let bytes = response.bytes().await.expect("the whole body");
    assert_eq!(bytes.len(), DOWNLOAD);
    assert!(bytes.iter().enumerate().all(|(i, b)| *b == (i % 251) as u8));
}

async fn a_declared_body_over_the_limit_gets_413_before_the_upstream_is_contacted() {
    let r = relay().await;
    let path = "/api/upstream/small/upload";
    let response = r.post_json_of_size(path, 1024 * 1024 + 1).await;
    assert_error(response, 413, "payload_too_large").await;
    assert!(r.upstream.seen().is_empty(), "{:?}", r.upstream.seen());
    // Exactly the limit passes.
    let response = r.post_json_of_size(path, 1024 * 1024).await;
    assert_eq!(response.status(), 200);
    assert_eq!(r.upstream.last().body_len, 1024 * 1024);
}

async fn a_chunked_body_growing_over_the_limit_gets_413_and_the_upstream_never_gets_it_all() {
    let r = relay().await;
    let head = raw_head(
        &r.app,
        "POST",
        "/api/upstream/small/upload",
        "Content-Type: application/json\r\nTransfer-Encoding: chunked\r\n",
    );
    // 3 MB in 64 KiB chunks, then the terminating chunk.
    let piece = 64 * 1024;
    let mut body: Vec<Vec<u8>> = (0..48)
        .map(|_| {
            let mut chunk = format!("{piece:x}\r\n").into_bytes();
            chunk.resize(chunk.len() + piece, b' ');
            chunk.extend_from_slice(b"\r\n");
            chunk
        })
        .collect();
    body.push(b"0\r\n\r\n".to_vec());
    let (status, text) = raw(&r.app, head, body).await;
    assert_eq!(status, 413, "{text}");
    assert!(text.contains("payload_too_large"), "{text}");
    // The upstream got the start of it as it streamed, never all of it:
    // the exchange was aborted at the chunk that crossed the limit.
    let deadline = Instant::now() + Duration::from_secs(2);
    while r.upstream.seen().is_empty() && Instant::now() < deadline {
        actix_web::rt::time::sleep(Duration::from_millis(10)).await;
    }
    actix_web::rt::time::sleep(Duration::from_millis(200)).await;
    let seen = r.upstream.seen();
    assert_eq!(seen.len(), 1, "{seen:?}");
    assert!(!seen[0].complete, "the upstream got the whole body");
    assert!(
        seen[0].body_len <= 1024 * 1024,
        "{} bytes passed a 1 MiB limit",
        seen[0].body_len
    );
}

async fn an_upstream_that_is_down_gets_502_upstream_unavailable() {
    let r = relay().await;
    let started = Instant::now();
    let response = r.get("/api/upstream/down/x").await;
    assert_security_headers(&response);
    assert_error(response, 502, "upstream_unavailable").await;
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
}

async fn a_slow_upstream_gets_504_within_its_timeout() {
    let r = relay().await;
    let started = Instant::now();
    let response = r.get("/api/upstream/slow/slow").await;
    let elapsed = started.elapsed();
    assert_error(response, 504, "upstream_timeout").await;
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(2500),
        "timeout=1s, answered after {elapsed:?}"
    );
    assert_eq!(r.upstream.last().target, "/base/slow");
}

async fn a_response_body_still_streaming_at_the_total_timeout_is_cut_off() {
    let r = relay().await;
    let started = Instant::now();
    let response = r.get("/api/upstream/slow/stall").await;
    // The head came in time, so the status is the upstream's...
    assert_eq!(response.status(), 200);
    // ...and the body ends early, at the deadline, not when the upstream
    // would have finished.
    let body = response.bytes().await;
    let elapsed = started.elapsed();
    assert!(
        body.as_ref().map_or(true, |b| b.as_ref() != b"firstlate"),
        "{body:?}"
    );
    assert!(
        elapsed >= Duration::from_secs(1) && elapsed < Duration::from_millis(2500),
        "timeout=1s, body ended after {elapsed:?}"
    );
}

/// `relay_requests_total` and `relay_duration_seconds` as the process-wide
/// recorder has them now, for the upstream `name`.
fn relay_metrics(
    handle: &metrics_exporter_prometheus::PrometheusHandle,
    name: &str,
) -> (HashMap<String, f64>, f64) {
    let text = handle.render();
    let mut counts = HashMap::new();
    let mut observations = 0.0;
    for line in text.lines() {
        let value = || {
            line.rsplit(' ')
                .next()
                .and_then(|v| v.parse::<f64>().ok())
                .unwrap_or(0.0)
        };
        if line.starts_with("relay_requests_total{")
            && line.contains(&format!("upstream=\"{name}\""))
        {
            let status = line
                .split("status=\"")
                .nth(1)
                .and_then(|s| s.split('"').next())
                .unwrap_or_default();
            counts.insert(status.to_owned(), value());
        }
        if line.starts_with("relay_duration_seconds_count{")
            && line.contains(&format!("upstream=\"{name}\""))
        {
            observations = value();
        }
    }
    (counts, observations)
}

async fn relayed_requests_are_counted_by_configured_upstream_and_status() {
    let handle = bff_gateway::metrics::install().expect("recorder");
    let upstream = Upstream::start().await;
    let closed = std::net::TcpListener::bind("127.0.0.1:0")
        .expect("bind")
        .local_addr()
        .expect("address")
        .port();
    // Names of this test and backend only: the recorder is shared by the
    // process, and the two backends' runs may overlap.
    let name = format!("metered-{}", crate::helpers::backend().as_str());
    let list = format!(
        "{name}=http://127.0.0.1:{port}/base;{name}-down=http://127.0.0.1:{closed};{name}-admin=http://127.0.0.1:{port}/base|role=admin",
        port = upstream.port
    );
    let app = spawn_app_with(&[("UPSTREAMS", &list)]).await;
    app.logged_in_user(USER).await;
    for (method, path) in [
        (Method::GET, format!("/api/upstream/{name}/a")),
        (Method::POST, format!("/api/upstream/{name}/created")),
        (Method::GET, format!("/api/upstream/{name}/a%5cb")),
        (Method::GET, format!("/api/upstream/{name}-down/a")),
        (Method::GET, format!("/api/upstream/{name}-admin/a")),
        (Method::GET, "/api/upstream/unmetered/a".to_owned()),
    ] {
        app.send(app.client.request(method, app.url(&path)), &path)
            .await;
    }
    let (metered, observations) = relay_metrics(&handle, &name);
    assert_eq!(metered.get("200"), Some(&1.0), "{metered:?}");
    assert_eq!(metered.get("201"), Some(&1.0), "{metered:?}");
    assert_eq!(metered.get("400"), Some(&1.0), "{metered:?}");
    assert_eq!(observations, 3.0);
    let down = relay_metrics(&handle, &format!("{name}-down")).0;
    assert_eq!(down.get("502"), Some(&1.0), "{down:?}");
    let admin = relay_metrics(&handle, &format!("{name}-admin")).0;
    assert_eq!(admin.get("403"), Some(&1.0), "{admin:?}");
    // Unknown names are no label value.
    assert!(!handle.render().contains("unmetered"));
}

async fn set_cookie_and_security_header_overrides_from_the_upstream_never_reach_the_client() {
    let r = relay().await;
    let before = r.app.jar_value("accessToken").expect("logged in");
    let response = r.get("/api/upstream/orders/cookie").await;
    assert_eq!(response.status(), 200);
    assert_security_headers(&response);
    let headers = response.headers();
    assert!(headers.get(header::SET_COOKIE).is_none(), "{headers:?}");
    assert!(headers.get("clear-site-data").is_none());
    assert!(headers.get(header::ACCESS_CONTROL_ALLOW_ORIGIN).is_none());
    assert_eq!(headers[header::CACHE_CONTROL], "no-store");
    assert_eq!(headers["x-upstream"], "kept");
    assert_eq!(headers[header::CONTENT_TYPE], "text/html");
    assert_eq!(r.app.jar_value("accessToken"), Some(before));
}

async fn cross_origin_writes_get_403_csrf_rejected_and_the_upstream_sees_nothing() {
    let r = relay().await;
    for method in [Method::POST, Method::PUT, Method::PATCH, Method::DELETE] {
        let path = "/api/upstream/orders/v1/orders";
        let response = r
            .app
            .send(
                r.app
                    .client
                    .request(method.clone(), r.app.url(path))
                    .header(header::ORIGIN, "https://evil.example")
                    .json(&json!({})),
                path,
            )
            .await;
        assert_error(response, 403, "csrf_rejected").await;
    }
    // A form post from our own origin is refused too: writes send JSON.
    let path = "/api/upstream/orders/v1/orders";
    let response = r
        .app
        .send(
            r.app
                .client
                .post(r.app.url(path))
                .header(header::CONTENT_TYPE, "application/x-www-form-urlencoded")
                .body("a=1"),
            path,
        )
        .await;
    assert_error(response, 415, "unsupported_media_type").await;
    assert!(r.upstream.seen().is_empty(), "{:?}", r.upstream.seen());
}

async fn a_user_on_an_admin_upstream_gets_403_and_the_upstream_sees_nothing() {
    let r = relay().await;
    let response = r.get("/api/upstream/reports/q1").await;
    assert_error(response, 403, "insufficient_role").await;
    let response = r.call(Method::DELETE, "/api/upstream/reports/q1").await;
    assert_error(response, 403, "insufficient_role").await;
    assert!(r.upstream.seen().is_empty(), "{:?}", r.upstream.seen());
    // An admin passes, and the token says so.
    let admin = r.app.spawn_peer().await;
    admin.logged_in_admin("grace@example.com").await;
    let response = admin.get("/api/upstream/reports/q1").await;
    assert_eq!(response.status(), 200);
    let seen = r.upstream.last();
    let claims = verified(&admin, seen.header("authorization")[0], "reports").await;
    assert_eq!(claims.role, Role::Admin);
    assert_eq!(claims.email, "grace@example.com");
}

async fn no_session_gets_401_and_an_unknown_upstream_404_and_the_upstream_sees_nothing() {
    let r = relay().await;
    let response = r
        .app
        .client
        .get(r.app.url("/api/upstream/orders/x"))
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "token_missing").await;
    // 401 comes first, even for a name that does not exist.
    let response = r
        .app
        .client
        .get(r.app.url("/api/upstream/nope/x"))
        .send()
        .await
        .expect("send");
    assert_error(response, 401, "token_missing").await;
    let response = r.get("/api/upstream/nope/x").await;
    assert_error(response, 404, "upstream_not_found").await;
    let response = r.call(Method::OPTIONS, "/api/upstream/orders/x").await;
    assert_error(response, 405, "method_not_allowed").await;
    assert!(r.upstream.seen().is_empty(), "{:?}", r.upstream.seen());
}

async fn hop_by_hop_and_forwarding_headers_from_the_client_are_replaced() {
    let r = relay().await;
    let extra = "Connection: close, X-Secret-Hop\r\nX-Secret-Hop: 1\r\nKeep-Alive: timeout=5\r\n\
                 TE: trailers\r\nProxy-Authorization: Basic eDp5\r\n\
                 X-Forwarded-For: 203.0.113.9\r\nX-Forwarded-Host: evil.example\r\n\
                 X-Forwarded-Proto: https\r\nForwarded: for=203.0.113.9\r\nX-Real-IP: 203.0.113.9\r\n\
                 X-Request-Id: relay-test-1\r\nX-Custom: kept\r\n";
    let head = raw_head(&r.app, "GET", "/api/upstream/orders/headers", extra)
        // raw_head's own `Connection: close` is replaced by the one above.
        .replacen("Connection: close\r\n", "", 1);
    let (status, text) = raw(&r.app, head, Vec::new()).await;
    assert_eq!(status, 200, "{text}");
    assert!(
        text.to_ascii_lowercase()
            .contains("x-request-id: relay-test-1")
    );
    let seen = r.upstream.last();
    for gone in [
        "x-secret-hop",
        "keep-alive",
        "te",
        "proxy-authorization",
        "forwarded",
        "x-real-ip",
        "cookie",
    ] {
        assert!(seen.header(gone).is_empty(), "{gone}: {seen:?}");
    }
    assert_eq!(seen.header("x-forwarded-for"), ["127.0.0.1"]);
    assert_eq!(seen.header("x-forwarded-proto"), ["http"]);
    assert_eq!(
        seen.header("x-forwarded-host"),
        [r.app.address.trim_start_matches("http://")]
    );
    // Our id for the request: the client's well-formed one is kept, as for
    // every response (src/request_context.rs).
    assert_eq!(seen.header("x-request-id"), ["relay-test-1"]);
    assert_eq!(seen.header("x-custom"), ["kept"]);
    assert_eq!(
        seen.header("host"),
        [format!("127.0.0.1:{}", r.upstream.port)]
    );
}

async fn a_relay_token_is_reused_for_half_its_life_and_replaced_at_once_on_a_role_change() {
    let r = relay().await;
    let mut tokens = std::collections::HashSet::new();
    for _ in 0..6 {
        assert_eq!(r.get("/api/upstream/orders/x").await.status(), 200);
        tokens.insert(r.upstream.last().header("authorization")[0].to_owned());
    }
    // Each worker (two here) keeps its own; within 10 s (half of the 20 s
    // RELAY_TOKEN_TTL) none is minted again.
    assert!(tokens.len() <= 2, "{} tokens for 6 calls", tokens.len());
    for token in &tokens {
        assert_eq!(verified(&r.app, token, "orders").await.role, Role::User);
    }
    crate::cli::set_role(&r.app.db_url, USER, "admin");
    let changed = Instant::now();
    loop {
        assert_eq!(r.get("/api/upstream/orders/x").await.status(), 200);
        let token = r.upstream.last().header("authorization")[0].to_owned();
        if verified(&r.app, &token, "orders").await.role == Role::Admin {
            assert!(!tokens.contains(&token), "a new token for the new role");
            break;
        }
        assert!(
            changed.elapsed() < Duration::from_secs(2),
            "the relay token kept the old role"
        );
        actix_web::rt::time::sleep(Duration::from_millis(20)).await;
    }
}

/// The upstream's 401 is about the relay token, never the browser's
/// session: passed through, it would make the SPA refresh and then show
/// the login form while the session is fine.
async fn an_upstream_401_is_a_502_so_the_browser_keeps_its_session() {
    let r = relay().await;
    let response = r.get("/api/upstream/orders/unauthorized").await;
    assert!(response.headers().get(header::WWW_AUTHENTICATE).is_none());
    assert_error(response, 502, "upstream_rejected_token").await;
    assert_eq!(r.upstream.seen().len(), 1, "the upstream was asked");
    assert_eq!(
        r.app.get("/api/auth/me").await.status(),
        200,
        "session intact"
    );
}

crate::tests![
    the_upstream_gets_a_relay_token_for_the_user_and_never_the_cookie,
    a_client_authorization_header_never_reaches_the_upstream,
    queries_bodies_and_all_six_methods_pass,
    traversal_attempts_never_reach_outside_the_base_path,
    a_5_mb_upload_and_a_5_mb_download_stream_through,
    a_declared_body_over_the_limit_gets_413_before_the_upstream_is_contacted,
    a_chunked_body_growing_over_the_limit_gets_413_and_the_upstream_never_gets_it_all,
    an_upstream_that_is_down_gets_502_upstream_unavailable,
    a_response_body_still_streaming_at_the_total_timeout_is_cut_off,
    relayed_requests_are_counted_by_configured_upstream_and_status,
    a_slow_upstream_gets_504_within_its_timeout,
    set_cookie_and_security_header_overrides_from_the_upstream_never_reach_the_client,
    cross_origin_writes_get_403_csrf_rejected_and_the_upstream_sees_nothing,
    a_user_on_an_admin_upstream_gets_403_and_the_upstream_sees_nothing,
    no_session_gets_401_and_an_unknown_upstream_404_and_the_upstream_sees_nothing,
    hop_by_hop_and_forwarding_headers_from_the_client_are_replaced,
    a_relay_token_is_reused_for_half_its_life_and_replaced_at_once_on_a_role_change,
    an_upstream_401_is_a_502_so_the_browser_keeps_its_session,
];
