//! Typed settings, read once at start-up. Every variable is validated and a
//! bad or missing one stops start-up with a message naming it. Each area
//! loads its own variables; this module only composes them. Reading config
//! never writes files (the development secret file is src/dev_secret.rs).

mod cookies;
mod cors;
mod database;
mod environment;
mod logging;
mod metrics;
mod passwords;
mod relay_keys;
mod relay_tls;
mod secret;
mod server;
mod session;
mod session_cache;
mod static_files;
mod throttle;
mod upstreams;
mod vars;

pub use cookies::CookieSettings;
pub use cors::CorsSettings;
pub use database::{
    DEFAULT_SQLITE_PATH, DatabaseSettings, DatabaseTarget, DatabaseTimeouts, DatabaseUrl,
};
pub use environment::Environment;
pub use logging::{LogFormat, LoggingSettings};
pub use metrics::MetricsSettings;
pub use passwords::{DEV_PASSWORD_PEPPER, PasswordSettings};
pub use relay_keys::{RelayKeySettings, RelayPublicKey, RelaySigningKey};
pub use relay_tls::RelayTlsSettings;
pub use secret::Secret;
pub use server::ServerSettings;
pub use session::SessionSettings;
pub use session_cache::SessionCacheSettings;
pub use static_files::StaticSettings;
pub use throttle::{RateLimit, ThrottleSettings};
pub use upstreams::{Upstream, Upstreams};
pub use vars::parse_duration;

use vars::Vars;

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {var} is required{hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error("configuration: {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("configuration: could not read {file}")]
    File {
        file: String,
        #[source]
        source: dotenvy::Error,
    },
    #[error("configuration: {var} is invalid: cannot generate a random secret")]
    Random {
        var: &'static str,
        #[source]
        source: getrandom::Error,
    },
}

impl ConfigError {
    fn invalid(var: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            var,
            reason: reason.into(),
        }
    }
}

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub session: SessionSettings,
    pub session_cache: SessionCacheSettings,
    pub passwords: PasswordSettings,
    pub cookies: CookieSettings,
    pub cors: CorsSettings,
    pub throttle: ThrottleSettings,
    pub static_files: StaticSettings,
    pub logging: LoggingSettings,
    pub metrics: MetricsSettings,
    /// The APIs relayed to under `/api/upstream/` (src/relay/).
    pub upstreams: Upstreams,
    pub relay_tls: RelayTlsSettings,
    pub relay_keys: RelayKeySettings,
}

/// Loads `.env` and then `config/<APP_ENV>.env` into the process environment.
/// dotenvy never overrides, so real environment variables win over `.env`,
/// which wins over the per-environment file.
pub fn load_env_files() -> Result<Environment, ConfigError> {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(source) => {
            return Err(ConfigError::File {
                file: ".env".into(),
                source,
            });
        }
    }
    let environment =
        Environment::parse(&std::env::var("APP_ENV").unwrap_or_else(|_| "development".to_owned()))?;
    let file = format!("config/{}.env", environment.as_str());
    match dotenvy::from_filename(&file) {
        Ok(_) => Ok(environment),
        Err(e) if e.not_found() => Ok(environment),
        Err(source) => Err(ConfigError::File { file, source }),
    }
}

impl Settings {
    /// Reads settings from the process environment (after [`load_env_files`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        Self::from_vars(|key| std::env::var(key).ok())
    }

    /// Reads settings through `lookup`, so tests can build settings without
    /// touching the process environment.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars::new(&lookup);
        let environment = Environment::from_vars(&vars)?;
        let server = ServerSettings::from_vars(&vars)?;
        let session = SessionSettings::from_vars(&vars, environment)?;
        let relay_keys = RelayKeySettings::from_vars(&vars, environment, &session.issuer)?;
        let upstreams = Upstreams::from_vars(&vars)?;
        // Production has no default relay key; without one nothing may be
        // relayed, so upstreams need it.
        if !upstreams.is_empty() && relay_keys.signing_key.is_none() {
            return Err(ConfigError::Missing {
                var: relay_keys::SIGNING_KEY_FILE,
                hint: " (or RELAY_SIGNING_KEY) when UPSTREAMS is set",
            });
        }
        Ok(Settings {
            environment,
            metrics: MetricsSettings::from_vars(&vars, &server)?,
            server,
            database: DatabaseSettings::from_vars(&vars, environment)?,
            relay_keys,
            session,
            session_cache: SessionCacheSettings::from_vars(&vars)?,
            passwords: PasswordSettings::from_vars(&vars, environment)?,
            cookies: CookieSettings::from_vars(&vars, environment)?,
            cors: CorsSettings::from_vars(&vars)?,
            throttle: ThrottleSettings::from_vars(&vars)?,
            static_files: StaticSettings::from_vars(&vars),
            logging: LoggingSettings::from_vars(&vars)?,
            upstreams,
            relay_tls: RelayTlsSettings::from_vars(&vars)?,
        })
    }
}

/// The default for worker and bcrypt concurrency.
fn cpu_count() -> usize {
    std::thread::available_parallelism().map_or(2, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        Settings::from_vars(vars::lookup(pairs))
    }

    const DB: (&str, &str) = ("DATABASE_URL", "postgres://postgres@127.0.0.1/x");
    const SECRET: (&str, &str) = ("ACCESS_TOKEN_SECRET", "0123456789abcdef0123456789abcdef");

    fn err_text(pairs: &[(&str, &str)]) -> String {
        super::vars::error_text(settings(pairs))
    }

    #[test]
    fn development_needs_no_variables() {
        let s = settings(&[]).expect("development needs no variables");
        assert_eq!(s.environment, Environment::Development);
        assert_eq!(
            s.database.target,
            DatabaseTarget::Sqlite(DEFAULT_SQLITE_PATH.into())
        );
        assert!(s.session.access_token_secret_generated);
        assert_eq!(s.static_files.dir, "static");
    }

    #[test]
    fn every_section_reports_through_from_vars() {
        for (pair, var) in [
            (("APP_ENV", "staging"), "APP_ENV"),
            (("APP_PORT", "70000"), "APP_PORT"),
            (("DATABASE_URL", "mysql://x"), "DATABASE_URL"),
            (("ACCESS_TOKEN_SECRET", "short"), "ACCESS_TOKEN_SECRET"),
            (("BCRYPT_COST", "8"), "BCRYPT_COST"),
            (("ACCESS_COOKIE_NAME", "bad name"), "ACCESS_COOKIE_NAME"),
            (("CORS_ALLOWED_ORIGINS", "*"), "CORS_ALLOWED_ORIGINS"),
            (("SIGNUP_WINDOW", "8d"), "SIGNUP_WINDOW"),
            (("SESSION_CACHE_MAX_AGE", "0s"), "SESSION_CACHE_MAX_AGE"),
            (("LOG_FORMAT", "xml"), "LOG_FORMAT"),
            (("METRICS_ADDR", "127.0.0.1:8080"), "METRICS_ADDR"),
            (("UPSTREAMS", "a=ftp://h"), "UPSTREAMS"),
            (("RELAY_TIMEOUT", "0s"), "RELAY_TIMEOUT"),
            (("RELAY_TOKEN_TTL", "2m"), "RELAY_TOKEN_TTL"),
        ] {
            let text = err_text(&[DB, pair]);
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
    }

    #[test]
    fn production_requires_explicit_secrets_and_a_database() {
        let text = err_text(&[DB, ("APP_ENV", "production")]);
        assert!(text.contains("ACCESS_TOKEN_SECRET"), "{text}");
        let text = err_text(&[DB, SECRET, ("APP_ENV", "production")]);
        assert!(text.contains("PASSWORD_PEPPER"), "{text}");
        let text = err_text(&[
            SECRET,
            ("APP_ENV", "production"),
            ("PASSWORD_PEPPER", "a-production-pepper-of-32-bytes-or-more"),
        ]);
        assert!(text.contains("DATABASE_URL"), "{text}");
    }

    #[test]
    fn production_upstreams_need_a_relay_signing_key() {
        let production = [
            DB,
            SECRET,
            ("APP_ENV", "production"),
            ("PASSWORD_PEPPER", "a-production-pepper-of-32-bytes-or-more"),
        ];
        assert!(settings(&production).is_ok(), "no upstreams, no key: fine");
        let mut with_upstreams = production.to_vec();
        with_upstreams.push(("UPSTREAMS", "orders=http://127.0.0.1:7001"));
        let text = err_text(&with_upstreams);
        assert!(
            text.contains("RELAY_SIGNING_KEY_FILE") && text.contains("UPSTREAMS"),
            "{text}"
        );
        // Development and test generate a key.
        assert!(settings(&[("UPSTREAMS", "orders=http://127.0.0.1:7001")]).is_ok());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = settings(&[DB, SECRET]).expect("valid");
        let debug = format!("{s:?}");
        assert!(!debug.contains("0123456789abcdef"));
        assert!(!debug.contains("postgres://"));
    }
}
