//! The one dedicated database connection per instance that keeps the
//! session cache honest: it applies every change the database reports
//! (src/db/session_changes.rs) and decides when the cache may be used.
//!
//! Fail closed: the cache is live only while this connection is up and
//! subscribed. On start-up, and whenever the connection fails (database
//! restart, backend killed), the cache is flushed and bypassed, so every
//! check reads the database, until the subscription is back; it is flushed
//! again then, since changes made meanwhile were not seen.

use std::{
    sync::{
        Arc, Weak,
        atomic::{AtomicBool, Ordering},
        mpsc,
    },
    thread,
    time::{Duration, Instant},
};

use diesel::{PgConnection, SqliteConnection, connection::SimpleConnection};

use super::cache::SessionCache;
use crate::{
    config::{DatabaseTarget, DatabaseTimeouts},
    db::{self, DbConnection, session_changes},
};

/// How the connection shows in `pg_stat_activity`.
pub const APPLICATION_NAME: &str = "bff-session-listener";
/// How often pending changes are read: the bulk of the cross-instance
/// revocation delay.
const POLL_INTERVAL: Duration = Duration::from_millis(5);
/// A round trip this often: reading pending notifications does not reliably
/// fail on a connection the server has closed (a terminated backend over
/// SSL reads as "nothing pending"), so this is what notices it, well inside
/// the 100 ms revocation bound. About 40 trivial queries a second.
const PING_INTERVAL: Duration = Duration::from_millis(25);
const RETRY_FIRST: Duration = Duration::from_millis(50);
const RETRY_MAX: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
enum FeedError {
    #[error(transparent)]
    Connect(#[from] diesel::ConnectionError),
    #[error(transparent)]
    Query(#[from] diesel::result::Error),
}

/// The running listener. Dropping it stops the thread and waits for it to
/// let go of its connection (at most `STOP_WAIT`): a process that exits
/// while another thread is inside libpq (connecting, closing over SSL) can
/// crash in OpenSSL's exit-time cleanup. It also ends once the cache is
/// dropped.
pub struct Listener {
    stop: Arc<AtomicBool>,
    /// Disconnected when the thread has returned.
    done: mpsc::Receiver<()>,
}

const STOP_WAIT: Duration = Duration::from_secs(2);

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::Relaxed);
        let _ = self.done.recv_timeout(STOP_WAIT);
    }
}

/// Starts the listener thread.
pub fn spawn(
    target: DatabaseTarget,
    timeouts: DatabaseTimeouts,
    cache: Weak<SessionCache>,
) -> std::io::Result<Listener> {
    let stop = Arc::new(AtomicBool::new(false));
    let (done_tx, done) = mpsc::channel::<()>();
    let handle = Handle {
        cache,
        stop: Arc::clone(&stop),
    };
    thread::Builder::new()
        .name("session-listener".into())
        .spawn(move || {
            run(&target, &timeouts, &handle);
            drop(done_tx);
        })?;
    Ok(Listener { stop, done })
}

/// What the thread holds: the cache while it lives, and the stop flag.
struct Handle {
    cache: Weak<SessionCache>,
    stop: Arc<AtomicBool>,
}

impl Handle {
    /// The cache, unless the listener should end.
    fn cache(&self) -> Option<Arc<SessionCache>> {
        if self.stop.load(Ordering::Relaxed) {
            return None;
        }
        self.cache.upgrade()
    }
}

enum Feed {
    Postgres(PgConnection),
    Sqlite {
        conn: SqliteConnection,
        version: i64,
    },
}

impl Feed {
    /// Subscribed once this returns: every change from now on is seen.
    fn connect(target: &DatabaseTarget, timeouts: &DatabaseTimeouts) -> Result<Feed, FeedError> {
        match target {
            DatabaseTarget::Postgres(url) => {
                // The pool's connect deadline and keepalives, but no
                // statement_timeout: LISTEN has nothing to cancel.
                let mut conn = db::connect_postgres(url.expose(), timeouts)?;
                session_changes::listen(&mut conn, APPLICATION_NAME)?;
                Ok(Feed::Postgres(conn))
            }
            DatabaseTarget::Sqlite(_) => match db::establish_with(target, timeouts)? {
                DbConnection::Sqlite(mut conn) => {
                    let version = session_changes::data_version(&mut conn)?;
                    Ok(Feed::Sqlite { conn, version })
                }
                DbConnection::Postgres(_) => Err(FeedError::Connect(
                    diesel::ConnectionError::BadConnection("expected SQLite".into()),
                )),
            },
        }
    }

    fn apply(&mut self, cache: &SessionCache) -> Result<(), FeedError> {
        match self {
            Feed::Postgres(conn) => {
                for changed in session_changes::pending(conn)? {
                    match changed {
                        Some(user_id) => cache.invalidate(user_id),
                        None => cache.reset(true),
                    }
                }
            }
            Feed::Sqlite { conn, version } => {
                let now = session_changes::data_version(conn)?;
                if now != *version {
                    *version = now;
                    cache.reset(true);
                }
            }
        }
        Ok(())
    }

    fn ping(&mut self) -> Result<(), FeedError> {
        match self {
            Feed::Postgres(conn) => conn.batch_execute("SELECT 1")?,
            // Every poll is a query already.
            Feed::Sqlite { .. } => {}
        }
        Ok(())
    }
}

fn run(target: &DatabaseTarget, timeouts: &DatabaseTimeouts, cache: &Handle) {
    let mut retry = RETRY_FIRST;
    let mut failures = 0u32;
    loop {
        if cache.cache().is_none() {
            return;
        }
        let feed = Feed::connect(target, timeouts);
        let Some(live) = cache.cache() else {
            return;
        };
        match feed {
            Ok(mut feed) => {
                live.reset(true);
                drop(live);
                log::info!("session cache: listening for changes");
                retry = RETRY_FIRST;
                failures = 0;
                match follow(&mut feed, cache) {
                    None => return,
                    Some(err) => log::warn!(
                        "session cache bypassed (every check reads the database) until the listener reconnects: {err}"
                    ),
                }
            }
            Err(err) => {
                drop(live);
                failures += 1;
                if failures == 1 {
                    log::warn!("session cache listener cannot connect, retrying: {err}");
                } else {
                    log::debug!(
                        "session cache listener cannot connect (attempt {failures}): {err}"
                    );
                }
            }
        }
        thread::sleep(retry);
        retry = (retry * 2).min(RETRY_MAX);
    }
}

/// Applies changes until the connection fails (its error) or the cache is
/// gone (`None`). A failure flushes the cache and bypasses it before
/// anything else.
fn follow(feed: &mut Feed, cache: &Handle) -> Option<FeedError> {
    let mut pinged = Instant::now();
    loop {
        let live = cache.cache()?;
        let mut result = feed.apply(&live);
        if result.is_ok() && pinged.elapsed() >= PING_INTERVAL {
            pinged = Instant::now();
            result = feed.ping();
        }
        if let Err(err) = result {
            live.reset(false);
            return Some(err);
        }
        drop(live);
        thread::sleep(POLL_INTERVAL);
    }
}
