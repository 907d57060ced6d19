//! Sign-up, login, refresh, logout and "who am I".

use actix_web::{HttpMessage, HttpRequest, HttpResponse, ResponseError, cookie::Cookie, web};
use chrono::{NaiveDateTime, Utc};
use serde::{Deserialize, Serialize, de::DeserializeOwned};
use serde_json::json;

use crate::{
    auth::{AuthUser, RefreshToken, Role, extractors::access_token},
    client_ip::client_ip,
    db::{self, models::NewUser, users},
    errors::{AppError, AuthFailure, FieldError, is_unique_violation},
    startup::AppState,
    validation::{email_is_valid, normalize_email, signup_errors},
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
    let now = now_utc();
    let expires_at = now + state.refresh_ttl;
    let user_id = user.id;
    // Awaited before answering: a refresh right after login must find it.
    let user = db::run(&state.pool, move |conn| {
        Ok(users::start_refresh_session(
            conn,
            user_id,
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
    // A malformed identifier cannot belong to an account; it skips the query
    // (which also keeps NUL bytes away from the database) but not bcrypt.
    let user = if email_is_valid(&email) {
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
    let old_hash = RefreshToken::from_client(&presented).hash();
    let next = RefreshToken::generate()?;
    let next_hash = next.hash();
    let now = now_utc();
    let outcome = db::run(&state.pool, move |conn| {
        if let Some(user) = users::rotate_refresh_token(conn, &old_hash, &next_hash, now)? {
            return Ok(Ok(user));
        }
        if users::clear_expired_refresh_token(conn, &old_hash, now)? {
            Ok(Err(AuthFailure::RefreshTokenExpired))
        } else {
            Ok(Err(AuthFailure::RefreshTokenInvalid))
        }
    })
    .await?;
    let user = match outcome {
        Ok(user) => user,
        Err(failure) => {
            log::info!("refresh rejected: {failure:?}");
            return Err(AppError::Unauthenticated(failure));
        }
    };
    let expires_at = user
        .refresh_token_expires_at
        .ok_or_else(|| AppError::Internal("rotated session has no expiry".into()))?;
    log::info!("refresh: user_id={}", user.id);
    state.session_response(&user, &next, (expires_at - now).num_seconds(), delivery)
}

/// Ends the session. Serves `/api/auth/logout` (identified by the access
/// token, accepted even when expired) and `/api/auth/refresh/revoke`
/// (identified by the refresh cookie, which only reaches that path).
/// Always answers 204 with both cookies cleared, so it is idempotent.
pub async fn logout(req: HttpRequest, state: web::Data<AppState>) -> HttpResponse {
    let refresh_hash = state
        .cookies
        .refresh_token(&req)
        .map(|t| RefreshToken::from_client(&t).hash());
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

    let mut response = if refresh_hash.is_none() && user_id.is_none() {
        HttpResponse::NoContent().finish()
    } else {
        let now = now_utc();
        let revoked = db::run(&state.pool, move |conn| {
            let mut revoked = None;
            if let Some(hash) = refresh_hash {
                revoked = users::revoke_by_token_hash(conn, &hash, now)?;
            }
            if let Some(id) = user_id {
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
    response
}

pub async fn me(user: AuthUser) -> HttpResponse {
    HttpResponse::Ok().json(UserView {
        id: user.id,
        email: user.email,
        role: user.role,
    })
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
    let is_json = matches!(req.mime_type(), Ok(Some(m)) if m.essence_str() == "application/json");
    if !is_json {
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
        let access = self.jwt.issue(user.id, &user.email, role)?;
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
                        .issued(&access, refresh.expose(), refresh_max_age),
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
                refresh_token: refresh.expose(),
                refresh_expires_in: refresh_max_age.max(0),
            }),
        })
    }
}
