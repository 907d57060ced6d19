//! Database access: a pooled connection handed to a closure on the blocking
//! pool within a deadline (pool.rs), and repository functions that return
//! `QueryResult`. Every wait on the database is bounded: connect, checkout,
//! statement, the request's visit, start-up.

pub mod models;
pub mod people;
mod pool;
#[rustfmt::skip]
pub mod schema;
pub mod session_changes;
pub mod throttle;
pub mod users;
pub mod wal;

use std::{
    sync::Arc,
    time::{Duration, Instant},
};

use diesel::{
    Connection, PgConnection, RunQueryDsl, SqliteConnection, connection::SimpleConnection,
    r2d2::R2D2Connection,
};
use diesel_migrations::{EmbeddedMigrations, MigrationHarness, embed_migrations};

pub use self::pool::{DbPool, DeadlineExceeded, Health, probe, run, run_atomic};
use crate::config::{DatabaseSettings, DatabaseTarget, DatabaseTimeouts};

/// One connection type over both backends: handlers and repositories are
/// written once against it.
#[derive(diesel::MultiConnection)]
pub enum DbConnection {
    Postgres(PgConnection),
    Sqlite(SqliteConnection),
}

/// Same versions and meaning per backend; only the SQL dialect differs.
pub const POSTGRES_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/postgres");
pub const SQLITE_MIGRATIONS: EmbeddedMigrations = embed_migrations!("migrations/sqlite");

/// Migrations may take longer than a request's statement; they are still
/// bounded.
const MIGRATION_STATEMENT_TIMEOUT: Duration = Duration::from_secs(60);

/// Between start-up's attempts to reach the database.
const STARTUP_RETRY_PAUSE: Duration = Duration::from_secs(1);

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
    #[error("cannot start the SQLite WAL checkpointer")]
    Checkpointer(#[source] diesel::ConnectionError),
}

impl DbSetupError {
    /// Worth retrying at start-up: the server may still be coming up. A
    /// wrong password, role or database name is not.
    fn is_transient(&self) -> bool {
        let DbSetupError::Connect(diesel::ConnectionError::BadConnection(message)) = self else {
            return matches!(self, DbSetupError::Pool(_));
        };
        const PERMANENT: [&str; 4] = [
            "authentication failed",
            "does not exist",
            "pg_hba.conf",
            "invalid",
        ];
        !PERMANENT.iter().any(|p| message.contains(p))
    }
}

/// Opens a connection with the default timeouts (tests, tools).
pub fn establish(target: &DatabaseTarget) -> Result<DbConnection, diesel::ConnectionError> {
    establish_with(target, &DatabaseTimeouts::default())
}

/// Opens a connection through the concrete backend, so a wrong password, a
/// refused connection or a missing database report the server's own message
/// (MultiConnection's own `establish` only says the URL is invalid).
pub fn establish_with(
    target: &DatabaseTarget,
    timeouts: &DatabaseTimeouts,
) -> Result<DbConnection, diesel::ConnectionError> {
    match target {
        DatabaseTarget::Postgres(url) => {
            let mut conn = connect_postgres(url.expose(), timeouts)?;
            // The server cancels a statement that runs too long (a lock
            // wait, a slow plan); a hung server is the pool's deadline.
            conn.batch_execute(&format!(
                "SET statement_timeout = {};",
                timeouts.statement.as_millis()
            ))
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Postgres(conn))
        }
        DatabaseTarget::Sqlite(path) => {
            let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
            // Per-connection settings: wait for writers (up to the statement
            // timeout) instead of failing, enforce the foreign keys SQLite
            // ignores by default, and cap the WAL a checkpoint leaves.
            conn.batch_execute(&format!(
                "PRAGMA busy_timeout = {}; PRAGMA foreign_keys = ON; PRAGMA synchronous = NORMAL; \
                 PRAGMA journal_size_limit = {};",
                timeouts.statement.as_millis(),
                wal::JOURNAL_SIZE_LIMIT
            ))
            .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
            Ok(DbConnection::Sqlite(conn))
        }
    }
}

/// libpq with bounded waits: `connect_timeout` for the whole handshake,
/// keepalives and `tcp_user_timeout` so a vanished peer breaks the socket
/// instead of hanging it. Parameters already in the URL win.
pub fn connect_postgres(
    url: &str,
    timeouts: &DatabaseTimeouts,
) -> Result<PgConnection, diesel::ConnectionError> {
    PgConnection::establish(&with_connect_parameters(url, timeouts))
}

fn with_connect_parameters(url: &str, timeouts: &DatabaseTimeouts) -> String {
    let connect_secs = timeouts.connect.as_secs().max(1);
    let user_timeout_ms = timeouts.connect.max(timeouts.request).as_millis();
    let parameters = [
        ("connect_timeout", connect_secs.to_string()),
        ("keepalives", "1".to_owned()),
        ("keepalives_idle", "10".to_owned()),
        ("keepalives_interval", "5".to_owned()),
        ("keepalives_count", "3".to_owned()),
        ("tcp_user_timeout", user_timeout_ms.to_string()),
    ];
    let query = url.split_once('?').map_or("", |(_, q)| q);
    let present = |key: &str| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some(key))
    };
    let mut url = url.to_owned();
    for (key, value) in parameters {
        if !present(key) {
            url.push(if url.contains('?') { '&' } else { '?' });
            url.push_str(&format!("{key}={value}"));
        }
    }
    url
}

/// The r2d2 manager: connections come from [`establish_with`], never from a
/// URL guessed at by each backend in turn. It tells the pool's [`Health`]
/// whether the database is reachable.
#[derive(Debug)]
pub struct DbManager {
    target: DatabaseTarget,
    timeouts: DatabaseTimeouts,
    health: Arc<Health>,
}

impl r2d2::ManageConnection for DbManager {
    type Connection = DbConnection;
    type Error = diesel::r2d2::Error;

    fn connect(&self) -> Result<DbConnection, Self::Error> {
        match establish_with(&self.target, &self.timeouts) {
            Ok(conn) => {
                self.health.mark_up();
                Ok(conn)
            }
            Err(e) => {
                self.health.mark_down(&e);
                Err(diesel::r2d2::Error::ConnectionError(e))
            }
        }
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

/// Connects, runs pending migrations and builds the pool. While the
/// database is unreachable it retries, logging each attempt, for up to
/// `DATABASE_STARTUP_TIMEOUT`; a permanent error (wrong password, missing
/// database) stops at once. Blocking: call it from start-up code or the
/// blocking pool, never from a request handler.
pub fn connect_and_migrate(settings: &DatabaseSettings) -> Result<DbPool, DbSetupError> {
    let give_up = Instant::now() + settings.timeouts.startup;
    loop {
        match try_connect_and_migrate(settings) {
            Err(e) if e.is_transient() && Instant::now() + STARTUP_RETRY_PAUSE < give_up => {
                log::warn!(
                    "waiting for database ({}): {}",
                    settings.target.describe(),
                    crate::errors::chain(&e)
                );
                std::thread::sleep(STARTUP_RETRY_PAUSE);
            }
            result => return result,
        }
    }
}

/// The longest [`connect_and_migrate`] may take, even against a database
/// that stops answering half-way (a stopped server enforces no
/// statement_timeout): start-up gives up after it.
pub fn setup_limit(timeouts: &DatabaseTimeouts) -> Duration {
    timeouts.startup + timeouts.connect + MIGRATION_STATEMENT_TIMEOUT
}

fn try_connect_and_migrate(settings: &DatabaseSettings) -> Result<DbPool, DbSetupError> {
    let timeouts = &settings.timeouts;
    let checkpointer = match &settings.target {
        DatabaseTarget::Postgres(url) => {
            let mut conn = match connect_postgres(url.expose(), timeouts) {
                Ok(conn) => conn,
                Err(e)
                    if settings.create_if_missing && e.to_string().contains("does not exist") =>
                {
                    create_database(url.expose(), timeouts)?;
                    connect_postgres(url.expose(), timeouts)?
                }
                Err(e) => return Err(e.into()),
            };
            conn.batch_execute(&format!(
                "SET statement_timeout = {};",
                MIGRATION_STATEMENT_TIMEOUT.as_millis()
            ))
            .map_err(DbSetupError::Configure)?;
            conn.run_pending_migrations(POSTGRES_MIGRATIONS)
                .map_err(DbSetupError::Migrate)?;
            None
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
            let DbConnection::Sqlite(mut conn) = establish_with(&settings.target, timeouts)? else {
                return Err(DbSetupError::WrongBackend);
            };
            // WAL lets readers proceed while one writer commits; it is a
            // property of the file, so setting it once is enough.
            conn.batch_execute("PRAGMA journal_mode = WAL;")
                .map_err(DbSetupError::Configure)?;
            conn.run_pending_migrations(SQLITE_MIGRATIONS)
                .map_err(DbSetupError::Migrate)?;
            Some(wal::Checkpointer::start(path).map_err(DbSetupError::Checkpointer)?)
        }
    };
    let health = Arc::new(Health::default());
    let pool = r2d2::Pool::builder()
        .max_size(settings.pool_size)
        .min_idle(Some(settings.min_idle.min(settings.pool_size)))
        .connection_timeout(timeouts.checkout.max(timeouts.connect))
        .event_handler(Box::new(crate::metrics::PoolEvents))
        .build(DbManager {
            target: settings.target.clone(),
            timeouts: *timeouts,
            health: health.clone(),
        })?;
    Ok(DbPool::new(pool, health, *timeouts, checkpointer))
}

/// Development convenience: creates the database named in `url` through the
/// server's `postgres` maintenance database.
fn create_database(url: &str, timeouts: &DatabaseTimeouts) -> Result<(), DbSetupError> {
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
    let mut conn = connect_postgres(&maintenance, timeouts)?;
    diesel::sql_query(format!("CREATE DATABASE \"{name}\""))
        .execute(&mut conn)
        .map_err(|source| DbSetupError::CreateDatabase {
            name: name.to_owned(),
            source,
        })?;
    log::warn!("created database `{name}` (development only)");
    Ok(())
}

/// A cheap round trip used by the readiness probe.
pub fn ping(conn: &mut DbConnection) -> diesel::QueryResult<()> {
    diesel::sql_query("SELECT 1").execute(conn).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn connect_parameters_bound_every_wait_and_respect_the_url() {
        let timeouts = DatabaseTimeouts::default();
        let url = with_connect_parameters("postgres://u@h:5432/db", &timeouts);
        assert!(
            url.starts_with("postgres://u@h:5432/db?connect_timeout=2&"),
            "{url}"
        );
        assert!(url.contains("&keepalives=1&"), "{url}");
        assert!(url.ends_with("&tcp_user_timeout=3000"), "{url}");
        // Parameters the operator wrote win; ours are appended after theirs.
        let url = with_connect_parameters(
            "postgres://h/db?sslmode=require&connect_timeout=9",
            &timeouts,
        );
        assert!(
            url.starts_with("postgres://h/db?sslmode=require&connect_timeout=9&keepalives=1"),
            "{url}"
        );
        assert_eq!(url.matches("connect_timeout").count(), 1, "{url}");
    }

    #[test]
    fn only_an_unreachable_database_is_waited_for_at_start_up() {
        let connect = |message: &str| {
            DbSetupError::Connect(diesel::ConnectionError::BadConnection(message.to_owned()))
        };
        for transient in [
            "connection to server at \"127.0.0.1\", port 1 failed: Connection refused",
            "connection to server at \"127.0.0.1\", port 5432 failed: timeout expired",
            "FATAL:  the database system is starting up",
        ] {
            assert!(connect(transient).is_transient(), "{transient}");
        }
        for permanent in [
            "FATAL:  password authentication failed for user \"bff\"",
            "FATAL:  role \"x\" does not exist",
            "FATAL:  database \"x\" does not exist",
            "FATAL:  no pg_hba.conf entry for host",
        ] {
            assert!(!connect(permanent).is_transient(), "{permanent}");
        }
        assert!(!DbSetupError::NoDatabaseName.is_transient());
    }
}
