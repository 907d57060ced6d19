//! `GET /.well-known/jwks.json`: the relay tokens' public keys, as an
//! upstream API fetches them, across restarts and a key rotation.

use bff_gateway::{
    accounts::Role,
    config::{RelayKeySettings, RelaySigningKey},
    relay::token::{RelayClaims, RelayKeys, thumbprint},
    session::SessionUser,
};
use jsonwebtoken::{Algorithm, DecodingKey, Validation, jwk::JwkSet};
use reqwest::header;
use serde_json::Value;

use crate::{
    binary::{RunningServer, gateway},
    helpers::{TestApp, assert_error, assert_security_headers, spawn_app, spawn_app_with},
    startup::ScratchDir,
};

const JWKS: &str = "/.well-known/jwks.json";

/// The JWKS a gateway at `base` serves, checked for the headers every
/// upstream relies on.
async fn fetch_jwks(app: &TestApp, base: &str) -> JwkSet {
    let response = app
        .client
        .get(format!("{base}{JWKS}"))
        .send()
        .await
        .expect("send");
    assert_eq!(response.status(), 200);
    let get = |name| {
        response
            .headers()
            .get(name)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned)
    };
    assert_eq!(
        get(header::CONTENT_TYPE).as_deref(),
        Some("application/json")
    );
    assert_eq!(
        get(header::CACHE_CONTROL).as_deref(),
        Some("public, max-age=300")
    );
    response.json().await.expect("a JWK Set")
}

fn kids(set: &JwkSet) -> Vec<String> {
    set.keys
        .iter()
        .map(|k| k.common.key_id.clone().expect("every key has a kid"))
        .collect()
}

fn kid_of(key: &RelaySigningKey) -> String {
    thumbprint(key.public_key())
}

fn ada() -> SessionUser {
    SessionUser {
        id: 7,
        email: "ada@example.com".into(),
        role: Role::User,
    }
}

fn mint(settings: &RelayKeySettings, audience: &str) -> String {
    RelayKeys::new(settings)
        .expect("relay keys")
        .mint(&ada(), audience)
        .expect("minted")
}

/// Verifies `token` as an upstream does: the key named by its kid in `set`,
/// EdDSA only, issuer and audience checked.
fn verify(set: &JwkSet, token: &str, audience: &str) -> Result<RelayClaims, String> {
    let kid = jsonwebtoken::decode_header(token)
        .expect("a JWT")
        .kid
        .ok_or("no kid")?;
    let jwk = set.find(&kid).ok_or("unknown kid")?;
    let key = DecodingKey::from_jwk(jwk).map_err(|e| e.to_string())?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[audience]);
    validation.set_issuer(&["bff-gateway"]);
    validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
    jsonwebtoken::decode::<RelayClaims>(token, &key, &validation)
        .map(|data| data.claims)
        .map_err(|e| e.to_string())
}

/// A key written to a PEM file in `dir`.
fn key_file(dir: &ScratchDir, name: &str, key: &RelaySigningKey) -> String {
    let path = dir.path().join(name);
    std::fs::write(&path, key.to_pkcs8_pem().expect("pem")).expect("write key");
    path.display().to_string()
}

async fn the_jwks_is_served_cacheable_with_the_current_ed25519_key_and_get_only() {
    let app = spawn_app().await;
    let response = app.get(JWKS).await;
    assert_security_headers(&response);
    let doc: Value = response.json().await.expect("json");
    let keys = doc["keys"].as_array().expect("keys");
    assert_eq!(keys.len(), 1, "{doc}");
    let key = keys[0].as_object().expect("a JWK");
    assert_eq!(key["kty"], "OKP");
    assert_eq!(key["crv"], "Ed25519");
    assert_eq!(key["alg"], "EdDSA");
    assert_eq!(key["use"], "sig");
    assert!(!key.contains_key("d"), "no private part: {doc}");
    let signing = app
        .settings
        .relay_keys
        .signing_key
        .as_ref()
        .expect("test key");
    assert_eq!(key["kid"], kid_of(signing));
    fetch_jwks(&app, &app.address).await;

    let post = app.client.post(app.url(JWKS)).send().await.expect("send");
    assert_eq!(
        post.headers()
            .get(header::ALLOW)
            .and_then(|v| v.to_str().ok()),
        Some("GET")
    );
    assert_error(post, 405, "method_not_allowed").await;
}

async fn a_token_minted_with_the_apps_settings_verifies_through_the_served_jwks() {
    let app = spawn_app().await;
    let set = fetch_jwks(&app, &app.address).await;
    let token = mint(&app.settings.relay_keys, "orders");
    let claims = verify(&set, &token, "orders").expect("verifies");
    assert_eq!(
        (claims.sub.as_str(), claims.email.as_str(), claims.role),
        ("7", "ada@example.com", Role::User)
    );
    assert!(claims.exp - claims.iat <= 60);
    let err = verify(&set, &token, "reports").expect_err("another audience");
    assert!(err.contains("InvalidAudience"), "{err}");
    // The access-token secret cannot verify it: a different algorithm and key.
    let hs = DecodingKey::from_secret(app.settings.session.access_token_secret.expose());
    let mut validation = Validation::new(Algorithm::HS256);
    validation.set_audience(&["orders"]);
    assert!(jsonwebtoken::decode::<RelayClaims>(&token, &hs, &validation).is_err());
}

async fn a_configured_key_file_gives_the_same_kid_across_restarts() {
    let dir = ScratchDir::new();
    let key = RelaySigningKey::generate().expect("rng");
    let file = key_file(&dir, "relay.pem", &key);
    let app = spawn_app_with(&[("RELAY_SIGNING_KEY_FILE", &file)]).await;
    assert!(app.settings.relay_keys.configured());
    let first = kids(&fetch_jwks(&app, &app.address).await);
    assert_eq!(first, vec![kid_of(&key)]);
    let token = mint(&app.settings.relay_keys, "orders");

    let restarted = app.restart_with(&[("RELAY_SIGNING_KEY_FILE", &file)]).await;
    let set = fetch_jwks(&app, &restarted).await;
    assert_eq!(kids(&set), first, "the same kid after a restart");
    assert!(verify(&set, &token, "orders").is_ok());
    // Without the file, the test environment generates a key per start.
    let generated = app.restart_with(&[]).await;
    assert_ne!(kids(&fetch_jwks(&app, &generated).await), first);
}

async fn a_previous_key_is_published_after_the_current_one_and_its_tokens_still_verify() {
    let dir = ScratchDir::new();
    let (old, new) = (
        RelaySigningKey::generate().expect("rng"),
        RelaySigningKey::generate().expect("rng"),
    );
    let old_file = key_file(&dir, "old.pem", &old);
    let new_file = key_file(&dir, "new.pem", &new);
    let app = spawn_app_with(&[("RELAY_SIGNING_KEY_FILE", &old_file)]).await;
    let old_token = mint(&app.settings.relay_keys, "orders");

    let rotated = app
        .restart_with(&[
            ("RELAY_SIGNING_KEY_FILE", &new_file),
            ("RELAY_PREVIOUS_KEYS_FILE", &old_file),
        ])
        .await;
    let set = fetch_jwks(&app, &rotated).await;
    assert_eq!(kids(&set), vec![kid_of(&new), kid_of(&old)]);
    assert_eq!(
        verify(&set, &old_token, "orders").expect("verifies").sub,
        "7"
    );

    let dropped = app
        .restart_with(&[("RELAY_SIGNING_KEY_FILE", &new_file)])
        .await;
    let set = fetch_jwks(&app, &dropped).await;
    assert_eq!(kids(&set), vec![kid_of(&new)]);
    assert_eq!(
        verify(&set, &old_token, "orders"),
        Err("unknown kid".to_owned())
    );
}

async fn production_without_a_signing_key_publishes_only_the_previous_keys() {
    let dir = ScratchDir::new();
    let old = RelaySigningKey::generate().expect("rng");
    let old_file = key_file(&dir, "old.pem", &old);
    let app = spawn_app_with(&[
        ("APP_ENV", "production"),
        (
            "ACCESS_TOKEN_SECRET",
            "a-production-secret-of-32-bytes-or-more",
        ),
        ("PASSWORD_PEPPER", "a-production-pepper-of-32-bytes-or-more"),
        ("RELAY_PREVIOUS_KEYS_FILE", &old_file),
        // Production's floor; no password is hashed here.
        ("BCRYPT_COST", "10"),
    ])
    .await;
    assert!(!app.settings.relay_keys.configured());
    let set = fetch_jwks(&app, &app.address).await;
    assert_eq!(kids(&set), vec![kid_of(&old)]);
    let keys = RelayKeys::new(&app.settings.relay_keys).expect("keys");
    assert!(!keys.can_mint());
    assert!(keys.mint(&ada(), "orders").is_err());
}

/// The real binary in development with no variables, started twice in one
/// directory: the generated key is persisted owner-only beside the database
/// and reused.
async fn a_development_restart_keeps_the_generated_relay_key() {
    let dir = ScratchDir::new();
    let start = || {
        let mut command = gateway(dir.path());
        command.env("APP_PORT", "0");
        RunningServer::start(command)
    };
    let client = reqwest::Client::new();
    let served_kids = |server: &RunningServer| {
        let request = client.get(server.url(JWKS)).send();
        async move {
            let set: JwkSet = request
                .await
                .expect("send")
                .json()
                .await
                .expect("a JWK Set");
            kids(&set)
        }
    };
    let file = dir.path().join("data/relay-signing-key.dev.pem");

    let first = start();
    let first_kids = served_kids(&first).await;
    let log = first.stop();
    assert!(
        log.contains("RELAY_SIGNING_KEY_FILE is not set")
            && log.contains("data/relay-signing-key.dev.pem"),
        "{log}"
    );
    {
        use std::os::unix::fs::PermissionsExt;
        let mode = std::fs::metadata(&file)
            .expect("key file")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600, "{mode:o}");
    }
    let pem = std::fs::read_to_string(&file).expect("key file");
    let key = RelaySigningKey::from_pem(&pem).expect("a PKCS#8 key");
    assert_eq!(first_kids, vec![kid_of(&key)]);

    let second = start();
    assert_eq!(
        served_kids(&second).await,
        first_kids,
        "kept across restarts"
    );
    let log = second.stop();
    assert!(!log.contains(pem.lines().nth(1).expect("body")), "{log}");
}

crate::tests![
    the_jwks_is_served_cacheable_with_the_current_ed25519_key_and_get_only,
    a_token_minted_with_the_apps_settings_verifies_through_the_served_jwks,
    a_configured_key_file_gives_the_same_kid_across_restarts,
    a_previous_key_is_published_after_the_current_one_and_its_tokens_still_verify,
    production_without_a_signing_key_publishes_only_the_previous_keys;
    sqlite_only: a_development_restart_keeps_the_generated_relay_key,
];
