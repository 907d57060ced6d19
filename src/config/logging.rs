use super::{ConfigError, vars::Vars};

/// `LOG_FORMAT`: how src/telemetry.rs writes each line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum LogFormat {
    Text,
    /// One JSON object per line.
    Json,
}

#[derive(Debug, Clone)]
pub struct LoggingSettings {
    pub format: LogFormat,
}

impl LoggingSettings {
    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let format = match vars
            .get("LOG_FORMAT")
            .map(|v| v.trim().to_ascii_lowercase())
        {
            None => LogFormat::Text,
            Some(v) if v == "text" => LogFormat::Text,
            Some(v) if v == "json" => LogFormat::Json,
            Some(_) => return Err(ConfigError::invalid("LOG_FORMAT", "expected text or json")),
        };
        Ok(LoggingSettings { format })
    }

    /// Read before the other settings: the logger starts first, so that
    /// their errors are logged in the chosen format.
    pub fn from_env() -> Result<Self, ConfigError> {
        let lookup = |key: &str| std::env::var(key).ok();
        Self::from_vars(&Vars::new(&lookup))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(pairs: &[(&str, &str)]) -> Result<LoggingSettings, ConfigError> {
        load_with(pairs, LoggingSettings::from_vars)
    }

    #[test]
    fn text_is_the_default_and_json_is_chosen_by_name() {
        assert_eq!(load(&[]).expect("valid").format, LogFormat::Text);
        assert_eq!(
            load(&[("LOG_FORMAT", " JSON ")]).expect("valid").format,
            LogFormat::Json
        );
        assert_eq!(
            load(&[("LOG_FORMAT", "text")]).expect("valid").format,
            LogFormat::Text
        );
    }

    #[test]
    fn other_formats_are_refused_by_name() {
        assert!(error_text(load(&[("LOG_FORMAT", "logfmt")])).contains("LOG_FORMAT"));
    }
}
