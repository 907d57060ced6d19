//! The request guards a handler states in its signature: `AuthUser` (any
//! live session) and `AdminUser` (the role guard). A handler that takes one
//! cannot run for a request that fails it, so the route's requirement is
//! visible in the handler's signature.

use std::{future::Future, ops::Deref, pin::Pin};

use actix_web::{FromRequest, HttpRequest, dev::Payload, web};

use crate::{
    accounts::Role,
    errors::{AppError, Invariant},
    session::SessionUser,
    state::AppState,
};

/// The caller, resolved once per request from the access cookie or, failing
/// that, an `Authorization: Bearer` header (`Sessions::check`). 401 otherwise.
#[derive(Debug, Clone)]
pub struct AuthUser(pub SessionUser);

/// An `AuthUser` whose current role is admin; 403 `insufficient_role`
/// otherwise (401 first, when there is no live session at all).
#[derive(Debug, Clone)]
pub struct AdminUser(pub SessionUser);

impl Deref for AuthUser {
    type Target = SessionUser;

    fn deref(&self) -> &SessionUser {
        &self.0
    }
}

impl Deref for AdminUser {
    type Target = SessionUser;

    fn deref(&self) -> &SessionUser {
        &self.0
    }
}

type Extracted<T> = Pin<Box<dyn Future<Output = Result<T, AppError>>>>;

fn checked_session(req: &HttpRequest) -> Extracted<SessionUser> {
    // The token is read while the request is at hand; only the database
    // check waits.
    let presented = req
        .app_data::<web::Data<AppState>>()
        .cloned()
        .ok_or(AppError::internal(Invariant("application state missing")))
        .and_then(|state| {
            let token = state.sessions.presented_access_token(req)?;
            Ok((state, token))
        });
    Box::pin(async move {
        let (state, token) = presented?;
        state.sessions.check(&token).await
    })
}

impl FromRequest for AuthUser {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = checked_session(req);
        Box::pin(async move { session.await.map(AuthUser) })
    }
}

impl FromRequest for AdminUser {
    type Error = AppError;
    type Future = Extracted<Self>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        let session = checked_session(req);
        Box::pin(async move {
            let user = session.await?;
            if user.role.satisfies(Role::Admin) {
                Ok(AdminUser(user))
            } else {
                Err(AppError::Forbidden)
            }
        })
    }
}
