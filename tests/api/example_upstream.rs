//! The example upstream (`examples/upstream.rs`), built by `cargo test` (or
//! `cargo build --examples`) and run as its own process against a gateway:
//! it accepts what the gateway's keys sign for its audience and nothing else.

use std::{
    path::PathBuf,
    process::{Command, Stdio},
    time::{Duration, Instant},
};

use bff_gateway::{
    accounts::Role,
    config::RelaySigningKey,
    relay::token::{RelayKeys, thumbprint},
    session::SessionUser,
    startup::{Application, ServerHandle},
};
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::{Response, header};
use serde_json::{Value, json};

use crate::{
    binary::RunningServer,
    helpers::{TestApp, spawn_app},
};

/// The example's binary, refused when older than its source (a filtered
/// `cargo test --test api` does not rebuild examples).
fn example_binary() -> PathBuf {
    let binary = PathBuf::from(env!("CARGO_BIN_EXE_bff-gateway"))
        .with_file_name("examples")
        .join("upstream");
    let source = concat!(env!("CARGO_MANIFEST_DIR"), "/examples/upstream.rs");
    let modified = |path: &std::path::Path| {
        std::fs::metadata(path)
            .and_then(|m| m.modified())
            .unwrap_or_else(|_| {
                panic!(
                    "{} is missing: run `cargo build --examples` (`cargo test` builds it)",
                    path.display()
                )
            })
    };
    assert!(
        modified(&binary) >= modified(source.as_ref()),
        "{} is older than its source: run `cargo build --examples`",
        binary.display()
    );
    binary
}

/// The example for `audience`, reading the JWKS of the gateway at `gateway`.
fn start_upstream(gateway: &str, audience: &str) -> RunningServer {
    let mut command = Command::new(example_binary());
    command
        .env_clear()
        .env("UPSTREAM_ADDR", "127.0.0.1:0")
        .env("UPSTREAM_AUDIENCE", audience)
        .env("GATEWAY_URL", gateway)
        .env("GATEWAY_ISSUER", "bff-gateway")
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::piped());
    RunningServer::start(command)
}

fn grace() -> SessionUser {
    SessionUser {
        id: 12,
        email: "grace@example.com".into(),
        role: Role::Admin,
    }
}

async fn call(app: &TestApp, url: &str, token: Option<&str>) -> Response {
    let request = app.client.get(url);
    let request = match token {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.expect("send")
}

async fn refused(response: Response, reason: &str) {
    assert_eq!(response.status(), 401);
    assert!(response.headers().contains_key(header::WWW_AUTHENTICATE));
    let body: Value = response.json().await.expect("json");
    assert_eq!(body["error"], "invalid_token", "{body}");
    assert_eq!(body["message"], reason, "{body}");
}

/// A token signed with `key` under its kid, with whatever claims.
fn signed(key: &RelaySigningKey, claims: &Value) -> String {
    let mut header = Header::new(Algorithm::EdDSA);
    header.kid = Some(thumbprint(key.public_key()));
    let der = key.to_pkcs8_der().expect("der");
    jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&der)).expect("signed")
}

async fn the_example_upstream_accepts_its_own_relay_tokens_and_refuses_the_rest() {
    let app = spawn_app().await;
    let upstream = start_upstream(&app.address, "orders");
    let keys = RelayKeys::new(&app.settings.relay_keys).expect("relay keys");

    let token = keys.mint(&grace(), "orders").expect("minted");
    let response = call(&app, &upstream.url("/v1/orders?status=open"), Some(&token)).await;
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.expect("json");
    assert_eq!(
        body,
        json!({
            "upstream": "orders",
            "caller": { "sub": "12", "email": "grace@example.com", "role": "admin" },
            "method": "GET",
            "path": "/v1/orders",
            "query": "status=open",
        })
    );
    let posted = app
        .client
        .delete(upstream.url("/v1/orders/3"))
        .bearer_auth(&token)
        .send()
        .await
        .expect("send");
    assert_eq!(posted.status(), 200);
    assert_eq!(
        posted.json::<Value>().await.expect("json")["method"],
        "DELETE"
    );

    let url = upstream.url("/v1/orders");
    let other = keys.mint(&grace(), "reports").expect("minted");
    refused(
        call(&app, &url, Some(&other)).await,
        "token is for another audience",
    )
    .await;
    let signing = app.settings.relay_keys.signing_key.as_ref().expect("key");
    let now = chrono::Utc::now().timestamp();
    let claims = |iat: i64, iss: &str| {
        json!({
            "iss": iss, "aud": "orders", "sub": "12", "email": "grace@example.com",
            "role": "admin", "iat": iat, "exp": iat + 30, "jti": "x",
        })
    };
    let expired = signed(signing, &claims(now - 120, "bff-gateway"));
    refused(call(&app, &url, Some(&expired)).await, "token expired").await;
    let foreign = signed(signing, &claims(now, "someone-else"));
    refused(
        call(&app, &url, Some(&foreign)).await,
        "token is from another issuer",
    )
    .await;
    let stranger = RelaySigningKey::generate().expect("rng");
    let unknown = signed(&stranger, &claims(now, "bff-gateway"));
    refused(
        call(&app, &url, Some(&unknown)).await,
        "unknown signing key",
    )
    .await;
    refused(call(&app, &url, None).await, "missing bearer token").await;
    // The gateway's own access token (HS256) is no relay token.
    app.logged_in_user("grace@example.com").await;
    let access = app.jar_value("accessToken").expect("access cookie");
    refused(call(&app, &url, Some(&access)).await, "token is not EdDSA").await;

    // Still accepting after the refusals (no unknown-kid lockout).
    let fresh = keys.mint(&grace(), "orders").expect("minted");
    assert_eq!(call(&app, &url, Some(&fresh)).await.status(), 200);
    let log = upstream.stop();
    for secret in [&token, &expired, &access] {
        assert!(!log.contains(secret.as_str()), "a token in {log}");
    }
}

/// A gateway on `port` (0: any) signing with `current` and publishing
/// `previous` too; returns its port and the handle that stops it.
async fn gateway_on(
    app: &TestApp,
    port: u16,
    current: &RelaySigningKey,
    previous: &[&RelaySigningKey],
) -> (u16, ServerHandle) {
    let mut settings = app.settings.clone();
    settings.server.port = port;
    settings.server.shutdown_timeout = Duration::from_secs(1);
    settings.relay_keys.signing_key = Some(current.clone());
    settings.relay_keys.signing_key_generated = false;
    settings.relay_keys.previous_keys = previous.iter().map(|k| k.public_key()).collect();
    let gateway = Application::build(settings).await.expect("gateway builds");
    let (port, handle) = (gateway.port(), gateway.handle());
    actix_web::rt::spawn(gateway.run_until_stopped());
    (port, handle)
}

/// The gateway rotates its key at the same address: the upstream refetches
/// the JWKS for the new kid, but not more than once per interval, and the
/// old key's tokens keep verifying.
async fn the_example_upstream_picks_up_a_rotated_key_at_most_once_per_interval() {
    let app = spawn_app().await;
    let (old, new) = (
        RelaySigningKey::generate().expect("rng"),
        RelaySigningKey::generate().expect("rng"),
    );
    let (port, first) = gateway_on(&app, 0, &old, &[]).await;
    let upstream = start_upstream(&format!("http://127.0.0.1:{port}"), "orders");
    let url = upstream.url("/v1/orders");
    let mint = |key: &RelaySigningKey| {
        let mut settings = app.settings.relay_keys.clone();
        settings.signing_key = Some(key.clone());
        RelayKeys::new(&settings)
            .expect("keys")
            .mint(&grace(), "orders")
            .expect("minted")
    };
    let old_token = mint(&old);
    let fetched = Instant::now();
    assert_eq!(call(&app, &url, Some(&old_token)).await.status(), 200);

    first.stop(true).await;
    let (_, second) = gateway_on(&app, port, &new, &[&old]).await;
    let new_token = mint(&new);
    // Within the refetch interval the new kid is not fetched yet.
    refused(
        call(&app, &url, Some(&new_token)).await,
        "unknown signing key",
    )
    .await;
    assert!(
        fetched.elapsed() < Duration::from_secs(5),
        "too slow to tell"
    );
    // The upstream's fetch started just after `fetched`: a margin past it.
    let interval = Duration::from_millis(5_300);
    tokio::time::sleep(interval.saturating_sub(fetched.elapsed())).await;
    let status = call(&app, &url, Some(&new_token)).await.status();
    assert_eq!(status, 200, "{}", upstream.stop());
    assert_eq!(call(&app, &url, Some(&old_token)).await.status(), 200);
    second.stop(true).await;
    drop(upstream);
}

crate::tests![
    ;
    sqlite_only: the_example_upstream_accepts_its_own_relay_tokens_and_refuses_the_rest,
    the_example_upstream_picks_up_a_rotated_key_at_most_once_per_interval,
];
