//! Token relay: the gateway fronts the team's own APIs. The browser holds
//! only the session cookie; each relayed request carries a short-lived,
//! audience-bound Bearer token that the API verifies through
//! `GET /.well-known/jwks.json`.
//!
//! - token.rs: the relay signing keys, minting, and the JWKS they publish.

pub mod token;
