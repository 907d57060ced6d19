//! The lookup every section reads through: blank counts as unset, and every
//! failure names its variable.

use std::{fmt, time::Duration};

use super::ConfigError;

pub(super) struct Vars<'a>(&'a dyn Fn(&str) -> Option<String>);

impl<'a> Vars<'a> {
    pub(super) fn new(lookup: &'a dyn Fn(&str) -> Option<String>) -> Self {
        Vars(lookup)
    }

    pub(super) fn get(&self, key: &str) -> Option<String> {
        (self.0)(key).filter(|v| !v.trim().is_empty())
    }

    pub(super) fn parse<T: std::str::FromStr>(
        &self,
        key: &'static str,
        default: T,
    ) -> Result<T, ConfigError> {
        match self.get(key) {
            None => Ok(default),
            Some(v) => v
                .trim()
                .parse()
                .map_err(|_| ConfigError::invalid(key, format!("cannot parse `{}`", v.trim()))),
        }
    }

    pub(super) fn bounded<T>(
        &self,
        key: &'static str,
        default: T,
        min: T,
        max: T,
    ) -> Result<T, ConfigError>
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

    pub(super) fn duration_between(
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

    pub(super) fn bool(&self, key: &'static str, default: bool) -> Result<bool, ConfigError> {
        match self.get(key).map(|v| v.trim().to_ascii_lowercase()) {
            None => Ok(default),
            Some(v) if matches!(v.as_str(), "true" | "1" | "yes" | "on") => Ok(true),
            Some(v) if matches!(v.as_str(), "false" | "0" | "no" | "off") => Ok(false),
            Some(_) => Err(ConfigError::invalid(key, "expected true or false")),
        }
    }

    pub(super) fn non_empty(
        &self,
        key: &'static str,
        default: &str,
    ) -> Result<String, ConfigError> {
        Ok(self
            .get(key)
            .unwrap_or_else(|| default.to_owned())
            .trim()
            .to_owned())
    }

    pub(super) fn cookie_name(
        &self,
        key: &'static str,
        default: &str,
    ) -> Result<String, ConfigError> {
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

/// The text of the file `var` names (settings read files, never write
/// them); the error names the variable and the path.
pub(super) fn read_file(var: &'static str, path: &str) -> Result<String, ConfigError> {
    let path = path.trim();
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::invalid(var, format!("cannot read `{path}`: {e}")))
}

/// A lookup over fixed pairs, for the section tests.
#[cfg(test)]
pub(super) fn lookup(pairs: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> + use<> {
    let map: std::collections::HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    move |k| map.get(k).cloned()
}

/// Runs a section loader over fixed pairs, for the section tests.
#[cfg(test)]
pub(super) fn load_with<T>(pairs: &[(&str, &str)], loader: impl FnOnce(&Vars) -> T) -> T {
    let f = lookup(pairs);
    loader(&Vars::new(&f))
}

/// The error's text, or empty when the load succeeded.
#[cfg(test)]
pub(super) fn error_text<T>(result: Result<T, ConfigError>) -> String {
    result.err().map(|e| e.to_string()).unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

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
    fn blank_values_count_as_unset_and_values_are_trimmed() {
        let f = lookup(&[("BLANK", "  "), ("N", " 7 "), ("NAME", " x ")]);
        let vars = Vars::new(&f);
        assert_eq!(vars.get("BLANK"), None);
        assert_eq!(vars.parse("BLANK", 3u32).expect("default"), 3);
        assert_eq!(vars.parse("N", 3u32).expect("parsed"), 7);
        assert_eq!(vars.non_empty("NAME", "d").expect("name"), "x");
        assert_eq!(vars.non_empty("MISSING", "d").expect("default"), "d");
    }

    #[test]
    fn helpers_name_their_variable_on_bad_values() {
        let f = lookup(&[
            ("N", "ten"),
            ("BIG", "300"),
            ("WAIT", "2h"),
            ("FLAG", "maybe"),
            ("COOKIE", "bad name"),
        ]);
        let vars = Vars::new(&f);
        let text = error_text(vars.parse("N", 1u32));
        assert!(text.contains("N is invalid"), "{text}");
        let text = error_text(vars.bounded("BIG", 1u32, 1, 256));
        assert!(text.contains("BIG") && text.contains("1..=256"), "{text}");
        let text = error_text(vars.duration_between(
            "WAIT",
            Duration::ZERO,
            Duration::ZERO,
            Duration::from_secs(60),
        ));
        assert!(
            text.contains("WAIT") && text.contains("0s and 60s"),
            "{text}"
        );
        assert!(error_text(vars.bool("FLAG", true)).contains("FLAG"));
        assert!(error_text(vars.cookie_name("COOKIE", "c")).contains("COOKIE"));
    }

    #[test]
    fn booleans_accept_the_usual_spellings() {
        let f = lookup(&[("A", "Yes"), ("B", "off"), ("C", "1"), ("D", "FALSE")]);
        let vars = Vars::new(&f);
        assert!(vars.bool("A", false).expect("a"));
        assert!(!vars.bool("B", true).expect("b"));
        assert!(vars.bool("C", false).expect("c"));
        assert!(!vars.bool("D", true).expect("d"));
        assert!(vars.bool("UNSET", true).expect("default"));
    }
}
