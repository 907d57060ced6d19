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
