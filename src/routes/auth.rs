//! Sign-up, login, refresh, logout and "who am I": adapters from HTTP to
//! `Accounts` (src/accounts/) and `Sessions` (src/session/).

use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use serde::{Deserialize, de::DeserializeOwned};
use serde_json::json;

use crate::{
    accounts::Role,
    auth::{AuthUser, csrf::declares_json},
    client_ip::client_ip,
    errors::{AppError, FieldError},
    session::delivery::{TokenDelivery, UserView},
    state::AppState,
    validation::{normalize_email, signup_errors},
};

#[derive(Deserialize)]
pub struct SignupRequest {
    email: Option<String>,
    password: Option<String>,
    role: Option<serde_json::Value>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct LoginRequest {
    username: Option<String>,
    email: Option<String>,
    password: Option<String>,
    #[serde(default)]
    token_delivery: TokenDelivery,
}

#[derive(Deserialize, Default)]
#[serde(rename_all = "camelCase")]
pub struct RefreshRequest {
    refresh_token: Option<String>,
}

pub async fn signup(
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
        .begin_signup(client_ip(&req, &state.proxies))?;
    let user = match state.accounts.sign_up(email, &password).await {
        Ok(user) => user,
        Err(err) => {
            if err.status_code().is_server_error() {
                attempt.cancel();
            }
            return Err(err);
        }
    };
    log::info!("signup: user_id={}", user.id);
    Ok(HttpResponse::Created().json(json!({
        "statusCode": 201,
        "message": "User is created",
        "user": UserView { id: user.id, email: user.email, role: Role::User },
    })))
}

pub async fn login(
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
            attempt.succeeded();
            user
        }
        Err(err @ AppError::Unauthenticated(_)) => {
            attempt.failed();
            return Err(err);
        }
        Err(err) => {
            attempt.cancel();
            return Err(err);
        }
    };
    state.sessions.start(user, delivery).await
}

pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> Result<HttpResponse, AppError> {
    let body: RefreshRequest = optional_json(&req, &body)?;
    Ok(state.sessions.refresh(&req, body.refresh_token).await)
}

/// `/api/auth/logout` and `/api/auth/refresh/revoke`: always 204 with both
/// cookies cleared (see `Sessions::end`).
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    state.sessions.end(&req).await
}

/// `username` is the reference backend's field (clients written against it
/// read it); `email` matches the login and sign-up responses.
pub async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(json!({
        "id": user.id,
        "username": user.email,
        "email": user.email,
        "role": user.role,
    }))
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
