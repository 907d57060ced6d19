//! Refuses writes that a page on another origin made with the user's session
//! cookies, before any handler runs.
//!
//! `SameSite=Strict` keeps the cookies away from other *sites*, but a sibling
//! subdomain (`evil.example.com` → `api.example.com`) is the same site and
//! gets them. Browsers cannot forge `Origin` or `Sec-Fetch-Site`, and a page
//! can only add other headers after a CORS preflight that only allowlisted
//! origins pass, so those two headers are what tell the requests apart.

use actix_web::{
    Error, HttpMessage, HttpRequest,
    body::{EitherBody, MessageBody},
    dev::{ServiceRequest, ServiceResponse},
    http::header::{self, HeaderMap},
    middleware::Next,
    web,
};

use super::{cookies::SessionCookies, extractors::bearer_token};
use crate::{errors::AppError, startup::AppState};

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
fn normalise(origin: &str) -> String {
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

/// The origin the request was addressed to. The scheme and host come from
/// actix's connection info: `Forwarded` / `X-Forwarded-Proto` /
/// `X-Forwarded-Host` when a TLS-terminating proxy sets them, otherwise the
/// connection itself (always plain HTTP: the gateway does not terminate TLS)
/// and the `Host` header. Trusting the forwarded headers costs nothing here:
/// a page cannot add them to a cross-origin request without a preflight it
/// would fail. `COOKIE_SECURE` is no guide to the scheme, since it is `true`
/// on plain `http://localhost` in development as well.
fn own_origin(req: &ServiceRequest) -> String {
    let info = req.connection_info();
    format!("{}://{}", info.scheme(), info.host())
}

/// A request that authenticates with `Authorization: Bearer` alone. Browsers
/// attach cookies by themselves but never this header, and a cross-origin
/// page can only add it after a preflight. A request that also carries a
/// session cookie is treated as cookie-authenticated: the access cookie wins
/// over the header, and refresh falls back to the refresh cookie.
fn is_bearer_only(req: &HttpRequest, cookies: &SessionCookies) -> bool {
    matches!(bearer_token(req), Ok(Some(_)))
        && cookies.access_token(req).is_none()
        && cookies.refresh_token(req).is_none()
}

/// `Content-Type: application/json`, with or without parameters.
pub fn declares_json(msg: &impl HttpMessage) -> bool {
    matches!(msg.mime_type(), Ok(Some(m)) if m.essence_str() == "application/json")
}

/// Whether the request has a body, by its framing: HTTP/1.1 has none
/// without `Content-Length` or `Transfer-Encoding`.
fn has_body(headers: &HeaderMap) -> bool {
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return true;
    }
    headers.get(header::CONTENT_LENGTH).is_some_and(|length| {
        length
            .to_str()
            .ok()
            .and_then(|l| l.trim().parse::<u64>().ok())
            != Some(0)
    })
}

/// Whether a write names JSON or carries nothing. The content types a page
/// may send cross-origin without a preflight (form encodings, text/plain)
/// are all refused, even on an empty body.
fn json_or_bodiless(req: &ServiceRequest) -> bool {
    if req.headers().contains_key(header::CONTENT_TYPE) {
        declares_json(req)
    } else {
        !has_body(req.headers())
    }
}

fn header_str<'a>(headers: &'a HeaderMap, name: &header::HeaderName) -> Option<&'a str> {
    headers
        .get(name)
        .map(|v| v.to_str().unwrap_or("<not visible ASCII>"))
}

/// The `/api` scope's gate for unsafe methods (anything but GET, HEAD,
/// OPTIONS, TRACE): cookie-authenticated ones must come from the gateway's
/// own origin or an allowlisted one (403 `csrf_rejected`), and every one
/// must send JSON or no body (415). Login and sign-up count as cookie
/// requests: a forged login would plant the attacker's session.
pub async fn guard_unsafe_requests(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, Error> {
    if req.method().is_safe() {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    }
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        let err = AppError::Internal("application state missing".into());
        return Ok(req.error_response(err).map_into_right_body());
    };
    if !is_bearer_only(req.request(), &state.cookies) {
        let headers = req.headers();
        let origins: Vec<&str> = headers
            .get_all(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("<not visible ASCII>"))
            .collect();
        let site = header_str(headers, &header::HeaderName::from_static("sec-fetch-site"));
        if let Err(refusal) = state.origins.check(&origins, site, &own_origin(&req)) {
            // The path, never the query string; no cookie or token.
            log::warn!(
                "csrf rejected: {} {} origin={} sec-fetch-site={} ({refusal:?})",
                req.method(),
                req.path(),
                shown(origins.first().copied()),
                shown(site),
            );
            return Ok(req
                .error_response(AppError::CsrfRejected)
                .map_into_right_body());
        }
    }
    if !json_or_bodiless(&req) {
        return Ok(req
            .error_response(AppError::UnsupportedMediaType)
            .map_into_right_body());
    }
    next.call(req)
        .await
        .map(ServiceResponse::map_into_left_body)
}

/// Quoted and escaped, `-` when absent. The values are attacker-chosen, so
/// the log keeps a bounded prefix.
fn shown(value: Option<&str>) -> String {
    match value {
        Some(value) => {
            let end = value
                .char_indices()
                .nth(200)
                .map_or(value.len(), |(i, _)| i);
            format!("{:?}", &value[..end])
        }
        None => "-".to_owned(),
    }
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
