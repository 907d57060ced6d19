//! `GET /.well-known/jwks.json`: the public relay keys, for the upstream
//! APIs that verify relay tokens (src/relay/token.rs). Outside `/api`, so it
//! may be cached: an upstream refetches on an unknown `kid` anyway.

use actix_web::{HttpResponse, http::header, web};

use crate::state::AppState;

/// How long an upstream may cache the JWKS. A retired key stays listed at
/// least this long plus `RELAY_TOKEN_TTL` (README: Rotating the relay key).
pub const JWKS_MAX_AGE_SECS: u64 = 300;

/// The relay signing keys as a JWK Set (RFC 7517): the current key first,
/// then retired ones still in their grace period.
#[utoipa::path(
    get, path = "/.well-known/jwks.json", tag = "relay",
    responses((status = 200, description = "The relay tokens' public keys (Ed25519, `kid` = RFC 7638 thumbprint)", body = Object, content_type = "application/json"))
)]
pub async fn jwks(state: web::Data<AppState>) -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={JWKS_MAX_AGE_SECS}"),
        ))
        .body(state.relay_keys.jwks_json().to_owned())
}
