use std::time::Duration;

use super::{ConfigError, vars::Vars};

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

/// Throttling shared by all instances through the database (src/throttle.rs) and the per-client
/// bound on password checks (src/accounts/).
#[derive(Debug, Clone)]
pub struct ThrottleSettings {
    pub login_per_account: RateLimit,
    pub login_per_ip: RateLimit,
    pub signup_per_ip: RateLimit,
    /// Password checks one client IP may have in flight (src/accounts/).
    pub login_concurrency_per_ip: usize,
    /// How long a login may wait for its turn (in-flight attempts to
    /// settle, a bcrypt slot) before it gets 429.
    pub login_queue_timeout: Duration,
}

impl ThrottleSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
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
            login_concurrency_per_ip: vars.bounded("LOGIN_MAX_CONCURRENT_PER_IP", 2, 1, 64)?,
            login_queue_timeout: vars.duration_between(
                "LOGIN_QUEUE_TIMEOUT",
                Duration::from_secs(10),
                Duration::ZERO,
                Duration::from_secs(60),
            )?,
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
        Ok(throttle)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::lookup;

    fn load(pairs: &[(&str, &str)]) -> Result<ThrottleSettings, ConfigError> {
        let f = lookup(pairs);
        ThrottleSettings::from_vars(&Vars::new(&f))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let t = load(&[]).expect("valid");
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
        assert_eq!(t.login_concurrency_per_ip, 2);
        assert_eq!(t.login_queue_timeout, Duration::from_secs(10));
        // OWASP ASVS: no more than 100 failed attempts per account per hour.
        assert_eq!(t.login_per_account.most_in(Duration::from_secs(3600)), 50);
    }

    #[test]
    fn throttle_settings_are_read_and_checked() {
        let t = load(&[
            ("LOGIN_MAX_FAILURES_PER_ACCOUNT", "3"),
            ("LOGIN_MAX_FAILURES_PER_IP", "7"),
            ("LOGIN_FAILURE_WINDOW", "2s"),
            ("SIGNUP_MAX_PER_IP", "4"),
            ("SIGNUP_WINDOW", "30m"),
            ("LOGIN_MAX_CONCURRENT_PER_IP", "4"),
            ("LOGIN_QUEUE_TIMEOUT", "0"),
        ])
        .expect("valid");
        assert_eq!(t.login_per_account.max, 3);
        assert_eq!(t.login_per_ip.max, 7);
        assert_eq!(t.login_per_ip.window, Duration::from_secs(2));
        assert_eq!(t.login_per_account.window, Duration::from_secs(2));
        assert_eq!(t.signup_per_ip.max, 4);
        assert_eq!(t.signup_per_ip.window, Duration::from_secs(1800));
        assert_eq!(t.login_concurrency_per_ip, 4);
        assert_eq!(t.login_queue_timeout, Duration::ZERO);
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, var) in [
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
            (
                ("LOGIN_MAX_CONCURRENT_PER_IP", "0"),
                "LOGIN_MAX_CONCURRENT_PER_IP",
            ),
            (("LOGIN_QUEUE_TIMEOUT", "2m"), "LOGIN_QUEUE_TIMEOUT"),
        ] {
            let text = load(&[pair])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
    }
}
