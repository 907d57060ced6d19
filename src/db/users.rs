//! Repository functions for accounts in `users`. The session columns belong
//! to src/session/store.rs.

use chrono::NaiveDateTime;
use diesel::prelude::*;

use super::{
    DbConnection,
    models::{NewUser, User},
    schema::users,
    session_changes::session_changed,
};

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

/// Takes effect on every instance's next request (the session caches are
/// told in the same transaction).
pub fn set_role(
    conn: &mut DbConnection,
    email: &str,
    role: &str,
    now: NaiveDateTime,
) -> QueryResult<User> {
    conn.transaction(|conn| {
        let user: User = diesel::update(users::table.filter(users::email.eq(email)))
            .set((users::role.eq(role), users::updated_at.eq(now)))
            .get_result(conn)?;
        session_changed(conn, user.id)?;
        Ok(user)
    })
}

/// Deletes the account; returns its id. Its access tokens stop at once:
/// the per-request session check finds no row, and every instance's session
/// cache hears of it in the same transaction.
pub fn delete_by_email(conn: &mut DbConnection, email: &str) -> QueryResult<Option<i32>> {
    conn.transaction(|conn| {
        let deleted = diesel::delete(users::table.filter(users::email.eq(email)))
            .returning(users::id)
            .get_result(conn)
            .optional()?;
        if let Some(id) = deleted {
            session_changed(conn, id)?;
        }
        Ok(deleted)
    })
}

/// What an operator may see of an account: never a hash.
#[derive(Queryable, Debug)]
pub struct UserSummary {
    pub id: i32,
    pub email: String,
    pub role: String,
    pub created_at: NaiveDateTime,
    /// The absolute end of its refresh session, if it has one.
    pub session_expires_at: Option<NaiveDateTime>,
}

/// Every account (or those of `role`), by id.
pub fn list(conn: &mut DbConnection, role: Option<&str>) -> QueryResult<Vec<UserSummary>> {
    let mut query = users::table
        .select((
            users::id,
            users::email,
            users::role,
            users::created_at,
            users::refresh_token_expires_at,
        ))
        .order(users::id)
        .into_boxed();
    if let Some(role) = role {
        query = query.filter(users::role.eq(role));
    }
    query.load(conn)
}

/// Replaces the password hash only while it is still `old`, so a concurrent
/// change of the password is never overwritten; true when replaced.
pub fn replace_password_hash(
    conn: &mut DbConnection,
    user_id: i32,
    old: &str,
    new: &str,
    now: NaiveDateTime,
) -> QueryResult<bool> {
    diesel::update(
        users::table
            .find(user_id)
            .filter(users::password_hash.eq(old)),
    )
    .set((users::password_hash.eq(new), users::updated_at.eq(now)))
    .execute(conn)
    .map(|n| n == 1)
}
