//! Brute-force and enumeration throttling: failed logins per account and per
//! client IP, sign-ups per client IP.
//!
//! The budgets live in the database (`throttle_buckets`, src/db/throttle.rs),
//! so every instance sees the same counts and a restart forgets nothing.
//! This file is the policy: pure functions of a key's stored [`Bucket`], its
//! limit and `now` (the app's UTC clock; instances' clocks are assumed to
//! agree within a second), applied by compare-and-swap writes.
//!
//! Each key has a token bucket of `max` attempts that refills one attempt
//! every `window / max` (GCRA: one moment per key, when its bucket is full
//! again). A fully drained key has its whole budget back one window after
//! its last attempt, and never more than `max` attempts fit in a burst.
//!
//! A login attempt *reserves* room in both budgets before the password is
//! looked at, and settles when the answer is known: only a failure is
//! charged; a right password (or a check that never happened) releases its
//! reservation. Concurrent guesses, on any instance, cannot overrun a budget
//! while bcrypt is busy, since reservations count against the room left;
//! and an attempt that finds the room taken only by reservations waits for
//! them to settle instead of being refused. Reservations expire after a
//! lease, so those of a crashed instance do not hold room for ever.
//!
//! A refused attempt reads two rows and writes nothing. If the database
//! fails, the login or sign-up gets 503: the throttle is never skipped.

use std::{
    net::IpAddr,
    sync::{
        Arc,
        atomic::{AtomicI64, Ordering},
    },
    time::{Duration, Instant},
};

use chrono::{NaiveDateTime, TimeDelta, Utc};
use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::{
    client_ip::budget_key as ip_key,
    config::{RateLimit, ThrottleSettings},
    db::{
        self, DbConnection, DbPool,
        throttle::{self as store, Bucket},
    },
    errors::AppError,
};

/// How long a reservation holds room beyond the queue timeout: longer than
/// any login takes (bcrypt and the database are bounded well below it).
const LEASE_MARGIN: Duration = Duration::from_secs(60);

/// How often a waiting login looks again at budgets that other instances'
/// attempts fill (settles on this instance wake it at once).
const BUSY_POLL: Duration = Duration::from_millis(50);

#[derive(Clone)]
pub struct Throttle {
    shared: Arc<Shared>,
}

struct Shared {
    db: DbPool,
    login_account: Policy,
    login_ip: Policy,
    signup_ip: Policy,
    /// How long a login waits for in-flight attempts to settle.
    queue_timeout: Duration,
    /// Woken whenever a login attempt of this instance settles.
    settled: Notify,
    /// Unix seconds of this instance's next sweep of idle buckets.
    next_sweep: AtomicI64,
    sweep_every: TimeDelta,
}

/// What the budgets say about a new login attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Admission {
    Reserved,
    /// Only reservations of attempts in flight fill a budget: wait for
    /// them to settle.
    Busy,
}

impl Throttle {
    pub fn new(settings: &ThrottleSettings, db: DbPool) -> Self {
        let lease = settings.login_queue_timeout + LEASE_MARGIN;
        let shortest = settings
            .login_per_account
            .window
            .min(settings.login_per_ip.window)
            .min(settings.signup_per_ip.window);
        Throttle {
            shared: Arc::new(Shared {
                db,
                login_account: Policy::new(settings.login_per_account, lease),
                login_ip: Policy::new(settings.login_per_ip, lease),
                signup_ip: Policy::new(settings.signup_per_ip, lease),
                queue_timeout: settings.login_queue_timeout,
                settled: Notify::new(),
                next_sweep: AtomicI64::new(0),
                sweep_every: delta(shortest),
            }),
        }
    }

    /// Reserves one attempt in the account's and the client's login
    /// budgets, or refuses with 429. `email` is the normalized identifier,
    /// whether or not such an account exists, so the answer says nothing
    /// about existence. While only attempts in flight fill a budget, waits
    /// for them (up to `LOGIN_QUEUE_TIMEOUT`, then 429).
    pub async fn begin_login(&self, email: &str, client: IpAddr) -> Result<LoginAttempt, AppError> {
        let keys = LoginKeys::new(email, client);
        let give_up = Instant::now() + self.shared.queue_timeout;
        loop {
            // Registered before the check, so a settle in between is not missed.
            let mut settled = std::pin::pin!(self.shared.settled.notified());
            settled.as_mut().enable();
            let shared = Arc::clone(&self.shared);
            let attempt_keys = keys.clone();
            let admission = db::run(&self.shared.db, move |conn| {
                shared.sweep_if_due(conn);
                shared.reserve_login(conn, &attempt_keys, now())
            })
            .await?;
            match admission {
                Ok(Admission::Reserved) => {
                    return Ok(LoginAttempt {
                        shared: Arc::clone(&self.shared),
                        keys,
                        settled: false,
                    });
                }
                Ok(Admission::Busy) => {}
                Err(wait) => return Err(too_many(wait)),
            }
            let left = give_up.saturating_duration_since(Instant::now());
            if left.is_zero() {
                log::info!("login throttled: attempts in flight did not settle in time");
                return Err(too_many(Duration::from_secs(1)));
            }
            // Settles on other instances are not notified: look again soon.
            let _ = actix_web::rt::time::timeout(left.min(BUSY_POLL), settled).await;
        }
    }

    /// Takes one sign-up from the client's budget, or refuses with 429.
    pub async fn begin_signup(&self, client: IpAddr) -> Result<SignupAttempt, AppError> {
        let key = signup_key(client);
        let shared = Arc::clone(&self.shared);
        let taken_key = key.clone();
        let taken = db::run(&self.shared.db, move |conn| {
            shared.sweep_if_due(conn);
            let now = now();
            let seen = store::read(conn, &taken_key)?;
            store::update(conn, &taken_key, seen, now, |b| {
                match shared.signup_ip.take(b, now) {
                    Ok(new) => (Ok(()), Some(new)),
                    Err(wait) => (Err(wait), None),
                }
            })
        })
        .await?;
        taken.map_err(|wait| {
            log::info!("signup throttled: client IP over its sign-up budget");
            too_many(wait)
        })?;
        Ok(SignupAttempt {
            shared: Arc::clone(&self.shared),
            key,
        })
    }
}

impl Shared {
    /// Admission reads both rows first, so a refusal or a wait writes
    /// nothing; only then are the reservations written, each deciding again
    /// on what another writer may have left meanwhile.
    fn reserve_login(
        &self,
        conn: &mut DbConnection,
        keys: &LoginKeys,
        now: NaiveDateTime,
    ) -> Result<Result<Admission, Duration>, AppError> {
        let ip_row = store::read(conn, &keys.ip)?;
        let account_row = store::read(conn, &keys.account)?;
        let ip = ip_row.map(|s| s.bucket());
        let account = account_row.map(|s| s.bucket());
        match login_admission(&self.login_ip, &self.login_account, ip, account, now) {
            Ok(Admission::Reserved) => {}
            other => return Ok(other),
        }
        fn reserve(
            policy: Policy,
            now: NaiveDateTime,
        ) -> impl FnMut(Option<Bucket>) -> (Result<Admission, Duration>, Option<Bucket>) {
            move |b| match policy.reserve(b, now) {
                Ok(Some(new)) => (Ok(Admission::Reserved), Some(new)),
                Ok(None) => (Ok(Admission::Busy), None),
                Err(wait) => (Err(wait), None),
            }
        }
        let on_ip = store::update(conn, &keys.ip, ip_row, now, reserve(self.login_ip, now))?;
        if on_ip != Ok(Admission::Reserved) {
            return Ok(on_ip);
        }
        let on_account = store::update(
            conn,
            &keys.account,
            account_row,
            now,
            reserve(self.login_account, now),
        )?;
        if on_account != Ok(Admission::Reserved) {
            // Lost the account's room to a concurrent attempt meanwhile.
            self.settle(conn, &keys.ip, &self.login_ip, Settle::Release, now)?;
        }
        Ok(on_account)
    }

    fn settle(
        &self,
        conn: &mut DbConnection,
        key: &str,
        policy: &Policy,
        how: Settle,
        now: NaiveDateTime,
    ) -> Result<(), AppError> {
        let seen = store::read(conn, key)?;
        store::update(conn, key, seen, now, |b| {
            ((), Some(policy.settle(b, how, now)))
        })
    }

    fn settle_login(
        &self,
        conn: &mut DbConnection,
        keys: &LoginKeys,
        outcome: Outcome,
        now: NaiveDateTime,
    ) -> Result<(), AppError> {
        let (account, ip) = match outcome {
            Outcome::Succeeded => (Settle::Forget, Settle::Release),
            Outcome::Failed => (Settle::Charge, Settle::Charge),
            Outcome::Cancelled => (Settle::Release, Settle::Release),
        };
        self.settle(conn, &keys.account, &self.login_account, account, now)?;
        self.settle(conn, &keys.ip, &self.login_ip, ip, now)
    }

    /// Deletes idle buckets at most once per shortest window per instance,
    /// piggybacked on a visit that has a connection anyway.
    fn sweep_if_due(&self, conn: &mut DbConnection) {
        let now = now();
        let due = self.next_sweep.load(Ordering::Relaxed);
        let next = (now + self.sweep_every).and_utc().timestamp();
        if now.and_utc().timestamp() < due
            || self
                .next_sweep
                .compare_exchange(due, next, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        match store::sweep(conn, now) {
            Ok(swept) if swept > 0 => log::debug!("throttle: swept {swept} idle buckets"),
            Ok(_) => {}
            Err(err) => log::warn!("throttle: sweeping idle buckets failed: {err}"),
        }
    }
}

/// The stored keys of one login: the account's and the client's budgets.
#[derive(Debug, Clone)]
struct LoginKeys {
    account: String,
    ip: String,
}

impl LoginKeys {
    fn new(email: &str, client: IpAddr) -> Self {
        LoginKeys {
            account: account_key(email),
            ip: format!("login-ip:{}", ip_key(client)),
        }
    }
}

fn signup_key(client: IpAddr) -> String {
    format!("signup-ip:{}", ip_key(client))
}

/// Accounts are keyed by a digest of the normalized identifier: fixed-size
/// keys however long the submitted identifier, and no email addresses
/// stored.
fn account_key(email: &str) -> String {
    format!("login-account:{:x}", Sha256::digest(email.as_bytes()))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Outcome {
    Succeeded,
    Failed,
    Cancelled,
}

/// A login attempt with its reservations. Dropping it unsettled (say, the
/// client went away during bcrypt) counts it as a failure; only a right
/// password or a server-side failure costs nothing.
#[must_use = "dropping the attempt counts it as a failed login"]
pub struct LoginAttempt {
    shared: Arc<Shared>,
    keys: LoginKeys,
    settled: bool,
}

impl LoginAttempt {
    /// The password was right: the account's failures are forgotten, and the
    /// client is not charged (so a busy NAT is not throttled by its users'
    /// successful logins). A failure to store that is only logged: the
    /// reservations expire with their lease.
    pub async fn succeeded(mut self) {
        if let Err(err) = self.settle(Outcome::Succeeded).await {
            log::warn!("throttle: releasing a successful login failed: {err}");
        }
    }

    /// The password was wrong or the account unknown: both budgets are
    /// charged (as they are if the attempt is simply dropped). When the
    /// charge cannot be stored the caller answers 503, never the 401 that
    /// would leave the guess uncounted.
    pub async fn failed(mut self) -> Result<(), AppError> {
        self.settle(Outcome::Failed).await
    }

    /// The password was never checked (the server failed first), so the
    /// attempt tells the client nothing and costs it nothing.
    pub async fn cancel(mut self) {
        if let Err(err) = self.settle(Outcome::Cancelled).await {
            log::warn!("throttle: releasing a cancelled login failed: {err}");
        }
    }

    async fn settle(&mut self, outcome: Outcome) -> Result<(), AppError> {
        self.settled = true;
        let result = settle_login(Arc::clone(&self.shared), self.keys.clone(), outcome).await;
        self.shared.settled.notify_waiters();
        result
    }
}

async fn settle_login(
    shared: Arc<Shared>,
    keys: LoginKeys,
    outcome: Outcome,
) -> Result<(), AppError> {
    let db = shared.db.clone();
    db::run(&db, move |conn| {
        shared.settle_login(conn, &keys, outcome, now())
    })
    .await
}

impl Drop for LoginAttempt {
    fn drop(&mut self) {
        if self.settled {
            return;
        }
        // Dropped with its request (the client went away): the charge is
        // written on the runtime, bounded by the database deadline.
        let shared = Arc::clone(&self.shared);
        let keys = self.keys.clone();
        match tokio::runtime::Handle::try_current() {
            Ok(runtime) => {
                runtime.spawn(async move {
                    let notify = Arc::clone(&shared);
                    if let Err(err) = settle_login(shared, keys, Outcome::Failed).await {
                        log::warn!("throttle: charging an abandoned login failed: {err}");
                    }
                    notify.settled.notify_waiters();
                });
            }
            Err(_) => {
                log::warn!("throttle: an abandoned login outside the runtime was not charged")
            }
        }
    }
}

/// A sign-up that has been counted, whatever its outcome.
#[must_use = "dropping the attempt keeps it counted"]
pub struct SignupAttempt {
    shared: Arc<Shared>,
    key: String,
}

impl SignupAttempt {
    /// The server failed before it could answer: the attempt is given back
    /// (if the database lets us; otherwise it stays counted).
    pub async fn cancel(self) {
        let shared = Arc::clone(&self.shared);
        let key = self.key;
        let given = db::run(&self.shared.db, move |conn| {
            let now = now();
            let seen = store::read(conn, &key)?;
            store::update(conn, &key, seen, now, |b| {
                ((), b.map(|b| shared.signup_ip.give_back(b, now)))
            })
        })
        .await;
        if let Err(err) = given {
            log::warn!("throttle: giving back a sign-up failed: {err}");
        }
    }
}

fn now() -> NaiveDateTime {
    Utc::now().naive_utc()
}

fn delta(d: Duration) -> TimeDelta {
    TimeDelta::from_std(d).unwrap_or(TimeDelta::MAX)
}

fn too_many(wait: Duration) -> AppError {
    AppError::TooManyRequests {
        retry_after_secs: whole_seconds_up(wait),
    }
}

/// `Retry-After` is whole seconds; rounding down would invite a retry that
/// is still refused.
fn whole_seconds_up(wait: Duration) -> u64 {
    let secs = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
    secs.max(1)
}

/// Admission of a login on both budgets as read: the client's first, and
/// the longer wait when it is refused (a retry after a shorter
/// `Retry-After` could meet the account's budget still empty). A refusal
/// or a wait on either budget reserves nothing in the other.
fn login_admission(
    ip_policy: &Policy,
    account_policy: &Policy,
    ip: Option<Bucket>,
    account: Option<Bucket>,
    now: NaiveDateTime,
) -> Result<Admission, Duration> {
    match ip_policy.reserve(ip, now) {
        Err(wait) => {
            log::info!("login throttled: client IP over its failure budget");
            return Err(wait.max(account_policy.wait(account, now)));
        }
        Ok(None) => return Ok(Admission::Busy),
        Ok(Some(_)) => {}
    }
    match account_policy.reserve(account, now) {
        Err(wait) => {
            log::info!("login throttled: account over its failure budget");
            Err(wait)
        }
        Ok(None) => Ok(Admission::Busy),
        Ok(Some(_)) => Ok(Admission::Reserved),
    }
}

/// How a reservation ends.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Settle {
    /// Not charged.
    Release,
    /// Charged as one failure.
    Charge,
    /// Not charged, and the key's charged failures are forgotten.
    Forget,
}

/// The token-bucket policy of one kind of key: pure functions of a stored
/// bucket (absent = idle) and `now`.
#[derive(Debug, Clone, Copy)]
struct Policy {
    /// How long one attempt takes to refill.
    interval: TimeDelta,
    window: TimeDelta,
    /// How long a reservation holds room at most.
    lease: TimeDelta,
}

impl Policy {
    fn new(limit: RateLimit, lease: Duration) -> Self {
        Policy {
            interval: delta(limit.window / limit.max.max(1)),
            window: delta(limit.window),
            lease: delta(lease),
        }
    }

    fn idle(now: NaiveDateTime) -> Bucket {
        Bucket {
            full_at: now,
            pending: 0,
            pending_until: now,
        }
    }

    /// The bucket with expired reservations and past refills dropped.
    fn current(b: Option<Bucket>, now: NaiveDateTime) -> Bucket {
        let mut b = b.unwrap_or(Self::idle(now));
        b.full_at = b.full_at.max(now);
        if b.pending_until <= now {
            b.pending = 0;
            b.pending_until = now;
        }
        b
    }

    /// Takes one attempt, or says how long until one is available.
    fn take(&self, b: Option<Bucket>, now: NaiveDateTime) -> Result<Bucket, Duration> {
        let mut b = Self::current(b, now);
        let full_at = b.full_at + self.interval;
        let horizon = now + self.window;
        if full_at > horizon {
            return Err(wait_of(full_at - horizon));
        }
        b.full_at = full_at;
        Ok(b)
    }

    /// Reserves room for one attempt, counting those in flight: the new
    /// bucket; `None` when only they are in the way; otherwise how long
    /// until the charged failures alone leave room.
    fn reserve(&self, b: Option<Bucket>, now: NaiveDateTime) -> Result<Option<Bucket>, Duration> {
        let mut b = Self::current(b, now);
        let horizon = now + self.window;
        let charged_alone = b.full_at + self.interval;
        if charged_alone > horizon {
            return Err(wait_of(charged_alone - horizon));
        }
        let with_pending =
            b.full_at + self.interval * i32::try_from(b.pending + 1).unwrap_or(i32::MAX);
        if with_pending > horizon {
            return Ok(None);
        }
        b.pending += 1;
        b.pending_until = b.pending_until.max(now + self.lease);
        Ok(Some(b))
    }

    /// Ends one reservation.
    fn settle(&self, b: Option<Bucket>, how: Settle, now: NaiveDateTime) -> Bucket {
        let mut b = Self::current(b, now);
        b.pending = b.pending.saturating_sub(1);
        match how {
            Settle::Release => {}
            Settle::Charge => b.full_at += self.interval,
            Settle::Forget => b.full_at = now,
        }
        b
    }

    /// How long until the key could take an attempt, without taking one.
    fn wait(&self, b: Option<Bucket>, now: NaiveDateTime) -> Duration {
        let b = Self::current(b, now);
        wait_of(b.full_at + self.interval - (now + self.window))
    }

    /// Undoes one take.
    fn give_back(&self, b: Bucket, now: NaiveDateTime) -> Bucket {
        let mut b = Self::current(Some(b), now);
        b.full_at = (b.full_at - self.interval).max(now);
        b
    }
}

/// A positive span as a wait; zero for a span that is not.
fn wait_of(span: TimeDelta) -> Duration {
    span.to_std().unwrap_or(Duration::ZERO)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn limit(max: u32, window_secs: u64) -> RateLimit {
        RateLimit {
            max,
            window: Duration::from_secs(window_secs),
        }
    }

    fn policy(max: u32, window_secs: u64) -> Policy {
        Policy::new(limit(max, window_secs), Duration::from_secs(70))
    }

    fn t0() -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000, 0)
            .expect("valid")
            .naive_utc()
    }

    fn at(secs: i64) -> NaiveDateTime {
        t0() + TimeDelta::seconds(secs)
    }

    /// One key's stored bucket, as the database would hold it.
    #[derive(Default)]
    struct Key(Option<Bucket>);

    impl Key {
        fn take(&mut self, p: &Policy, now: NaiveDateTime) -> Result<(), Duration> {
            self.0 = Some(p.take(self.0, now)?);
            Ok(())
        }

        fn reserve(&mut self, p: &Policy, now: NaiveDateTime) -> Result<bool, Duration> {
            Ok(match p.reserve(self.0, now)? {
                Some(new) => {
                    self.0 = Some(new);
                    true
                }
                None => false,
            })
        }

        fn settle(&mut self, p: &Policy, how: Settle, now: NaiveDateTime) {
            self.0 = Some(p.settle(self.0, how, now));
        }

        fn pending(&self, now: NaiveDateTime) -> u32 {
            Policy::current(self.0, now).pending
        }
    }

    #[test]
    fn a_burst_of_max_attempts_passes_and_the_next_waits_one_refill() {
        let p = policy(10, 900);
        let mut key = Key::default();
        for _ in 0..10 {
            assert_eq!(key.take(&p, t0()), Ok(()));
        }
        assert_eq!(key.take(&p, t0()), Err(Duration::from_secs(90)));
        assert_eq!(key.take(&p, at(89)), Err(Duration::from_secs(1)));
        assert_eq!(key.take(&p, at(90)), Ok(()));
        assert!(key.take(&p, at(90)).is_err());
    }

    #[test]
    fn a_drained_key_has_its_whole_budget_back_one_window_after_its_last_attempt() {
        let p = policy(3, 60);
        let mut key = Key::default();
        for _ in 0..3 {
            assert!(key.take(&p, t0()).is_ok());
        }
        assert!(key.0.is_some_and(|b| !b.is_idle(at(59))));
        assert!(
            key.0.is_some_and(|b| b.is_idle(at(60))),
            "swept from then on"
        );
        for _ in 0..3 {
            assert!(key.take(&p, at(60)).is_ok());
        }
        assert!(key.take(&p, at(60)).is_err());
    }

    #[test]
    fn no_more_than_the_asvs_hundred_failures_per_hour_with_the_defaults() {
        // Default per-account limit: 10 per 15 minutes, hammered once a second.
        let p = policy(10, 900);
        let mut key = Key::default();
        let allowed = (0..3600).filter(|s| key.take(&p, at(*s)).is_ok()).count();
        assert_eq!(allowed, 10 + 39, "a burst of 10, then one per 90 s");
    }

    #[test]
    fn giving_back_undoes_exactly_one_take() {
        let p = policy(2, 10);
        let mut key = Key::default();
        assert!(key.take(&p, t0()).is_ok());
        assert!(key.take(&p, t0()).is_ok());
        key.0 = key.0.map(|b| p.give_back(b, t0()));
        assert!(key.take(&p, t0()).is_ok());
        assert!(key.take(&p, t0()).is_err());
        for _ in 0..3 {
            key.0 = key.0.map(|b| p.give_back(b, t0()));
        }
        assert!(key.0.is_some_and(|b| b.is_idle(t0())), "never beyond full");
        assert!(key.take(&p, t0()).is_ok());
        assert!(key.take(&p, t0()).is_ok());
        assert!(key.take(&p, t0()).is_err());
    }

    #[test]
    fn reservations_hold_room_and_only_charged_failures_refuse() {
        let p = policy(2, 60);
        let mut key = Key::default();
        assert_eq!(key.reserve(&p, t0()), Ok(true));
        assert_eq!(key.reserve(&p, t0()), Ok(true));
        // Full of reservations, not failures: busy (wait), not refused.
        assert_eq!(key.reserve(&p, t0()), Ok(false));
        assert_eq!(key.pending(t0()), 2, "a busy answer reserves nothing");
        key.settle(&p, Settle::Charge, t0());
        key.settle(&p, Settle::Charge, t0());
        assert_eq!(key.pending(t0()), 0);
        assert_eq!(key.reserve(&p, t0()), Err(Duration::from_secs(30)));
    }

    #[test]
    fn a_released_reservation_costs_nothing() {
        let p = policy(1, 60);
        let mut key = Key::default();
        for _ in 0..5 {
            assert_eq!(key.reserve(&p, t0()), Ok(true));
            key.settle(&p, Settle::Release, t0());
        }
        assert!(key.0.is_some_and(|b| b.is_idle(t0())));
        assert_eq!(key.reserve(&p, t0()), Ok(true));
    }

    #[test]
    fn forgetting_clears_the_failures_but_not_other_attempts_in_flight() {
        let p = policy(3, 60);
        let mut key = Key::default();
        assert_eq!(key.reserve(&p, t0()), Ok(true));
        key.settle(&p, Settle::Charge, t0());
        assert_eq!(key.reserve(&p, t0()), Ok(true));
        assert_eq!(key.reserve(&p, t0()), Ok(true));
        key.settle(&p, Settle::Forget, at(1));
        assert_eq!(key.pending(at(1)), 1, "the other attempt still holds room");
        assert!(
            key.0.is_some_and(|b| b.full_at == at(1)),
            "no failures left"
        );
    }

    #[test]
    fn reservations_of_a_crashed_instance_expire_after_the_lease() {
        let p = policy(1, 600);
        let mut key = Key::default();
        assert_eq!(key.reserve(&p, t0()), Ok(true));
        assert_eq!(key.reserve(&p, at(69)), Ok(false), "held within the lease");
        assert_eq!(key.reserve(&p, at(70)), Ok(true), "expired after it");
        assert!(key.0.is_some_and(|b| !b.is_idle(at(139))));
        assert!(key.0.is_some_and(|b| b.is_idle(at(140))));
        // A late settle of the expired reservation cannot go below zero.
        key.settle(&p, Settle::Release, at(200));
        key.settle(&p, Settle::Release, at(200));
        assert_eq!(key.pending(at(200)), 0);
    }

    #[test]
    fn a_login_needs_room_in_both_budgets_and_the_longer_wait_is_told() {
        let ip = policy(2, 10);
        let account = policy(1, 60);
        let mut ip_key = Key::default();
        let mut account_key = Key::default();
        let admit = |i: &Key, a: &Key| login_admission(&ip, &account, i.0, a.0, t0());
        assert_eq!(admit(&ip_key, &account_key), Ok(Admission::Reserved));
        // Account busy: waits, whatever the client's budget.
        account_key.reserve(&account, t0()).expect("room");
        assert_eq!(admit(&ip_key, &account_key), Ok(Admission::Busy));
        account_key.settle(&account, Settle::Charge, t0());
        assert_eq!(admit(&ip_key, &account_key), Err(Duration::from_secs(60)));
        // Client drained too: refused with the longer of the two waits.
        ip_key.take(&ip, t0()).expect("room");
        ip_key.take(&ip, t0()).expect("room");
        assert_eq!(admit(&ip_key, &account_key), Err(Duration::from_secs(60)));
        assert_eq!(
            admit(&ip_key, &Key::default()),
            Err(Duration::from_secs(5)),
            "another account: the client's own wait"
        );
        // Client busy only with reservations: waits.
        let mut busy_ip = Key::default();
        busy_ip.reserve(&ip, t0()).expect("room");
        busy_ip.reserve(&ip, t0()).expect("room");
        assert_eq!(admit(&busy_ip, &Key::default()), Ok(Admission::Busy));
    }

    #[test]
    fn an_idle_bucket_is_one_with_nothing_charged_and_nothing_in_flight() {
        let b = Bucket {
            full_at: at(10),
            pending: 0,
            pending_until: t0(),
        };
        assert!(!b.is_idle(at(9)));
        assert!(b.is_idle(at(10)));
        let in_flight = Bucket {
            full_at: t0(),
            pending: 1,
            pending_until: at(5),
        };
        assert!(!in_flight.is_idle(at(4)));
        assert!(in_flight.is_idle(at(5)));
    }

    #[test]
    fn identifiers_are_keyed_by_digest_and_kind() {
        assert_eq!(
            account_key("ada@example.com"),
            account_key("ada@example.com")
        );
        assert_ne!(
            account_key("ada@example.com"),
            account_key("ada@example.org")
        );
        assert!(!account_key("ada@example.com").contains("ada"));
        let client: IpAddr = "192.0.2.1".parse().expect("ip");
        assert_ne!(LoginKeys::new("x", client).ip, signup_key(client));
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds_up(Duration::ZERO), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(90)), 90);
    }
}
