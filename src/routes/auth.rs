//! Sign-up, login, refresh, logout and "who am I".

use actix_web::{
    HttpRequest, HttpResponse, ResponseError,
    cookie::Cookie,
    http::header::{self, HeaderValue},
    web,
};
use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;

use crate::{
    auth::{AuthUser, RefreshToken, Role, csrf::declares_json, extractors::access_token},
    client_ip::client_ip,
    db::{self, models::NewUser, users},
    errors::{AppError, AuthFailure, FieldError, is_unique_violation},
    startup::AppState,
    validation::{email_is_valid, normalize_email, password_chars_allowed, signup_errors},
};

#[derive(Debug, Serialize)]
pub struct UserView {
    pub id: i32,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum TokenDelivery {
    /// httpOnly cookies; the browser default. Tokens never reach the body.
    #[default]
    Cookie,
    /// Tokens in the JSON body for non-browser clients, only when
    /// `TOKEN_BODY_DELIVERY=true` and the request asks for it.
    Body,
}

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

fn now_utc() -> NaiveDateTime {
    Utc::now().naive_utc()
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
        .begin_signup(client_ip(&req, &state.trusted_proxies))?;
    let user = match create_user(&state, email, password).await {
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

async fn create_user(
    state: &AppState,
    email: String,
    password: String,
) -> Result<db::models::User, AppError> {
    let password_hash = state.passwords.hash(&password).await?;
    db::run(&state.pool, move |conn| {
        let new_user = NewUser {
            email: &email,
            password_hash: &password_hash,
            role: Role::User.as_str(),
        };
        users::insert(conn, &new_user).map_err(|e| {
            if is_unique_violation(&e) {
                AppError::Conflict {
                    code: "email_taken",
                    message: "User already exists",
                }
            } else {
                e.into()
            }
        })
    })
    .await
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
    let delivery = state.check_delivery(body.token_delivery)?;

    let email = normalize_email(&identifier);
    // Before the password is looked at: while throttled, even the right
    // password gets 429, so the answer tells nothing about it.
    let attempt = state
        .throttle
        .begin_login(&email, client_ip(&req, &state.trusted_proxies))?;
    let user = match check_password(&state, email, &password).await {
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

    let refresh = RefreshToken::generate()?;
    let refresh_hash = refresh.hash();
    let family = refresh.family().to_owned();
    let now = now_utc();
    let expires_at = now + state.refresh_ttl;
    let user_id = user.id;
    // Awaited before answering: a refresh right after login must find it.
    let user = db::run(&state.pool, move |conn| {
        Ok(users::start_refresh_session(
            conn,
            user_id,
            &family,
            &refresh_hash,
            expires_at,
            now,
        )?)
    })
    .await?;
    log::info!("login: user_id={user_id}");
    state.session_response(&user, &refresh, (expires_at - now).num_seconds(), delivery)
}

/// The account for these credentials, or 401 `invalid_credentials` with the
/// same bytes and the same bcrypt work whether the account exists or not.
async fn check_password(
    state: &AppState,
    email: String,
    password: &str,
) -> Result<db::models::User, AppError> {
    // A malformed identifier cannot belong to an account, nor can a password
    // with control characters match one: either skips the query (which also
    // keeps NUL bytes away from the database) but not bcrypt.
    let user = if email_is_valid(&email) && password_chars_allowed(password) {
        db::run(&state.pool, move |conn| {
            Ok(users::find_by_email(conn, &email)?)
        })
        .await?
    } else {
        None
    };
    let verified = state
        .passwords
        .verify(password, user.as_ref().map(|u| u.password_hash.clone()))
        .await?;
    match user {
        Some(user) if verified => Ok(user),
        Some(user) => {
            log::info!("login failed: user_id={} wrong password", user.id);
            Err(AppError::Unauthenticated(AuthFailure::InvalidCredentials))
        }
        None => {
            log::info!("login failed: unknown account");
            Err(AppError::Unauthenticated(AuthFailure::InvalidCredentials))
        }
    }
}

pub async fn refresh(
    req: HttpRequest,
    state: web::Data<AppState>,
    body: web::Bytes,
) -> HttpResponse {
    match rotate(&req, &state, &body).await {
        Ok(response) => response,
        Err(err) => {
            let mut response = err.error_response();
            if matches!(err, AppError::Unauthenticated(_)) {
                add_cookies(&mut response, state.cookies.cleared());
            }
            response
        }
    }
}

async fn rotate(
    req: &HttpRequest,
    state: &AppState,
    body: &[u8],
) -> Result<HttpResponse, AppError> {
    let body: RefreshRequest = optional_json(req, body)?;
    let (presented, delivery) = match (body.refresh_token, state.cookies.refresh_token(req)) {
        (Some(token), _) => (token, state.check_delivery(TokenDelivery::Body)?),
        (None, Some(token)) => (token, TokenDelivery::Cookie),
        (None, None) => return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenMissing)),
    };
    let Some(presented) = RefreshToken::parse(&presented) else {
        log::info!("refresh rejected: malformed token");
        return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenInvalid));
    };
    let next = presented.successor(&state.successor_key);
    let (family, old_hash, next_hash) =
        (presented.family().to_owned(), presented.hash(), next.hash());
    let now = now_utc();
    let window_start = now - state.reuse_window;
    let outcome = db::run(&state.pool, move |conn| {
        if let Some(user) = users::rotate_refresh_token(conn, &family, &old_hash, &next_hash, now)?
        {
            return Ok(Refresh::Rotated(user));
        }
        let Some(user) = users::find_by_refresh_family(conn, &family)? else {
            return Ok(Refresh::Unknown);
        };
        let expired = user.refresh_token_expires_at.is_none_or(|at| at <= now);
        let is_current = user.refresh_token_hash.as_deref() == Some(old_hash.as_str());
        // The immediately previous token, still followed by the successor it
        // rotated into, inside the window: a second tab or a retry whose
        // response was lost. Answer as the rotation did.
        let is_retry = user.previous_refresh_token_hash.as_deref() == Some(old_hash.as_str())
            && user.refresh_token_hash.as_deref() == Some(next_hash.as_str())
            && user
                .refresh_token_rotated_at
                .is_some_and(|at| at > window_start);
        if expired && (is_current || is_retry) {
            users::clear_expired_family(conn, &family, now)?;
            return Ok(Refresh::Expired);
        }
        if is_retry {
            return Ok(Refresh::Retry(user));
        }
        // Any other token of this family has been rotated away before: a
        // copy is being replayed. End the session for everyone holding it.
        users::revoke_family(conn, &family, now)?;
        Ok(Refresh::Reused(user.id))
    })
    .await?;
    let user = match outcome {
        Refresh::Rotated(user) => {
            log::info!("refresh: user_id={}", user.id);
            user
        }
        Refresh::Retry(user) => {
            log::info!(
                "refresh retried within the reuse window: user_id={}",
                user.id
            );
            user
        }
        Refresh::Unknown => {
            log::info!("refresh rejected: unknown token");
            return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenInvalid));
        }
        Refresh::Expired => {
            log::info!("refresh rejected: session expired");
            return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenExpired));
        }
        Refresh::Reused(user_id) => {
            log::warn!(
                "refresh token reuse detected: user_id={user_id}; session revoked and access tokens invalidated"
            );
            return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenReused));
        }
    };
    let expires_at = user
        .refresh_token_expires_at
        .ok_or_else(|| AppError::Internal("rotated session has no expiry".into()))?;
    state.session_response(&user, &next, (expires_at - now).num_seconds(), delivery)
}

/// What a refresh attempt turned out to be, decided in one database visit.
enum Refresh {
    Rotated(db::models::User),
    Retry(db::models::User),
    Unknown,
    Expired,
    Reused(i32),
}

/// Ends the session. Serves `/api/auth/logout` (identified by the access
/// token, accepted even when expired) and `/api/auth/refresh/revoke`
/// (identified by the refresh cookie, which only reaches that path).
/// Always answers 204 with both cookies cleared, so it is idempotent.
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let family = state
        .cookies
        .refresh_token(&req)
        .and_then(|t| RefreshToken::parse(&t))
        .map(|t| t.family().to_owned());
    let user_id = access_token(&req, &state)
        .ok()
        .flatten()
        .and_then(|t| {
            state
                .jwt
                .verify_allow_expired(&t, state.refresh_ttl.num_seconds())
                .ok()
        })
        .and_then(|claims| claims.user_id());

    let mut response = if family.is_none() && user_id.is_none() {
        HttpResponse::NoContent().finish()
    } else {
        let now = now_utc();
        let revoked = db::run(&state.pool, move |conn| {
            let mut revoked = None;
            if let Some(family) = family {
                revoked = users::revoke_family(conn, &family, now)?;
            }
            // The revoke route sees both cookies; their user is ended once.
            if let Some(id) = user_id.filter(|id| revoked != Some(*id)) {
                users::revoke_for_user(conn, id, now)?;
                revoked = Some(id);
            }
            Ok(revoked)
        })
        .await;
        match revoked {
            Ok(revoked) => {
                if let Some(id) = revoked {
                    log::info!("logout: user_id={id}");
                }
                HttpResponse::NoContent().finish()
            }
            Err(err) => err.error_response(),
        }
    };
    add_cookies(&mut response, state.cookies.cleared());
    // Also drops cookies a misbehaving client or an old deployment may have
    // set under other names or paths, which the Max-Age=0 pair cannot reach.
    response.headers_mut().insert(
        header::CLEAR_SITE_DATA,
        HeaderValue::from_static("\"cookies\""),
    );
    response
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

fn add_cookies(response: &mut HttpResponse, cookies: [Cookie<'static>; 2]) {
    for cookie in cookies {
        if let Err(e) = response.add_cookie(&cookie) {
            log::error!("cannot set cookie header: {e}");
        }
    }
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

#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
struct TokenBody<'a> {
    id: i32,
    email: &'a str,
    role: Role,
    token_type: &'static str,
    access_token: &'a str,
    expires_in: u64,
    refresh_token: &'a str,
    refresh_expires_in: i64,
}

impl AppState {
    fn check_delivery(&self, requested: TokenDelivery) -> Result<TokenDelivery, AppError> {
        if requested == TokenDelivery::Body && !self.token_body_delivery {
            return Err(AppError::bad_request(
                "token_body_disabled",
                "Token delivery in the response body is disabled on this server",
            ));
        }
        Ok(requested)
    }

    /// The success response of login and refresh. The role comes from the
    /// database row, never from a previous token.
    fn session_response(
        &self,
        user: &db::models::User,
        refresh: &RefreshToken,
        refresh_max_age: i64,
        delivery: TokenDelivery,
    ) -> Result<HttpResponse, AppError> {
        let role: Role = user
            .role
            .parse()
            .map_err(|_| AppError::Internal(format!("user {} has an unknown role", user.id)))?;
        let access = self
            .jwt
            .issue(user.id, &user.email, role, user.session_version)?;
        Ok(match delivery {
            TokenDelivery::Cookie => {
                let mut response = HttpResponse::Ok().json(UserView {
                    id: user.id,
                    email: user.email.clone(),
                    role,
                });
                add_cookies(
                    &mut response,
                    self.cookies
                        .issued(&access, &refresh.expose(), refresh_max_age),
                );
                response
            }
            TokenDelivery::Body => HttpResponse::Ok().json(TokenBody {
                id: user.id,
                email: &user.email,
                role,
                token_type: "Bearer",
                access_token: &access,
                expires_in: self.jwt.ttl().as_secs(),
                refresh_token: &refresh.expose(),
                refresh_expires_in: refresh_max_age.max(0),
            }),
        })
    }
}
