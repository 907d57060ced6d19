//! `AuthUser`: the caller, resolved once per request from the access cookie
//! or, failing that, an `Authorization: Bearer` header. A handler that takes
//! it cannot run for an unauthenticated request.
//!
//! After the token verifies, one primary-key lookup confirms the session
//! is still live (its version matches) and supplies the current role and
//! email, so logout, theft detection, deletion and demotion act at once.

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};
use std::{future::Future, pin::Pin};

use super::Role;
use crate::{
    db::{self, users},
    errors::{AppError, AuthFailure},
    startup::AppState,
};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i32,
    pub email: String,
    pub role: Role,
}

pub fn require_admin(user: &AuthUser) -> Result<(), AppError> {
    if user.role == Role::Admin {
        Ok(())
    } else {
        Err(AppError::Forbidden)
    }
}

/// Where the access token came from, for routes (logout) that accept a
/// token after its expiry.
pub fn access_token(req: &HttpRequest, state: &AppState) -> Result<Option<String>, AuthFailure> {
    match state.cookies.access_token(req) {
        Some(token) => Ok(Some(token)),
        None => bearer_token(req),
    }
}

/// The token of an `Authorization: Bearer` header, if there is one.
pub fn bearer_token(req: &HttpRequest) -> Result<Option<String>, AuthFailure> {
    let Some(value) = req.headers().get(header::AUTHORIZATION) else {
        return Ok(None);
    };
    let value = value.to_str().map_err(|_| AuthFailure::TokenInvalid)?;
    match value.split_once(' ') {
        Some((scheme, token)) if scheme.eq_ignore_ascii_case("bearer") => {
            let token = token.trim();
            if token.is_empty() {
                Err(AuthFailure::TokenInvalid)
            } else {
                Ok(Some(token.to_owned()))
            }
        }
        // Another scheme (e.g. Basic) carries no bearer token.
        _ => Ok(None),
    }
}

/// The verified claims' user id and session version (no database yet).
fn verified_token(req: &HttpRequest, state: &AppState) -> Result<(i32, i32), AppError> {
    let token = access_token(req, state)
        .map_err(AppError::Unauthenticated)?
        .ok_or(AppError::Unauthenticated(AuthFailure::TokenMissing))?;
    let claims = state
        .jwt
        .verify(&token)
        .map_err(AppError::Unauthenticated)?;
    let id = claims
        .user_id()
        .ok_or(AppError::Unauthenticated(AuthFailure::TokenInvalid))?;
    Ok((id, claims.sv))
}

async fn authenticate(
    state: web::Data<AppState>,
    id: i32,
    version: i32,
) -> Result<AuthUser, AppError> {
    let current = db::run(&state.pool, move |conn| Ok(users::session_state(conn, id)?)).await?;
    let current = match current {
        Some(current) if current.session_version == version => current,
        _ => return Err(AppError::Unauthenticated(AuthFailure::TokenRevoked)),
    };
    let role = current
        .role
        .parse()
        .map_err(|_| AppError::Internal(format!("user {id} has an unknown role")))?;
    Ok(AuthUser {
        id,
        email: current.email,
        role,
    })
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Pin<Box<dyn Future<Output = Result<Self, AppError>>>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        // The token is read and verified here, while the request is at hand;
        // only the database check waits.
        let verified = req
            .app_data::<web::Data<AppState>>()
            .cloned()
            .ok_or_else(|| AppError::Internal("application state missing".into()))
            .and_then(|state| verified_token(req, &state).map(|claims| (state, claims)));
        Box::pin(async move {
            let (state, (id, version)) = verified?;
            authenticate(state, id, version).await
        })
    }
}
