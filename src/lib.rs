//! Cookie-session backend-for-frontend gateway.

pub mod auth;
pub mod blocking;
pub mod cli;
pub mod client_ip;
pub mod config;
pub mod db;
pub mod dev_secret;
pub mod errors;
pub mod random;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod throttle;
pub mod validation;
