//! `/api/upstream/{name}/{path…}`: the relay handler. In order: the session
//! (`AuthUser`, 401), the upstream's name (404), its role (403), the path
//! (400), a declared body over `max_body` (413); until then the upstream is
//! not contacted at all. Then the request streams up (a body that grows
//! past `max_body` aborts the upstream request: 413) and the response
//! streams down. Everything, from sending to the last byte of the response
//! body, happens within the upstream's total timeout.
//! An upstream's 401 (it refused the relay token) becomes a 502: to the
//! browser a 401 means its own session has ended.

use std::{
    cell::Cell,
    io,
    pin::Pin,
    rc::Rc,
    task::{Context, Poll},
    time::Duration,
};

use actix_web::{
    HttpRequest, HttpResponse,
    body::{self, SizedStream},
    error::PayloadError,
    http::header::{self, HeaderMap},
    rt::time::{Instant, Sleep, sleep_until},
    web::{self, Bytes},
};
use awc::error::{ConnectError, SendRequestError};
use futures_core::Stream;
// actix-rt re-exports `timeout` but not its twin for a deadline; one
// deadline bounds the head and the body alike.
use tokio::time::timeout_at;

use crate::relay::{
    client::{RelayClients, Target},
    headers::{self, Forwarding},
    path,
};
use crate::{
    auth::AuthUser, auth::csrf, client_ip, errors::AppError, errors::ErrorBody, metrics,
    request_context, state::AppState,
};

type BodyStream = Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>>;

/// Relays the request to the upstream `name` (configured in `UPSTREAMS`)
/// with a relay token instead of the session; the upstream's status,
/// headers (but cookies, hop-by-hop and CORS headers) and body stream back.
/// Writes pass the CSRF gate and send JSON or no body, like every write.
#[utoipa::path(
    method(get, head, post, put, patch, delete),
    path = "/api/upstream/{name}/{tail}", tag = "relay",
    params(
        ("name" = String, Path, description = "A configured upstream", pattern = "^[a-z0-9-]{1,32}$", example = "orders"),
        ("tail" = String, Path, description = "The path below the upstream's base URL (the query string is forwarded too); no `.`/`..` or empty segments, encoded `/` or `\\`, backslashes or control characters", example = "v1/orders"),
    ),
    security(("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = "default", description = "The upstream's own response, streamed", content_type = "*/*"),
        (status = 400, description = "`invalid_upstream_path`, `incomplete_body`", body = ErrorBody),
        (status = 401, description = "`token_missing`, `token_expired`, `token_invalid`, `token_revoked`", body = ErrorBody),
        (status = 403, description = "`insufficient_role` (an admin upstream), `csrf_rejected`", body = ErrorBody),
        (status = 404, description = "`upstream_not_found`", body = ErrorBody),
        (status = 408, description = "`request_timeout`: the body did not arrive within `HTTP_BODY_TIMEOUT`", body = ErrorBody),
        (status = 413, description = "`payload_too_large`: over the upstream's `max_body`", body = ErrorBody),
        (status = 415, description = "`unsupported_media_type`: a write with a body that is not JSON", body = ErrorBody),
        (status = 502, description = "`upstream_unavailable`: refused, unreachable or broken; `upstream_rejected_token`: the upstream answered 401 to the relay token", body = ErrorBody),
        (status = 503, description = "`service_unavailable`: the session check could not reach the database", body = ErrorBody),
        (status = 504, description = "`upstream_timeout`: no answer within the upstream's total timeout", body = ErrorBody),
    )
)]
pub async fn relay(
    user: AuthUser,
    req: HttpRequest,
    payload: web::Payload,
    state: web::Data<AppState>,
    clients: web::Data<RelayClients>,
) -> Result<HttpResponse, AppError> {
    let Some((name, tail)) = path::split(req.uri().path()) else {
        return Err(invalid_path());
    };
    let target = clients.get(name).ok_or(AppError::UpstreamNotFound)?;
    let started = std::time::Instant::now();
    let result = relay_to(target, tail, &user, &req, payload, &state).await;
    let status = match &result {
        Ok(response) => response.status(),
        Err(err) => actix_web::ResponseError::status_code(err),
    };
    metrics::relayed(&target.upstream.name, status.as_u16(), started.elapsed());
    result
}

async fn relay_to(
    target: &Target,
    tail: &str,
    user: &AuthUser,
    req: &HttpRequest,
    payload: web::Payload,
    state: &AppState,
) -> Result<HttpResponse, AppError> {
    let upstream = &target.upstream;
    if !user.role.satisfies(upstream.role) {
        return Err(AppError::Forbidden);
    }
    let outbound = path::outbound(
        &upstream.base_path,
        tail,
        req.uri().query(),
        upstream.allow.as_deref(),
    )
    .map_err(|refusal| {
        log::info!(
            "relay to upstream {}: path refused ({refusal:?})",
            upstream.name
        );
        invalid_path()
    })?;
    let framing = Framing::of(req.headers())?;
    if let Framing::Sized(length) = framing
        && length > upstream.max_body
    {
        return Err(AppError::PayloadTooLarge);
    }

    let (scheme, host) = csrf::addressed_to(req, &state.proxies);
    let request_id = request_context::current_id();
    let forwarding = Forwarding {
        client_ip: client_ip::client_ip(req, &state.proxies),
        proto: &scheme,
        host: (!host.is_empty()).then_some(host.as_str()),
        request_id: request_id.as_deref(),
    };
    let mut request = target.client.request(
        req.method().clone(),
        format!("{}{outbound}", upstream.origin),
    );
    *request.headers_mut() = headers::request_headers(req.headers(), &forwarding);
    // The caller, as the upstream may trust it: signed for this upstream's
    // audience only, for seconds; kept for half of them
    // (src/relay/token_cache.rs). Never logged.
    let keys = &state.relay_keys;
    let token = target.tokens.borrow_mut().token(
        (user.id, &user.email, user.role),
        chrono::Utc::now().timestamp(),
        keys.ttl().as_secs() as i64,
        |now| keys.mint_at(user, &upstream.audience, now),
    )?;
    request = request.insert_header((header::AUTHORIZATION, format!("Bearer {token}")));

    let deadline = Instant::now() + upstream.timeout;
    let watch = BodyWatch::default();
    let sending = match framing {
        Framing::None => request.send_body(body::None::new()),
        Framing::Sized(length) => request.send_body(SizedStream::new(
            length,
            watch.limit(payload, upstream.max_body),
        )),
        Framing::Chunked => request.send_stream(watch.limit(payload, upstream.max_body)),
    };
    let response = match timeout_at(deadline, sending).await {
        _ if watch.exceeded.get() => return Err(AppError::PayloadTooLarge),
        Err(_) => {
            return Err(AppError::UpstreamTimeout {
                upstream: upstream.name.clone(),
                after: upstream.timeout,
            });
        }
        Ok(Err(_)) if watch.client_failed.get() => {
            // The client's body broke off (or passed HTTP_BODY_TIMEOUT:
            // src/body_deadline.rs turns this answer into a 408).
            return Err(AppError::bad_request(
                "incomplete_body",
                "The request body could not be read",
            ));
        }
        Ok(Err(err)) => return Err(failed(&upstream.name, err, upstream.timeout)),
        Ok(Ok(response)) => response,
    };
    if response.status() == actix_web::http::StatusCode::UNAUTHORIZED {
        return Err(AppError::UpstreamRejectedToken {
            upstream: upstream.name.clone(),
        });
    }

    let mut builder = HttpResponse::build(response.status());
    for (name, value) in headers::response_headers(response.headers()) {
        builder.append_header((name, value));
    }
    let length = content_length(response.headers());
    let body = Box::pin(BodyDown {
        inner: Box::pin(response),
        deadline: Box::pin(sleep_until(deadline)),
        upstream: upstream.name.clone(),
        total: upstream.timeout,
    });
    Ok(match length {
        Some(length) => builder.body(SizedStream::new(length, body)),
        None => builder.streaming(body),
    })
}

fn invalid_path() -> AppError {
    AppError::bad_request(
        "invalid_upstream_path",
        "The path cannot be relayed: no `.` or `..` segments, empty segments, encoded `/` or `\\`, backslashes or control characters",
    )
}

/// A failed exchange: a connect error (refused, unreachable, connect or TLS
/// timeout) or an upstream that broke the connection or sent garbage.
fn failed(upstream: &str, err: SendRequestError, total: Duration) -> AppError {
    match err {
        SendRequestError::Timeout => AppError::UpstreamTimeout {
            upstream: upstream.to_owned(),
            after: total,
        },
        // Our own URL, from a checked path: not the client's doing, but not
        // worth a 500 either.
        SendRequestError::Url(_) => invalid_path(),
        SendRequestError::Connect(ConnectError::Timeout) => AppError::UpstreamUnavailable {
            upstream: upstream.to_owned(),
            cause: "connect timed out".into(),
        },
        other => AppError::UpstreamUnavailable {
            upstream: upstream.to_owned(),
            cause: other.to_string().into(),
        },
    }
}

/// How the client framed its body (HTTP/1.1: none, a length, or chunks).
#[derive(Debug, Clone, Copy)]
enum Framing {
    None,
    Sized(u64),
    Chunked,
}

impl Framing {
    fn of(headers: &HeaderMap) -> Result<Self, AppError> {
        if headers.contains_key(header::TRANSFER_ENCODING) {
            return Ok(Framing::Chunked);
        }
        if !headers.contains_key(header::CONTENT_LENGTH) {
            return Ok(Framing::None);
        }
        content_length(headers)
            .map(Framing::Sized)
            .ok_or_else(|| AppError::bad_request("bad_request", "Bad request"))
    }
}

fn content_length(headers: &HeaderMap) -> Option<u64> {
    headers
        .get(header::CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().parse().ok())
}

/// What happened to the request body on its way up.
#[derive(Default, Clone)]
struct BodyWatch {
    /// It grew past `max_body`; the upstream request was aborted.
    exceeded: Rc<Cell<bool>>,
    /// Reading it from the client failed.
    client_failed: Rc<Cell<bool>>,
}

impl BodyWatch {
    fn limit(&self, payload: web::Payload, max: u64) -> BodyUp {
        BodyUp {
            inner: payload,
            seen: 0,
            max,
            watch: self.clone(),
        }
    }
}

/// The client's body as it streams up, cut off past `max` bytes.
struct BodyUp {
    inner: web::Payload,
    seen: u64,
    max: u64,
    watch: BodyWatch,
}

impl Stream for BodyUp {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match Pin::new(&mut self.inner).poll_next(cx) {
            Poll::Ready(Some(Ok(chunk))) => {
                self.seen = self.seen.saturating_add(chunk.len() as u64);
                if self.seen > self.max {
                    self.watch.exceeded.set(true);
                    return Poll::Ready(Some(Err(PayloadError::Overflow)));
                }
                Poll::Ready(Some(Ok(chunk)))
            }
            Poll::Ready(Some(Err(err))) => {
                self.watch.client_failed.set(true);
                Poll::Ready(Some(Err(err)))
            }
            other => other,
        }
    }
}

/// The upstream's body as it streams down, cut off at the total deadline:
/// the status and headers are sent by then, so the client sees the body end
/// early (the connection is closed, a chunked body lacks its last chunk, a
/// sized one falls short) rather than a 504.
struct BodyDown {
    inner: BodyStream,
    deadline: Pin<Box<Sleep>>,
    upstream: String,
    total: Duration,
}

impl Stream for BodyDown {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        match self.inner.as_mut().poll_next(cx) {
            Poll::Ready(Some(Err(err))) => {
                log::warn!(
                    "relay to upstream {}: response body broke off: {err}",
                    self.upstream
                );
                Poll::Ready(Some(Err(err)))
            }
            Poll::Ready(item) => Poll::Ready(item),
            Poll::Pending => {
                if self.deadline.as_mut().poll(cx).is_ready() {
                    log::warn!(
                        "relay to upstream {}: timed out after {:?} while streaming the response body; the body was cut",
                        self.upstream,
                        self.total
                    );
                    return Poll::Ready(Some(Err(PayloadError::Io(io::Error::new(
                        io::ErrorKind::TimedOut,
                        "relay deadline passed",
                    )))));
                }
                Poll::Pending
            }
        }
    }
}
