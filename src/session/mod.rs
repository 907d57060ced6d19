//! The session lifecycle, behind one service: `Sessions::start` (login),
//! `rotate` (refresh), `end` (logout) and `check` (every authenticated
//! request).
//!
//! - token.rs: the refresh token (parse, hash, successor);
//! - access.rs: the access-token claims and their signing keys;
//! - verified.rs: access tokens already verified, per worker (pure);
//! - refresh.rs: the refresh decision, a pure function (reuse policy);
//! - store.rs: the session queries;
//! - cache.rs / listener.rs: the per-instance cache of what `check` reads,
//!   and the connection that invalidates it from every instance's writes;
//! - cookies.rs / delivery.rs: how tokens travel (cookies, Bearer, body).
//!
//! One refresh session per user row: a login starts a new family and
//! replaces the previous one; rotation is a compare-and-swap on the stored
//! hash, and the absolute expiry never moves.

pub mod access;
pub mod cache;
pub mod cookies;
pub mod delivery;
pub mod listener;
pub mod refresh;
pub mod store;
pub mod token;
pub mod verified;

use std::{sync::Arc, time::Instant};

use actix_web::{HttpRequest, HttpResponse, ResponseError};
use chrono::{NaiveDateTime, TimeDelta, Utc};
use hmac::digest::InvalidLength;

use self::{
    access::JwtKeys,
    cache::{CachedSession, Lookup, SessionCache},
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
    metrics::{self, Revocation},
    request_context,
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
    cache: Arc<SessionCache>,
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
        cache: Arc<SessionCache>,
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
            cache,
        })
    }

    pub fn cookies(&self) -> &SessionCookies {
        &self.cookies
    }

    pub fn cache(&self) -> &SessionCache {
        &self.cache
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
        request_context::set_user_id(user_id);
        log::info!("login: user_id={user_id}");
        self.issue(&user, &refresh, (expires_at - now).num_seconds(), delivery)
    }

    /// `/api/auth/refresh`: the token from the body (non-browser mode) or
    /// the refresh cookie. Every 401 also clears the cookies: whatever the
    /// client holds no longer works.
    pub async fn refresh(&self, req: &HttpRequest, body_token: Option<String>) -> HttpResponse {
        let presented = match body_token {
            Some(token) => self
                .delivery(TokenDelivery::Body)
                .map(|delivery| (token, delivery)),
            None => match self.cookies.refresh_token(req) {
                Ok(Some(token)) => Ok((token, TokenDelivery::Cookie)),
                Ok(None) => Err(AppError::Unauthenticated(AuthFailure::RefreshTokenMissing)),
                Err(failure) => Err(AppError::Unauthenticated(failure)),
            },
        };
        let result = match presented {
            Ok((token, delivery)) => self.rotate(&token, delivery).await,
            Err(err) => Err(err),
        };
        result.unwrap_or_else(|err| {
            metrics::refresh_failed(&err);
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
        let policy = self.policy;
        // `now` is read once the connection is in hand, and the swap commits
        // only within the deadline: a rotation delayed by a hung database is
        // stamped when it happens or not at all, so the client's retry is
        // never judged a replay.
        let (outcome, now) = db::run_atomic(&self.pool, move |conn| {
            let now = now_utc();
            let presented = Presented {
                hash: &hash,
                successor_hash: &next_hash,
                retired_successor_hashes: &retired,
            };
            Ok((carry_out(conn, &family, presented, now, policy)?, now))
        })
        .await?;
        let (user, next) = match outcome {
            Outcome::Rotated(user) => {
                metrics::refreshed(false);
                request_context::set_user_id(user.id);
                log::info!("refresh: user_id={}", user.id);
                (user, successors.current)
            }
            Outcome::Retried(user) => {
                metrics::refreshed(true);
                request_context::set_user_id(user.id);
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
                self.cache.invalidate(user_id);
                metrics::session_revoked(Revocation::Reuse);
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
    /// Every token presented is ended, so a planted duplicate cookie cannot
    /// shadow the user's own session. An access token whose `sv` is behind
    /// belongs to a session that has already ended: it revokes nothing, or
    /// an old token could end the user's newer session. Answers 204 with
    /// both cookies cleared, so it is idempotent; when the revocation could
    /// not be stored it answers 503 and keeps the cookies, so the client
    /// still holds what it needs to retry.
    pub async fn end(&self, req: &HttpRequest) -> HttpResponse {
        metrics::logout();
        let families: Vec<String> = self
            .cookies
            .all_refresh_tokens(req)
            .iter()
            .filter_map(|t| RefreshToken::parse(t))
            .map(|t| t.family().to_owned())
            .collect();
        let sessions: Vec<(i32, i32)> = self
            .cookies
            .all_access_tokens(req)
            .iter()
            .filter_map(|t| {
                self.access
                    .verify_allow_expired(t, self.refresh_ttl.num_seconds())
                    .ok()
            })
            .filter_map(|claims| Some((claims.user_id()?, claims.sv)))
            .collect();
        let response = if families.is_empty() && sessions.is_empty() {
            HttpResponse::NoContent().finish()
        } else {
            let now = now_utc();
            let sessions_presented: Vec<i32> = sessions.iter().map(|(id, _)| *id).collect();
            let ended = db::run(&self.pool, move |conn| {
                let mut ended = Vec::new();
                for family in &families {
                    ended.extend(store::revoke_family(conn, family, now)?);
                }
                // The revoke route sees both cookies; their user is ended once.
                for (id, sv) in sessions {
                    if !ended.contains(&id) && store::end_for_user(conn, id, sv, now)? > 0 {
                        ended.push(id);
                    }
                }
                Ok(ended)
            })
            .await;
            // Whatever the database answered: a dropped entry costs one lookup.
            for id in sessions_presented
                .iter()
                .copied()
                .chain(ended.iter().flatten().copied())
            {
                self.cache.invalidate(id);
            }
            match ended {
                Ok(ended) => {
                    for id in ended {
                        metrics::session_revoked(Revocation::Logout);
                        request_context::set_user_id(id);
                        log::info!("logout: user_id={id}");
                    }
                    HttpResponse::NoContent().finish()
                }
                Err(err) => return err.error_response(),
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

    /// Every authenticated request: the token verifies, and the session
    /// state (version, role, email) confirms the session is still live and
    /// supplies the current role and email, so logout, theft detection,
    /// deletion and demotion act at once. The state comes from the cache
    /// when it is live, else from one primary-key lookup.
    pub async fn check(&self, access_token: &str) -> Result<SessionUser, AppError> {
        let claims = self
            .access
            .verify(access_token)
            .map_err(AppError::Unauthenticated)?;
        let id = claims
            .user_id()
            .ok_or(AppError::Unauthenticated(AuthFailure::TokenInvalid))?;
        let ticket = match self.cache.lookup(id, Instant::now()) {
            Lookup::Hit(current) if current.answers_for(claims.sv, claims.role, &claims.email) => {
                return session_user(id, current, claims.sv);
            }
            Lookup::Hit(_) => None,
            Lookup::Miss(ticket) => ticket,
        };
        let row = db::run(&self.pool, move |conn| Ok(store::session_state(conn, id)?)).await?;
        let current = match row {
            Some(row) => CachedSession {
                session_version: row.session_version,
                email: row.email,
                role: row.role.parse().map_err(AppError::internal)?,
            },
            None => return Err(AppError::Unauthenticated(AuthFailure::TokenRevoked)),
        };
        self.cache.fill(ticket, id, current.clone(), Instant::now());
        session_user(id, current, claims.sv)
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

/// The caller, if the token's session version is the current one.
fn session_user(id: i32, current: CachedSession, sv: i32) -> Result<SessionUser, AppError> {
    if current.session_version != sv {
        return Err(AppError::Unauthenticated(AuthFailure::TokenRevoked));
    }
    request_context::set_user_id(id);
    Ok(SessionUser {
        id,
        email: current.email,
        role: current.role,
    })
}

fn now_utc() -> NaiveDateTime {
    Utc::now().naive_utc()
}
