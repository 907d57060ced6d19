use super::{ConfigError, vars::Vars};

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

    pub(super) fn parse(value: &str) -> Result<Self, ConfigError> {
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

    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        match vars.get("APP_ENV") {
            Some(value) => Environment::parse(&value),
            None => Ok(Environment::Development),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::load_with;

    fn load(pairs: &[(&str, &str)]) -> Result<Environment, ConfigError> {
        load_with(pairs, Environment::from_vars)
    }

    #[test]
    fn development_is_the_default_and_short_names_are_accepted() {
        assert_eq!(load(&[]).expect("default"), Environment::Development);
        assert_eq!(
            load(&[("APP_ENV", " Prod ")]).expect("prod"),
            Environment::Production
        );
        assert_eq!(
            load(&[("APP_ENV", "dev")]).expect("dev"),
            Environment::Development
        );
        assert_eq!(
            load(&[("APP_ENV", "test")]).expect("test"),
            Environment::Test
        );
        let text = load(&[("APP_ENV", "staging")])
            .expect_err("unknown")
            .to_string();
        assert!(text.contains("APP_ENV"), "{text}");
    }
}
