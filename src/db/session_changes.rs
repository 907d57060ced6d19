//! How a change to a user's session state reaches every instance's cache
//! (src/session/cache.rs) through the database: the write side, for every
//! path that changes what a session check answers, and the read side the
//! listener (src/session/listener.rs) polls.
//!
//! - PostgreSQL: `pg_notify(CHANNEL, user id)` in the writing transaction,
//!   so it is delivered on commit and never for a rolled-back write; each
//!   instance `LISTEN`s on one dedicated connection.
//! - SQLite (one host): `PRAGMA data_version` on a dedicated connection
//!   changes whenever another connection, of any process, commits; the
//!   listener then flushes the whole cache. Nothing to send.

use diesel::{
    PgConnection, QueryResult, QueryableByName, RunQueryDsl, SqliteConnection,
    connection::SimpleConnection, sql_types::Text,
};

use super::DbConnection;

pub const CHANNEL: &str = "bff_session_changed";

/// Call inside the transaction of every write that changes a user's session
/// version, role or email, or deletes the user (logout, detected theft,
/// `set-role`, user deletion, any future admin path).
pub fn session_changed(conn: &mut DbConnection, user_id: i32) -> QueryResult<()> {
    match conn {
        DbConnection::Postgres(pg) => diesel::sql_query("SELECT pg_notify($1, $2)")
            .bind::<Text, _>(CHANNEL)
            .bind::<Text, _>(user_id.to_string())
            .execute(pg)
            .map(drop),
        DbConnection::Sqlite(_) => Ok(()),
    }
}

/// Names the connection (so operators, and the tests, can find it in
/// `pg_stat_activity`) and subscribes it.
pub fn listen(conn: &mut PgConnection, application_name: &str) -> QueryResult<()> {
    diesel::sql_query("SELECT set_config('application_name', $1, false)")
        .bind::<Text, _>(application_name)
        .execute(conn)?;
    conn.batch_execute(&format!("LISTEN {CHANNEL}"))
}

/// What arrived since the last call: the users named, or an error when the
/// connection is gone. A payload that is not a user id counts as "flush".
pub fn pending(conn: &mut PgConnection) -> QueryResult<Vec<Option<i32>>> {
    let mut changed = Vec::new();
    for notification in conn.notifications_iter() {
        changed.push(notification?.payload.parse().ok());
    }
    Ok(changed)
}

#[derive(QueryableByName)]
struct DataVersion {
    #[diesel(sql_type = diesel::sql_types::BigInt)]
    data_version: i64,
}

/// Changes whenever another connection commits to the database file.
pub fn data_version(conn: &mut SqliteConnection) -> QueryResult<i64> {
    diesel::sql_query("PRAGMA data_version")
        .get_result::<DataVersion>(conn)
        .map(|row| row.data_version)
}
