//! What every worker shares, grouped by service. Built once by
//! `startup::build_state`; read-only (the throttle's counters are in the
//! database).

use crate::{
    accounts::Accounts, client_ip::TrustedProxies, db::DbPool, origins::TrustedOrigins,
    relay::token::RelayKeys, session::Sessions, throttle::Throttle,
};

pub struct AppState {
    /// For the routes' own queries (people, readiness).
    pub db: DbPool,
    pub sessions: Sessions,
    pub accounts: Accounts,
    pub throttle: Throttle,
    /// Origins that may write with the session cookies (the CSRF gate).
    pub origins: TrustedOrigins,
    /// Peers whose `X-Forwarded-For` is believed.
    pub proxies: TrustedProxies,
    /// Signs relay tokens and publishes their JWKS.
    pub relay_keys: RelayKeys,
}
