//! The middleware every response passes through, in the order
//! `startup::run` wraps it: CORS, security headers, the JSON error envelope
//! for framework-made errors, and, outermost, the request context (request
//! id, request log line, HTTP metrics).

use std::time::Instant;

use actix_cors::Cors;
use actix_web::{
    HttpResponse,
    body::MessageBody,
    dev::{ServiceRequest, ServiceResponse},
    http::{
        Method, StatusCode,
        header::{self, HeaderMap, HeaderValue},
    },
    middleware::{ErrorHandlerResponse, Next},
};

use crate::{
    errors::{AppError, ErrorBody},
    metrics,
    request_context::{self, RequestContext},
    routes,
    telemetry::{self, RequestLine},
};

/// Exact allowlist with credentials. Unlisted origins get no
/// `Access-Control-Allow-*` headers, so browsers cannot read the response.
pub fn cors(origins: &[String]) -> Cors {
    origins
        .iter()
        .fold(Cors::default(), |cors, origin| cors.allowed_origin(origin))
        .allowed_methods([
            Method::GET,
            Method::HEAD,
            Method::POST,
            Method::PUT,
            Method::PATCH,
            Method::DELETE,
            Method::OPTIONS,
        ])
        .allowed_headers([
            header::CONTENT_TYPE,
            header::AUTHORIZATION,
            request_context::header_name(),
        ])
        // A cross-origin SPA needs them to know how long a 429 lasts and to
        // quote a request's id.
        .expose_headers([header::RETRY_AFTER, request_context::header_name()])
        .supports_credentials()
        .max_age(600)
}

/// The demo page may load only its own script and style; API responses may
/// load nothing. Neither may be framed.
const PAGE_CSP: &str = "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; \
     connect-src 'self'; object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors 'none'";
const API_CSP: &str = "default-src 'none'; frame-ancestors 'none'";

/// Final touches on every response, errors included (it wraps CORS, and the
/// JSON error envelope wraps it).
pub async fn response_headers(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let under_api = routes::is_api_path(req.path());
    match next.call(req).await {
        Ok(mut res) => {
            secure_headers(res.headers_mut(), under_api);
            Ok(res)
        }
        // An error that escapes the inner services is rendered by the server
        // after every middleware; the mapper still gives it the headers.
        Err(mut err) => {
            err.add_response_mapper(move |mut res| {
                secure_headers(res.headers_mut(), under_api);
                res
            });
            Err(err)
        }
    }
}

fn secure_headers(headers: &mut HeaderMap, under_api: bool) {
    let is_html = headers
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"text/html"));
    // actix-cors adds `Access-Control-Allow-Credentials` and `-Expose-Headers`
    // to every response; a response that allows no origin carries no CORS
    // headers at all.
    if !headers.contains_key(header::ACCESS_CONTROL_ALLOW_ORIGIN) {
        headers.remove(header::ACCESS_CONTROL_ALLOW_CREDENTIALS);
        headers.remove(header::ACCESS_CONTROL_EXPOSE_HEADERS);
    }
    // Under /api nothing is a page, whatever its type: a relayed upstream's
    // HTML gets the API policy too, so it cannot run script here.
    let policy = if is_html && !under_api {
        PAGE_CSP
    } else {
        API_CSP
    };
    for (name, value) in [
        (header::CONTENT_SECURITY_POLICY, policy),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        // For browsers that predate CSP frame-ancestors.
        (header::X_FRAME_OPTIONS, "DENY"),
        // URLs carry ids; no other site learns them from a link or a fetch.
        (header::REFERRER_POLICY, "no-referrer"),
    ] {
        headers.insert(name, HeaderValue::from_static(value));
    }
    // Here rather than on the /api scope, so that responses made outside the
    // scope's routing (CORS preflights, framework errors) are covered too:
    // everything under /api is per-user or volatile.
    if under_api {
        headers.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    }
    // Nothing in the stack sets it today; a layer added later must not
    // announce its name and version either.
    headers.remove(header::SERVER);
}

/// The outermost layer. Gives the request its id (src/request_context.rs)
/// and echoes it on every response, errors included; runs everything inside
/// the request's context, so every log line carries the id; then writes the
/// request line and the HTTP metrics. The line holds the method, the path
/// (never the query string), status, latency and the user once known — no
/// headers, so cookies and `Authorization` never reach the log.
pub async fn request_context(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let context = RequestContext::new(req.headers().get(request_context::HEADER));
    let method = req.method().clone();
    let logged = telemetry::request_lines_enabled();
    let path = if logged {
        req.path().to_owned()
    } else {
        String::new()
    };
    // Before routing (the request moves on), from the route table; only
    // metrics and JSON lines use it.
    let route = (metrics::enabled() || telemetry::wants_route()).then(|| route_label(&req));
    let result = request_context::scope(context.clone(), next.call(req)).await;
    let latency = started.elapsed();
    let header = context.header();
    let status = match result {
        Ok(ref res) => res.status(),
        Err(ref err) => err.as_response_error().status_code(),
    };
    if let Some(route) = &route {
        metrics::http_request(&method, route, status.as_u16(), latency);
    }
    if logged {
        telemetry::request_line(RequestLine {
            request_id: context.id().clone(),
            method,
            path,
            route,
            status: status.as_u16(),
            latency,
            user_id: context.user_id(),
        });
    }
    match result {
        Ok(mut res) => {
            if let Some(header) = header {
                res.headers_mut()
                    .insert(request_context::header_name(), header);
            }
            Ok(res)
        }
        Err(mut err) => {
            err.add_response_mapper(move |mut res| {
                if let Some(header) = header.clone() {
                    res.headers_mut()
                        .insert(request_context::header_name(), header);
                }
                res
            });
            Err(err)
        }
    }
}

/// The route label of a request no route matched: raw paths would be
/// unbounded label values.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The route template; the static files, mounted at the root, match with
/// an empty pattern and are labelled `/`.
fn route_label(req: &ServiceRequest) -> String {
    match req.match_pattern() {
        Some(pattern) if pattern.is_empty() => "/".to_owned(),
        Some(pattern) => pattern,
        None => UNMATCHED_ROUTE.to_owned(),
    }
}

/// Error responses produced outside our handlers (the framework's 404/405,
/// payload or CORS errors) get the same JSON envelope as ours.
pub fn json_error_body<B>(res: ServiceResponse<B>) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/json"));
    if is_json {
        return Ok(ErrorHandlerResponse::Response(res.map_into_left_body()));
    }
    let status = res.status();
    let (code, message) = match AppError::for_status(status) {
        Some(err) => err.code_and_message(),
        None if status == StatusCode::FORBIDDEN => ("forbidden", "Forbidden"),
        None => ("request_failed", "Request failed"),
    };
    let (req, old) = res.into_parts();
    let mut builder = HttpResponse::build(status);
    for (name, value) in old.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            builder.append_header((name.clone(), value.clone()));
        }
    }
    let body = builder
        .insert_header((
            header::CONTENT_TYPE,
            HeaderValue::from_static("application/json"),
        ))
        .json(ErrorBody {
            status_code: status.as_u16(),
            code,
            message,
            errors: &[],
        });
    Ok(ErrorHandlerResponse::Response(
        ServiceResponse::new(req, body).map_into_right_body(),
    ))
}
