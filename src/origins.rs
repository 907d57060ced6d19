//! Which origins may write with the session cookies: the CSRF policy, pure
//! so that every case is unit-tested here. The gate that applies it to
//! requests is src/auth/csrf.rs.

/// The origins allowed to write with the session cookies besides the
/// gateway's own: the CORS allowlist.
#[derive(Debug, Clone)]
pub struct TrustedOrigins {
    allowed: Vec<String>,
}

/// Why a request was refused; logged, never sent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    CrossSite,
    OpaqueOrigin,
    AmbiguousOrigin,
    ForeignOrigin,
}

impl TrustedOrigins {
    pub fn new(allowed: &[String]) -> Self {
        TrustedOrigins {
            allowed: allowed.iter().filter_map(|o| normalise(o)).collect(),
        }
    }

    /// `own` is the origin the request was addressed to, `scheme://host`.
    /// `sec_fetch_site` holds every `Sec-Fetch-Site` value received: a
    /// request may repeat the header, and none of the copies is privileged.
    pub fn check(
        &self,
        origins: &[&str],
        sec_fetch_site: &[&str],
        own: &str,
    ) -> Result<(), Refusal> {
        let sites: Vec<&str> = sec_fetch_site
            .iter()
            .flat_map(|v| v.split(','))
            .map(str::trim)
            .collect();
        if sites.iter().any(|s| s.eq_ignore_ascii_case("cross-site")) {
            return Err(Refusal::CrossSite);
        }
        let same_origin =
            !sites.is_empty() && sites.iter().all(|s| s.eq_ignore_ascii_case("same-origin"));
        match origins {
            // Not a browser, or one too old to send Origin on writes; such a
            // browser still keeps SameSite=Strict cookies to the same site.
            [] => Ok(()),
            // Sandboxed frames, data: URLs and cross-origin redirects send
            // `null`. So does a same-origin form post when the page's
            // referrer policy is no-referrer, and the browser then says so in
            // Sec-Fetch-Site, which no page can set.
            ["null"] if same_origin => Ok(()),
            ["null"] => Err(Refusal::OpaqueOrigin),
            [origin] => match normalise(origin) {
                Some(origin)
                    if normalise(own).as_ref() == Some(&origin)
                        || self.allowed.contains(&origin) =>
                {
                    Ok(())
                }
                _ => Err(Refusal::ForeignOrigin),
            },
            _ => Err(Refusal::AmbiguousOrigin),
        }
    }
}

/// `scheme://host[:port]` lower-cased and without the default port, as
/// browsers serialise origins; `None` for anything else (a path, user info,
/// a second port), which then matches nothing.
pub fn normalise(origin: &str) -> Option<String> {
    let origin = origin.to_ascii_lowercase();
    let (scheme, authority) = origin.split_once("://")?;
    let scheme_ok = scheme.starts_with(|c: char| c.is_ascii_alphabetic())
        && scheme
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '+' | '-' | '.'));
    // An IPv6 literal keeps its colons inside the brackets.
    let (host, port) = match authority.strip_prefix('[') {
        Some(rest) => {
            let (inside, after) = rest.split_once(']')?;
            let port = match after {
                "" => None,
                _ => Some(after.strip_prefix(':')?),
            };
            (&authority[..inside.len() + 2], port)
        }
        None => match authority.split_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (authority, None),
        },
    };
    let host_ok = !host.is_empty()
        && host
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | '[' | ']' | ':'));
    let port_ok =
        port.is_none_or(|p| !p.is_empty() && p.len() <= 5 && p.bytes().all(|b| b.is_ascii_digit()));
    if !(scheme_ok && host_ok && port_ok) {
        return None;
    }
    let default_port = match scheme {
        "http" => Some("80"),
        "https" => Some("443"),
        _ => None,
    };
    Some(match port {
        Some(port) if Some(port) != default_port => format!("{scheme}://{host}:{port}"),
        _ => format!("{scheme}://{host}"),
    })
}

#[cfg(test)]
mod tests {
    use super::{Refusal, TrustedOrigins, normalise};

    const OWN: &str = "https://api.example.com";

    fn policy() -> TrustedOrigins {
        TrustedOrigins::new(&["https://app.example.com".to_owned()])
    }

    #[test]
    fn the_own_origin_and_allowlisted_origins_pass() {
        let p = policy();
        for origin in [
            OWN,
            "HTTPS://API.EXAMPLE.COM",
            "https://api.example.com:443",
            "https://app.example.com",
        ] {
            assert_eq!(p.check(&[origin], &["same-site"], OWN), Ok(()), "{origin}");
        }
        assert_eq!(p.check(&[], &[], OWN), Ok(()));
    }

    #[test]
    fn other_origins_are_refused_even_on_the_same_site() {
        let p = policy();
        for origin in [
            "https://evil.example.com",
            "http://api.example.com",
            "https://api.example.com:8443",
            "https://api.example.com.evil.test",
        ] {
            assert_eq!(
                p.check(&[origin], &["same-site"], OWN),
                Err(Refusal::ForeignOrigin),
                "{origin}"
            );
        }
        assert_eq!(
            p.check(&[OWN, "https://evil.test"], &[], OWN),
            Err(Refusal::AmbiguousOrigin)
        );
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused_whatever_the_origin() {
        let p = policy();
        for origins in [&[][..], &[OWN], &["https://app.example.com"]] {
            assert_eq!(
                p.check(origins, &["cross-site"], OWN),
                Err(Refusal::CrossSite)
            );
        }
    }

    #[test]
    fn a_null_origin_passes_only_when_the_browser_says_same_origin() {
        let p = policy();
        assert_eq!(p.check(&["null"], &["same-origin"], OWN), Ok(()));
        for site in [&[][..], &["same-site"], &["none"]] {
            assert_eq!(p.check(&["null"], site, OWN), Err(Refusal::OpaqueOrigin));
        }
    }

    #[test]
    fn default_ports_are_dropped_and_others_kept() {
        for (origin, normal) in [
            ("http://a.test:80", "http://a.test"),
            ("https://a.test:443", "https://a.test"),
            ("HTTPS://A.Test", "https://a.test"),
            ("http://a.test:443", "http://a.test:443"),
            ("http://127.0.0.1:8080", "http://127.0.0.1:8080"),
            ("http://[::1]:80", "http://[::1]"),
            ("http://[::1]:8080", "http://[::1]:8080"),
        ] {
            assert_eq!(normalise(origin).as_deref(), Some(normal), "{origin}");
        }
    }

    #[test]
    fn malformed_origins_normalise_to_nothing_and_match_nothing() {
        for origin in [
            "http://localhost:4200:80",
            "http://localhost:80:4200",
            "http://user@localhost:4200",
            "http://localhost:4200/",
            "http://localhost:",
            "http://localhost:123456",
            "http://",
            "localhost:4200",
            "http://[::1]x",
            "http://[::1",
        ] {
            assert_eq!(normalise(origin), None, "{origin}");
        }
        let p = TrustedOrigins::new(&["http://localhost:4200".to_owned()]);
        assert_eq!(
            p.check(&["http://localhost:4200:80"], &[], OWN),
            Err(Refusal::ForeignOrigin)
        );
        assert_eq!(p.check(&["http://localhost:4200"], &[], OWN), Ok(()));
    }

    #[test]
    fn every_sec_fetch_site_value_counts() {
        let p = policy();
        for sites in [
            &["same-origin", "cross-site"][..],
            &["cross-site", "same-origin"],
            &["same-origin, cross-site"],
        ] {
            assert_eq!(
                p.check(&[OWN], sites, OWN),
                Err(Refusal::CrossSite),
                "{sites:?}"
            );
        }
        assert_eq!(
            p.check(&["null"], &["same-origin", "same-site"], OWN),
            Err(Refusal::OpaqueOrigin)
        );
        assert_eq!(
            p.check(&["null"], &["same-origin", "same-origin"], OWN),
            Ok(())
        );
    }
}
