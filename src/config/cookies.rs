use super::{ConfigError, Environment, vars::Vars};

/// Production's names. `__Host-` makes the browser refuse an access cookie
/// set with a `Domain` or from a sibling subdomain (cookie tossing), or
/// without `Secure` and `Path=/`; `__Secure-` is the most the refresh
/// cookie can have, its Path being the refresh route.
const PRODUCTION_NAMES: (&str, &str) = ("__Host-accessToken", "__Secure-refreshToken");
/// Development and test: plain names, which also work with
/// `COOKIE_SECURE=false` and in browsers that do not treat
/// `http://localhost` as secure.
const DEVELOPMENT_NAMES: (&str, &str) = ("accessToken", "refreshToken");

#[derive(Debug, Clone)]
pub struct CookieSettings {
    pub access_name: String,
    pub refresh_name: String,
    pub secure: bool,
}

impl CookieSettings {
    pub(super) fn from_vars(vars: &Vars, environment: Environment) -> Result<Self, ConfigError> {
        let (access, refresh) = if environment == Environment::Production {
            PRODUCTION_NAMES
        } else {
            DEVELOPMENT_NAMES
        };
        let cookies = CookieSettings {
            access_name: vars.cookie_name("ACCESS_COOKIE_NAME", access)?,
            refresh_name: vars.cookie_name("REFRESH_COOKIE_NAME", refresh)?,
            secure: vars.bool("COOKIE_SECURE", true)?,
        };
        cookies.validate(environment == Environment::Production)?;
        Ok(cookies)
    }

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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(
        pairs: &[(&str, &str)],
        environment: Environment,
    ) -> Result<CookieSettings, ConfigError> {
        load_with(pairs, |vars| CookieSettings::from_vars(vars, environment))
    }

    fn err_text(pairs: &[(&str, &str)]) -> String {
        error_text(load(pairs, Environment::Development))
    }

    #[test]
    fn defaults_are_the_documented_ones() {
        let s = load(&[], Environment::Development).expect("valid");
        assert_eq!(s.access_name, "accessToken");
        assert_eq!(s.refresh_name, "refreshToken");
        assert!(s.secure);
        let s = load(&[("COOKIE_SECURE", "false")], Environment::Development).expect("valid");
        assert_eq!(
            (s.access_name.as_str(), s.refresh_name.as_str()),
            DEVELOPMENT_NAMES
        );
    }

    #[test]
    fn production_defaults_to_prefixed_names() {
        let s = load(&[], Environment::Production).expect("valid");
        assert_eq!(s.access_name, "__Host-accessToken");
        assert_eq!(s.refresh_name, "__Secure-refreshToken");
        // The example's names are the defaults.
        let example = include_str!("../../config/production.env.example");
        assert!(example.contains("ACCESS_COOKIE_NAME=__Host-accessToken"));
        assert!(example.contains("REFRESH_COOKIE_NAME=__Secure-refreshToken"));
    }

    #[test]
    fn prefixed_cookie_names_require_secure() {
        let text = err_text(&[
            ("ACCESS_COOKIE_NAME", "__Host-access"),
            ("COOKIE_SECURE", "false"),
        ]);
        assert!(text.contains("ACCESS_COOKIE_NAME"), "{text}");
        let text = err_text(&[("REFRESH_COOKIE_NAME", "__Host-refresh")]);
        assert!(text.contains("REFRESH_COOKIE_NAME"), "{text}");
        assert!(
            load(
                &[
                    ("ACCESS_COOKIE_NAME", "__Host-access"),
                    ("REFRESH_COOKIE_NAME", "__Secure-refresh"),
                ],
                Environment::Development
            )
            .is_ok()
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for (pairs, var) in [
            (&[("COOKIE_SECURE", "maybe")][..], "COOKIE_SECURE"),
            (
                &[("ACCESS_COOKIE_NAME", "bad name")][..],
                "ACCESS_COOKIE_NAME",
            ),
            (
                &[
                    ("ACCESS_COOKIE_NAME", "same"),
                    ("REFRESH_COOKIE_NAME", "same"),
                ][..],
                "REFRESH_COOKIE_NAME",
            ),
        ] {
            let text = err_text(pairs);
            assert!(text.contains(var), "{pairs:?} gave `{text}`");
        }
        let text = load(&[("COOKIE_SECURE", "false")], Environment::Production)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(text.contains("COOKIE_SECURE"), "{text}");
    }
}
