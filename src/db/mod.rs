//! Database access: a pooled connection handed to a closure on the blocking
//! pool, and repository functions that return `QueryResult`.

pub mod models;
pub mod people;
#[rustfmt::skip]
pub mod schema;
pub mod users;

use std::time::Duration;

use diesel::{
    Connection, PgConnection, RunQueryDsl, SqliteConnection, connection::SimpleConnection,
    r2d2::R2D2Connection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

use crate::{
    blocking,
    config::{DatabaseSettings, DatabaseTarget},
    errors::AppError,
};

/// One connection type over both backends: handlers and repositories are
/// written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

pub type DbPool = r2d2::Pool<DbManager>;

/// Same versions and meaning per backend; only the SQL dialect differs.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// How long an SQLite writer waits for another writer's lock before giving
/// up with "database is locked".
const SQLITE_BUSY_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum DbSetupError {
    #[error("cannot connect to the database: {0}")]
    Connect(String),
    #[error("database migrations failed: {0}")]
    Migrate(String),
    #[error("cannot build the connection pool: {0}")]
    Pool(String),
}

/// Opens a connection through the concrete backend, so a wrong password, a
/// refused connection or a missing database report the server's own message
/// (MultiConnection's own `establish` only says the URL is invalid).
pub fn establish(target: &DatabaseTarget) -> Result<DbConnection, diesel::ConnectionError> {
    match target {
        DatabaseTarget::Postgres(url) => {
            PgConnection::establish(url.expose()).map(DbConnection::Postgres)
        }
        DatabaseTarget::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
            // Per-connection settings: wait for writers instead of failing,
            // and enforce the foreign keys SQLite ignores by default.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL;",
                SQLITE_BUSY_TIMEOUT.as_millis()
            ))
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// The r2d2 manager: connections come from [`establish`], never from a URL
/// guessed at by each backend in turn.
#[derive(Debug)]
pub struct DbManager {
    target: DatabaseTarget,
}

impl r2d2::ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        establish(&self.target).map_err(diesel::r2d2::Error::ConnectionError)
    }

    fn is_valid(&self, conn: &mut DbConnection) -> Result<(), Self::Error> {
        conn.ping().map_err(diesel::r2d2::Error::QueryError)
    }

    fn has_broken(&self, conn: &mut DbConnection) -> bool {
        conn.is_broken()
    }
}

/// Connects, runs pending migrations and builds the pool. Blocking: call it
/// from start-up code or the blocking pool, never from a request handler.
pub fn connect_and_migrate(settings: &DatabaseSettings) -> Result<DbPool, DbSetupError> {
    let connect_error = |e: diesel::ConnectionError| DbSetupError::Connect(e.to_string());
    let migrate_error =
        |e: Box<dyn std::error::Error + Send + Sync>| DbSetupError::Migrate(e.to_string());
    match &settings.target {
        DatabaseTarget::Postgres(url) => {
            let mut conn = match PgConnection::establish(url.expose()) {
                Ok(conn) => conn,
                Err(e)
                    if settings.create_if_missing && e.to_string().contains("does not exist") =>
                {
                    create_database(url.expose())?;
                    PgConnection::establish(url.expose()).map_err(connect_error)?
                }
                Err(e) => return Err(connect_error(e)),
            };
            conn.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(migrate_error)?;
        }
        DatabaseTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|e| {
                    DbSetupError::Connect(format!("cannot create {}: {e}", dir.display()))
                })?;
            }
            let DbConnection::Sqlite(mut conn) =
                establish(&settings.target).map_err(connect_error)?
            else {
                return Err(DbSetupError::Connect(
                    "expected an SQLite connection".into(),
                ));
            };
            // WAL lets readers proceed while one writer commits; it is a
            // property of the file, so setting it once is enough.
            conn.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(|e| DbSetupError::Connect(e.to_string()))?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(migrate_error)?;
        }
    }
    r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(settings.min_idle.min(settings.pool_size)))
        .connection_timeout(settings.connect_timeout)
        .build(DbManager {
            target: settings.target.clone(),
        })
        .map_err(|e| DbSetupError::Pool(e.to_string()))
}

/// Development convenience: creates the database named in `url` through the
/// server's `postgres` maintenance database.
fn create_database(url: &str) -> Result<(), DbSetupError> {
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
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}
