use std::{net::IpAddr, time::Duration};

use super::{ConfigError, cpu_count, vars::Vars};
use crate::client_ip::TrustedProxies;

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    pub workers: usize,
    pub json_limit: usize,
    /// Peers whose `X-Forwarded-For` is believed (see src/client_ip.rs).
    pub trusted_proxies: TrustedProxies,
    /// How long SIGTERM / SIGINT let in-flight requests finish.
    pub shutdown_timeout: Duration,
}

impl ServerSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(ServerSettings {
            host: vars.parse("APP_HOST", IpAddr::from([127, 0, 0, 1]))?,
            port: vars.parse("APP_PORT", 8080u16)?,
            workers: vars.bounded("APP_WORKERS", cpu_count(), 1, 256)?,
            json_limit: vars.bounded("JSON_BODY_LIMIT", 16 * 1024, 256, 1024 * 1024)?,
            trusted_proxies: TrustedProxies::parse(
                &vars.get("TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|reason| ConfigError::invalid("TRUSTED_PROXIES", reason))?,
            shutdown_timeout: vars.duration_between(
                "SHUTDOWN_TIMEOUT",
                Duration::from_secs(10),
                Duration::ZERO,
                Duration::from_secs(600),
            )?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::load_with;

    fn load(pairs: &[(&str, &str)]) -> Result<ServerSettings, ConfigError> {
        load_with(pairs, ServerSettings::from_vars)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[]).expect("valid");
        assert_eq!(s.host, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(s.port, 8080);
        assert_eq!(s.workers, cpu_count().clamp(1, 256));
        assert_eq!(s.json_limit, 16 * 1024);
        assert!(s.trusted_proxies.is_empty());
        assert_eq!(s.shutdown_timeout, Duration::from_secs(10));
    }

    #[test]
    fn trusted_proxies_are_read() {
        let s = load(&[("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8")]).expect("valid");
        assert!(s.trusted_proxies.contains(IpAddr::from([10, 1, 2, 3])));
        assert!(!s.trusted_proxies.contains(IpAddr::from([11, 1, 2, 3])));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, var) in [
            (("APP_PORT", "70000"), "APP_PORT"),
            (("APP_HOST", "localhost"), "APP_HOST"),
            (("APP_WORKERS", "0"), "APP_WORKERS"),
            (("JSON_BODY_LIMIT", "100"), "JSON_BODY_LIMIT"),
            (("TRUSTED_PROXIES", "10.0.0.1/8"), "TRUSTED_PROXIES"),
            (("TRUSTED_PROXIES", "0.0.0.0/0"), "TRUSTED_PROXIES"),
            (("SHUTDOWN_TIMEOUT", "11m"), "SHUTDOWN_TIMEOUT"),
        ] {
            let text = load(&[pair])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
    }
}
