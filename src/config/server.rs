use std::{net::IpAddr, time::Duration};

use super::{ConfigError, cpu_count, vars::Vars};
use crate::client_ip::TrustedProxies;

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    pub workers: usize,
    pub json_limit: usize,
    /// Connection limits and deadlines, so that none is an actix default.
    pub http: HttpLimits,
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
            http: HttpLimits::from_vars(vars)?,
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

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpLimits {
    /// How long an idle keep-alive connection stays open; zero disables
    /// keep-alive.
    pub keep_alive: Duration,
    /// From accepting a connection to having the first request's head
    /// (actix answers a slow head with 408).
    pub head_timeout: Duration,
    /// From the head to the whole body (src/body_deadline.rs: 408, then
    /// the connection closes).
    pub body_timeout: Duration,
    /// How long a closing connection may take to shut down.
    pub disconnect_timeout: Duration,
    /// Open connections per worker; more wait in the accept queue.
    pub max_connections_per_worker: usize,
}

impl HttpLimits {
    fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let secs = Duration::from_secs;
        Ok(HttpLimits {
            keep_alive: vars.duration_between("HTTP_KEEP_ALIVE", secs(5), secs(0), secs(300))?,
            head_timeout: vars.duration_between("HTTP_HEAD_TIMEOUT", secs(5), secs(1), secs(60))?,
            body_timeout: vars.duration_between(
                "HTTP_BODY_TIMEOUT",
                secs(5),
                secs(1),
                secs(300),
            )?,
            disconnect_timeout: vars.duration_between(
                "HTTP_DISCONNECT_TIMEOUT",
                secs(1),
                secs(0),
                secs(60),
            )?,
            max_connections_per_worker: vars.bounded(
                "HTTP_MAX_CONNECTIONS_PER_WORKER",
                1024,
                1,
                100_000,
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
        let secs = Duration::from_secs;
        assert_eq!(
            s.http,
            HttpLimits {
                keep_alive: secs(5),
                head_timeout: secs(5),
                body_timeout: secs(5),
                disconnect_timeout: secs(1),
                max_connections_per_worker: 1024,
            }
        );
    }

    #[test]
    fn http_limits_are_read() {
        let s = load(&[
            ("HTTP_KEEP_ALIVE", "0"),
            ("HTTP_HEAD_TIMEOUT", "2s"),
            ("HTTP_BODY_TIMEOUT", "1m"),
            ("HTTP_DISCONNECT_TIMEOUT", "0"),
            ("HTTP_MAX_CONNECTIONS_PER_WORKER", "64"),
        ])
        .expect("valid");
        assert_eq!(s.http.keep_alive, Duration::ZERO);
        assert_eq!(s.http.head_timeout, Duration::from_secs(2));
        assert_eq!(s.http.body_timeout, Duration::from_secs(60));
        assert_eq!(s.http.disconnect_timeout, Duration::ZERO);
        assert_eq!(s.http.max_connections_per_worker, 64);
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
            (("HTTP_KEEP_ALIVE", "10m"), "HTTP_KEEP_ALIVE"),
            (("HTTP_HEAD_TIMEOUT", "0"), "HTTP_HEAD_TIMEOUT"),
            (("HTTP_BODY_TIMEOUT", "0"), "HTTP_BODY_TIMEOUT"),
            (("HTTP_DISCONNECT_TIMEOUT", "2m"), "HTTP_DISCONNECT_TIMEOUT"),
            (
                ("HTTP_MAX_CONNECTIONS_PER_WORKER", "0"),
                "HTTP_MAX_CONNECTIONS_PER_WORKER",
            ),
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
