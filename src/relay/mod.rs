//! Token relay: the gateway fronts the team's own APIs. The browser holds
//! only the session cookie; each relayed request carries a short-lived,
//! audience-bound Bearer token that the API verifies through
//! `GET /.well-known/jwks.json`.
//!
//! - token.rs: the relay signing keys, minting, and the JWKS they publish.
//! - path.rs: where a request goes below the upstream's base URL (pure).
//! - headers.rs: which headers cross, each way (pure).
//! - proxy.rs: the handler: checks, streaming both ways, limits, timeouts.
//! - client.rs: the per-worker HTTP clients and their TLS settings.

pub mod client;
pub mod headers;
pub mod path;
pub mod proxy;
pub mod token;
