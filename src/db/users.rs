//! Repository functions for `users`. Timestamps are naive UTC and "now" is
//! passed in, so the same SQL works on every backend and in tests.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    DbConnection,
    models::{NewUser, User},
    schema::users,
};

type NoSession = (
    diesel::dsl::Eq<users::refresh_token_hash, Option<String>>,
    diesel::dsl::Eq<users::refresh_token_expires_at, Option<NaiveDateTime>>,
    diesel::dsl::Eq<users::updated_at, NaiveDateTime>,
);

/// The assignments that end a refresh session.
fn no_session(now: NaiveDateTime) -> NoSession {
    (
        users::refresh_token_hash.eq(None),
        users::refresh_token_expires_at.eq(None),
        users::updated_at.eq(now),
    )
}

pub fn insert(conn: &mut DbConnection, new_user: &NewUser<'_>) -> QueryResult<User> {
    diesel::insert_into(users::table)
        .values(new_user)
        .get_result(conn)
}

pub fn find_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<User>> {
    users::table
        .filter(users::email.eq(email))
        .first(conn)
        .optional()
}

/// Starts a new refresh session, replacing any previous one (one per user).
pub fn start_refresh_session(
    conn: &mut DbConnection,
    user_id: i32,
    token_hash: &str,
    expires_at: NaiveDateTime,
    now: NaiveDateTime,
) -> QueryResult<User> {
    diesel::update(users::table.find(user_id))
        .set((
            users::refresh_token_hash.eq(token_hash),
            users::refresh_token_expires_at.eq(expires_at),
            users::updated_at.eq(now),
        ))
        .get_result(conn)
}

/// Compare-and-swap rotation: succeeds only for the current, unexpired
/// token, so of N concurrent refreshes with one token exactly one wins.
/// The expiry is left as it is (absolute session lifetime).
pub fn rotate_refresh_token(
    conn: &mut DbConnection,
    old_hash: &str,
    new_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<User>> {
    diesel::update(
        users::table
            .filter(users::refresh_token_hash.eq(old_hash))
            .filter(users::refresh_token_expires_at.gt(now)),
    )
    .set((
        users::refresh_token_hash.eq(new_hash),
        users::updated_at.eq(now),
    ))
    .get_result(conn)
    .optional()
}

/// Clears the session if `token_hash` is current but expired; returns
/// whether it was.
pub fn clear_expired_refresh_token(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .filter(users::refresh_token_hash.eq(token_hash))
            .filter(users::refresh_token_expires_at.le(now)),
    )
    .set(no_session(now))
    .execute(conn)
    .map(|n| n > 0)
}

/// Revokes the refresh session holding `token_hash`; returns its user id.
pub fn revoke_by_token_hash(
    conn: &mut DbConnection,
    token_hash: &str,
    now: NaiveDateTime,
) -> QueryResult<Option<i32>> {
    diesel::update(users::table.filter(users::refresh_token_hash.eq(token_hash)))
        .set(no_session(now))
        .returning(users::id)
        .get_result(conn)
        .optional()
}

pub fn revoke_for_user(
    conn: &mut DbConnection,
    user_id: i32,
    now: NaiveDateTime,
) -> QueryResult<usize> {
    diesel::update(users::table.find(user_id))
        .set(no_session(now))
        .execute(conn)
}

pub fn set_role(
    conn: &mut DbConnection,
    email: &str,
    role: &str,
    now: NaiveDateTime,
) -> QueryResult<User> {
    diesel::update(users::table.filter(users::email.eq(email)))
        .set((users::role.eq(role), users::updated_at.eq(now)))
        .get_result(conn)
}
