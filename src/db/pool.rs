//! The pool every request uses, and the deadline on each visit to the
//! database. A hung database (no answer at all) is bounded here, on the
//! async side: the blocking thread may stay stuck inside libpq, but the
//! request gets its 503 when its deadline passes.

use std::{
    sync::{
        Arc,
        atomic::{AtomicBool, Ordering},
    },
    time::{Duration, Instant},
};

use diesel::Connection;
use r2d2::PooledConnection;
use tokio::sync::Semaphore;

use super::{DbConnection, DbManager, ping, wal::Checkpointer};
use crate::{blocking, config::DatabaseTimeouts, errors::AppError, metrics};

/// While the pool has seen the database fail, a checkout waits this long at
/// most: requests fail fast instead of each waiting the full checkout time.
/// The pool keeps reconnecting in the background meanwhile.
const FAIL_FAST_WAIT: Duration = Duration::from_millis(200);

/// `/ready` must answer a 1-second probe, so its own visit is shorter.
const READINESS_BUDGET: Duration = Duration::from_millis(800);

/// What the pool has seen of the database lately: down after a failed
/// connect or a missed deadline, up again once a connection opens or a
/// visit gets its answer. Only transitions are logged.
#[derive(Debug, Default)]
pub struct Health {
    down: AtomicBool,
}

impl Health {
    pub fn mark_down(&self, cause: &dyn std::fmt::Display) {
        if !self.down.swap(true, Ordering::Relaxed) {
            log::warn!("database unreachable: {cause}; requests fail fast until it answers");
        }
    }

    pub fn mark_up(&self) {
        if self.down.swap(false, Ordering::Relaxed) {
            log::info!("database reachable again");
        }
    }

    pub fn is_down(&self) -> bool {
        self.down.load(Ordering::Relaxed)
    }
}

/// The moment a visit's requester stops waiting.
#[derive(Debug, Clone, Copy)]
pub struct Deadline(Instant);

#[derive(Debug, thiserror::Error)]
#[error("the database did not answer within {0:?}")]
pub struct DeadlineExceeded(pub Duration);

#[derive(Debug, thiserror::Error)]
#[error("no database connection came free within {0:?}")]
pub struct NoConnectionFree(pub Duration);

impl Deadline {
    fn after(budget: Duration) -> Self {
        Deadline(Instant::now() + budget)
    }

    fn remaining(&self) -> Duration {
        self.0.saturating_duration_since(Instant::now())
    }

    fn check(&self, budget: Duration) -> Result<(), AppError> {
        if self.remaining().is_zero() {
            return Err(AppError::unavailable(DeadlineExceeded(budget)));
        }
        Ok(())
    }
}

/// The r2d2 pool with what it has learnt about the database's health.
#[derive(Clone)]
pub struct DbPool {
    pool: r2d2::Pool<DbManager>,
    health: Arc<Health>,
    timeouts: DatabaseTimeouts,
    /// One permit per connection, handed out first come, first served:
    /// r2d2 wakes its waiters in no particular order, which left a long
    /// tail (p99 far above p50) once more requests wanted the database
    /// than it has connections. Waiting here also keeps blocking threads
    /// to the pool's size instead of one per waiting request.
    gate: Arc<Semaphore>,
    /// SQLite only: keeps the WAL small while the pool lives.
    _checkpointer: Option<Arc<Checkpointer>>,
}

impl DbPool {
    pub(super) fn new(
        pool: r2d2::Pool<DbManager>,
        health: Arc<Health>,
        timeouts: DatabaseTimeouts,
        checkpointer: Option<Checkpointer>,
    ) -> Self {
        let permits = usize::try_from(pool.max_size()).unwrap_or(1);
        DbPool {
            pool,
            health,
            timeouts,
            gate: Arc::new(Semaphore::new(permits)),
            _checkpointer: checkpointer.map(Arc::new),
        }
    }

    /// A connection, waiting at most the checkout timeout (much less while
    /// the database is known to be down). Blocking.
    pub fn get(&self) -> Result<PooledConnection<DbManager>, r2d2::Error> {
        self.get_within(self.timeouts.checkout)
    }

    fn get_within(&self, limit: Duration) -> Result<PooledConnection<DbManager>, r2d2::Error> {
        self.pool.get_timeout(self.checkout_wait().min(limit))
    }

    /// How long a visit may wait for a connection (its turn at the gate,
    /// then the checkout).
    fn checkout_wait(&self) -> Duration {
        if self.health.is_down() {
            FAIL_FAST_WAIT
        } else {
            self.timeouts.checkout
        }
    }

    pub fn is_down(&self) -> bool {
        self.health.is_down()
    }

    /// Idle and in-use connection counts, for the metrics.
    pub fn state(&self) -> r2d2::State {
        self.pool.state()
    }

    /// One visit: checkout and `f` on the blocking pool, answered within
    /// `budget` whatever the database does. A visit whose requester has
    /// given up by the time it has a connection does nothing.
    async fn visit<F, T>(&self, budget: Duration, atomic: bool, f: F) -> Result<T, AppError>
    where
        F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
        T: Send + 'static,
    {
        let deadline = Deadline::after(budget);
        let db = self.clone();
        let gate = Arc::clone(&self.gate);
        let db_wait = self.checkout_wait();
        let blocking = blocking::run(move || {
            let mut conn = db.get_within(deadline.remaining())?;
            deadline.check(budget)?;
            db.health.mark_up();
            if atomic && matches!(*conn, DbConnection::Postgres(_)) {
                // Committed only while the requester still waits: a late
                // answer is rolled back instead of done behind a 503.
                conn.transaction(|conn| {
                    let value = f(conn)?;
                    deadline.check(budget)?;
                    Ok(value)
                })
            } else {
                f(&mut conn)
            }
        });
        let work = async move {
            // Held until the blocking work returns, or dropped with the
            // visit when its deadline passes.
            let _permit = actix_web::rt::time::timeout(db_wait, gate.acquire_owned())
                .await
                .map_err(|_| AppError::unavailable(NoConnectionFree(db_wait)))?
                .map_err(AppError::internal)?;
            blocking.await
        };
        match actix_web::rt::time::timeout(budget, work).await {
            Ok(result) => result,
            Err(_) => {
                let err = DeadlineExceeded(budget);
                self.health.mark_down(&err);
                Err(AppError::unavailable(err))
            }
        }
        .inspect_err(metrics::db_error)
    }
}

/// Runs `f` with a pooled connection on the blocking pool, within the
/// request deadline (`DATABASE_REQUEST_TIMEOUT`, checkout included).
pub async fn run<F, T>(db: &DbPool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    db.visit(db.timeouts.request, false, f).await
}

/// Like [`run`], for writes whose late success would be worse than their
/// failure (rotation): on PostgreSQL `f` runs in a transaction that commits
/// only if the deadline has not passed. (An embedded SQLite file cannot hang
/// past its busy timeout, and a deferred SQLite transaction would turn the
/// rotation's read-then-write into immediate "database is locked" errors.)
pub async fn run_atomic<F, T>(db: &DbPool, f: F) -> Result<T, AppError>
where
    F: FnOnce(&mut DbConnection) -> Result<T, AppError> + Send + 'static,
    T: Send + 'static,
{
    db.visit(db.timeouts.request, true, f).await
}

/// The readiness probe: a round trip within [`READINESS_BUDGET`].
pub async fn probe(db: &DbPool) -> Result<(), AppError> {
    db.visit(READINESS_BUDGET, false, |conn| Ok(ping(conn)?))
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_passed_deadline_is_a_503_and_a_future_one_is_not() {
        let budget = Duration::from_secs(3);
        let passed = Deadline::after(Duration::ZERO).check(budget);
        assert!(matches!(passed, Err(AppError::Unavailable(_))));
        assert!(
            Deadline::after(Duration::from_secs(3600))
                .check(budget)
                .is_ok()
        );
    }

    #[test]
    fn health_turns_down_on_a_failure_and_up_on_an_answer() {
        let health = Health::default();
        assert!(!health.is_down());
        health.mark_down(&"refused");
        health.mark_down(&"refused again");
        assert!(health.is_down());
        health.mark_up();
        assert!(!health.is_down());
    }
}
