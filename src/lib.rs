//! Cookie-session backend-for-frontend gateway. Dependencies point one way:
//! `main → startup → routes → auth → state → {relay, session, accounts,
//! throttle, origins, client_ip} → db / config / errors`; see README's Architecture.

pub mod accounts;
pub mod auth;
pub mod blocking;
pub mod body_deadline;
pub mod bounded;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod dev_secret;
pub mod errors;
pub mod metrics;
pub mod middleware;
pub mod origins;
pub mod random;
pub mod relay;
pub mod request_context;
pub mod role;
pub mod routes;
pub mod session;
pub mod startup;
pub mod state;
pub mod telemetry;
pub mod throttle;
pub mod validation;
