use std::time::Duration;

use super::{ConfigError, vars::Vars};

/// The per-instance session-state cache (src/session/cache.rs).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionCacheSettings {
    /// Users whose session state is kept; 0 turns the cache off.
    pub max_entries: usize,
    /// The backstop: an entry older than this is looked up again, so a lost
    /// invalidation cannot keep a revoked session alive longer.
    pub max_age: Duration,
}

impl SessionCacheSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        Ok(SessionCacheSettings {
            max_entries: vars.bounded("SESSION_CACHE_MAX_ENTRIES", 100_000, 0, 10_000_000)?,
            max_age: vars.duration_between(
                "SESSION_CACHE_MAX_AGE",
                Duration::from_secs(60),
                Duration::from_secs(1),
                Duration::from_secs(3600),
            )?,
        })
    }

    pub fn enabled(&self) -> bool {
        self.max_entries > 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(pairs: &[(&str, &str)]) -> Result<SessionCacheSettings, ConfigError> {
        load_with(pairs, SessionCacheSettings::from_vars)
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[]).expect("valid");
        assert_eq!(s.max_entries, 100_000);
        assert_eq!(s.max_age, Duration::from_secs(60));
        assert!(s.enabled());
    }

    #[test]
    fn zero_entries_turns_the_cache_off() {
        let s = load(&[
            ("SESSION_CACHE_MAX_ENTRIES", "0"),
            ("SESSION_CACHE_MAX_AGE", "5s"),
        ])
        .expect("valid");
        assert!(!s.enabled());
        assert_eq!(s.max_age, Duration::from_secs(5));
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, var) in [
            (
                ("SESSION_CACHE_MAX_ENTRIES", "-1"),
                "SESSION_CACHE_MAX_ENTRIES",
            ),
            (
                ("SESSION_CACHE_MAX_ENTRIES", "20000000"),
                "SESSION_CACHE_MAX_ENTRIES",
            ),
            (("SESSION_CACHE_MAX_AGE", "0s"), "SESSION_CACHE_MAX_AGE"),
            (("SESSION_CACHE_MAX_AGE", "2h"), "SESSION_CACHE_MAX_AGE"),
        ] {
            let text = error_text(load(&[pair]));
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
    }
}
