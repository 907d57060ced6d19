//! The APIs the gateway relays to (`/api/upstream/{name}/…`, src/relay/):
//! `UPSTREAMS=orders=http://127.0.0.1:7001;reports=https://reports.internal/api|role=admin`.
//! Entries are separated by `;`, options follow the URL after `|`. Every
//! error names the entry by position and name, so a typo in a long list is
//! found at once.

use std::{collections::HashSet, time::Duration};

use super::{ConfigError, parse_duration, vars::Vars};
use crate::role::Role;

const VAR: &str = "UPSTREAMS";
const NAME_MAX: usize = 32;
const AUDIENCE_MAX: usize = 256;
const MIB: u64 = 1024 * 1024;

const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(30);
const DEFAULT_MAX_BODY: u64 = 10 * MIB;

const TIMEOUT_MIN: Duration = Duration::from_millis(10);
const CONNECT_TIMEOUT_MAX: Duration = Duration::from_secs(60);
const TIMEOUT_MAX: Duration = Duration::from_secs(3600);
const MAX_BODY_MAX: u64 = 1024 * MIB;

/// One upstream API.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Upstream {
    /// `[a-z0-9-]{1,32}`: the path segment after `/api/upstream/` and the
    /// metrics label.
    pub name: String,
    /// `scheme://host[:port]`, without a path.
    pub origin: String,
    /// The base URL's path without its trailing `/` (`""` for the root):
    /// every relayed path lies below it.
    pub base_path: String,
    /// Who may use it: `admin` upstreams refuse plain users (403).
    pub role: Role,
    /// The relay token's `aud` (default: the name).
    pub audience: String,
    /// To establish the TCP (and TLS) connection.
    pub connect_timeout: Duration,
    /// The whole exchange, from sending the request to the last byte of the
    /// response body.
    pub timeout: Duration,
    /// Request bodies above this many bytes get 413.
    pub max_body: u64,
    /// Only paths at or below this prefix (segments, without a trailing
    /// `/`) are relayed; `None`: every path.
    pub allow: Option<String>,
}

impl Upstream {
    /// The base URL as configured, normalised (no trailing `/`).
    pub fn base_url(&self) -> String {
        format!("{}{}", self.origin, self.base_path)
    }
}

/// The configured upstreams, in the order given.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Upstreams(Vec<Upstream>);

impl Upstreams {
    pub fn get(&self, name: &str) -> Option<&Upstream> {
        self.0.iter().find(|u| u.name == name)
    }

    pub fn iter(&self) -> impl Iterator<Item = &Upstream> {
        self.0.iter()
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub(super) fn from_vars(vars: &Vars) -> Result<Self, ConfigError> {
        let defaults = Defaults {
            connect_timeout: timeout_var(vars, "RELAY_CONNECT_TIMEOUT", DEFAULT_CONNECT_TIMEOUT)?,
            timeout: timeout_var(vars, "RELAY_TIMEOUT", DEFAULT_TIMEOUT)?,
            max_body: match vars.get("RELAY_MAX_BODY") {
                None => DEFAULT_MAX_BODY,
                Some(v) => parse_size(&v)
                    .map_err(|reason| ConfigError::invalid("RELAY_MAX_BODY", reason))?,
            },
        };
        if defaults.connect_timeout > defaults.timeout {
            return Err(ConfigError::invalid(
                "RELAY_CONNECT_TIMEOUT",
                "must not be longer than RELAY_TIMEOUT",
            ));
        }
        match vars.get(VAR) {
            None => Ok(Upstreams::default()),
            Some(list) => {
                parse(&list, &defaults).map_err(|reason| ConfigError::invalid(VAR, reason))
            }
        }
    }
}

/// `RELAY_CONNECT_TIMEOUT`, `RELAY_TIMEOUT` and `RELAY_MAX_BODY`: what an
/// entry without its own option gets.
#[derive(Debug, Clone, Copy)]
struct Defaults {
    connect_timeout: Duration,
    timeout: Duration,
    max_body: u64,
}

fn timeout_var(vars: &Vars, key: &'static str, default: Duration) -> Result<Duration, ConfigError> {
    let max = if key == "RELAY_CONNECT_TIMEOUT" {
        CONNECT_TIMEOUT_MAX
    } else {
        TIMEOUT_MAX
    };
    match vars.get(key) {
        None => Ok(default),
        Some(v) => parse_timeout(&v, max).map_err(|reason| ConfigError::invalid(key, reason)),
    }
}

/// The whole list; blank entries (a trailing `;`) are skipped but counted,
/// so positions match what the operator sees.
fn parse(list: &str, defaults: &Defaults) -> Result<Upstreams, String> {
    let mut upstreams = Vec::new();
    let mut names = HashSet::new();
    for (index, entry) in list.split(';').enumerate() {
        let entry = entry.trim();
        if entry.is_empty() {
            continue;
        }
        let position = index + 1;
        let upstream = parse_entry(entry, defaults).map_err(|(name, reason)| match name {
            Some(name) => format!("entry {position} ({name}): {reason}"),
            None => format!("entry {position}: {reason}"),
        })?;
        if !names.insert(upstream.name.clone()) {
            return Err(format!(
                "entry {position} ({}): the name is already used by an earlier entry",
                upstream.name
            ));
        }
        upstreams.push(upstream);
    }
    if upstreams.is_empty() {
        return Err("no entries (write name=url, separated by `;`)".into());
    }
    Ok(Upstreams(upstreams))
}

/// One `name=url|option=value|…`; the error carries the name once it is known.
fn parse_entry(entry: &str, defaults: &Defaults) -> Result<Upstream, (Option<String>, String)> {
    let mut parts = entry.split('|');
    let head = parts.next().unwrap_or_default();
    let Some((name, url)) = head.split_once('=') else {
        return Err((None, format!("`{}` is not name=url", shown(head))));
    };
    let name = name.trim();
    check_name(name).map_err(|reason| (None, reason))?;
    let fail = |reason: String| (Some(name.to_owned()), reason);
    let (origin, base_path) = parse_base_url(url.trim()).map_err(fail)?;
    let mut upstream = Upstream {
        name: name.to_owned(),
        origin,
        base_path,
        role: Role::User,
        audience: name.to_owned(),
        connect_timeout: defaults.connect_timeout,
        timeout: defaults.timeout,
        max_body: defaults.max_body,
        allow: None,
    };
    let mut seen = HashSet::new();
    for option in parts {
        let option = option.trim();
        let Some((key, value)) = option.split_once('=') else {
            return Err(fail(format!("option `{}` is not key=value", shown(option))));
        };
        let (key, value) = (key.trim(), value.trim());
        if !seen.insert(key.to_owned()) {
            return Err(fail(format!("option `{}` is given twice", shown(key))));
        }
        apply_option(&mut upstream, key, value)
            .map_err(|reason| fail(format!("{key}: {reason}")))?;
    }
    if upstream.connect_timeout > upstream.timeout {
        return Err(fail(
            "connect_timeout must not be longer than timeout".into(),
        ));
    }
    Ok(upstream)
}

fn apply_option(upstream: &mut Upstream, key: &str, value: &str) -> Result<(), String> {
    match key {
        "role" => {
            upstream.role = value
                .parse()
                .map_err(|_| format!("`{}` is not user or admin", shown(value)))?;
        }
        "audience" => {
            let visible = value.bytes().all(|b| b.is_ascii_graphic());
            if value.is_empty() || value.len() > AUDIENCE_MAX || !visible {
                return Err(format!(
                    "must be 1 to {AUDIENCE_MAX} visible ASCII characters"
                ));
            }
            upstream.audience = value.to_owned();
        }
        "connect_timeout" => upstream.connect_timeout = parse_timeout(value, CONNECT_TIMEOUT_MAX)?,
        "timeout" => upstream.timeout = parse_timeout(value, TIMEOUT_MAX)?,
        "max_body" => upstream.max_body = parse_size(value)?,
        "allow" => upstream.allow = parse_allow(value)?,
        other => {
            return Err(format!(
                "unknown option `{}` (known: role, audience, connect_timeout, timeout, max_body, allow)",
                shown(other)
            ));
        }
    }
    Ok(())
}

fn check_name(name: &str) -> Result<(), String> {
    let valid = (1..=NAME_MAX).contains(&name.len())
        && name
            .bytes()
            .all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'-');
    if valid {
        Ok(())
    } else {
        Err(format!(
            "name `{}` must be 1 to {NAME_MAX} of a-z, 0-9 and -",
            shown(name)
        ))
    }
}

/// `http(s)://host[:port][/path]` into (origin, path without trailing `/`).
/// No credentials (they would travel with every request and show in logs),
/// no query or fragment (the relayed request brings its own query), no
/// path that is not plain segments.
fn parse_base_url(url: &str) -> Result<(String, String), String> {
    let (scheme, rest) = url.split_once("://").ok_or_else(|| {
        format!(
            "base URL `{}` has no scheme (http:// or https://)",
            shown(url)
        )
    })?;
    if scheme != "http" && scheme != "https" {
        return Err(format!(
            "base URL scheme `{}` is not http or https",
            shown(scheme)
        ));
    }
    if rest.contains('?') || rest.contains('#') {
        return Err("base URL must not have a query or fragment".into());
    }
    let (authority, path) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    if authority.is_empty() {
        return Err("base URL has no host".into());
    }
    if authority.contains('@') {
        return Err("base URL must not contain credentials (user@host)".into());
    }
    let uri: actix_web::http::Uri = url
        .parse()
        .map_err(|_| format!("base URL `{}` is not a valid URL", shown(url)))?;
    if uri.host().is_none_or(str::is_empty) {
        return Err("base URL has no host".into());
    }
    // `Uri` reports an out-of-range port as no port at all.
    let port = if authority.ends_with(']') {
        None
    } else {
        authority.rsplit_once(':').map(|(_, port)| port)
    };
    if port.is_some_and(|p| p.parse::<u16>().map_or(true, |n| n == 0)) {
        return Err("base URL port must be 1 to 65535".into());
    }
    let path = path.strip_suffix('/').unwrap_or(path);
    check_plain_path(path).map_err(|reason| format!("base URL path {reason}"))?;
    Ok((format!("{scheme}://{authority}"), path.to_owned()))
}

/// `/a/b` (or empty): segments of unreserved and sub-delim characters, none
/// empty, `.` or `..`, no percent-encoding.
fn check_plain_path(path: &str) -> Result<(), String> {
    if path.is_empty() {
        return Ok(());
    }
    let Some(rest) = path.strip_prefix('/') else {
        return Err(format!("`{}` must start with /", shown(path)));
    };
    for segment in rest.split('/') {
        if segment.is_empty() || segment == "." || segment == ".." {
            return Err(format!(
                "`{}` has an empty, `.` or `..` segment",
                shown(path)
            ));
        }
        let plain = segment
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b"-._~!$&'()*+,;=:@".contains(&b));
        if !plain {
            return Err(format!(
                "`{}` may only use letters, digits and -._~!$&'()*+,;=:@ (no percent-encoding)",
                shown(path)
            ));
        }
    }
    Ok(())
}

/// `allow=/v1/`: a path prefix matched on segment boundaries; `/` alone
/// allows everything.
fn parse_allow(value: &str) -> Result<Option<String>, String> {
    let prefix = value.strip_suffix('/').unwrap_or(value);
    if !value.starts_with('/') {
        return Err(format!("`{}` must start with /", shown(value)));
    }
    check_plain_path(prefix)?;
    Ok((!prefix.is_empty()).then(|| prefix.to_owned()))
}

/// A timeout: the shared grammar (`30s`, `2m`, …) plus `ms` for sub-second
/// ones; at least 10 ms.
fn parse_timeout(value: &str, max: Duration) -> Result<Duration, String> {
    let value = value.trim();
    let duration = match value.strip_suffix("ms") {
        Some(millis) => millis
            .parse::<u64>()
            .map(Duration::from_millis)
            .map_err(|_| format!("`{}` is not a duration like 500ms, 30s or 2m", shown(value)))?,
        None => parse_duration(value)?,
    };
    if duration < TIMEOUT_MIN || duration > max {
        return Err(format!(
            "`{}` is outside 10ms..={}s",
            shown(value),
            max.as_secs()
        ));
    }
    Ok(duration)
}

/// A size in bytes: `1048576`, `512KiB`, `10MiB`, `1GiB` (also `kB`, `MB`,
/// `GB` in powers of ten); at most 1 GiB.
fn parse_size(value: &str) -> Result<u64, String> {
    let value = value.trim();
    let split = value
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(value.len());
    let (digits, unit) = value.split_at(split);
    let amount: u64 = digits.parse().map_err(|_| {
        format!(
            "`{}` is not a size like 1048576, 512KiB or 10MiB",
            shown(value)
        )
    })?;
    let factor: u64 = match unit.trim() {
        "" | "B" => 1,
        "KiB" => 1024,
        "MiB" => MIB,
        "GiB" => 1024 * MIB,
        "kB" | "KB" => 1000,
        "MB" => 1_000_000,
        "GB" => 1_000_000_000,
        other => {
            return Err(format!(
                "`{}` has an unknown unit (use B, KiB, MiB, GiB, kB, MB or GB)",
                shown(other)
            ));
        }
    };
    amount
        .checked_mul(factor)
        .filter(|size| *size <= MAX_BODY_MAX)
        .ok_or_else(|| format!("`{}` is larger than 1GiB", shown(value)))
}

/// Operator input quoted back in an error, bounded.
fn shown(value: &str) -> String {
    value.chars().take(80).collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::vars::{error_text, load_with};

    fn load(pairs: &[(&str, &str)]) -> Result<Upstreams, ConfigError> {
        load_with(pairs, Upstreams::from_vars)
    }

    fn one(list: &str) -> Upstream {
        let upstreams = load(&[(VAR, list)]).expect("valid UPSTREAMS");
        assert_eq!(upstreams.iter().count(), 1);
        upstreams.iter().next().cloned().expect("one entry")
    }

    fn error(list: &str) -> String {
        error_text(load(&[(VAR, list)]))
    }

    #[test]
    fn no_upstreams_is_the_default() {
        assert!(load(&[]).expect("valid").is_empty());
        assert!(load(&[(VAR, "  ")]).expect("blank is unset").is_empty());
    }

    #[test]
    fn the_example_from_the_issue_parses_with_defaults() {
        let upstreams = load(&[(
            VAR,
            "orders=http://127.0.0.1:7001;reports=https://reports.internal/api|role=admin",
        )])
        .expect("valid");
        let orders = upstreams.get("orders").expect("orders");
        assert_eq!(orders.origin, "http://127.0.0.1:7001");
        assert_eq!(orders.base_path, "");
        assert_eq!(orders.role, Role::User);
        assert_eq!(orders.audience, "orders");
        assert_eq!(orders.connect_timeout, Duration::from_secs(2));
        assert_eq!(orders.timeout, Duration::from_secs(30));
        assert_eq!(orders.max_body, 10 * MIB);
        assert_eq!(orders.allow, None);
        let reports = upstreams.get("reports").expect("reports");
        assert_eq!(reports.origin, "https://reports.internal");
        assert_eq!(reports.base_path, "/api");
        assert_eq!(reports.base_url(), "https://reports.internal/api");
        assert_eq!(reports.role, Role::Admin);
        assert!(upstreams.get("billing").is_none());
        let names: Vec<&str> = upstreams.iter().map(|u| u.name.as_str()).collect();
        assert_eq!(names, ["orders", "reports"]);
    }

    #[test]
    fn every_option_is_read() {
        let u = one(
            " billing = http://billing:8080/base/v2/ | role=user |audience=https://billing.example/ \
             | connect_timeout=500ms | timeout=2m | max_body=512KiB | allow=/v1/ ",
        );
        assert_eq!(u.name, "billing");
        assert_eq!(u.origin, "http://billing:8080");
        assert_eq!(u.base_path, "/base/v2");
        assert_eq!(u.audience, "https://billing.example/");
        assert_eq!(u.connect_timeout, Duration::from_millis(500));
        assert_eq!(u.timeout, Duration::from_secs(120));
        assert_eq!(u.max_body, 512 * 1024);
        assert_eq!(u.allow.as_deref(), Some("/v1"));
    }

    #[test]
    fn global_defaults_apply_to_entries_without_their_own() {
        let upstreams = load(&[
            (VAR, "a=http://a;b=http://b|timeout=5s|max_body=0"),
            ("RELAY_CONNECT_TIMEOUT", "1s"),
            ("RELAY_TIMEOUT", "10s"),
            ("RELAY_MAX_BODY", "1MB"),
        ])
        .expect("valid");
        let a = upstreams.get("a").expect("a");
        assert_eq!(a.connect_timeout, Duration::from_secs(1));
        assert_eq!(a.timeout, Duration::from_secs(10));
        assert_eq!(a.max_body, 1_000_000);
        let b = upstreams.get("b").expect("b");
        assert_eq!(b.timeout, Duration::from_secs(5));
        assert_eq!(b.max_body, 0);
    }

    #[test]
    fn a_trailing_separator_and_blank_entries_are_skipped_but_counted() {
        let upstreams = load(&[(VAR, "a=http://a; ;b=http://b;")]).expect("valid");
        assert_eq!(upstreams.iter().count(), 2);
        assert!(
            error("a=http://a;;b=ftp://b")
                .starts_with("configuration: UPSTREAMS is invalid: entry 3 (b):")
        );
        assert!(error(";;").contains("no entries"), "{}", error(";;"));
    }

    #[test]
    fn errors_name_the_entry_by_position_and_name() {
        let text = error("orders=http://127.0.0.1:7001;reports=https://r/api|role=root");
        assert!(
            text.contains("UPSTREAMS")
                && text.contains("entry 2 (reports): role: `root` is not user or admin"),
            "{text}"
        );
        let text = error("orders=http://a;orders=http://b");
        assert!(
            text.contains("entry 2 (orders)") && text.contains("already used"),
            "{text}"
        );
    }

    #[test]
    fn names_are_short_lowercase_tokens() {
        for name in ["a", "orders-v2", "0", &"x".repeat(32)] {
            assert_eq!(one(&format!("{name}=http://h")).name, name);
        }
        for name in [
            "",
            "Orders",
            "or ders",
            "or_ders",
            "ord.ers",
            "ordérs",
            &"x".repeat(33),
        ] {
            let text = error(&format!("{name}=http://h"));
            assert!(
                text.contains("entry 1:") && text.contains("must be 1 to 32"),
                "{name}: {text}"
            );
        }
        assert!(error("orders").contains("is not name=url"));
        assert!(error("|role=admin").contains("is not name=url"));
    }

    #[test]
    fn base_urls_are_http_or_https_with_a_host_and_a_plain_path() {
        for (url, origin, path) in [
            ("http://h", "http://h", ""),
            ("http://h/", "http://h", ""),
            ("https://h:8443/a/b/", "https://h:8443", "/a/b"),
            ("http://[::1]:7001/api", "http://[::1]:7001", "/api"),
            (
                "http://127.0.0.1:7001/v1.2/x~y",
                "http://127.0.0.1:7001",
                "/v1.2/x~y",
            ),
        ] {
            let u = one(&format!("a={url}"));
            assert_eq!(
                (u.origin.as_str(), u.base_path.as_str()),
                (origin, path),
                "{url}"
            );
        }
        for (url, reason) in [
            ("ftp://h", "not http or https"),
            ("HTTP://h", "not http or https"),
            ("h:7001", "no scheme"),
            ("//h/x", "no scheme"),
            ("http://", "no host"),
            ("http:///x", "no host"),
            ("http://user:pw@h", "credentials"),
            ("http://user@h/x", "credentials"),
            ("http://h/x?a=1", "query or fragment"),
            ("http://h/x#top", "query or fragment"),
            ("http://h:/x", "port must be 1 to 65535"),
            ("http://h:0", "port must be 1 to 65535"),
            ("http://h:99999", "port must be 1 to 65535"),
            ("http://h//x", "empty, `.` or `..`"),
            ("http://h/a/../b", "empty, `.` or `..`"),
            ("http://h/./b", "empty, `.` or `..`"),
            ("http://h/a%2fb", "no percent-encoding"),
            ("http://h/a\\b", "may only use"),
            ("http://h/a b", "not a valid URL"),
        ] {
            let text = error(&format!("a={url}"));
            assert!(
                text.contains("entry 1 (a)") && text.contains(reason),
                "{url}: {text}"
            );
        }
    }

    #[test]
    fn bad_options_are_named() {
        for (option, reason) in [
            ("role", "is not key=value"),
            ("role=Admin", "not user or admin"),
            ("audience=", "1 to 256 visible"),
            ("audience=a b", "1 to 256 visible"),
            ("connect_timeout=0s", "outside 10ms"),
            ("connect_timeout=2m", "outside 10ms..=60s"),
            ("timeout=5ms", "outside 10ms"),
            ("timeout=2h", "outside 10ms..=3600s"),
            ("timeout=fast", "not a duration"),
            ("timeout=1.5s", "unknown unit"),
            ("max_body=2GiB", "larger than 1GiB"),
            ("max_body=10mb", "unknown unit"),
            ("max_body=-1", "not a size"),
            ("allow=v1", "must start with /"),
            ("allow=/v1/../admin", "empty, `.` or `..`"),
            ("allow=/v1//x", "empty, `.` or `..`"),
            ("allow=/v%31", "no percent-encoding"),
            ("colour=blue", "unknown option `colour`"),
            ("role=user|role=admin", "`role` is given twice"),
            (
                "connect_timeout=5s|timeout=1s",
                "connect_timeout must not be longer than timeout",
            ),
        ] {
            let text = error(&format!("a=http://h|{option}"));
            assert!(
                text.contains("entry 1 (a)") && text.contains(reason),
                "{option}: {text}"
            );
        }
        // `10 MiB` with a space still parses: the unit is trimmed.
        assert_eq!(parse_size("10 MiB"), Ok(10 * MIB));
    }

    #[test]
    fn an_allow_prefix_of_slash_allows_everything() {
        assert_eq!(one("a=http://h|allow=/").allow, None);
        assert_eq!(one("a=http://h|allow=/v1").allow.as_deref(), Some("/v1"));
    }

    #[test]
    fn sizes_and_timeouts_have_their_own_grammar() {
        assert_eq!(parse_size("0"), Ok(0));
        assert_eq!(parse_size("1048576"), Ok(MIB));
        assert_eq!(parse_size("10MiB"), Ok(10 * MIB));
        assert_eq!(parse_size("1GiB"), Ok(1024 * MIB));
        assert_eq!(parse_size("3kB"), Ok(3000));
        assert!(parse_size("").is_err());
        assert!(parse_size("99999999999999999999").is_err());
        assert!(parse_size("18446744073709551615GiB").is_err());
        let max = Duration::from_secs(60);
        assert_eq!(parse_timeout("10ms", max), Ok(Duration::from_millis(10)));
        assert_eq!(parse_timeout("2", max), Ok(Duration::from_secs(2)));
        assert_eq!(parse_timeout("1m", max), Ok(Duration::from_secs(60)));
        assert!(parse_timeout("9ms", max).is_err());
        assert!(parse_timeout("61s", max).is_err());
        assert!(parse_timeout("ms", max).is_err());
    }

    #[test]
    fn the_global_defaults_are_checked_and_named() {
        for (pair, var) in [
            (("RELAY_CONNECT_TIMEOUT", "0"), "RELAY_CONNECT_TIMEOUT"),
            (("RELAY_CONNECT_TIMEOUT", "61s"), "RELAY_CONNECT_TIMEOUT"),
            (("RELAY_TIMEOUT", "2h"), "RELAY_TIMEOUT"),
            (("RELAY_TIMEOUT", "1s"), "RELAY_CONNECT_TIMEOUT"),
            (("RELAY_MAX_BODY", "lots"), "RELAY_MAX_BODY"),
            (("RELAY_MAX_BODY", "2GiB"), "RELAY_MAX_BODY"),
        ] {
            let text = error_text(load(&[pair]));
            assert!(text.contains(var), "{pair:?}: {text}");
        }
    }
}
