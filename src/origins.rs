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
            allowed: allowed.iter().map(|o| normalise(o)).collect(),
        }
    }

    /// `own` is the origin the request was addressed to, `scheme://host`.
    pub fn check(
        &self,
        origins: &[&str],
        sec_fetch_site: Option<&str>,
        own: &str,
    ) -> Result<(), Refusal> {
        if sec_fetch_site.is_some_and(|site| site.eq_ignore_ascii_case("cross-site")) {
            return Err(Refusal::CrossSite);
        }
        match origins {
            // Not a browser, or one too old to send Origin on writes; such a
            // browser still keeps SameSite=Strict cookies to the same site.
            [] => Ok(()),
            // Sandboxed frames, data: URLs and cross-origin redirects send
            // `null`. So does a same-origin form post when the page's
            // referrer policy is no-referrer, and the browser then says so in
            // Sec-Fetch-Site, which no page can set.
            ["null"]
                if sec_fetch_site.is_some_and(|site| site.eq_ignore_ascii_case("same-origin")) =>
            {
                Ok(())
            }
            ["null"] => Err(Refusal::OpaqueOrigin),
            [origin] => {
                let origin = normalise(origin);
                if origin == normalise(own) || self.allowed.contains(&origin) {
                    Ok(())
                } else {
                    Err(Refusal::ForeignOrigin)
                }
            }
            _ => Err(Refusal::AmbiguousOrigin),
        }
    }
}

/// Lower-case, without the default port, as browsers serialise origins.
pub fn normalise(origin: &str) -> String {
    let origin = origin.to_ascii_lowercase();
    for (scheme, port) in [("http://", ":80"), ("https://", ":443")] {
        if origin.starts_with(scheme)
            && let Some(bare) = origin.strip_suffix(port)
        {
            return bare.to_owned();
        }
    }
    origin
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
            assert_eq!(
                p.check(&[origin], Some("same-site"), OWN),
                Ok(()),
                "{origin}"
            );
        }
        assert_eq!(p.check(&[], None, OWN), Ok(()));
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
                p.check(&[origin], Some("same-site"), OWN),
                Err(Refusal::ForeignOrigin),
                "{origin}"
            );
        }
        assert_eq!(
            p.check(&[OWN, "https://evil.test"], None, OWN),
            Err(Refusal::AmbiguousOrigin)
        );
    }

    #[test]
    fn cross_site_fetch_metadata_is_refused_whatever_the_origin() {
        let p = policy();
        for origins in [&[][..], &[OWN], &["https://app.example.com"]] {
            assert_eq!(
                p.check(origins, Some("cross-site"), OWN),
                Err(Refusal::CrossSite)
            );
        }
    }

    #[test]
    fn a_null_origin_passes_only_when_the_browser_says_same_origin() {
        let p = policy();
        assert_eq!(p.check(&["null"], Some("same-origin"), OWN), Ok(()));
        for site in [None, Some("same-site"), Some("none")] {
            assert_eq!(p.check(&["null"], site, OWN), Err(Refusal::OpaqueOrigin));
        }
    }

    #[test]
    fn default_ports_are_dropped_and_others_kept() {
        assert_eq!(normalise("http://a.test:80"), "http://a.test");
        assert_eq!(normalise("https://a.test:443"), "https://a.test");
        assert_eq!(normalise("http://a.test:443"), "http://a.test:443");
        assert_eq!(normalise("http://127.0.0.1:8080"), "http://127.0.0.1:8080");
    }
}
