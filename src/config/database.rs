use std::{
    fmt,
    path::{Path, PathBuf},
    time::Duration,
};

use super::{ConfigError, Environment, vars::Vars};

/// Where `cargo run` keeps its data when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_PATH: &str = "data/bff.sqlite3";

/// The database URL may carry a password, so it is redacted like a secret.
#[derive(Clone)]
pub struct DatabaseUrl(String);

impl DatabaseUrl {
    pub fn new(url: impl Into<String>) -> Self {
        DatabaseUrl(url.into())
    }

    pub fn expose(&self) -> &str {
        &self.0
    }

    /// `host:port/database`: no user, password or query parameters.
    pub fn location(&self) -> &str {
        let rest = self.0.split_once("://").map_or(self.0.as_str(), |(_, r)| r);
        let rest = rest.rsplit_once('@').map_or(rest, |(_, r)| r);
        rest.split('?').next().unwrap_or(rest)
    }
}

impl PartialEq for DatabaseUrl {
    fn eq(&self, other: &Self) -> bool {
        self.0 == other.0
    }
}

impl Eq for DatabaseUrl {}

impl fmt::Debug for DatabaseUrl {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("DatabaseUrl([redacted])")
    }
}

/// The database backend, chosen by the scheme of `DATABASE_URL`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum DatabaseTarget {
    Postgres(DatabaseUrl),
    Sqlite(PathBuf),
}

impl DatabaseTarget {
    /// `postgres://` / `postgresql://` → PostgreSQL; `sqlite://path` or a
    /// plain path → SQLite; any other scheme is refused.
    pub fn parse(url: &str) -> Result<Self, String> {
        let url = url.trim();
        const ACCEPTED: &str =
            "accepted: postgres://…, postgresql://…, sqlite://<path> or a plain file path";
        if url.starts_with("postgres://") || url.starts_with("postgresql://") {
            return Ok(DatabaseTarget::Postgres(DatabaseUrl::new(url)));
        }
        let path = match url.strip_prefix("sqlite://") {
            Some(path) => path,
            None if url.contains("://") || url.starts_with("sqlite:") => {
                let scheme = url.split(':').next().unwrap_or_default();
                return Err(format!("unsupported scheme `{scheme}` ({ACCEPTED})"));
            }
            None => url,
        };
        // The pool opens many connections: an in-memory database would give
        // each its own empty database.
        if path.is_empty() || path == ":memory:" || path.contains('?') {
            return Err(format!("`{url}` is not a SQLite file path ({ACCEPTED})"));
        }
        Ok(DatabaseTarget::Sqlite(PathBuf::from(path)))
    }

    /// For logs: the backend and where, without credentials.
    pub fn describe(&self) -> String {
        match self {
            DatabaseTarget::Postgres(url) => format!("postgres at {}", url.location()),
            DatabaseTarget::Sqlite(path) => format!("sqlite at {}", path.display()),
        }
    }
}

/// Every wait on the database is bounded by one of these (README: "When
/// the database fails").
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DatabaseTimeouts {
    /// Opening one connection: libpq `connect_timeout` (whole seconds, at
    /// least 2) and `tcp_user_timeout`.
    pub connect: Duration,
    /// Waiting for a pooled connection while the database is believed up.
    pub checkout: Duration,
    /// One statement: PostgreSQL `statement_timeout`, SQLite `busy_timeout`.
    pub statement: Duration,
    /// One visit of a request to the database, checkout included; past it
    /// the request gets 503 even if the database never answers.
    pub request: Duration,
    /// How long start-up keeps retrying an unreachable database.
    pub startup: Duration,
}

impl Default for DatabaseTimeouts {
    fn default() -> Self {
        DatabaseTimeouts {
            connect: Duration::from_secs(2),
            checkout: Duration::from_secs(1),
            statement: Duration::from_secs(2),
            request: Duration::from_secs(3),
            startup: Duration::from_secs(30),
        }
    }
}

impl DatabaseTimeouts {
    fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let default = DatabaseTimeouts::default();
        let secs = Duration::from_secs;
        Ok(DatabaseTimeouts {
            connect: vars.duration_between(
                "DATABASE_CONNECT_TIMEOUT",
                default.connect,
                secs(1),
                secs(120),
            )?,
            checkout: vars.duration_between(
                "DATABASE_CHECKOUT_TIMEOUT",
                default.checkout,
                secs(1),
                secs(120),
            )?,
            statement: vars.duration_between(
                "DATABASE_STATEMENT_TIMEOUT",
                default.statement,
                secs(1),
                secs(600),
            )?,
            request: vars.duration_between(
                "DATABASE_REQUEST_TIMEOUT",
                default.request,
                secs(1),
                secs(600),
            )?,
            startup: vars.duration_between(
                "DATABASE_STARTUP_TIMEOUT",
                default.startup,
                secs(0),
                secs(3600),
            )?,
        })
    }
}

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub target: DatabaseTarget,
    pub pool_size: u32,
    /// Connections the pool keeps open and re-opens in the background.
    pub min_idle: u32,
    pub timeouts: DatabaseTimeouts,
    /// Development only: create the database when it does not exist yet.
    pub create_if_missing: bool,
}

impl DatabaseSettings {
    pub(super) fn from_vars(vars: &Vars, environment: Environment) -> Result<Self, ConfigError> {
        let target = match vars.get("DATABASE_URL") {
            Some(url) => DatabaseTarget::parse(&url)
                .map_err(|reason| ConfigError::invalid("DATABASE_URL", reason))?,
            // A production deployment names its database; nothing is implied.
            None if environment == Environment::Production => {
                return Err(ConfigError::Missing {
                    var: "DATABASE_URL",
                    hint: " in production (postgres://user:password@host:port/database)",
                });
            }
            None => DatabaseTarget::Sqlite(DEFAULT_SQLITE_PATH.into()),
        };
        Ok(DatabaseSettings {
            target,
            pool_size: vars.bounded("DATABASE_POOL_SIZE", 10, 1, 200)?,
            min_idle: 2,
            timeouts: DatabaseTimeouts::from_vars(vars)?,
            create_if_missing: environment == Environment::Development,
        })
    }

    /// Beside the SQLite file, or in the default data directory for
    /// PostgreSQL, so development sessions survive restarts.
    pub fn development_secret_file(&self) -> PathBuf {
        self.development_file("access-token-secret.dev")
    }

    /// The development relay signing key, beside the access secret.
    pub fn development_relay_key_file(&self) -> PathBuf {
        self.development_file("relay-signing-key.dev.pem")
    }

    fn development_file(&self, name: &str) -> PathBuf {
        let database_file = match &self.target {
            DatabaseTarget::Sqlite(path) => path.as_path(),
            DatabaseTarget::Postgres(_) => Path::new(DEFAULT_SQLITE_PATH),
        };
        database_file
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(Path::new("."))
            .join(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(
        pairs: &[(&str, &str)],
        environment: Environment,
    ) -> Result<DatabaseSettings, ConfigError> {
        load_with(pairs, |vars| DatabaseSettings::from_vars(vars, environment))
    }

    fn err_text(pairs: &[(&str, &str)], environment: Environment) -> String {
        error_text(load(pairs, environment))
    }

    #[test]
    fn the_database_backend_follows_the_url_scheme() {
        let target = |url: &str| DatabaseTarget::parse(url);
        assert!(matches!(
            target("postgres://u:p@h:5432/db"),
            Ok(DatabaseTarget::Postgres(_))
        ));
        assert!(matches!(
            target("postgresql://h/db"),
            Ok(DatabaseTarget::Postgres(_))
        ));
        assert_eq!(
            target("sqlite://data/x.sqlite3"),
            Ok(DatabaseTarget::Sqlite("data/x.sqlite3".into()))
        );
        assert_eq!(
            target("sqlite:///var/lib/bff.db"),
            Ok(DatabaseTarget::Sqlite("/var/lib/bff.db".into()))
        );
        assert_eq!(
            target("./bff.db"),
            Ok(DatabaseTarget::Sqlite("./bff.db".into()))
        );
        for bad in [
            "mysql://h/db",
            "sqlite::memory:",
            "sqlite://:memory:",
            "sqlite://",
        ] {
            let err = target(bad).expect_err(bad);
            assert!(err.contains("postgres://"), "{bad}: {err}");
        }
    }

    #[test]
    fn development_defaults_to_an_sqlite_file_and_production_to_nothing() {
        let s = load(&[], Environment::Development).expect("development needs no variables");
        assert_eq!(s.target, DatabaseTarget::Sqlite(DEFAULT_SQLITE_PATH.into()));
        assert_eq!(
            s.development_secret_file(),
            PathBuf::from("data/access-token-secret.dev")
        );
        assert!(s.create_if_missing);
        let text = err_text(&[], Environment::Production);
        assert!(text.contains("DATABASE_URL"), "{text}");
    }

    #[test]
    fn defaults_and_bounds() {
        let s = load(&[], Environment::Test).expect("valid");
        assert_eq!(s.pool_size, 10);
        assert_eq!(s.timeouts, DatabaseTimeouts::default());
        assert_eq!(s.timeouts.connect, Duration::from_secs(2));
        assert_eq!(s.timeouts.request, Duration::from_secs(3));
        assert!(!s.create_if_missing);
        let s = load(
            &[
                ("DATABASE_STATEMENT_TIMEOUT", "5s"),
                ("DATABASE_STARTUP_TIMEOUT", "0"),
            ],
            Environment::Test,
        )
        .expect("valid");
        assert_eq!(s.timeouts.statement, Duration::from_secs(5));
        assert_eq!(s.timeouts.startup, Duration::ZERO);
        for (pair, var) in [
            (("DATABASE_URL", "mysql://x"), "DATABASE_URL"),
            (("DATABASE_POOL_SIZE", "0"), "DATABASE_POOL_SIZE"),
            (
                ("DATABASE_CONNECT_TIMEOUT", "5m"),
                "DATABASE_CONNECT_TIMEOUT",
            ),
            (
                ("DATABASE_CHECKOUT_TIMEOUT", "0"),
                "DATABASE_CHECKOUT_TIMEOUT",
            ),
            (
                ("DATABASE_STATEMENT_TIMEOUT", "0"),
                "DATABASE_STATEMENT_TIMEOUT",
            ),
            (
                ("DATABASE_REQUEST_TIMEOUT", "1h"),
                "DATABASE_REQUEST_TIMEOUT",
            ),
            (
                ("DATABASE_STARTUP_TIMEOUT", "2h"),
                "DATABASE_STARTUP_TIMEOUT",
            ),
        ] {
            let text = err_text(&[pair], Environment::Development);
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
    }

    #[test]
    fn the_development_secret_sits_beside_the_sqlite_file() {
        let s = load(
            &[("DATABASE_URL", "sqlite://var/db.sqlite3")],
            Environment::Development,
        )
        .expect("valid");
        assert_eq!(
            s.development_secret_file(),
            PathBuf::from("var/access-token-secret.dev")
        );
        assert_eq!(
            s.development_relay_key_file(),
            PathBuf::from("var/relay-signing-key.dev.pem")
        );
        let s = load(&[("DATABASE_URL", "bff.db")], Environment::Development).expect("valid");
        assert_eq!(
            s.development_secret_file(),
            PathBuf::from("./access-token-secret.dev")
        );
    }

    #[test]
    fn database_locations_in_logs_carry_no_credentials() {
        let url = DatabaseUrl::new("postgres://bff:s3cret@db.internal:5432/bff?sslmode=require");
        assert_eq!(url.location(), "db.internal:5432/bff");
        let target = DatabaseTarget::Postgres(url);
        assert!(!target.describe().contains("s3cret"));
    }
}
