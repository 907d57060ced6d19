//! The CSRF gate: refuses writes that a page on another origin made with the
//! user's session cookies, before any handler runs. Which origins may is
//! decided in src/origins.rs.
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

use crate::{
    client_ip::TrustedProxies,
    errors::{AppError, Invariant},
    metrics,
    state::AppState,
};

/// The origin the request was addressed to. From a peer in
/// `TRUSTED_PROXIES`, the scheme and host come from actix's connection info:
/// `Forwarded` / `X-Forwarded-Proto` / `X-Forwarded-Host`, as a
/// TLS-terminating proxy sets them. From anyone else those headers are
/// ignored (any client can write them): the scheme is plain HTTP, since the
/// gateway does not terminate TLS, and the host is the `Host` header.
/// `COOKIE_SECURE` is no guide to the scheme, since it is `true` on plain
/// `http://localhost` in development as well.
fn own_origin(req: &ServiceRequest, proxies: &TrustedProxies) -> String {
    let (scheme, host) = addressed_to(req.request(), proxies);
    format!("{scheme}://{host}")
}

/// The scheme and host the request was addressed to, as [`own_origin`]
/// decides them (the relay forwards them as `X-Forwarded-Proto` and
/// `X-Forwarded-Host`).
pub fn addressed_to(req: &HttpRequest, proxies: &TrustedProxies) -> (String, String) {
    if req
        .peer_addr()
        .is_some_and(|peer| proxies.contains(peer.ip()))
    {
        let info = req.connection_info();
        return (info.scheme().to_owned(), info.host().to_owned());
    }
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .or_else(|| req.uri().authority().map(|a| a.as_str()))
        .unwrap_or_default();
    ("http".to_owned(), host.to_owned())
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

const SEC_FETCH_SITE: header::HeaderName = header::HeaderName::from_static("sec-fetch-site");

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
        let err = AppError::internal(Invariant("application state missing"));
        return Ok(req.error_response(err).map_into_right_body());
    };
    if !state.sessions.cookies().is_bearer_only(req.request()) {
        let headers = req.headers();
        let origins: Vec<&str> = headers
            .get_all(header::ORIGIN)
            .map(|v| v.to_str().unwrap_or("<not visible ASCII>"))
            .collect();
        let sites: Vec<&str> = headers
            .get_all(SEC_FETCH_SITE)
            .map(|v| v.to_str().unwrap_or("<not visible ASCII>"))
            .collect();
        let own = own_origin(&req, &state.proxies);
        if let Err(refusal) = state.origins.check(&origins, &sites, &own) {
            // The path, never the query string; no cookie or token.
            log::warn!(
                "csrf rejected: {} {} origin={} sec-fetch-site={} ({refusal:?})",
                req.method(),
                req.path(),
                shown(origins.first().copied()),
                shown((!sites.is_empty()).then(|| sites.join(", ")).as_deref()),
            );
            metrics::csrf_rejected(Some(refusal));
            return Ok(req
                .error_response(AppError::CsrfRejected)
                .map_into_right_body());
        }
    }
    if !json_or_bodiless(&req) {
        metrics::csrf_rejected(None);
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
