//! Database access: a pooled connection handed to a closure on the blocking
//! pool, and repository functions that return `QueryResult`.

pub mod models;
pub mod people;
#[rustfmt::skip]
pub mod schema;
pub mod users;

use diesel::{Connection, PgConnection, r2d2::ConnectionManager};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{blocking, config::DatabaseSettings, errors::AppError};

pub type DbPool = r2d2::Pool<ConnectionManager<PgConnection>>;
pub type DbConnection = PgConnection;

pub const MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations");

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database migrations failed: {0}")]
    Migrate(String),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

/// Connects, runs pending migrations and builds the pool. Blocking: call it
/// from start-up code or the blocking pool, never from a request handler.
pub fn connect_and_migrate(settings: &DatabaseSettings) -> Result<DbPool, DbSetupError> {
    // Connect directly first: a wrong password or a missing database then
    // reports the server's own message instead of a pool time-out.
    let mut conn = match PgConnection::establish(settings.url.expose()) {
        Ok(conn) => conn,
        Err(e) if settings.create_if_missing && e.to_string().contains("does not exist") => {
            create_database(settings.url.expose())?;
            PgConnection::establish(settings.url.expose())
                .map_err(|e| DbSetupError::Connect(e.to_string()))?
        }
        Err(e) => return Err(DbSetupError::Connect(e.to_string())),
    };
    conn.run_pending_migrations(MIGRATIONS)
        .map_err(|e| DbSetupError::Migrate(e.to_string()))?;
    r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(settings.pool_size.min(2)))
        .connection_timeout(settings.connect_timeout)
        .build(ConnectionManager::new(settings.url.expose()))
        .map_err(|e| DbSetupError::Pool(e.to_string()))
}

/// Development convenience: creates the database named in `url` through the
/// server's `postgres` maintenance database.
fn create_database(url: &str) -> Result<(), DbSetupError> {
    use diesel::RunQueryDsl;
    let (base, rest) = url
        .rsplit_once('/')
        .ok_or_else(|| DbSetupError::Connect("DATABASE_URL names no database".into()))?;
    let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbSetupError::Connect(format!(
            "database `{name}` does not exist and its name is not a plain identifier"
        )));
    }
    let maintenance = if query.is_empty() {
        format!("{base}/postgres")
    } else {
        format!("{base}/postgres?{query}")
    };
    let mut conn =
        PgConnection::establish(&maintenance).map_err(|e| DbSetupError::Connect(e.to_string()))?;
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .map_err(|e| DbSetupError::Connect(e.to_string()))?;
    log::warn!("created database `{name}` (development only)");
    Ok(())
}

/// Runs `f` with a pooled connection on the blocking pool. Checking a
/// connection out can block too, so it happens inside the closure.
pub async fn run<F, T>(pool: &DbPool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    let pool = pool.clone();
    blocking::run(move || {
        let mut conn = pool.get()?;
        f(&mut conn)
    })
    .await
}

/// A cheap round trip used by the readiness probe.
pub fn ping(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    use diesel::RunQueryDsl;
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}
