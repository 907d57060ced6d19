//! A tiny API behind the gateway's relay: `cargo run --example upstream`.
//!
//! It trusts nothing but the relay token: `Authorization: Bearer <JWT>`,
//! verified with the gateway's public keys from `/.well-known/jwks.json`
//! (EdDSA only; issuer, audience and expiry checked). Every path and method
//! answers 200 JSON saying who called, or 401 JSON.
//!
//! Environment:
//! - `UPSTREAM_ADDR` (default `127.0.0.1:7001`; port 0 picks one)
//! - `UPSTREAM_AUDIENCE` (default `orders`): the `aud` it accepts
//! - `GATEWAY_URL` (default `http://127.0.0.1:8080`): where the JWKS is
//! - `GATEWAY_ISSUER` (default `bff-gateway`): the `iss` it accepts
//!
//! Keys are cached by `kid`. A token with an unknown `kid` (the gateway
//! rotated its key) triggers one refetch, at most every few seconds, so a
//! flood of forged kids cannot hammer the gateway. Tokens are never logged.

use std::{
    collections::HashMap,
    sync::RwLock,
    time::{Duration, Instant},
};

use actix_web::{
    App, HttpRequest, HttpResponse, HttpServer,
    http::header::{self, HeaderValue},
    web,
};
use jsonwebtoken::{
    Algorithm, DecodingKey, Validation,
    errors::ErrorKind,
    jwk::{AlgorithmParameters, EllipticCurve, JwkSet, KeyAlgorithm},
};
use serde::Deserialize;
use serde_json::json;

/// No more than one refetch per this, whatever the tokens say.
const MIN_REFETCH_INTERVAL: Duration = Duration::from_secs(5);
/// The gateway's `Cache-Control: max-age`: keys older than this are
/// refetched, so a key the gateway dropped stops verifying.
const MAX_AGE: Duration = Duration::from_secs(300);
const JWKS_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const JWKS_TIMEOUT: Duration = Duration::from_secs(5);
const JWKS_MAX_BYTES: usize = 64 * 1024;
/// Tolerated clock difference with the gateway.
const LEEWAY_SECS: u64 = 5;

struct Config {
    addr: String,
    audience: String,
    issuer: String,
    jwks_url: String,
}

impl Config {
    fn from_env() -> Config {
        let var = |name: &str, default: &str| {
            std::env::var(name)
                .ok()
                .filter(|v| !v.trim().is_empty())
                .unwrap_or_else(|| default.to_owned())
        };
        let gateway = var("GATEWAY_URL", "http://127.0.0.1:8080");
        Config {
            addr: var("UPSTREAM_ADDR", "127.0.0.1:7001"),
            audience: var("UPSTREAM_AUDIENCE", "orders"),
            issuer: var("GATEWAY_ISSUER", "bff-gateway"),
            jwks_url: format!("{}/.well-known/jwks.json", gateway.trim_end_matches('/')),
        }
    }
}

/// The claims this API uses; the gateway sends `iat` and `jti` too.
#[derive(Deserialize)]
struct Claims {
    sub: String,
    email: String,
    role: String,
}

struct Keys {
    by_kid: HashMap<String, DecodingKey>,
    fetched: Option<Instant>,
}

/// The gateway's public keys, cached by kid.
struct Jwks {
    client: reqwest::Client,
    url: String,
    keys: RwLock<Keys>,
    /// Held while fetching, so concurrent misses cause one fetch; holds
    /// when the last attempt started.
    fetching: tokio::sync::Mutex<Option<Instant>>,
}

impl Jwks {
    fn new(url: String) -> reqwest::Result<Jwks> {
        Ok(Jwks {
            client: reqwest::Client::builder()
                .connect_timeout(JWKS_CONNECT_TIMEOUT)
                .timeout(JWKS_TIMEOUT)
                // Fetches are minutes apart: a pooled connection would
                // only be one the gateway has closed meanwhile.
                .pool_max_idle_per_host(0)
                .build()?,
            url,
            keys: RwLock::new(Keys {
                by_kid: HashMap::new(),
                fetched: None,
            }),
            fetching: tokio::sync::Mutex::new(None),
        })
    }

    /// The key named `kid`: from the cache while it is fresh, else after a
    /// refetch (unless one was attempted moments ago).
    async fn key(&self, kid: &str) -> Option<DecodingKey> {
        if let (Some(key), true) = self.cached(kid) {
            return Some(key);
        }
        let mut last_attempt = self.fetching.lock().await;
        // Another request may have refetched while this one waited.
        let (key, fresh) = self.cached(kid);
        if key.is_some() && fresh {
            return key;
        }
        if last_attempt.is_some_and(|at| at.elapsed() < MIN_REFETCH_INTERVAL) {
            return key;
        }
        *last_attempt = Some(Instant::now());
        match self.fetch().await {
            Ok(by_kid) => {
                let mut keys = self.keys.write().unwrap_or_else(|e| e.into_inner());
                *keys = Keys {
                    by_kid,
                    fetched: Some(Instant::now()),
                };
            }
            // Stale keys are kept: the gateway being away for a moment
            // should not fail tokens signed by keys already known.
            Err(e) => eprintln!("upstream: cannot fetch {}: {e}", self.url),
        }
        self.cached(kid).0
    }

    /// (the key, whether the cache is fresh).
    fn cached(&self, kid: &str) -> (Option<DecodingKey>, bool) {
        let keys = self.keys.read().unwrap_or_else(|e| e.into_inner());
        let fresh = keys.fetched.is_some_and(|at| at.elapsed() < MAX_AGE);
        (keys.by_kid.get(kid).cloned(), fresh)
    }

    /// The Ed25519 keys of the JWKS, by kid; the body is read up to a bound.
    async fn fetch(&self) -> Result<HashMap<String, DecodingKey>, String> {
        let mut response = self
            .client
            .get(&self.url)
            .send()
            .await
            .map_err(|e| e.to_string())?;
        if !response.status().is_success() {
            return Err(format!("status {}", response.status()));
        }
        let mut body = Vec::new();
        while let Some(chunk) = response.chunk().await.map_err(|e| e.to_string())? {
            body.extend_from_slice(&chunk);
            if body.len() > JWKS_MAX_BYTES {
                return Err(format!("the JWKS is over {JWKS_MAX_BYTES} bytes"));
            }
        }
        let set: JwkSet = serde_json::from_slice(&body).map_err(|e| e.to_string())?;
        Ok(set
            .keys
            .iter()
            .filter(|jwk| {
                matches!(&jwk.algorithm, AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519)
                    && matches!(jwk.common.key_algorithm, None | Some(KeyAlgorithm::EdDSA))
            })
            .filter_map(|jwk| {
                let kid = jwk.common.key_id.clone()?;
                Some((kid, DecodingKey::from_jwk(jwk).ok()?))
            })
            .collect())
    }
}

struct Verifier {
    jwks: Jwks,
    validation: Validation,
}

impl Verifier {
    fn new(config: &Config) -> reqwest::Result<Verifier> {
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.algorithms = vec![Algorithm::EdDSA];
        validation.set_audience(&[&config.audience]);
        validation.set_issuer(&[&config.issuer]);
        validation.set_required_spec_claims(&["exp", "iss", "aud", "sub"]);
        validation.leeway = LEEWAY_SECS;
        Ok(Verifier {
            jwks: Jwks::new(config.jwks_url.clone())?,
            validation,
        })
    }

    /// The caller, or why the token is refused (a reason, never the token).
    async fn verify(&self, request: &HttpRequest) -> Result<Claims, &'static str> {
        let token = request
            .headers()
            .get(header::AUTHORIZATION)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.split_once(' '))
            .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
            .map(|(_, token)| token.trim())
            .ok_or("missing bearer token")?;
        let header = jsonwebtoken::decode_header(token).map_err(|_| "malformed token")?;
        // Checked before any key is looked up: no HS256 or `none` tricks.
        if header.alg != Algorithm::EdDSA {
            return Err("token is not EdDSA");
        }
        let kid = header.kid.ok_or("token has no kid")?;
        let key = self.jwks.key(&kid).await.ok_or("unknown signing key")?;
        jsonwebtoken::decode::<Claims>(token, &key, &self.validation)
            .map(|data| data.claims)
            .map_err(|e| match e.kind() {
                ErrorKind::ExpiredSignature => "token expired",
                ErrorKind::InvalidAudience => "token is for another audience",
                ErrorKind::InvalidIssuer => "token is from another issuer",
                _ => "invalid token",
            })
    }
}

struct State {
    audience: String,
    verifier: Verifier,
}

async fn answer(request: HttpRequest, state: web::Data<State>) -> HttpResponse {
    match state.verifier.verify(&request).await {
        Ok(caller) => HttpResponse::Ok().json(json!({
            "upstream": state.audience,
            "caller": { "sub": caller.sub, "email": caller.email, "role": caller.role },
            "method": request.method().as_str(),
            "path": request.path(),
            "query": request.query_string(),
        })),
        Err(reason) => {
            eprintln!(
                "upstream: 401 {} {}: {reason}",
                request.method(),
                request.path()
            );
            let challenge = if reason == "missing bearer token" {
                "Bearer"
            } else {
                "Bearer error=\"invalid_token\""
            };
            HttpResponse::Unauthorized()
                .insert_header((
                    header::WWW_AUTHENTICATE,
                    HeaderValue::from_static(challenge),
                ))
                .json(json!({ "error": "invalid_token", "message": reason }))
        }
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let config = Config::from_env();
    let state = web::Data::new(State {
        audience: config.audience.clone(),
        verifier: Verifier::new(&config).map_err(std::io::Error::other)?,
    });
    let server = HttpServer::new(move || {
        App::new()
            .app_data(state.clone())
            .default_service(web::to(answer))
    })
    .bind(&config.addr)?;
    for addr in server.addrs() {
        eprintln!(
            "listening on http://{addr} (audience {}, keys from {})",
            config.audience, config.jwks_url
        );
    }
    server.shutdown_timeout(5).run().await
}
