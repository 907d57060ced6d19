use super::{ConfigError, vars::Vars};

#[derive(Debug, Clone)]
pub struct CorsSettings {
    pub allowed_origins: Vec<String>,
}

impl CorsSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let allowed_origins = parse_origins(&vars.get("CORS_ALLOWED_ORIGINS").unwrap_or_default())
            .map_err(|reason| ConfigError::invalid("CORS_ALLOWED_ORIGINS", reason))?;
        Ok(CorsSettings { allowed_origins })
    }
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::load_with;

    fn load(pairs: &[(&str, &str)]) -> Result<CorsSettings, ConfigError> {
        load_with(pairs, CorsSettings::from_vars)
    }

    #[test]
    fn no_origins_by_default_and_listed_ones_are_normalized() {
        assert!(load(&[]).expect("valid").allowed_origins.is_empty());
        let s = load(&[(
            "CORS_ALLOWED_ORIGINS",
            "https://App.test, http://localhost:4200,",
        )])
        .expect("valid");
        assert_eq!(
            s.allowed_origins,
            ["https://app.test", "http://localhost:4200"]
        );
    }

    #[test]
    fn bad_values_name_their_variable() {
        for value in [
            "*",
            "http://a.test/path",
            "a.test",
            "https://",
            "https://a.test/",
        ] {
            let text = load(&[("CORS_ALLOWED_ORIGINS", value)])
                .err()
                .map(|e| e.to_string())
                .unwrap_or_default();
            assert!(
                text.contains("CORS_ALLOWED_ORIGINS"),
                "{value} gave `{text}`"
            );
        }
    }
}
