//! Token relay: the gateway fronts the team's own APIs. The browser holds
//! only the session cookie; each relayed request carries a short-lived,
//! audience-bound Bearer token that the API verifies through
//! `GET /.well-known/jwks.json`.
//!
//! - token.rs: the relay signing keys, minting, and the JWKS they publish.
//! - token_cache.rs: minted tokens reused for half their lifetime (pure).
//! - path.rs: where a request goes below the upstream's base URL (pure).
//! - headers.rs: which headers cross, each way (pure).
//! - client.rs: the per-worker HTTP clients and their TLS settings.
//!
//! The handler that uses them is src/routes/upstream.rs; nothing here
//! knows the application state.

pub mod client;
pub mod headers;
pub mod path;
pub mod token;
pub mod token_cache;
