use std::net::SocketAddr;

use super::{ConfigError, ServerSettings, vars::Vars};

/// `METRICS_ADDR`: where Prometheus scrapes `/metrics`; unset = no metrics.
#[derive(Debug, Clone)]
pub struct MetricsSettings {
    pub addr: Option<SocketAddr>,
}

impl MetricsSettings {
    /// Never the public listener: metrics are for the operator's network.
    pub(super) fn from_vars(vars: &Vars, server: &ServerSettings) -> Result<Self, ConfigError> {
        let Some(value) = vars.get("METRICS_ADDR") else {
            return Ok(MetricsSettings { addr: None });
        };
        let addr: SocketAddr = value.trim().parse().map_err(|_| {
            ConfigError::invalid("METRICS_ADDR", "expected ip:port, e.g. 127.0.0.1:9100")
        })?;
        let public = SocketAddr::new(server.host, server.port);
        let clashes = addr.port() != 0
            && addr.port() == server.port
            && (addr.ip() == server.host
                || addr.ip().is_unspecified()
                || server.host.is_unspecified());
        if clashes {
            return Err(ConfigError::invalid(
                "METRICS_ADDR",
                format!("must not be the public listener {public}"),
            ));
        }
        Ok(MetricsSettings { addr: Some(addr) })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(pairs: &[(&str, &str)]) -> Result<MetricsSettings, ConfigError> {
        load_with(pairs, |vars| {
            let server = ServerSettings::from_vars(vars)?;
            MetricsSettings::from_vars(vars, &server)
        })
    }

    #[test]
    fn metrics_are_off_by_default() {
        assert!(load(&[]).expect("valid").addr.is_none());
        assert!(
            load(&[("METRICS_ADDR", " ")])
                .expect("valid")
                .addr
                .is_none()
        );
    }

    #[test]
    fn an_address_turns_them_on() {
        let s = load(&[("METRICS_ADDR", "127.0.0.1:9100")]).expect("valid");
        assert_eq!(s.addr, Some(SocketAddr::from(([127, 0, 0, 1], 9100))));
    }

    #[test]
    fn the_public_listener_and_malformed_addresses_are_refused() {
        for pairs in [
            &[("METRICS_ADDR", "127.0.0.1:8080")][..],
            &[("METRICS_ADDR", "0.0.0.0:8080")],
            &[("APP_HOST", "0.0.0.0"), ("METRICS_ADDR", "127.0.0.1:8080")],
            &[("METRICS_ADDR", "9100")],
            &[("METRICS_ADDR", "localhost:9100")],
        ] {
            assert!(
                error_text(load(pairs)).contains("METRICS_ADDR"),
                "{pairs:?}"
            );
        }
        // Another port on the same host is fine.
        assert!(load(&[("METRICS_ADDR", "127.0.0.1:9100")]).is_ok());
    }
}
