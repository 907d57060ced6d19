//! The error responses several operations share, for their
//! `#[utoipa::path]` attributes: each status described once. What an
//! operation alone answers stays on its own attribute.
#![allow(
    dead_code,
    reason = "descriptions for the document only: never built, the handlers answer with `AppError`"
)]

use utoipa::IntoResponses;

use crate::errors::ErrorBody;

/// Every route behind the session check (`AuthUser`, `AdminUser`).
#[derive(IntoResponses)]
pub enum SessionErrors {
    /// `token_missing`, `token_expired`, `token_invalid`, `token_revoked`
    #[response(status = 401)]
    Unauthenticated(ErrorBody<'static>),
    /// `service_unavailable`
    #[response(status = 503)]
    Unavailable(ErrorBody<'static>),
}

/// A route that needs the database but no session.
#[derive(IntoResponses)]
pub enum Unavailable {
    /// `service_unavailable`
    #[response(status = 503)]
    Unavailable(ErrorBody<'static>),
}

/// Every write: the CSRF gate (src/auth/csrf.rs) runs before the handler.
#[derive(IntoResponses)]
pub enum WriteErrors {
    /// `csrf_rejected`
    #[response(status = 403)]
    CsrfRejected(ErrorBody<'static>),
    /// `unsupported_media_type`
    #[response(status = 415)]
    UnsupportedMediaType(ErrorBody<'static>),
}

/// A write whose body is read: over `JSON_BODY_LIMIT`.
#[derive(IntoResponses)]
pub enum TooLarge {
    /// `payload_too_large`
    #[response(status = 413)]
    PayloadTooLarge(ErrorBody<'static>),
}

/// Login and sign-up, throttled (src/throttle.rs).
#[derive(IntoResponses)]
pub enum Throttled {
    /// `too_many_requests`
    #[response(status = 429, headers(("Retry-After" = u64, description = "Seconds")))]
    TooManyRequests(ErrorBody<'static>),
}
