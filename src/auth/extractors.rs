//! `AuthUser`: the caller, resolved once per request from the access cookie
//! or, failing that, an `Authorization: Bearer` header. A handler that takes
//! it cannot run for an unauthenticated request.

use std::future::{Ready, ready};

use actix_web::{FromRequest, HttpRequest, dev::Payload, http::header, web};

use super::{Role, jwt::AccessClaims};
use crate::{
    errors::{AppError, AuthFailure},
    startup::AppState,
};

#[derive(Debug, Clone)]
pub struct AuthUser {
    pub id: i32,
    pub email: String,
    pub role: Role,
}

impl AuthUser {
    fn from_claims(claims: AccessClaims) -> Result<Self, AuthFailure> {
        Ok(AuthUser {
            id: claims.user_id().ok_or(AuthFailure::TokenInvalid)?,
            email: claims.email,
            role: claims.role,
        })
    }
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

fn authenticate(req: &HttpRequest) -> Result<AuthUser, AppError> {
    let state = req
        .app_data::<web::Data<AppState>>()
        .ok_or_else(|| AppError::Internal("application state missing".into()))?;
    let token = access_token(req, state)
        .map_err(AppError::Unauthenticated)?
        .ok_or(AppError::Unauthenticated(AuthFailure::TokenMissing))?;
    let claims = state
        .jwt
        .verify(&token)
        .map_err(AppError::Unauthenticated)?;
    AuthUser::from_claims(claims).map_err(AppError::Unauthenticated)
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Ready<Result<Self, AppError>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        ready(authenticate(req))
    }
}
