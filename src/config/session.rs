use std::time::Duration;

use super::{ConfigError, Environment, Secret, vars::Vars};

/// Access tokens and refresh-token rotation.
#[derive(Debug, Clone)]
pub struct SessionSettings {
    /// Signs new access tokens; its successor key derives refresh tokens.
    pub access_token_secret: Secret,
    /// Retired keys: their access tokens still verify until they expire,
    /// and refresh retries across the rotation still get their successor.
    pub access_token_previous_secrets: Vec<Secret>,
    /// `ACCESS_TOKEN_SECRET` was not set (development/test): the secret is
    /// random, and start-up may swap in the development secret file.
    pub access_token_secret_generated: bool,
    pub access_ttl: Duration,
    pub refresh_ttl: Duration,
    pub issuer: String,
    pub audience: String,
    pub leeway: Duration,
    /// Non-browser mode: tokens in JSON bodies, only when a request asks for it.
    pub token_body_delivery: bool,
    /// A refresh with the immediately previous token succeeds this long
    /// after the rotation (several tabs, lost responses); later it is theft.
    pub refresh_reuse_window: Duration,
    /// A session not refreshed for this long ends; `None` (`0`) is off.
    pub refresh_idle_timeout: Option<Duration>,
}

impl SessionSettings {
    pub(super) fn from_vars(vars: &Vars, environment: Environment) -> Result<Self, ConfigError> {
        let configured_secret = vars.get("ACCESS_TOKEN_SECRET");
        let access_token_secret_generated = configured_secret.is_none();
        let access_token_secret = match configured_secret {
            Some(secret) => Secret::new(secret.into_bytes()),
            None if environment == Environment::Production => {
                return Err(ConfigError::Missing {
                    var: "ACCESS_TOKEN_SECRET",
                    hint: " in production (at least 32 random bytes)",
                });
            }
            None => crate::random::token()
                .map(|secret| Secret::new(secret.into_bytes()))
                .map_err(|source| ConfigError::Random {
                    var: "ACCESS_TOKEN_SECRET",
                    source,
                })?,
        };
        if access_token_secret.expose().len() < 32 {
            return Err(ConfigError::invalid(
                "ACCESS_TOKEN_SECRET",
                "must be at least 32 bytes",
            ));
        }
        let access_token_previous_secrets = previous_secrets(vars, &access_token_secret)?;
        let access_ttl = vars.duration_between(
            "ACCESS_TOKEN_TTL",
            Duration::from_secs(15 * 60),
            Duration::from_secs(1),
            Duration::from_secs(24 * 3600),
        )?;
        let refresh_idle_timeout = Some(vars.duration_between(
            "REFRESH_IDLE_TIMEOUT",
            Duration::from_secs(24 * 3600),
            Duration::ZERO,
            Duration::from_secs(365 * 24 * 3600),
        )?)
        .filter(|idle| !idle.is_zero());
        // A client refreshes when its access token runs out: an idle timeout
        // no longer than that would end sessions in constant use.
        if refresh_idle_timeout.is_some_and(|idle| idle <= access_ttl) {
            return Err(ConfigError::invalid(
                "REFRESH_IDLE_TIMEOUT",
                "must be longer than ACCESS_TOKEN_TTL (or 0 for off)",
            ));
        }
        Ok(SessionSettings {
            access_token_secret,
            access_token_previous_secrets,
            access_token_secret_generated,
            access_ttl,
            refresh_ttl: vars.duration_between(
                "REFRESH_TOKEN_TTL",
                Duration::from_secs(7 * 24 * 3600),
                Duration::from_secs(1),
                Duration::from_secs(365 * 24 * 3600),
            )?,
            issuer: vars.non_empty("JWT_ISSUER", "bff-gateway")?,
            audience: vars.non_empty("JWT_AUDIENCE", "bff-gateway")?,
            leeway: vars.duration_between(
                "JWT_LEEWAY",
                Duration::from_secs(5),
                Duration::ZERO,
                Duration::from_secs(30),
            )?,
            token_body_delivery: vars.bool("TOKEN_BODY_DELIVERY", false)?,
            refresh_reuse_window: vars.duration_between(
                "REFRESH_REUSE_WINDOW",
                Duration::from_secs(30),
                Duration::ZERO,
                Duration::from_secs(300),
            )?,
            refresh_idle_timeout,
        })
    }
}

const PREVIOUS_SECRETS: &str = "ACCESS_TOKEN_PREVIOUS_SECRETS";

/// `ACCESS_TOKEN_PREVIOUS_SECRETS`: comma-separated, each entry trimmed. A
/// bad entry is named by its position, never by its value.
fn previous_secrets(vars: &Vars, current: &Secret) -> Result<Vec<Secret>, ConfigError> {
    let Some(list) = vars.get(PREVIOUS_SECRETS) else {
        return Ok(Vec::new());
    };
    let entries: Vec<&[u8]> = list.split(',').map(|e| e.trim().as_bytes()).collect();
    let count = entries.len();
    let mut secrets: Vec<Secret> = Vec::with_capacity(count);
    for (i, entry) in entries.into_iter().enumerate() {
        let which = format!("entry {} of {count}", i + 1);
        let problem = if entry.is_empty() {
            Some(format!("{which} is empty"))
        } else if entry.len() < 32 {
            Some(format!("{which} is shorter than 32 bytes"))
        } else if entry == current.expose() {
            Some(format!(
                "{which} is the current ACCESS_TOKEN_SECRET; list only retired keys"
            ))
        } else {
            let repeated = secrets.iter().position(|s| s.expose() == entry);
            repeated.map(|j| format!("{which} repeats entry {}", j + 1))
        };
        if let Some(reason) = problem {
            return Err(ConfigError::invalid(PREVIOUS_SECRETS, reason));
        }
        secrets.push(Secret::new(entry));
    }
    Ok(secrets)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    const SECRET: (&str, &str) = ("ACCESS_TOKEN_SECRET", "0123456789abcdef0123456789abcdef");

    fn load(
        pairs: &[(&str, &str)],
        environment: Environment,
    ) -> Result<SessionSettings, ConfigError> {
        load_with(pairs, |vars| SessionSettings::from_vars(vars, environment))
    }

    fn err_text(pairs: &[(&str, &str)], environment: Environment) -> String {
        error_text(load(pairs, environment))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[], Environment::Development).expect("valid");
        assert_eq!(s.access_ttl, Duration::from_secs(900));
        assert_eq!(s.refresh_ttl, Duration::from_secs(7 * 86_400));
        assert!(s.leeway <= Duration::from_secs(30));
        assert!(!s.token_body_delivery);
        assert_eq!(s.refresh_reuse_window, Duration::from_secs(30));
        assert_eq!(s.refresh_idle_timeout, Some(Duration::from_secs(86_400)));
        assert_eq!(s.issuer, "bff-gateway");
        assert_eq!(s.audience, "bff-gateway");
    }

    #[test]
    fn an_unset_secret_is_random_outside_production_and_required_in_it() {
        let first = load(&[], Environment::Development).expect("valid");
        let second = load(&[], Environment::Test).expect("valid");
        assert!(first.access_token_secret_generated);
        assert!(first.access_token_secret.expose().len() >= 32);
        assert_ne!(
            first.access_token_secret.expose(),
            second.access_token_secret.expose()
        );
        let text = err_text(&[], Environment::Production);
        assert!(text.contains("ACCESS_TOKEN_SECRET"), "{text}");
        let s = load(&[SECRET], Environment::Production).expect("valid");
        assert!(!s.access_token_secret_generated);
        assert_eq!(s.access_token_secret.expose(), SECRET.1.as_bytes());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, var) in [
            (("ACCESS_TOKEN_SECRET", "short"), "ACCESS_TOKEN_SECRET"),
            (("ACCESS_TOKEN_TTL", "7 days"), "ACCESS_TOKEN_TTL"),
            (("REFRESH_TOKEN_TTL", "366d"), "REFRESH_TOKEN_TTL"),
            (("JWT_LEEWAY", "5m"), "JWT_LEEWAY"),
            (("TOKEN_BODY_DELIVERY", "maybe"), "TOKEN_BODY_DELIVERY"),
            (("REFRESH_REUSE_WINDOW", "10m"), "REFRESH_REUSE_WINDOW"),
            (("REFRESH_IDLE_TIMEOUT", "366d"), "REFRESH_IDLE_TIMEOUT"),
            (("REFRESH_IDLE_TIMEOUT", "15m"), "REFRESH_IDLE_TIMEOUT"),
        ] {
            let text = err_text(&[pair], Environment::Development);
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
    }

    #[test]
    fn the_idle_timeout_is_off_at_zero_and_must_outlast_the_access_token() {
        let off = load(&[("REFRESH_IDLE_TIMEOUT", "0")], Environment::Test).expect("valid");
        assert_eq!(off.refresh_idle_timeout, None);
        let pairs = [("ACCESS_TOKEN_TTL", "1h"), ("REFRESH_IDLE_TIMEOUT", "1h")];
        let text = err_text(&pairs, Environment::Test);
        assert!(text.contains("longer than ACCESS_TOKEN_TTL"), "{text}");
        let pairs = [("ACCESS_TOKEN_TTL", "1h"), ("REFRESH_IDLE_TIMEOUT", "61m")];
        let s = load(&pairs, Environment::Test).expect("valid");
        assert_eq!(s.refresh_idle_timeout, Some(Duration::from_secs(61 * 60)));
    }

    #[test]
    fn previous_secrets_are_listed_trimmed_and_each_entry_is_checked_by_position() {
        let old = "old-key-old-key-old-key-old-key-0";
        let older = "older-key-older-key-older-key-00";
        let list = format!(" {old} , {older}");
        let s = load(
            &[SECRET, (PREVIOUS_SECRETS, &list)],
            Environment::Production,
        )
        .expect("valid");
        let listed: Vec<&[u8]> = s
            .access_token_previous_secrets
            .iter()
            .map(Secret::expose)
            .collect();
        assert_eq!(listed, [old.as_bytes(), older.as_bytes()]);
        assert!(
            load(&[SECRET], Environment::Production)
                .expect("valid")
                .access_token_previous_secrets
                .is_empty()
        );

        let short = "short-secret";
        for (list, expected) in [
            (
                format!("{old},{short}"),
                "entry 2 of 2 is shorter than 32 bytes",
            ),
            (format!("{old},,{older}"), "entry 2 of 3 is empty"),
            (format!("{old},"), "entry 2 of 2 is empty"),
            (
                format!("{older},{}", SECRET.1),
                "entry 2 of 2 is the current",
            ),
            (
                format!("{old},{older},{old}"),
                "entry 3 of 3 repeats entry 1",
            ),
        ] {
            let text = err_text(&[SECRET, (PREVIOUS_SECRETS, &list)], Environment::Test);
            assert!(text.contains(PREVIOUS_SECRETS), "{text}");
            assert!(text.contains(expected), "{list}: {text}");
            for secret in [old, older, short, SECRET.1] {
                assert!(!text.contains(secret), "a secret in `{text}`");
            }
        }
    }
}
