//! Session queries: the only code that reads or writes the refresh columns
//! and `session_version` of `users`. Timestamps are naive UTC and "now" is
//! passed in, so the same SQL works on every backend and in tests.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::refresh::StoredSession;
use crate::db::{DbConnection, models::User, schema::users, session_changes::session_changed};

type NoSession = (
    diesel::dsl::Eq<users::refresh_family, Option<String>>,
    diesel::dsl::Eq<users::refresh_token_hash, Option<String>>,
    diesel::dsl::Eq<users::previous_refresh_token_hash, Option<String>>,
    diesel::dsl::Eq<users::refresh_token_rotated_at, Option<NaiveDateTime>>,
    diesel::dsl::Eq<users::refresh_token_expires_at, Option<NaiveDateTime>>,
    diesel::dsl::Eq<users::updated_at, NaiveDateTime>,
);

/// The assignments that end a refresh session.
fn no_session(now: NaiveDateTime) -> NoSession {
    (
        users::refresh_family.eq(None),
        users::refresh_token_hash.eq(None),
        users::previous_refresh_token_hash.eq(None),
        users::refresh_token_rotated_at.eq(None),
        users::refresh_token_expires_at.eq(None),
        users::updated_at.eq(now),
    )
}

type EndSession = (
    NoSession,
    diesel::dsl::Eq<users::session_version, diesel::dsl::Add<users::session_version, i32>>,
);

/// Ends the refresh session and every access token issued before (their
/// `sv` claim falls behind).
fn end_session(now: NaiveDateTime) -> EndSession {
    (
        no_session(now),
        users::session_version.eq(users::session_version + 1),
    )
}

/// What the per-request check needs: one primary-key lookup.
#[derive(Queryable)]
pub struct SessionState {
    pub email: String,
    pub role: String,
    pub session_version: i32,
}

/// Starts a new refresh session (new family), replacing any previous one:
/// one session per user.
pub fn start(
    conn: &mut DbConnection,
    user_id: i32,
    family: &str,
    token_hash: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<User> {
    diesel::update(users::table.find(user_id))
        .set((
            users::refresh_family.eq(family),
            users::refresh_token_hash.eq(token_hash),
            users::previous_refresh_token_hash.eq(None::<String>),
            // When the current token was issued: the idle timeout's clock.
            users::refresh_token_rotated_at.eq(now),
            users::refresh_token_expires_at.eq(expires_at),
            users::updated_at.eq(now),
        ))
        .get_result(conn)
}

/// Compare-and-swap rotation: succeeds only for the current, unexpired
/// token, so of N concurrent refreshes with one token exactly one rotates
/// (on any number of instances: the database decides). The replaced hash is
/// kept to recognise a retry; the expiry never moves (absolute lifetime).
pub fn rotate(
    conn: &mut DbConnection,
    family: &str,
    old_hash: &str,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<User>> {
    diesel::update(
        users::table
            .filter(users::refresh_family.eq(family))
            .filter(users::refresh_token_hash.eq(old_hash))
            .filter(users::refresh_token_expires_at.gt(now)),
    )
    .set((
        users::previous_refresh_token_hash.eq(old_hash),
        users::refresh_token_hash.eq(new_hash),
        users::refresh_token_rotated_at.eq(now),
        users::updated_at.eq(now),
    ))
    .get_result(conn)
    .optional()
}

pub fn find_by_family(conn: &mut DbConnection, family: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::refresh_family.eq(family))
        .first(conn)
        .optional()
}

/// Ends the session of `family` and invalidates every access token issued
/// for it, on every instance; returns the user id. Used for logout and for
/// detected theft.
pub fn revoke_family(
    conn: &mut DbConnection,
    family: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<i32>> {
    conn.transaction(|conn| {
        let ended = diesel::update(users::table.filter(users::refresh_family.eq(family)))
            .set(end_session(now))
            .returning(users::id)
            .get_result(conn)
            .optional()?;
        if let Some(user_id) = ended {
            session_changed(conn, user_id)?;
        }
        Ok(ended)
    })
}

/// Ends a session judged over (absolute expiry or idle) without touching
/// access tokens (their TTL is shorter than either limit). Only if it still
/// holds the current token it was judged on, so a concurrent rotation or
/// login is never undone.
pub fn clear_ended_family(
    conn: &mut DbConnection,
    family: &str,
    judged_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .filter(users::refresh_family.eq(family))
            .filter(users::refresh_token_hash.eq(judged_hash)),
    )
    .set(no_session(now))
    .execute(conn)
    .map(|n| n > 0)
}

/// Logout by access token: ends the refresh session and every access
/// token, on every instance, if `session_version` is still the token's (a
/// stale token's session has ended already, and must not end a newer one).
pub fn end_for_user(
    conn: &mut DbConnection,
    user_id: i32,
    session_version: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    conn.transaction(|conn| {
        let ended = diesel::update(
            users::table
                .find(user_id)
                .filter(users::session_version.eq(session_version)),
        )
        .set(end_session(now))
        .execute(conn)?;
        if ended > 0 {
            session_changed(conn, user_id)?;
        }
        Ok(ended)
    })
}

pub fn session_state(conn: &mut DbConnection, user_id: i32) -> QueryResult<Option<SessionState>> {
    users::table
        .find(user_id)
        .select((users::email, users::role, users::session_version))
        .first(conn)
        .optional()
}

impl From<&User> for StoredSession {
    fn from(user: &User) -> Self {
        StoredSession {
            current_hash: user.refresh_token_hash.clone(),
            previous_hash: user.previous_refresh_token_hash.clone(),
            rotated_at: user.refresh_token_rotated_at,
            expires_at: user.refresh_token_expires_at,
        }
    }
}
