//! Typed settings, read once at start-up. Every variable is validated and a
//! bad or missing one stops start-up with a message naming it.

use std::{fmt, net::IpAddr, path::PathBuf, time::Duration};

use crate::client_ip::TrustedProxies;

/// Used only in development/test when `PASSWORD_PEPPER` is unset, so that a
/// local database keeps working across restarts. Production refuses it.
const DEV_PASSWORD_PEPPER: &str = "development-only-pepper-never-use-in-production!";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Environment {
    Development,
    Test,
    Production,
}

impl Environment {
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Test => "test",
            Environment::Production => "production",
        }
    }

    fn parse(value: &str) -> Result<Self, ConfigError> {
        match value.trim().to_ascii_lowercase().as_str() {
            "development" | "dev" => Ok(Environment::Development),
            "test" => Ok(Environment::Test),
            "production" | "prod" => Ok(Environment::Production),
            _ => Err(ConfigError::invalid(
                "APP_ENV",
                "expected development, test or production",
            )),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("configuration: {var} is required{hint}")]
    Missing {
        var: &'static str,
        hint: &'static str,
    },
    #[error("configuration: {var} is invalid: {reason}")]
    Invalid { var: &'static str, reason: String },
    #[error("configuration: could not read {file}: {reason}")]
    File { file: String, reason: String },
}

impl ConfigError {
    fn invalid(var: &'static str, reason: impl Into<String>) -> Self {
        ConfigError::Invalid {
            var,
            reason: reason.into(),
        }
    }
}

/// Secret bytes: never printed, never logged.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl Secret {
    pub fn new(bytes: impl Into<Vec<u8>>) -> Self {
        Secret(bytes.into())
    }

    pub fn expose(&self) -> &[u8] {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret([redacted])")
    }
}

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
}

impl DatabaseUrl {
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

#[derive(Debug, Clone)]
pub struct Settings {
    pub environment: Environment,
    pub server: ServerSettings,
    pub database: DatabaseSettings,
    pub auth: AuthSettings,
    pub cookies: CookieSettings,
    pub cors: CorsSettings,
    pub throttle: ThrottleSettings,
}

#[derive(Debug, Clone)]
pub struct ServerSettings {
    pub host: IpAddr,
    pub port: u16,
    pub workers: usize,
    pub json_limit: usize,
    pub static_dir: String,
    /// Peers whose `X-Forwarded-For` is believed (see src/client_ip.rs).
    pub trusted_proxies: TrustedProxies,
}

/// Where `cargo run` keeps its data when `DATABASE_URL` is unset.
pub const DEFAULT_SQLITE_PATH: &str = "data/bff.sqlite3";

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

#[derive(Debug, Clone)]
pub struct DatabaseSettings {
    pub target: DatabaseTarget,
    pub pool_size: u32,
    /// Connections the pool keeps open and re-opens in the background.
    pub min_idle: u32,
    pub connect_timeout: Duration,
    /// Development only: create the database when it does not exist yet.
    pub create_if_missing: bool,
}

#[derive(Debug, Clone)]
pub struct AuthSettings {
    pub access_token_secret: Secret,
    pub password_pepper: Secret,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
    pub bcrypt_cost: u32,
    pub bcrypt_max_concurrency: usize,
    /// Non-browser mode: tokens in JSON bodies, only when a request asks for it.
    pub token_body_delivery: bool,
    /// A refresh with the immediately previous token succeeds this long
    /// after the rotation (several tabs, lost responses); later it is theft.
    pub refresh_reuse_window: Duration,
    /// `ACCESS_TOKEN_SECRET` was not set (development/test): the secret is
    /// random or read from the development secret file.
    pub access_token_secret_generated: bool,
}

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub access_name: String,
    pub refresh_name: String,
    pub secure: bool,
}

#[derive(Debug, Clone)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

/// At most `max` attempts in a burst, refilling one every `window / max`
/// (src/throttle.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RateLimit {
    pub max: u32,
    pub window: Duration,
}

impl RateLimit {
    /// The most attempts that fit in `period`: a full burst plus the refills.
    pub fn most_in(&self, period: Duration) -> u128 {
        let interval = self.window.as_nanos() / u128::from(self.max.max(1));
        u128::from(self.max) + period.as_nanos() / interval.max(1)
    }
}

/// Per-instance, in-memory throttling (src/throttle.rs).
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    pub login_per_account: RateLimit,
    pub login_per_ip: RateLimit,
    pub signup_per_ip: RateLimit,
    /// Entries per table (accounts, login IPs, sign-up IPs).
    pub max_entries: usize,
}

/// Loads `.env` and then `config/<APP_ENV>.env` into the process environment.
/// dotenvy never overrides, so real environment variables win over `.env`,
/// which wins over the per-environment file.
pub fn load_env_files() -> Result<Environment, ConfigError> {
    match dotenvy::dotenv() {
        Ok(_) => {}
        Err(e) if e.not_found() => {}
        Err(e) => {
            return Err(ConfigError::File {
                file: ".env".into(),
                reason: e.to_string(),
            });
        }
    }
    let environment =
        Environment::parse(&std::env::var("APP_ENV").unwrap_or_else(|_| "development".to_owned()))?;
    let file = format!("config/{}.env", environment.as_str());
    match dotenvy::from_filename(&file) {
        Ok(_) => Ok(environment),
        Err(e) if e.not_found() => Ok(environment),
        Err(e) => Err(ConfigError::File {
            file,
            reason: e.to_string(),
        }),
    }
}

impl Settings {
    /// Reads settings from the process environment (after [`load_env_files`]).
    pub fn from_env() -> Result<Self, ConfigError> {
        let mut settings = Self::from_vars(|key| std::env::var(key).ok())?;
        if settings.environment == Environment::Development
            && settings.auth.access_token_secret_generated
        {
            let file = settings.database.development_secret_file();
            settings.auth.access_token_secret = persisted_secret(&file)?;
            log::warn!(
                "ACCESS_TOKEN_SECRET is not set: using the development secret in {} (development only; production refuses to start without ACCESS_TOKEN_SECRET)",
                file.display()
            );
        }
        Ok(settings)
    }

    /// Reads settings through `lookup`, so tests can build settings without
    /// touching the process environment.
    pub fn from_vars(lookup: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        let vars = Vars(&lookup);
        let environment = match vars.get("APP_ENV") {
            Some(value) => Environment::parse(&value)?,
            None => Environment::Development,
        };
        let production = environment == Environment::Production;
        let cores = std::thread::available_parallelism().map_or(2, |n| n.get());

        let server = ServerSettings {
            host: vars.parse("APP_HOST", IpAddr::from([127, 0, 0, 1]))?,
            port: vars.parse("APP_PORT", 8080u16)?,
            workers: vars.bounded("APP_WORKERS", cores, 1, 256)?,
            json_limit: vars.bounded("JSON_BODY_LIMIT", 16 * 1024, 256, 1024 * 1024)?,
            static_dir: vars
                .get("STATIC_DIR")
                .unwrap_or_else(|| "static".to_owned()),
            trusted_proxies: TrustedProxies::parse(
                &vars.get("TRUSTED_PROXIES").unwrap_or_default(),
            )
            .map_err(|reason| ConfigError::invalid("TRUSTED_PROXIES", reason))?,
        };

        let target = match vars.get("DATABASE_URL") {
            Some(url) => DatabaseTarget::parse(&url)
                .map_err(|reason| ConfigError::invalid("DATABASE_URL", reason))?,
            // A production deployment names its database; nothing is implied.
            None if production => {
                return Err(ConfigError::Missing {
                    var: "DATABASE_URL",
                    hint: " in production (postgres://user:password@host:port/database)",
                });
            }
            None => DatabaseTarget::Sqlite(DEFAULT_SQLITE_PATH.into()),
        };
        let database = DatabaseSettings {
            target,
            pool_size: vars.bounded("DATABASE_POOL_SIZE", 10, 1, 200)?,
            min_idle: 2,
            connect_timeout: vars.duration_between(
                "DATABASE_CONNECT_TIMEOUT",
                Duration::from_secs(5),
                Duration::from_secs(1),
                Duration::from_secs(120),
            )?,
            create_if_missing: environment == Environment::Development,
        };

        let configured_secret = vars.get("ACCESS_TOKEN_SECRET");
        let access_token_secret_generated = configured_secret.is_none();
        let access_token_secret = match configured_secret {
            Some(secret) => Secret::new(secret.into_bytes()),
            None if production => {
                return Err(ConfigError::Missing {
                    var: "ACCESS_TOKEN_SECRET",
                    hint: " in production (at least 32 random bytes)",
                });
            }
            // Development/test only: random for now; `from_env` may swap in
            // the secret persisted beside a development database.
            None => generated_secret()?,
        };
        if access_token_secret.expose().len() < 32 {
            return Err(ConfigError::invalid(
                "ACCESS_TOKEN_SECRET",
                "must be at least 32 bytes",
            ));
        }

        let password_pepper = match vars.get("PASSWORD_PEPPER") {
            Some(pepper) if production && pepper == DEV_PASSWORD_PEPPER => {
                return Err(ConfigError::invalid(
                    "PASSWORD_PEPPER",
                    "the development pepper cannot be used in production",
                ));
            }
            Some(pepper) => Secret::new(pepper.into_bytes()),
            None if production => {
                return Err(ConfigError::Missing {
                    var: "PASSWORD_PEPPER",
                    hint: " in production (at least 32 random bytes)",
                });
            }
            None => Secret::new(DEV_PASSWORD_PEPPER.as_bytes()),
        };
        if password_pepper.expose().len() < 32 {
            return Err(ConfigError::invalid(
                "PASSWORD_PEPPER",
                "must be at least 32 bytes",
            ));
        }

        let access_ttl = vars.duration_between(
            "ACCESS_TOKEN_TTL",
            Duration::from_secs(15 * 60),
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        )?;
        let refresh_ttl = vars.duration_between(
            "REFRESH_TOKEN_TTL",
            Duration::from_secs(7 * 24 * 3600),
            Duration::from_secs(1),
            Duration::from_secs(365 * 24 * 3600),
        )?;
        let bcrypt_floor = if environment == Environment::Test {
            4
        } else {
            10
        };
        let auth = AuthSettings {
            access_token_secret,
            password_pepper,
            access_ttl,
            refresh_ttl,
            issuer: vars.non_empty("JWT_ISSUER", "bff-gateway")?,
            audience: vars.non_empty("JWT_AUDIENCE", "bff-gateway")?,
            leeway: vars.duration_between(
                "JWT_LEEWAY",
                Duration::from_secs(5),
                Duration::ZERO,
                Duration::from_secs(30),
            )?,
            bcrypt_cost: vars.bounded("BCRYPT_COST", 12, bcrypt_floor, 31)?,
            bcrypt_max_concurrency: vars.bounded("BCRYPT_MAX_CONCURRENCY", cores, 1, 256)?,
            token_body_delivery: vars.bool("TOKEN_BODY_DELIVERY", false)?,
            refresh_reuse_window: vars.duration_between(
                "REFRESH_REUSE_WINDOW",
                Duration::from_secs(30),
                Duration::ZERO,
                Duration::from_secs(300),
            )?,
            access_token_secret_generated,
        };

        let cookies = CookieSettings {
            access_name: vars.cookie_name("ACCESS_COOKIE_NAME", "accessToken")?,
            refresh_name: vars.cookie_name("REFRESH_COOKIE_NAME", "refreshToken")?,
            secure: vars.bool("COOKIE_SECURE", true)?,
        };
        cookies.validate(production)?;

        let cors = CorsSettings {
            allowed_origins: parse_origins(&vars.get("CORS_ALLOWED_ORIGINS").unwrap_or_default())
                .map_err(|reason| {
                ConfigError::invalid("CORS_ALLOWED_ORIGINS", reason)
            })?,
        };

        let login_window = vars.duration_between(
            "LOGIN_FAILURE_WINDOW",
            Duration::from_secs(15 * 60),
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        )?;
        let throttle = ThrottleSettings {
            login_per_account: RateLimit {
                max: vars.bounded("LOGIN_MAX_FAILURES_PER_ACCOUNT", 10, 1, 10_000)?,
                window: login_window,
            },
            login_per_ip: RateLimit {
                max: vars.bounded("LOGIN_MAX_FAILURES_PER_IP", 50, 1, 1_000_000)?,
                window: login_window,
            },
            signup_per_ip: RateLimit {
                max: vars.bounded("SIGNUP_MAX_PER_IP", 10, 1, 1_000_000)?,
                window: vars.duration_between(
                    "SIGNUP_WINDOW",
                    Duration::from_secs(3600),
                    Duration::from_secs(1),
                    Duration::from_secs(7 * 24 * 3600),
                )?,
            },
            max_entries: vars.bounded("THROTTLE_MAX_ENTRIES", 100_000, 100, 10_000_000)?,
        };
        let hourly = throttle
            .login_per_account
            .most_in(Duration::from_secs(3600));
        if hourly > 100 {
            // Tests need short windows, so this is a warning, not a refusal.
            log::warn!(
                "LOGIN_MAX_FAILURES_PER_ACCOUNT / LOGIN_FAILURE_WINDOW allow up to {hourly} failed logins per account per hour; OWASP ASVS asks for at most 100"
            );
        }

        Ok(Settings {
            environment,
            server,
            database,
            auth,
            cookies,
            cors,
            throttle,
        })
    }
}

impl CookieSettings {
    fn validate(&self, production: bool) -> Result<(), ConfigError> {
        if self.access_name == self.refresh_name {
            return Err(ConfigError::invalid(
                "REFRESH_COOKIE_NAME",
                "must differ from ACCESS_COOKIE_NAME",
            ));
        }
        // Browsers reject prefixed cookies without Secure; fail loudly instead.
        for (var, name) in [
            ("ACCESS_COOKIE_NAME", &self.access_name),
            ("REFRESH_COOKIE_NAME", &self.refresh_name),
        ] {
            if (name.starts_with("__Host-") || name.starts_with("__Secure-")) && !self.secure {
                return Err(ConfigError::invalid(
                    var,
                    "a __Host-/__Secure- cookie name requires COOKIE_SECURE=true",
                ));
            }
        }
        if self.refresh_name.starts_with("__Host-") {
            return Err(ConfigError::invalid(
                "REFRESH_COOKIE_NAME",
                "__Host- requires Path=/, but the refresh cookie is scoped to the refresh path; use __Secure-",
            ));
        }
        if production && !self.secure {
            return Err(ConfigError::invalid(
                "COOKIE_SECURE",
                "must be true in production",
            ));
        }
        Ok(())
    }
}

impl DatabaseSettings {
    /// Beside the SQLite file, or in the default data directory for
    /// PostgreSQL, so development sessions survive restarts.
    pub fn development_secret_file(&self) -> PathBuf {
        let database_file = match &self.target {
            DatabaseTarget::Sqlite(path) => path.as_path(),
            DatabaseTarget::Postgres(_) => std::path::Path::new(DEFAULT_SQLITE_PATH),
        };
        database_file
            .parent()
            .filter(|dir| !dir.as_os_str().is_empty())
            .unwrap_or(std::path::Path::new("."))
            .join("access-token-secret.dev")
    }
}

fn generated_secret() -> Result<Secret, ConfigError> {
    crate::random::token()
        .map(|secret| Secret::new(secret.into_bytes()))
        .map_err(|_| ConfigError::invalid("ACCESS_TOKEN_SECRET", "cannot generate a random secret"))
}

/// Reads the development secret from `file`, creating it (owner-only) with a
/// fresh random value on first use.
fn persisted_secret(file: &std::path::Path) -> Result<Secret, ConfigError> {
    use std::io::Write;
    let file_error = |reason: std::io::Error| ConfigError::File {
        file: file.display().to_string(),
        reason: reason.to_string(),
    };
    match std::fs::read_to_string(file) {
        Ok(text) if text.trim().len() >= 32 => return Ok(Secret::new(text.trim().as_bytes())),
        Ok(_) => {
            return Err(ConfigError::File {
                file: file.display().to_string(),
                reason: "holds fewer than 32 bytes; delete it to generate a new one".into(),
            });
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(file_error(e)),
    }
    if let Some(dir) = file.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).map_err(file_error)?;
    }
    let secret = generated_secret()?;
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    let mut out = options.open(file).map_err(file_error)?;
    out.write_all(secret.expose()).map_err(file_error)?;
    Ok(secret)
}

/// Parses durations written as `900` (seconds), `30s`, `15m`, `12h` or `7d`.
/// Cookies and tokens share this one parser.
pub fn parse_duration(value: &str) -> Result<Duration, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let amount: u64 = digits
        .parse()
        .map_err(|_| format!("`{value}` is not a duration like 900, 30s, 15m, 12h or 7d"))?;
    let factor = match unit {
        "" | "s" => 1,
        "m" => 60,
        "h" => 3600,
        "d" => 86_400,
        _ => {
            return Err(format!("`{value}` has an unknown unit (use s, m, h or d)"));
        }
    };
    amount
        .checked_mul(factor)
        .map(Duration::from_secs)
        .ok_or_else(|| format!("`{value}` is too large"))
}

fn parse_origins(value: &str) -> Result<Vec<String>, String> {
    let mut origins = Vec::new();
    for origin in value.split(',').map(str::trim).filter(|o| !o.is_empty()) {
        if origin.contains('*') {
            return Err("`*` is not allowed: list exact origins (credentials are sent)".into());
        }
        let rest = origin
            .strip_prefix("https://")
            .or_else(|| origin.strip_prefix("http://"))
            .ok_or_else(|| format!("`{origin}` must start with http:// or https://"))?;
        if rest.is_empty()
            || rest.contains('/')
            || rest.chars().any(|c| c.is_whitespace() || c.is_control())
        {
            return Err(format!(
                "`{origin}` must be scheme://host[:port] with no path or trailing slash"
            ));
        }
        origins.push(origin.to_ascii_lowercase());
    }
    Ok(origins)
}

struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl Vars<'_> {
    fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).filter(|v| !v.trim().is_empty())
    }

    fn parse<T: std::str::FromStr>(&self, key: &'static str, default: T) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError::invalid(key, format!("cannot parse `{}`", v.trim()))),
        }
    }

    fn bounded<T>(&self, key: &'static str, default: T, min: T, max: T) -> Result<T, ConfigError>
    where
        T: std::str::FromStr + PartialOrd + fmt::Display + Copy,
    {
        let value = self.parse(key, default)?;
        if value < min || value > max {
            return Err(ConfigError::invalid(
                key,
                format!("{value} is outside {min}..={max}"),
            ));
        }
        Ok(value)
    }

    fn duration_between(
        &self,
        key: &'static str,
        default: Duration,
        min: Duration,
        max: Duration,
    ) -> Result<Duration, ConfigError> {
        let value = match self.get(key) {
            None => default,
            Some(v) => parse_duration(&v).map_err(|reason| ConfigError::invalid(key, reason))?,
        };
        if value < min || value > max {
            return Err(ConfigError::invalid(
                key,
                format!("must be between {}s and {}s", min.as_secs(), max.as_secs()),
            ));
        }
        Ok(value)
    }

    fn bool(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(ConfigError::invalid(key, "expected true or false")),
        }
    }

    fn non_empty(&self, key: &'static str, default: &str) -> Result<String, ConfigError> {
        Ok(self
            .get(key)
            .unwrap_or_else(|| default.to_owned())
            .trim()
            .to_owned())
    }

    fn cookie_name(&self, key: &'static str, default: &str) -> Result<String, ConfigError> {
        let name = self.non_empty(key, default)?;
        // RFC 6265 cookie-name is an RFC 2616 token.
        let valid = name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "!#$%&'*+-.^_`|~".contains(c));
        if !valid {
            return Err(ConfigError::invalid(key, "not a valid cookie name"));
        }
        Ok(name)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn settings(pairs: &[(&str, &str)]) -> Result<Settings, ConfigError> {
        let map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        Settings::from_vars(|k| map.get(k).cloned())
    }

    const DB: (&str, &str) = ("DATABASE_URL", "postgres://postgres@127.0.0.1/x");
    const SECRET: (&str, &str) = ("ACCESS_TOKEN_SECRET", "0123456789abcdef0123456789abcdef");

    fn err_text(pairs: &[(&str, &str)]) -> String {
        match settings(pairs) {
            Ok(_) => String::new(),
            Err(e) => e.to_string(),
        }
    }

    #[test]
    fn durations_share_one_grammar() {
        assert_eq!(parse_duration("900"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("30s"), Ok(Duration::from_secs(30)));
        assert_eq!(parse_duration("15m"), Ok(Duration::from_secs(900)));
        assert_eq!(parse_duration("12h"), Ok(Duration::from_secs(43_200)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert!(parse_duration("7 days").is_err());
        assert!(parse_duration("d").is_err());
        assert!(parse_duration("-5s").is_err());
        assert!(parse_duration("99999999999999999999d").is_err());
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = settings(&[DB, ("APP_ENV", "development")]).expect("valid");
        assert_eq!(s.auth.access_ttl, Duration::from_secs(900));
        assert_eq!(s.auth.refresh_ttl, Duration::from_secs(7 * 86_400));
        assert_eq!(s.auth.bcrypt_cost, 12);
        assert!(s.cookies.secure);
        assert!(s.auth.leeway <= Duration::from_secs(30));
        assert!(!s.auth.token_body_delivery);
        assert_eq!(s.auth.refresh_reuse_window, Duration::from_secs(30));
        assert!(s.cors.allowed_origins.is_empty());
        assert!(s.server.trusted_proxies.is_empty());
        let t = &s.throttle;
        assert_eq!(
            t.login_per_account,
            RateLimit {
                max: 10,
                window: Duration::from_secs(900)
            }
        );
        assert_eq!(
            t.login_per_ip,
            RateLimit {
                max: 50,
                window: Duration::from_secs(900)
            }
        );
        assert_eq!(
            t.signup_per_ip,
            RateLimit {
                max: 10,
                window: Duration::from_secs(3600)
            }
        );
        assert_eq!(t.max_entries, 100_000);
        // OWASP ASVS: no more than 100 failed attempts per account per hour.
        assert_eq!(t.login_per_account.most_in(Duration::from_secs(3600)), 50);
    }

    #[test]
    fn throttle_settings_are_read_and_checked() {
        let s = settings(&[
            DB,
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
            ("LOGIN_MAX_FAILURES_PER_IP", "7"),
            ("LOGIN_FAILURE_WINDOW", "2s"),
            ("SIGNUP_MAX_PER_IP", "4"),
            ("SIGNUP_WINDOW", "30m"),
            ("THROTTLE_MAX_ENTRIES", "500"),
            ("TRUSTED_PROXIES", "127.0.0.1, 10.0.0.0/8"),
        ])
        .expect("valid");
        let t = &s.throttle;
        assert_eq!(t.login_per_account.max, 3);
        assert_eq!(t.login_per_ip.max, 7);
        assert_eq!(t.login_per_ip.window, Duration::from_secs(2));
        assert_eq!(t.login_per_account.window, Duration::from_secs(2));
        assert_eq!(t.signup_per_ip.max, 4);
        assert_eq!(t.signup_per_ip.window, Duration::from_secs(1800));
        assert_eq!(t.max_entries, 500);
        assert!(
            s.server
                .trusted_proxies
                .contains(IpAddr::from([10, 1, 2, 3]))
        );
        assert!(
            !s.server
                .trusted_proxies
                .contains(IpAddr::from([11, 1, 2, 3]))
        );
    }

    #[test]
    fn production_requires_explicit_secrets() {
        let text = err_text(&[DB, ("APP_ENV", "production")]);
        assert!(text.contains("ACCESS_TOKEN_SECRET"), "{text}");
        let text = err_text(&[DB, SECRET, ("APP_ENV", "production")]);
        assert!(text.contains("PASSWORD_PEPPER"), "{text}");
        let text = err_text(&[
            DB,
            SECRET,
            ("APP_ENV", "production"),
            ("PASSWORD_PEPPER", DEV_PASSWORD_PEPPER),
        ]);
        assert!(text.contains("PASSWORD_PEPPER"), "{text}");
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, var) in [
            (("ACCESS_TOKEN_SECRET", "short"), "ACCESS_TOKEN_SECRET"),
            (("ACCESS_TOKEN_TTL", "7 days"), "ACCESS_TOKEN_TTL"),
            (("APP_PORT", "70000"), "APP_PORT"),
            (("BCRYPT_COST", "8"), "BCRYPT_COST"),
            (("CORS_ALLOWED_ORIGINS", "*"), "CORS_ALLOWED_ORIGINS"),
            (
                ("CORS_ALLOWED_ORIGINS", "http://a.test/path"),
                "CORS_ALLOWED_ORIGINS",
            ),
            (("COOKIE_SECURE", "maybe"), "COOKIE_SECURE"),
            (("JWT_LEEWAY", "5m"), "JWT_LEEWAY"),
            (("REFRESH_REUSE_WINDOW", "10m"), "REFRESH_REUSE_WINDOW"),
            (("DATABASE_URL", "mysql://x"), "DATABASE_URL"),
            (("ACCESS_COOKIE_NAME", "bad name"), "ACCESS_COOKIE_NAME"),
            (
                ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "0"),
                "LOGIN_MAX_FAILURES_PER_ACCOUNT",
            ),
            (
                ("LOGIN_MAX_FAILURES_PER_IP", "-1"),
                "LOGIN_MAX_FAILURES_PER_IP",
            ),
            (("LOGIN_FAILURE_WINDOW", "0s"), "LOGIN_FAILURE_WINDOW"),
            (("LOGIN_FAILURE_WINDOW", "2d"), "LOGIN_FAILURE_WINDOW"),
            (("SIGNUP_MAX_PER_IP", "ten"), "SIGNUP_MAX_PER_IP"),
            (("SIGNUP_WINDOW", "8d"), "SIGNUP_WINDOW"),
            (("THROTTLE_MAX_ENTRIES", "10"), "THROTTLE_MAX_ENTRIES"),
            (("TRUSTED_PROXIES", "10.0.0.1/8"), "TRUSTED_PROXIES"),
            (("TRUSTED_PROXIES", "0.0.0.0/0"), "TRUSTED_PROXIES"),
        ] {
            let text = err_text(&[DB, pair]);
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
        let text = err_text(&[
            SECRET,
            ("APP_ENV", "production"),
            ("PASSWORD_PEPPER", "a-production-pepper-of-32-bytes-or-more"),
        ]);
        assert!(text.contains("DATABASE_URL"), "{text}");
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
        let s = settings(&[]).expect("development needs no variables");
        assert_eq!(
            s.database.target,
            DatabaseTarget::Sqlite(DEFAULT_SQLITE_PATH.into())
        );
        assert_eq!(
            s.database.development_secret_file(),
            PathBuf::from("data/access-token-secret.dev")
        );
        assert!(s.auth.access_token_secret_generated);
    }

    #[test]
    fn the_development_secret_is_created_once_and_then_reused() {
        let dir = std::env::temp_dir().join(format!("bff-secret-{}", uuid::Uuid::new_v4()));
        let file = dir.join("nested/access-token-secret.dev");
        let first = persisted_secret(&file).expect("created");
        let second = persisted_secret(&file).expect("read back");
        assert_eq!(first.expose(), second.expose());
        assert!(first.expose().len() >= 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&file).expect("file").permissions().mode();
            assert_eq!(mode & 0o077, 0, "owner-only file");
        }
        std::fs::write(&file, "short").expect("overwrite");
        assert!(persisted_secret(&file).is_err());
        let _ = std::fs::remove_dir_all(&dir);
    }

    #[test]
    fn database_locations_in_logs_carry_no_credentials() {
        let url = DatabaseUrl::new("postgres://bff:s3cret@db.internal:5432/bff?sslmode=require");
        assert_eq!(url.location(), "db.internal:5432/bff");
        let target = DatabaseTarget::Postgres(url);
        assert!(!target.describe().contains("s3cret"));
    }

    #[test]
    fn prefixed_cookie_names_require_secure() {
        let text = err_text(&[
            DB,
            ("ACCESS_COOKIE_NAME", "__Host-access"),
            ("COOKIE_SECURE", "false"),
        ]);
        assert!(text.contains("ACCESS_COOKIE_NAME"), "{text}");
        let text = err_text(&[DB, ("REFRESH_COOKIE_NAME", "__Host-refresh")]);
        assert!(text.contains("REFRESH_COOKIE_NAME"), "{text}");
        assert!(
            settings(&[
                DB,
                ("ACCESS_COOKIE_NAME", "__Host-access"),
                ("REFRESH_COOKIE_NAME", "__Secure-refresh"),
            ])
            .is_ok()
        );
    }

    #[test]
    fn bcrypt_floor_is_relaxed_only_for_tests() {
        assert!(settings(&[DB, ("APP_ENV", "test"), ("BCRYPT_COST", "4")]).is_ok());
        assert!(settings(&[DB, ("APP_ENV", "development"), ("BCRYPT_COST", "9")]).is_err());
    }

    #[test]
    fn secrets_never_show_in_debug_output() {
        let s = settings(&[DB, SECRET]).expect("valid");
        let debug = format!("{s:?}");
        assert!(!debug.contains("0123456789abcdef"));
        assert!(!debug.contains("postgres://"));
    }
}
