use super::{ConfigError, Environment, Secret, cpu_count, vars::Vars};

/// Used only in development/test when `PASSWORD_PEPPER` is unset, so that a
/// local database keeps working across restarts. Production refuses it.
pub const DEV_PASSWORD_PEPPER: &str = "development-only-pepper-never-use-in-production!";

#[derive(Debug, Clone)]
pub struct PasswordSettings {
    pub pepper: Secret,
    pub bcrypt_cost: u32,
    pub bcrypt_max_concurrency: usize,
}

impl PasswordSettings {
    pub(super) fn from_vars(vars: &Vars, environment: Environment) -> Result<Self, ConfigError> {
        let production = environment == Environment::Production;
        let pepper = match vars.get("PASSWORD_PEPPER") {
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
        if pepper.expose().len() < 32 {
            return Err(ConfigError::invalid(
                "PASSWORD_PEPPER",
                "must be at least 32 bytes",
            ));
        }
        // Tests hash many passwords; cost 4 keeps them fast.
        let bcrypt_floor = if environment == Environment::Test {
            4
        } else {
            10
        };
        Ok(PasswordSettings {
            pepper,
            bcrypt_cost: vars.bounded("BCRYPT_COST", 12, bcrypt_floor, 31)?,
            bcrypt_max_concurrency: vars.bounded("BCRYPT_MAX_CONCURRENCY", cpu_count(), 1, 256)?,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(
        pairs: &[(&str, &str)],
        environment: Environment,
    ) -> Result<PasswordSettings, ConfigError> {
        load_with(pairs, |vars| PasswordSettings::from_vars(vars, environment))
    }

    fn err_text(pairs: &[(&str, &str)], environment: Environment) -> String {
        error_text(load(pairs, environment))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[], Environment::Development).expect("valid");
        assert_eq!(s.bcrypt_cost, 12);
        assert_eq!(s.pepper.expose(), DEV_PASSWORD_PEPPER.as_bytes());
        assert_eq!(s.bcrypt_max_concurrency, cpu_count().clamp(1, 256));
    }

    #[test]
    fn production_requires_an_explicit_pepper() {
        let text = err_text(&[], Environment::Production);
        assert!(text.contains("PASSWORD_PEPPER"), "{text}");
        let text = err_text(
            &[("PASSWORD_PEPPER", DEV_PASSWORD_PEPPER)],
            Environment::Production,
        );
        assert!(text.contains("PASSWORD_PEPPER"), "{text}");
        assert!(
            load(
                &[("PASSWORD_PEPPER", "a-production-pepper-of-32-bytes-or-more")],
                Environment::Production
            )
            .is_ok()
        );
    }

    #[test]
    fn bcrypt_floor_is_relaxed_only_for_tests() {
        assert!(load(&[("BCRYPT_COST", "4")], Environment::Test).is_ok());
        assert!(load(&[("BCRYPT_COST", "9")], Environment::Development).is_err());
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pair, var) in [
            (("BCRYPT_COST", "8"), "BCRYPT_COST"),
            (("BCRYPT_COST", "32"), "BCRYPT_COST"),
            (("BCRYPT_MAX_CONCURRENCY", "0"), "BCRYPT_MAX_CONCURRENCY"),
            (("PASSWORD_PEPPER", "short"), "PASSWORD_PEPPER"),
        ] {
            let text = err_text(&[pair], Environment::Development);
            assert!(text.contains(var), "{pair:?} gave `{text}`");
        }
    }
}
