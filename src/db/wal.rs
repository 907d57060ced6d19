//! Keeps an SQLite file's write-ahead log small.
//!
//! SQLite's own auto-checkpoint runs from `sqlite3_step` only when a
//! statement steps to its end; our writes use `RETURNING` and are finished by
//! a reset after their one row, so it never runs and the `-wal` file grows
//! without bound (gigabytes under load). A background thread on its own
//! connection checkpoints instead, and `journal_size_limit` (set on every
//! connection) caps what a reset WAL keeps on disk.

use std::{
    path::Path,
    sync::mpsc::{self, RecvTimeoutError, Sender},
    time::Duration,
};

use diesel::{Connection, SqliteConnection, connection::SimpleConnection};

/// How often the WAL is checkpointed.
pub const CHECKPOINT_INTERVAL: Duration = Duration::from_millis(250);

/// The checkpointer gives way to writers: a `TRUNCATE` checkpoint holds the
/// write lock while it waits for readers, so it waits only this long; when
/// it cannot get the write lock at all, SQLite degrades it to a passive
/// checkpoint, which blocks no one.
const CHECKPOINT_BUSY_TIMEOUT: Duration = Duration::from_millis(50);

/// Bytes a WAL file keeps after it has been checkpointed and restarted.
pub const JOURNAL_SIZE_LIMIT: u64 = 16 * 1024 * 1024;

/// Stops its thread when dropped (with the last clone of the pool).
pub struct Checkpointer {
    _stop: Sender<()>,
}

impl Checkpointer {
    pub fn start(path: &Path) -> Result<Checkpointer, diesel::ConnectionError> {
        let mut conn = SqliteConnection::establish(&path.to_string_lossy())?;
        conn.batch_execute(&format!(
            "PRAGMA busy_timeout = {};",
            CHECKPOINT_BUSY_TIMEOUT.as_millis()
        ))
        .map_err(diesel::ConnectionError::CouldntSetupConfiguration)?;
        let (stop, stopped) = mpsc::channel::<()>();
        std::thread::Builder::new()
            .name("sqlite-wal-checkpoint".into())
            .spawn(move || {
                while let Err(RecvTimeoutError::Timeout) = stopped.recv_timeout(CHECKPOINT_INTERVAL)
                {
                    // Truncates the WAL to zero bytes when idle or between
                    // writes; otherwise copies back what it can.
                    if let Err(e) = conn.batch_execute("PRAGMA wal_checkpoint(TRUNCATE);") {
                        log::warn!("sqlite WAL checkpoint failed: {e}");
                    }
                }
            })
            .map_err(|e| {
                diesel::ConnectionError::BadConnection(format!(
                    "cannot start the WAL checkpointer: {e}"
                ))
            })?;
        Ok(Checkpointer { _stop: stop })
    }
}
