//! One error type for the whole application, mapped to HTTP in one place.
//! Internal causes are logged, never sent: clients get a generic message.

use actix_web::{
    HttpResponse, ResponseError,
    error::{JsonPayloadError, PathError, QueryPayloadError},
    http::{Method, StatusCode, header},
};
use diesel::result::{DatabaseErrorKind, Error as DieselError};
use serde::Serialize;

#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct FieldError {
    pub field: &'static str,
    pub message: &'static str,
}

impl FieldError {
    pub fn new(field: &'static str, message: &'static str) -> Self {
        FieldError { field, message }
    }
}

/// Why a request was not authenticated; the `code` tells a client whether a
/// refresh can help (`token_expired`, `token_missing`) or not.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuthFailure {
    TokenMissing,
    TokenExpired,
    TokenInvalid,
    /// Authentic but ended by logout or theft detection, or the user is gone.
    TokenRevoked,
    /// Several values for one session cookie name (cookie tossing): none is
    /// used.
    DuplicateCookie,
    InvalidCredentials,
    RefreshTokenMissing,
    RefreshTokenInvalid,
    RefreshTokenExpired,
    /// A rotated-away token was replayed: the session has been revoked.
    RefreshTokenReused,
}

impl AuthFailure {
    fn code_and_message(self) -> (&'static str, &'static str) {
        match self {
            AuthFailure::TokenMissing => ("token_missing", "Authentication required"),
            AuthFailure::TokenExpired => ("token_expired", "Access token expired"),
            AuthFailure::TokenInvalid => ("token_invalid", "Access token invalid"),
            AuthFailure::TokenRevoked => ("token_revoked", "Session has ended; log in again"),
            AuthFailure::DuplicateCookie => (
                "cookie_duplicated",
                "Several session cookies were sent; log out to clear them, then log in again",
            ),
            AuthFailure::InvalidCredentials => {
                ("invalid_credentials", "Invalid username or password")
            }
            AuthFailure::RefreshTokenMissing => ("refresh_token_missing", "Refresh token missing"),
            AuthFailure::RefreshTokenInvalid => ("refresh_token_invalid", "Refresh token invalid"),
            AuthFailure::RefreshTokenExpired => (
                "refresh_token_expired",
                "Refresh session expired; log in again",
            ),
            AuthFailure::RefreshTokenReused => (
                "refresh_token_reused",
                "Refresh token was already used; the session has been ended, log in again",
            ),
        }
    }

    fn www_authenticate(self) -> &'static str {
        match self {
            AuthFailure::TokenExpired
            | AuthFailure::TokenInvalid
            | AuthFailure::TokenRevoked
            | AuthFailure::DuplicateCookie => "Bearer error=\"invalid_token\"",
            _ => "Bearer",
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum AppError {
    #[error("validation failed")]
    Validation(Vec<FieldError>),
    #[error("bad request: {code}")]
    BadRequest {
        code: &'static str,
        message: &'static str,
    },
    #[error("unsupported media type")]
    UnsupportedMediaType,
    #[error("payload too large")]
    PayloadTooLarge,
    /// The body did not arrive within `HTTP_BODY_TIMEOUT`
    /// (src/body_deadline.rs).
    #[error("request body timed out")]
    RequestTimeout,
    #[error("unauthenticated: {0:?}")]
    Unauthenticated(AuthFailure),
    #[error("insufficient role")]
    Forbidden,
    /// A cookie-authenticated write from an origin that may not make it.
    #[error("cross-site request refused")]
    CsrfRejected,
    #[error("not found: {0}")]
    NotFound(&'static str),
    #[error("route not found")]
    RouteNotFound,
    /// No upstream of that name is configured (`UPSTREAMS`).
    #[error("upstream not found")]
    UpstreamNotFound,
    /// The upstream refused the connection, could not be reached or broke
    /// the exchange; the cause is logged with its name.
    #[error("upstream {upstream} unavailable")]
    UpstreamUnavailable {
        upstream: String,
        #[source]
        cause: Cause,
    },
    /// The upstream answered 401: it refused the relay token, the only
    /// credential it gets. The browser's session is not at fault, and a 401
    /// would make the client refresh and then log the user out.
    #[error("upstream {upstream} refused the relay token")]
    UpstreamRejectedToken { upstream: String },
    /// The upstream did not answer within its total timeout.
    #[error("upstream {upstream} timed out after {after:?}")]
    UpstreamTimeout {
        upstream: String,
        after: std::time::Duration,
    },
    /// The methods the resource does answer, for the `Allow` header.
    #[error("method not allowed")]
    MethodNotAllowed(Vec<Method>),
    #[error("conflict: {code}")]
    Conflict {
        code: &'static str,
        message: &'static str,
    },
    /// Throttled (src/throttle.rs); the client may retry after this many seconds.
    #[error("too many requests")]
    TooManyRequests { retry_after_secs: u64 },
    /// Transient: the database (or its pool) cannot serve the request now.
    #[error("service unavailable")]
    Unavailable(#[source] Cause),
    /// The server failed; the cause is logged, the client learns nothing.
    #[error("internal error")]
    Internal(#[source] Cause),
}

/// A 503's `Retry-After`: database outages are retried soon, not hammered.
pub const UNAVAILABLE_RETRY_AFTER_SECS: u64 = 2;

/// The cause of a server-side failure, kept with its own source chain.
pub type Cause = Box<dyn std::error::Error + Send + Sync + 'static>;

/// A broken assumption about our own data or wiring, which has no
/// underlying error of its own.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct Invariant(pub &'static str);

/// Every error response's body.
#[derive(Serialize, utoipa::ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody<'a> {
    pub status_code: u16,
    /// Machine-readable, e.g. `token_expired`, `validation_failed`.
    pub code: &'a str,
    pub message: &'a str,
    /// The fields that failed validation; empty otherwise.
    pub errors: &'a [FieldError],
}

impl AppError {
    pub fn bad_request(code: &'static str, message: &'static str) -> Self {
        AppError::BadRequest { code, message }
    }

    pub fn internal(cause: impl Into<Cause>) -> Self {
        AppError::Internal(cause.into())
    }

    pub fn unavailable(cause: impl Into<Cause>) -> Self {
        AppError::Unavailable(cause.into())
    }

    pub fn code(&self) -> &'static str {
        self.code_and_message().0
    }

    /// The error a bare status stands for, when the framework (not a
    /// handler) produced the response.
    pub fn for_status(status: StatusCode) -> Option<Self> {
        Some(match status.as_u16() {
            400 => AppError::bad_request("bad_request", "Bad request"),
            401 => AppError::Unauthenticated(AuthFailure::TokenMissing),
            404 => AppError::RouteNotFound,
            405 => AppError::MethodNotAllowed(Vec::new()),
            408 => AppError::RequestTimeout,
            413 => AppError::PayloadTooLarge,
            415 => AppError::UnsupportedMediaType,
            s if s >= 500 => AppError::internal(Invariant("framework error")),
            _ => return None,
        })
    }

    pub fn code_and_message(&self) -> (&'static str, &'static str) {
        match self {
            AppError::Validation(_) => ("validation_failed", "Validation failed"),
            AppError::BadRequest { code, message } => (code, message),
            AppError::UnsupportedMediaType => (
                "unsupported_media_type",
                "Content-Type must be application/json",
            ),
            AppError::PayloadTooLarge => ("payload_too_large", "Request body is too large"),
            AppError::RequestTimeout => ("request_timeout", "Request was not received in time"),
            AppError::Unauthenticated(failure) => failure.code_and_message(),
            AppError::Forbidden => ("insufficient_role", "Insufficient permissions"),
            AppError::CsrfRejected => (
                "csrf_rejected",
                "Request refused: it came from an origin that may not use this session",
            ),
            AppError::NotFound(message) => ("not_found", message),
            AppError::RouteNotFound => ("route_not_found", "Route not found"),
            AppError::UpstreamNotFound => ("upstream_not_found", "No such upstream"),
            AppError::UpstreamUnavailable { .. } => (
                "upstream_unavailable",
                "The upstream service could not be reached; try again",
            ),
            AppError::UpstreamRejectedToken { .. } => (
                "upstream_rejected_token",
                "The upstream service did not accept the gateway's credentials",
            ),
            AppError::UpstreamTimeout { .. } => (
                "upstream_timeout",
                "The upstream service did not answer in time",
            ),
            AppError::MethodNotAllowed(_) => ("method_not_allowed", "Method not allowed"),
            AppError::Conflict { code, message } => (code, message),
            AppError::TooManyRequests { .. } => {
                ("too_many_requests", "Too many attempts; try again later")
            }
            AppError::Unavailable(_) => (
                "service_unavailable",
                "Service temporarily unavailable; try again",
            ),
            AppError::Internal(_) => ("internal_error", "Internal server error"),
        }
    }

    pub fn from_json_error(err: &JsonPayloadError) -> Self {
        match err {
            JsonPayloadError::ContentType => AppError::UnsupportedMediaType,
            JsonPayloadError::Overflow { .. } | JsonPayloadError::OverflowKnownLength { .. } => {
                AppError::PayloadTooLarge
            }
            JsonPayloadError::Deserialize(e) => AppError::from_body_error(e),
            _ => AppError::bad_request("invalid_json", "Request body is not valid JSON"),
        }
    }

    /// A body that did not parse: wrong shape or not JSON at all. The serde
    /// message (positions, expected types) is never sent.
    pub fn from_body_error(err: &serde_json::Error) -> Self {
        if err.is_data() {
            AppError::bad_request(
                "invalid_body",
                "Request body has missing fields or fields of the wrong type",
            )
        } else {
            AppError::bad_request("invalid_json", "Request body is not valid JSON")
        }
    }

    pub fn from_query_error(_: &QueryPayloadError) -> Self {
        AppError::bad_request("invalid_query", "Query parameters are invalid")
    }

    pub fn from_path_error(_: &PathError) -> Self {
        AppError::bad_request("invalid_path", "Path parameters are invalid")
    }
}

impl ResponseError for AppError {
    fn status_code(&self) -> StatusCode {
        match self {
            AppError::Validation(_) | AppError::BadRequest { .. } => StatusCode::BAD_REQUEST,
            AppError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            AppError::PayloadTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
            AppError::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            AppError::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            AppError::Forbidden | AppError::CsrfRejected => StatusCode::FORBIDDEN,
            AppError::NotFound(_) | AppError::RouteNotFound | AppError::UpstreamNotFound => {
                StatusCode::NOT_FOUND
            }
            AppError::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            AppError::Conflict { .. } => StatusCode::CONFLICT,
            AppError::TooManyRequests { .. } => StatusCode::TOO_MANY_REQUESTS,
            AppError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            AppError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
            AppError::UpstreamUnavailable { .. } | AppError::UpstreamRejectedToken { .. } => {
                StatusCode::BAD_GATEWAY
            }
            AppError::UpstreamTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn error_response(&self) -> HttpResponse {
        match self {
            AppError::Internal(cause) => log::error!("internal error: {}", chain(cause.as_ref())),
            AppError::Unavailable(cause) => {
                log::warn!("service unavailable: {}", chain(cause.as_ref()))
            }
            // The name and the cause; never the URL's query or any header.
            AppError::UpstreamUnavailable { upstream, cause } => {
                log::warn!(
                    "relay to upstream {upstream} failed: {}",
                    chain(cause.as_ref())
                )
            }
            AppError::UpstreamTimeout { upstream, after } => {
                log::warn!("relay to upstream {upstream} timed out after {after:?}")
            }
            AppError::UpstreamRejectedToken { upstream } => log::warn!(
                "relay to upstream {upstream}: it answered 401 to the relay token (check its JWKS URL, audience and clock)"
            ),
            _ => {}
        }
        let status = self.status_code();
        let (code, message) = self.code_and_message();
        let errors = match self {
            AppError::Validation(errors) => errors.as_slice(),
            _ => &[],
        };
        let mut response = HttpResponse::build(status);
        match self {
            AppError::Unauthenticated(failure) => {
                response.insert_header((header::WWW_AUTHENTICATE, failure.www_authenticate()));
            }
            // RFC 9110 requires `Allow` on a 405; a framework-made 405 knows no
            // methods and sends none rather than a wrong list.
            AppError::MethodNotAllowed(methods) if !methods.is_empty() => {
                let allow: Vec<&str> = methods.iter().map(Method::as_str).collect();
                response.insert_header((header::ALLOW, allow.join(", ")));
            }
            AppError::TooManyRequests { retry_after_secs } => {
                response.insert_header((header::RETRY_AFTER, *retry_after_secs));
            }
            AppError::Unavailable(_) => {
                response.insert_header((header::RETRY_AFTER, UNAVAILABLE_RETRY_AFTER_SECS));
            }
            _ => {}
        }
        response.json(ErrorBody {
            status_code: status.as_u16(),
            code,
            message,
            errors,
        })
    }
}

/// Every Diesel error becomes an HTTP answer here, and only here.
impl From<DieselError> for AppError {
    fn from(err: DieselError) -> Self {
        match &err {
            DieselError::NotFound => AppError::NotFound("Resource not found"),
            DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _) => {
                AppError::Conflict {
                    code: "conflict",
                    message: "Resource already exists",
                }
            }
            DieselError::DatabaseError(
                DatabaseErrorKind::ClosedConnection | DatabaseErrorKind::UnableToSendCommand,
                _,
            ) => AppError::unavailable(err),
            // SQLite's busy timeout ran out behind another writer, or
            // PostgreSQL's statement_timeout cancelled the statement:
            // transient, and nothing was written.
            DieselError::DatabaseError(DatabaseErrorKind::Unknown, info)
                if info.message().contains("database is locked")
                    || info.message().contains("statement timeout") =>
            {
                AppError::unavailable(err)
            }
            _ => AppError::internal(err),
        }
    }
}

impl From<r2d2::Error> for AppError {
    fn from(err: r2d2::Error) -> Self {
        AppError::unavailable(err)
    }
}

/// Failures of the server's own machinery: never the client's doing.
macro_rules! internal_from {
    ($($source:ty),* $(,)?) => {$(
        impl From<$source> for AppError {
            fn from(err: $source) -> Self {
                AppError::internal(err)
            }
        }
    )*};
}

internal_from!(
    actix_web::error::BlockingError,
    bcrypt::BcryptError,
    getrandom::Error,
    jsonwebtoken::errors::Error,
    Invariant,
);

/// `error: cause: cause's cause…`, for the log line.
pub fn chain(err: &(dyn std::error::Error + 'static)) -> String {
    let mut text = err.to_string();
    let mut source = err.source();
    while let Some(cause) = source {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        source = cause.source();
    }
    text
}

pub fn is_unique_violation(err: &DieselError) -> bool {
    matches!(
        err,
        DieselError::DatabaseError(DatabaseErrorKind::UniqueViolation, _)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn database_error(kind: DatabaseErrorKind, message: &str) -> AppError {
        DieselError::DatabaseError(kind, Box::new(message.to_owned())).into()
    }

    #[test]
    fn database_errors_map_to_one_status_each() {
        let status = |e: AppError| e.status_code().as_u16();
        assert_eq!(status(DieselError::NotFound.into()), 404);
        assert_eq!(
            status(database_error(DatabaseErrorKind::UniqueViolation, "dup")),
            409
        );
        assert_eq!(
            status(database_error(DatabaseErrorKind::ClosedConnection, "gone")),
            503
        );
        assert_eq!(
            status(database_error(
                DatabaseErrorKind::Unknown,
                "database is locked"
            )),
            503
        );
        assert_eq!(
            status(database_error(
                DatabaseErrorKind::Unknown,
                "canceling statement due to statement timeout"
            )),
            503
        );
        assert_eq!(
            status(database_error(DatabaseErrorKind::Unknown, "syntax error")),
            500
        );
    }

    #[test]
    fn unavailable_answers_say_when_to_retry() {
        let response = AppError::unavailable(Invariant("down")).error_response();
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(
            response
                .headers()
                .get(header::RETRY_AFTER)
                .and_then(|v| v.to_str().ok()),
            Some("2")
        );
    }

    #[test]
    fn upstream_failures_map_to_404_502_and_504_with_their_own_codes() {
        // (A 401 from the upstream is a 502 too: see UpstreamRejectedToken.)
        let unavailable = AppError::UpstreamUnavailable {
            upstream: "orders".into(),
            cause: Box::new(Invariant("connection refused")),
        };
        let timeout = AppError::UpstreamTimeout {
            upstream: "orders".into(),
            after: std::time::Duration::from_secs(1),
        };
        for (err, status, code) in [
            (AppError::UpstreamNotFound, 404, "upstream_not_found"),
            (unavailable, 502, "upstream_unavailable"),
            (timeout, 504, "upstream_timeout"),
            (
                AppError::UpstreamRejectedToken {
                    upstream: "orders".into(),
                },
                502,
                "upstream_rejected_token",
            ),
        ] {
            assert_eq!(err.status_code().as_u16(), status);
            assert_eq!(err.code(), code);
            assert!(!err.code_and_message().1.contains("refused"));
        }
    }

    #[test]
    fn internal_failures_keep_their_cause_for_the_log_only() {
        let err: AppError = database_error(DatabaseErrorKind::Unknown, "disk I/O error");
        let source = std::error::Error::source(&err).map(ToString::to_string);
        assert_eq!(source.as_deref(), Some("disk I/O error"));
        assert_eq!(chain(&err), "internal error: disk I/O error");
        assert_eq!(err.code_and_message().1, "Internal server error");
    }
}
