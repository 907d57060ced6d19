//! The session lifecycle, behind one service: `Sessions::start` (login),
//! `rotate` (refresh), `end` (logout) and `check` (every authenticated
//! request).
//!
//! - token.rs: the refresh token (parse, hash, successor);
//! - access.rs: the access-token claims and their signing keys;
//! - refresh.rs: the refresh decision, a pure function (reuse policy);
//! - store.rs: the session queries;
//! - cookies.rs / delivery.rs: how tokens travel (cookies, Bearer, body).
//!
//! One refresh session per user row: a login starts a new family and
//! replaces the previous one; rotation is a compare-and-swap on the stored
//! hash, and the absolute expiry never moves.

pub mod access;
pub mod cookies;
pub mod delivery;
pub mod refresh;
pub mod store;
pub mod token;

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{NaiveDateTime, TimeDelta, Utc};
use hmac::digest::InvalidLength;

use self::{
    access::JwtKeys,
    cookies::SessionCookies,
    delivery::{Issued, TokenDelivery, UserView},
    refresh::{Decision, Policy, Presented, StoredSession},
    token::{RefreshToken, SuccessorKeys},
};
use crate::{
    accounts::Role,
    config::{CookieSettings, SessionSettings},
    db::{self, DbConnection, DbPool, models::User},
    errors::{AppError, AuthFailure, Invariant},
};

/// The caller of an authenticated request, as the database has it now.
#[derive(Debug, Clone)]
pub struct SessionUser {
    pub id: i32,
    pub email: String,
    pub role: Role,
}

#[derive(Debug, thiserror::Error)]
pub enum SessionSetupError {
    #[error("{var} is out of range")]
    Duration {
        var: &'static str,
        #[source]
        source: chrono::OutOfRangeError,
    },
    #[error("cannot derive the refresh successor key")]
    SuccessorKey(#[from] InvalidLength),
}

pub struct Sessions {
    pool: DbPool,
    access: JwtKeys,
    cookies: SessionCookies,
    successor_keys: SuccessorKeys,
    refresh_ttl: TimeDelta,
    /// The reuse window and idle timeout the refresh decision applies.
    policy: Policy,
    body_delivery: bool,
}

/// What a refresh turned out to be, once carried out.
enum Outcome {
    Rotated(User),
    Retried(User),
    Expired,
    Reused(i32),
    Unknown,
    /// Lost the compare-and-swap twice in a row.
    Contended,
}

impl Sessions {
    /// `refresh_path` is the refresh route's path, from the route table.
    pub fn new(
        settings: &SessionSettings,
        cookies: &CookieSettings,
        refresh_path: String,
        pool: DbPool,
    ) -> Result<Self, SessionSetupError> {
        let delta = |var, value| {
            TimeDelta::from_std(value).map_err(|source| SessionSetupError::Duration { var, source })
        };
        Ok(Sessions {
            pool,
            access: JwtKeys::new(settings),
            cookies: SessionCookies::new(cookies, settings.access_ttl, refresh_path),
            successor_keys: SuccessorKeys::derive(
                settings.access_token_secret.expose(),
                settings
                    .access_token_previous_secrets
                    .iter()
                    .map(|s| s.expose()),
            )?,
            refresh_ttl: delta("REFRESH_TOKEN_TTL", settings.refresh_ttl)?,
            policy: Policy {
                reuse_window: delta("REFRESH_REUSE_WINDOW", settings.refresh_reuse_window)?,
                idle_timeout: settings
                    .refresh_idle_timeout
                    .map(|idle| delta("REFRESH_IDLE_TIMEOUT", idle))
                    .transpose()?,
            },
            body_delivery: settings.token_body_delivery,
        })
    }

    pub fn cookies(&self) -> &SessionCookies {
        &self.cookies
    }

    /// The delivery a request asked for, if this server allows it.
    pub fn delivery(&self, requested: TokenDelivery) -> Result<TokenDelivery, AppError> {
        if requested == TokenDelivery::Body && !self.body_delivery {
            return Err(AppError::bad_request(
                "token_body_disabled",
                "Token delivery in the response body is disabled on this server",
            ));
        }
        Ok(requested)
    }

    /// Login: a new family replaces any previous session of `user`.
    pub async fn start(
        &self,
        user: User,
        delivery: TokenDelivery,
    ) -> Result<HttpResponse, AppError> {
        let refresh = RefreshToken::generate()?;
        let (family, hash) = (refresh.family().to_owned(), refresh.hash());
        let now = now_utc();
        let expires_at = now + self.refresh_ttl;
        let user_id = user.id;
        // Awaited before answering: a refresh right after login must find it.
        let user = db::run(&self.pool, move |conn| {
            Ok(store::start(
                conn, user_id, &family, &hash, expires_at, now,
            )?)
        })
        .await?;
        log::info!("login: user_id={user_id}");
        self.issue(&user, &refresh, (expires_at - now).num_seconds(), delivery)
    }

    /// `/api/auth/refresh`: the token from the body (non-browser mode) or
    /// the refresh cookie. Every 401 also clears the cookies: whatever the
    /// client holds no longer works.
    pub async fn refresh(&self, req: &HttpRequest, body_token: Option<String>) -> HttpResponse {
        let presented = match (body_token, self.cookies.refresh_token(req)) {
            (Some(token), _) => self
                .delivery(TokenDelivery::Body)
                .map(|delivery| (token, delivery)),
            (None, Some(token)) => Ok((token, TokenDelivery::Cookie)),
            (None, None) => Err(AppError::Unauthenticated(AuthFailure::RefreshTokenMissing)),
        };
        let result = match presented {
            Ok((token, delivery)) => self.rotate(&token, delivery).await,
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| {
            let mut response = err.error_response();
            if matches!(err, AppError::Unauthenticated(_)) {
                delivery::clear_cookies(&mut response, &self.cookies);
            }
            response
        })
    }

    /// Rotation: carries out [`refresh::decide`] against the stored session.
    pub async fn rotate(
        &self,
        presented: &str,
        delivery: TokenDelivery,
    ) -> Result<HttpResponse, AppError> {
        let Some(presented) = RefreshToken::parse(presented) else {
            log::info!("refresh rejected: malformed token");
            return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenInvalid));
        };
        let successors = presented.successors(&self.successor_keys);
        let (family, hash, next_hash) = (
            presented.family().to_owned(),
            presented.hash(),
            successors.current.hash(),
        );
        let retired: Vec<String> = successors.retired.iter().map(|t| t.hash()).collect();
        let now = now_utc();
        let policy = self.policy;
        let outcome = db::run(&self.pool, move |conn| {
            let presented = Presented {
                hash: &hash,
                successor_hash: &next_hash,
                retired_successor_hashes: &retired,
            };
            Ok(carry_out(conn, &family, presented, now, policy)?)
        })
        .await?;
        let (user, next) = match outcome {
            Outcome::Rotated(user) => {
                log::info!("refresh: user_id={}", user.id);
                (user, successors.current)
            }
            Outcome::Retried(user) => {
                log::info!(
                    "refresh retried within the reuse window: user_id={}",
                    user.id
                );
                // The successor that rotation stored, under whichever key.
                let next = user
                    .refresh_token_hash
                    .as_deref()
                    .and_then(|stored| successors.with_hash(stored))
                    .ok_or(Invariant("a retried session holds none of the successors"))?;
                (user, next)
            }
            Outcome::Unknown => {
                log::info!("refresh rejected: unknown token");
                return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenInvalid));
            }
            Outcome::Expired => {
                log::info!("refresh rejected: session expired");
                return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenExpired));
            }
            Outcome::Reused(user_id) => {
                log::warn!(
                    "refresh token reuse detected: user_id={user_id}; session revoked and access tokens invalidated"
                );
                return Err(AppError::Unauthenticated(AuthFailure::RefreshTokenReused));
            }
            Outcome::Contended => {
                return Err(AppError::unavailable(Invariant(
                    "refresh lost the compare-and-swap twice",
                )));
            }
        };
        let expires_at = user
            .refresh_token_expires_at
            .ok_or(Invariant("rotated session has no expiry"))?;
        self.issue(&user, &next, (expires_at - now).num_seconds(), delivery)
    }

    /// Logout. Serves `/api/auth/logout` (identified by the access token,
    /// accepted even when expired) and `/api/auth/refresh/revoke`
    /// (identified by the refresh cookie, which only reaches that path).
    /// Always answers with both cookies cleared, so it is idempotent.
    pub async fn end(&self, req: &HttpRequest) -> HttpResponse {
        let family = self
            .cookies
            .refresh_token(req)
            .and_then(|t| RefreshToken::parse(&t))
            .map(|t| t.family().to_owned());
        let user_id = self
            .cookies
            .presented_access_token(req)
            .ok()
            .flatten()
            .and_then(|t| {
                self.access
                    .verify_allow_expired(&t, self.refresh_ttl.num_seconds())
                    .ok()
            })
            .and_then(|claims| claims.user_id());
        let response = if family.is_none() && user_id.is_none() {
            HttpResponse::NoContent().finish()
        } else {
            let now = now_utc();
            let ended = db::run(&self.pool, move |conn| {
                let mut ended = None;
                if let Some(family) = family {
                    ended = store::revoke_family(conn, &family, now)?;
                }
                // The revoke route sees both cookies; their user is ended once.
                if let Some(id) = user_id.filter(|id| ended != Some(*id)) {
                    store::end_for_user(conn, id, now)?;
                    ended = Some(id);
                }
                Ok(ended)
            })
            .await;
            match ended {
                Ok(ended) => {
                    if let Some(id) = ended {
                        log::info!("logout: user_id={id}");
                    }
                    HttpResponse::NoContent().finish()
                }
                Err(err) => err.error_response(),
            }
        };
        delivery::ended_response(response, &self.cookies)
    }

    /// The access token presented with `req` (cookie, else Bearer), not yet
    /// verified.
    pub fn presented_access_token(&self, req: &HttpRequest) -> Result<String, AppError> {
        self.cookies
            .presented_access_token(req)
            .map_err(AppError::Unauthenticated)?
            .ok_or(AppError::Unauthenticated(AuthFailure::TokenMissing))
    }

    /// Every authenticated request: the token verifies, and one primary-key
    /// lookup confirms the session is still live (its version matches) and
    /// supplies the current role and email, so logout, theft detection,
    /// deletion and demotion act at once.
    pub async fn check(&self, access_token: &str) -> Result<SessionUser, AppError> {
        let claims = self
            .access
            .verify(access_token)
            .map_err(AppError::Unauthenticated)?;
        let id = claims
            .user_id()
            .ok_or(AppError::Unauthenticated(AuthFailure::TokenInvalid))?;
        let current = db::run(&self.pool, move |conn| Ok(store::session_state(conn, id)?)).await?;
        let current = match current {
            Some(current) if current.session_version == claims.sv => current,
            _ => return Err(AppError::Unauthenticated(AuthFailure::TokenRevoked)),
        };
        Ok(SessionUser {
            id,
            email: current.email,
            role: current.role.parse().map_err(AppError::internal)?,
        })
    }

    /// Tokens for `user` as the database has it: the role comes from the
    /// row, never from a previous token.
    fn issue(
        &self,
        user: &User,
        refresh: &RefreshToken,
        refresh_max_age: i64,
        delivery: TokenDelivery,
    ) -> Result<HttpResponse, AppError> {
        let role: Role = user.role.parse().map_err(AppError::internal)?;
        let access_token = self
            .access
            .issue(user.id, &user.email, role, user.session_version)?;
        let issued = Issued {
            user: UserView {
                id: user.id,
                email: user.email.clone(),
                role,
            },
            access_token,
            access_expires_in: self.access.ttl().as_secs(),
            refresh_token: refresh,
            refresh_max_age,
        };
        Ok(delivery::issued_response(issued, delivery, &self.cookies))
    }
}

/// Decides and acts in one database visit. A lost compare-and-swap means a
/// concurrent refresh rotated first: decide again on what it left.
fn carry_out(
    conn: &mut DbConnection,
    family: &str,
    presented: Presented<'_>,
    now: NaiveDateTime,
    policy: Policy,
) -> diesel::QueryResult<Outcome> {
    for _ in 0..2 {
        let row = store::find_by_family(conn, family)?;
        let stored = row.as_ref().map(StoredSession::from);
        let outcome = match refresh::decide(stored.as_ref(), presented, now, policy) {
            Decision::Rotate => {
                match store::rotate(conn, family, presented.hash, presented.successor_hash, now)? {
                    Some(user) => Outcome::Rotated(user),
                    None => continue,
                }
            }
            Decision::Retry => row.map_or(Outcome::Unknown, Outcome::Retried),
            Decision::Expired => {
                if let Some(judged) = stored.and_then(|s| s.current_hash) {
                    store::clear_ended_family(conn, family, &judged, now)?;
                }
                Outcome::Expired
            }
            Decision::Reused => {
                // Ended either way: by this UPDATE or by a concurrent one.
                store::revoke_family(conn, family, now)?;
                row.map_or(Outcome::Unknown, |user| Outcome::Reused(user.id))
            }
            Decision::Unknown => Outcome::Unknown,
        };
        return Ok(outcome);
    }
    Ok(Outcome::Contended)
}

fn now_utc() -> NaiveDateTime {
    Utc::now().naive_utc()
}
