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
    #[error("cannot connect to the database")]
    Connect(#[from] diesel::ConnectionError),
    #[error("cannot create {}", dir.display())]
    CreateDir {
        dir: std::path::PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("cannot configure the SQLite database")]
    Configure(#[source] diesel::result::Error),
    #[error("cannot create database `{name}`")]
    CreateDatabase {
        name: String,
        #[source]
        source: diesel::result::Error,
    },
    #[error("database `{0}` does not exist and its name is not a plain identifier")]
    UnsafeName(String),
    #[error("DATABASE_URL names no database")]
    NoDatabaseName,
    #[error("database migrations failed")]
    Migrate(#[source] Box<dyn std::error::Error + Send + Sync>),
    #[error("cannot build the connection pool")]
    Pool(#[from] r2d2::Error),
    #[error("expected an SQLite connection")]
    WrongBackend,
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

/// Creates the SQLite file readable by its owner only (0600) when it does
/// not exist yet: it holds password hashes and session hashes. SQLite gives
/// its `-wal` and `-shm` files the database file's mode. An existing file
/// keeps the mode its operator gave it.
fn create_private_file(path: &std::path::Path) -> std::io::Result<()> {
    let mut options = std::fs::OpenOptions::new();
    options.write(true).create_new(true);
    #[cfg(unix)]
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o600);
    match options.open(path) {
        Ok(_) => Ok(()),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(()),
        Err(e) => Err(e),
    }
}

/// Connects, runs pending migrations and builds the pool. Blocking: call it
/// from start-up code or the blocking pool, never from a request handler.
pub fn connect_and_migrate(settings: &DatabaseSettings) -> Result<DbPool, DbSetupError> {
    match &settings.target {
        DatabaseTarget::Postgres(url) => {
            let mut conn = match PgConnection::establish(url.expose()) {
                Ok(conn) => conn,
                Err(e)
                    if settings.create_if_missing && e.to_string().contains("does not exist") =>
                {
                    create_database(url.expose())?;
                    PgConnection::establish(url.expose())?
                }
                Err(e) => return Err(e.into()),
            };
            conn.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(DbSetupError::Migrate)?;
        }
        DatabaseTarget::Sqlite(path) => {
            if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
                std::fs::create_dir_all(dir).map_err(|source| DbSetupError::CreateDir {
                    dir: dir.to_owned(),
                    source,
                })?;
            }
            create_private_file(path).map_err(|source| DbSetupError::CreateDir {
                dir: path.clone(),
                source,
            })?;
            let DbConnection::Sqlite(mut conn) = establish(&settings.target)? else {
                return Err(DbSetupError::WrongBackend);
            };
            // WAL lets readers proceed while one writer commits; it is a
            // property of the file, so setting it once is enough.
            conn.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(DbSetupError::Configure)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(DbSetupError::Migrate)?;
        }
    }
    r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(settings.min_idle.min(settings.pool_size)))
        .connection_timeout(settings.connect_timeout)
        .build(DbManager {
            target: settings.target.clone(),
        })
        .map_err(DbSetupError::from)
}

/// Development convenience: creates the database named in `url` through the
/// server's `postgres` maintenance database.
fn create_database(url: &str) -> Result<(), DbSetupError> {
    let (base, rest) = url.rsplit_once('/').ok_or(DbSetupError::NoDatabaseName)?;
    let (name, query) = rest.split_once('?').unwrap_or((rest, ""));
    if name.is_empty() || !name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        return Err(DbSetupError::UnsafeName(name.to_owned()));
    }
    let maintenance = if query.is_empty() {
        format!("{base}/postgres")
    } else {
        format!("{base}/postgres?{query}")
    };
    let mut conn = PgConnection::establish(&maintenance)?;
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .map_err(|source| DbSetupError::CreateDatabase {
            name: name.to_owned(),
            source,
        })?;
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
