//! Sign-up, login, refresh, logout and "who am I": adapters from HTTP to
//! `Accounts` (src/accounts/) and `Sessions` (src/session/).

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use utoipa::ToSchema;

use super::responses::{SessionErrors, Throttled, TooLarge, Unavailable, WriteErrors};
use crate::{
    accounts::Role,
    auth::{AuthUser, csrf::declares_json},
    client_ip::client_ip,
    errors::{AppError, ErrorBody, FieldError},
    metrics, request_context,
    session::delivery::{IssuedBody, TokenDelivery, UserView},
    state::AppState,
    validation::{normalize_email, signup_errors},
};

// The request fields are `Option`s so that a missing one is a field error
// of our own (400 `validation_failed`); the document states what is needed.
#[derive(Deserialize, ToSchema)]
#[schema(examples(json!({"email": "ada@example.com", "password": "correct horse battery"})))]
pub struct SignupRequest {
    /// `email_is_valid` (src/validation.rs) decides; the pattern is its
    /// shape, so that generated clients and fuzzers send plausible input.
    #[schema(
        required,
        nullable = false,
        format = Email,
        max_length = 254,
        pattern = r"^[A-Za-z0-9%+_-]+(\.[A-Za-z0-9%+_-]+)*@[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?(\.[A-Za-z0-9]([A-Za-z0-9-]*[A-Za-z0-9])?)+$"
    )]
    email: Option<String>,
    /// 8–128 characters, no control characters (`password_is_acceptable`).
    #[schema(
        required,
        nullable = false,
        min_length = 8,
        max_length = 128,
        pattern = r"^[^\x00-\x1F\x7F-\x9F\u2028\u2029]*$"
    )]
    password: Option<String>,
    /// Refused: every account signs up as `user`.
    #[schema(ignore)]
    role: Option<serde_json::Value>,
}

/// The email as `username` and the password.
#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
#[schema(examples(json!({"username": "ada@example.com", "password": "correct horse battery"})))]
pub struct LoginRequest {
    #[schema(required, nullable = false)]
    username: Option<String>,
    /// Accepted instead of `username` (the reference backend's clients send
    /// either).
    #[schema(nullable = false)]
    email: Option<String>,
    #[schema(required, nullable = false)]
    password: Option<String>,
    /// `body` only with `TOKEN_BODY_DELIVERY=true` on the server.
    #[serde(default)]
    token_delivery: TokenDelivery,
}

/// The optional body of a refresh in the non-browser mode.
#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    #[schema(nullable = false)]
    refresh_token: Option<String>,
}

#[derive(Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SignupResponse {
    /// Always 201.
    status_code: u16,
    message: &'static str,
    user: UserView,
}

/// The caller. `username` is the reference backend's field (clients
/// written against it read it); `email` matches the login and sign-up
/// responses.
#[derive(Serialize, ToSchema)]
pub struct MeResponse {
    id: i32,
    username: String,
    email: String,
    role: Role,
}

/// Creates an account with the role `user`.
#[utoipa::path(
    post, path = "/api/auth/signup", tag = "auth",
    request_body = SignupRequest,
    responses(
        (status = 201, description = "Created", body = SignupResponse),
        (status = 400, description = "`validation_failed` (also for a `role` field), `invalid_json`, `invalid_body`", body = ErrorBody),
        (status = 409, description = "`email_taken`", body = ErrorBody),
        Unavailable, WriteErrors, TooLarge, Throttled,
    )
)]
pub async fn signup(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    metrics::count_signup(sign_up(req, state, body).await)
}

async fn sign_up(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<SignupRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let email = body.email.as_deref().map(normalize_email);
    let mut errors = signup_errors(email.as_deref(), body.password.as_deref());
    if body.role.is_some() {
        errors.push(FieldError::new("role", "cannot be chosen at sign-up"));
    }
    let (Some(email), Some(password), true) = (email, body.password, errors.is_empty()) else {
        return Err(AppError::Validation(errors));
    };

    // Counted whatever the outcome: 409 `email_taken` tells whether an email
    // is registered, and this per-client budget is what bounds that probe.
    let attempt = state
        .throttle
        .begin_signup(client_ip(&req, &state.proxies))
        .await?;
    let user = match state.accounts.sign_up(email, &password).await {
        Ok(user) => user,
        Err(err) => {
            if err.status_code().is_server_error() {
                attempt.cancel().await;
            }
            return Err(err);
        }
    };
    request_context::set_user_id(user.id);
    log::info!("signup: user_id={}", user.id);
    Ok(HttpResponse::Created().json(SignupResponse {
        status_code: 201,
        message: "User is created",
        user: UserView {
            id: user.id,
            email: user.email,
            role: Role::User,
        },
    }))
}

/// Starts a session: both cookies set (or, in the non-browser mode, the
/// tokens in the body).
#[utoipa::path(
    post, path = "/api/auth/login", tag = "auth",
    request_body = LoginRequest,
    responses(
        (status = 200, description = "Logged in", body = IssuedBody, headers(("Set-Cookie" = String, description = "Both session cookies (cookie delivery only)"))),
        (status = 400, description = "`validation_failed`, `invalid_json`, `invalid_body`, `token_body_disabled`", body = ErrorBody),
        (status = 401, description = "`invalid_credentials`, the same for unknown users and wrong passwords", body = ErrorBody),
        Unavailable, WriteErrors, TooLarge, Throttled,
    )
)]
pub async fn login(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    metrics::count_login(log_in(req, state, body).await)
}

async fn log_in(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Json<LoginRequest>,
) -> Result<HttpResponse, AppError> {
    let body = body.into_inner();
    let identifier = body.username.or(body.email).unwrap_or_default();
    let password = body.password.unwrap_or_default();
    let mut errors = Vec::new();
    if identifier.trim().is_empty() {
        errors.push(FieldError::new("username", "is required"));
    }
    if password.is_empty() {
        errors.push(FieldError::new("password", "is required"));
    }
    if !errors.is_empty() {
        return Err(AppError::Validation(errors));
    }
    let delivery = state.sessions.delivery(body.token_delivery)?;

    let email = normalize_email(&identifier);
    let client = client_ip(&req, &state.proxies);
    // Before the password is looked at: while throttled, even the right
    // password gets 429, so the answer tells nothing about it.
    let attempt = state.throttle.begin_login(&email, client).await?;
    let user = match state.accounts.authenticate(email, &password, client).await {
        Ok(user) => {
            attempt.succeeded().await;
            user
        }
        Err(err @ AppError::Unauthenticated(_)) => {
            // An uncounted guess never gets its 401: 503 instead.
            attempt.failed().await?;
            return Err(err);
        }
        Err(err) => {
            attempt.cancel().await;
            return Err(err);
        }
    };
    state.sessions.start(user, delivery).await
}

/// Rotates the refresh token (cookie, or `refreshToken` in the body in the
/// non-browser mode) and issues a fresh access token.
#[utoipa::path(
    post, path = "/api/auth/refresh", tag = "auth",
    request_body(content = Option<RefreshRequest>, description = "Non-browser mode only; browsers send no body"),
    security((), ("refreshCookie" = [])),
    responses(
        (status = 200, description = "Rotated", body = IssuedBody, headers(("Set-Cookie" = String, description = "Both session cookies, rotated (cookie delivery only)"))),
        (status = 400, description = "`invalid_json`, `invalid_body`, `token_body_disabled`", body = ErrorBody),
        (status = 401, description = "`refresh_token_missing`, `refresh_token_invalid`, `refresh_token_expired`, `refresh_token_reused` (session revoked); cookies cleared", body = ErrorBody),
        Unavailable, WriteErrors, TooLarge,
    )
)]
pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    // JSON `null` is no body, as the document's optional body allows.
    let body: Option<RefreshRequest> = optional_json(&req, &body)?;
    let token = body.and_then(|body| body.refresh_token);
    Ok(state.sessions.refresh(&req, token).await)
}

/// `/api/auth/logout` and `/api/auth/refresh/revoke`: always 204 with both
/// cookies cleared (see `Sessions::end`).
#[utoipa::path(
    post, path = "/api/auth/logout", tag = "auth",
    security((), ("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = 204, description = "Session ended (if there was one)", headers(("Set-Cookie" = String, description = "Both cookies cleared (`Max-Age=0`)"), ("Clear-Site-Data" = String, description = "`\"cookies\"`"))),
        WriteErrors,
    )
)]
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    state.sessions.end(&req).await
}

/// Logout under the refresh cookie's path: a browser whose access cookie
/// is gone can still end its session by the refresh token's family.
#[utoipa::path(
    post, path = "/api/auth/refresh/revoke", tag = "auth",
    security((), ("refreshCookie" = [])),
    responses(
        (status = 204, description = "Session ended (if there was one)", headers(("Set-Cookie" = String, description = "Both cookies cleared (`Max-Age=0`)"), ("Clear-Site-Data" = String, description = "`\"cookies\"`"))),
        WriteErrors,
    )
)]
pub async fn revoke(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    logout(req, state).await
}

/// Who am I: the caller's current row.
#[utoipa::path(
    get, path = "/api/auth/me", tag = "auth",
    security(("accessCookie" = []), ("bearerAuth" = [])),
    responses(
        (status = 200, description = "The caller", body = MeResponse),
        SessionErrors,
    )
)]
pub async fn me(user: AuthUser) -> HttpResponse {
    let user = user.0;
    HttpResponse::Ok().json(MeResponse {
        id: user.id,
        username: user.email.clone(),
        email: user.email,
        role: user.role,
    })
}

/// An optional JSON body: empty is the default value; anything else must be
/// `application/json` and well-formed.
fn optional_json<T: DeserializeOwned + Default>(
    req: &HttpRequest,
    body: &[u8],
) -> Result<T, AppError> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    if !declares_json(req) {
        return Err(AppError::UnsupportedMediaType);
    }
    serde_json::from_slice(body).map_err(|e| AppError::from_body_error(&e))
}
