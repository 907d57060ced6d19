//! Brute-force and enumeration throttling: failed logins per account and per
//! client IP, sign-ups per client IP.
//!
//! The state lives in this process's memory, so every instance counts on its
//! own: behind a round-robin balancer over N instances an attacker gets N
//! times the budget. Use sticky routing (by client IP) or divide the limits
//! by N; a store shared by all instances is future work.
//!
//! Each key has a token bucket of `max` attempts that refills one attempt
//! every `window / max` (GCRA: one `Instant` per key, the moment its bucket
//! is full again). A fully drained key has its whole budget back one window
//! after its last attempt, and never more than `max` attempts fit in a burst.
//!
//! A login attempt *reserves* room in both budgets before the password is
//! looked at, and settles when the answer is known: only a failure is
//! charged; a right password (or a check that never happened) releases its
//! reservation. Concurrent guesses cannot overrun a budget while bcrypt is
//! busy, since reservations count against the room left; and an attempt
//! that finds the room taken only by reservations waits for them to settle
//! instead of being refused, so a right password is never refused because
//! other attempts were in flight.

use std::{
    collections::HashMap,
    hash::Hash,
    net::IpAddr,
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use sha2::{Digest, Sha256};
use tokio::sync::Notify;

use crate::{
    client_ip::budget_key as ip_key,
    config::{RateLimit, ThrottleSettings},
    errors::AppError,
};

/// Accounts are keyed by a digest of the normalized identifier: fixed-size
/// entries however long the submitted identifier, and no email addresses
/// kept in memory.
type AccountKey = [u8; 32];

pub struct Throttle {
    login_account: Buckets<AccountKey>,
    login_ip: Buckets<IpAddr>,
    signup_ip: Buckets<IpAddr>,
    /// How long a login waits for in-flight attempts to settle.
    queue_timeout: Duration,
    /// Woken whenever a login attempt settles.
    settled: Notify,
}

/// What the budgets say about a new login attempt.
enum Admission<'a> {
    Admitted(LoginAttempt<'a>),
    /// Only reservations of attempts in flight fill the budget: wait for
    /// them to settle.
    Busy,
}

impl Throttle {
    pub fn new(settings: &ThrottleSettings) -> Self {
        Throttle {
            login_account: Buckets::new(settings.login_per_account, settings.max_entries),
            login_ip: Buckets::new(settings.login_per_ip, settings.max_entries),
            signup_ip: Buckets::new(settings.signup_per_ip, settings.max_entries),
            queue_timeout: settings.login_queue_timeout,
            settled: Notify::new(),
        }
    }

    /// Reserves one attempt in the account's and the client's login
    /// budgets, or refuses with 429. `email` is the normalized identifier,
    /// whether or not such an account exists, so the answer says nothing
    /// about existence. While only attempts in flight fill a budget, waits
    /// for them (up to `LOGIN_QUEUE_TIMEOUT`, then 429).
    pub async fn begin_login(
        &self,
        email: &str,
        client: IpAddr,
    ) -> Result<LoginAttempt<'_>, AppError> {
        let give_up = Instant::now() + self.queue_timeout;
        loop {
            // Registered before the check, so a settle in between is not missed.
            let mut settled = std::pin::pin!(self.settled.notified());
            settled.as_mut().enable();
            let now = Instant::now();
            match self.begin_login_at(email, client, now)? {
                Admission::Admitted(attempt) => return Ok(attempt),
                Admission::Busy => {}
            }
            let left = give_up.saturating_duration_since(now);
            if left.is_zero() || actix_web::rt::time::timeout(left, settled).await.is_err() {
                log::info!("login throttled: attempts in flight did not settle in time");
                return Err(too_many(Duration::from_secs(1)));
            }
        }
    }

    fn begin_login_at(
        &self,
        email: &str,
        client: IpAddr,
        now: Instant,
    ) -> Result<Admission<'_>, AppError> {
        let account = account_key(email);
        let ip = ip_key(client);
        match self.login_ip.reserve(ip, now) {
            Err(wait) => {
                log::info!("login throttled: client IP over its failure budget");
                // The longer wait, or a retry after `Retry-After` could meet
                // the account's budget still empty.
                let account_wait = self.login_account.wait(&account, now);
                return Err(too_many(wait.max(account_wait)));
            }
            Ok(Room::Busy) => return Ok(Admission::Busy),
            Ok(Room::Reserved) => {}
        }
        // Refused or waiting without a password check, so it costs the
        // client nothing.
        match self.login_account.reserve(account, now) {
            Err(wait) => {
                self.login_ip.release(&ip);
                log::info!("login throttled: account over its failure budget");
                Err(too_many(wait))
            }
            Ok(Room::Busy) => {
                self.login_ip.release(&ip);
                Ok(Admission::Busy)
            }
            Ok(Room::Reserved) => Ok(Admission::Admitted(LoginAttempt {
                throttle: self,
                account,
                ip,
                settled: false,
            })),
        }
    }

    /// Takes one sign-up from the client's budget, or refuses with 429.
    pub fn begin_signup(&self, client: IpAddr) -> Result<SignupAttempt<'_>, AppError> {
        let ip = ip_key(client);
        self.signup_ip.take(ip, Instant::now()).map_err(|wait| {
            log::info!("signup throttled: client IP over its sign-up budget");
            too_many(wait)
        })?;
        Ok(SignupAttempt { throttle: self, ip })
    }
}

/// A login attempt with its reservations. Dropping it unsettled (say, the
/// client went away during bcrypt) counts it as a failure; only a right
/// password or a server-side failure costs nothing.
#[must_use = "dropping the attempt counts it as a failed login"]
pub struct LoginAttempt<'a> {
    throttle: &'a Throttle,
    account: AccountKey,
    ip: IpAddr,
    settled: bool,
}

impl LoginAttempt<'_> {
    /// The password was right: the account's failures are forgotten, and the
    /// client is not charged (so a busy NAT is not throttled by its users'
    /// successful logins).
    pub fn succeeded(mut self) {
        self.throttle.login_account.forget(&self.account);
        self.settle(false, Instant::now());
    }

    /// The password was wrong or the account unknown: both budgets are
    /// charged (as they are if the attempt is simply dropped).
    pub fn failed(self) {
        self.failed_at(Instant::now());
    }

    fn failed_at(mut self, now: Instant) {
        self.settle(true, now);
    }

    /// The password was never checked (the server failed first), so the
    /// attempt tells the client nothing and costs it nothing.
    pub fn cancel(mut self) {
        self.settle(false, Instant::now());
    }

    fn settle(&mut self, charged: bool, now: Instant) {
        if std::mem::replace(&mut self.settled, true) {
            return;
        }
        let throttle = self.throttle;
        if charged {
            throttle.login_account.charge(self.account, now);
            throttle.login_ip.charge(self.ip, now);
        } else {
            throttle.login_account.release(&self.account);
            throttle.login_ip.release(&self.ip);
        }
        throttle.settled.notify_waiters();
    }
}

impl Drop for LoginAttempt<'_> {
    fn drop(&mut self) {
        self.settle(true, Instant::now());
    }
}

/// A sign-up that has been counted, whatever its outcome.
#[must_use = "dropping the attempt keeps it counted"]
pub struct SignupAttempt<'a> {
    throttle: &'a Throttle,
    ip: IpAddr,
}

impl SignupAttempt<'_> {
    /// The server failed before it could answer: the attempt is given back.
    pub fn cancel(self) {
        self.throttle.signup_ip.give_back(self.ip, Instant::now());
    }
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

fn account_key(email: &str) -> AccountKey {
    Sha256::digest(email.as_bytes()).into()
}

/// Whether a reservation found room.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Room {
    Reserved,
    /// The charged failures leave room, but not once the reservations of
    /// attempts in flight are counted too.
    Busy,
}

/// Token buckets for one kind of key, bounded to `capacity` entries.
struct Buckets<K> {
    limit: RateLimit,
    /// How long one attempt takes to refill.
    interval: Duration,
    capacity: usize,
    state: Mutex<State<K>>,
}

struct State<K> {
    /// When each key's bucket is full again; a key whose moment has passed
    /// is the same as an absent key and may be dropped at any time.
    full_at: HashMap<K, Instant>,
    /// Reservations of attempts in flight, per key (absent = none). Bounded
    /// by the requests in flight, so not part of the capacity.
    pending: HashMap<K, u32>,
    next_sweep: Option<Instant>,
}

impl<K: Hash + Eq + Copy> Buckets<K> {
    fn new(limit: RateLimit, capacity: usize) -> Self {
        Buckets {
            limit,
            interval: limit.window / limit.max.max(1),
            capacity: capacity.max(1),
            state: Mutex::new(State {
                full_at: HashMap::new(),
                pending: HashMap::new(),
                next_sweep: None,
            }),
        }
    }

    /// Held only for map operations, never across an await. A panic cannot
    /// leave the map half-updated in a way that matters, so poisoning is
    /// ignored rather than turned into failed requests.
    fn lock(&self) -> MutexGuard<'_, State<K>> {
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Takes one attempt, or says how long until one is available.
    fn take(&self, key: K, now: Instant) -> Result<(), Duration> {
        let mut state = self.lock();
        state.sweep_if_due(now, self.limit.window);
        let start = match state.full_at.get(&key) {
            Some(&full_at) if full_at > now => full_at,
            _ => now,
        };
        let full_at = start + self.interval;
        let horizon = now + self.limit.window;
        if full_at > horizon {
            return Err(full_at - horizon);
        }
        if !state.full_at.contains_key(&key) {
            state.make_room(now, self.capacity);
        }
        state.full_at.insert(key, full_at);
        Ok(())
    }

    /// Reserves room for one attempt, counting those in flight; `Busy` when
    /// only they are in the way; otherwise how long until the charged
    /// failures alone leave room.
    fn reserve(&self, key: K, now: Instant) -> Result<Room, Duration> {
        let mut state = self.lock();
        state.sweep_if_due(now, self.limit.window);
        let start = match state.full_at.get(&key) {
            Some(&full_at) if full_at > now => full_at,
            _ => now,
        };
        let horizon = now + self.limit.window;
        let charged_alone = start + self.interval;
        if charged_alone > horizon {
            return Err(charged_alone - horizon);
        }
        let pending = state.pending.get(&key).copied().unwrap_or(0);
        if start + self.interval * (pending + 1) > horizon {
            return Ok(Room::Busy);
        }
        state.pending.insert(key, pending + 1);
        Ok(Room::Reserved)
    }

    /// Ends a reservation without charging it.
    fn release(&self, key: &K) {
        let mut state = self.lock();
        if let Some(pending) = state.pending.get_mut(key) {
            *pending -= 1;
            if *pending == 0 {
                state.pending.remove(key);
            }
        }
    }

    /// Ends a reservation and charges it as one failure.
    fn charge(&self, key: K, now: Instant) {
        self.release(&key);
        let mut state = self.lock();
        let start = match state.full_at.get(&key) {
            Some(&full_at) if full_at > now => full_at,
            _ => now,
        };
        if !state.full_at.contains_key(&key) {
            state.make_room(now, self.capacity);
        }
        state.full_at.insert(key, start + self.interval);
    }

    /// How long until `key` could take an attempt, without taking one.
    fn wait(&self, key: &K, now: Instant) -> Duration {
        let state = self.lock();
        state.full_at.get(key).map_or(Duration::ZERO, |&full_at| {
            (full_at + self.interval).saturating_duration_since(now + self.limit.window)
        })
    }

    fn give_back(&self, key: K, now: Instant) {
        let mut state = self.lock();
        if let Some(full_at) = state.full_at.get_mut(&key) {
            match full_at.checked_sub(self.interval) {
                Some(earlier) if earlier > now => *full_at = earlier,
                _ => {
                    state.full_at.remove(&key);
                }
            }
        }
    }

    fn forget(&self, key: &K) {
        self.lock().full_at.remove(key);
    }

    #[cfg(test)]
    fn len(&self) -> usize {
        self.lock().full_at.len()
    }

    #[cfg(test)]
    fn pending_of(&self, key: &K) -> u32 {
        self.lock().pending.get(key).copied().unwrap_or(0)
    }
}

impl<K: Hash + Eq + Copy> State<K> {
    /// Drops full buckets once per window, so an idle table shrinks without
    /// a background task. O(entries) under the lock, once per window.
    fn sweep_if_due(&mut self, now: Instant, window: Duration) {
        if self.next_sweep.is_none_or(|due| now >= due) {
            self.full_at.retain(|_, full_at| *full_at > now);
            self.next_sweep = Some(now + window);
        }
    }

    /// Keeps the table under `capacity` before a new key goes in. When it is
    /// full of live entries, the tenth closest to recovering anyway are
    /// forgotten: those keys get their budget back early, which is the price
    /// of bounded memory (an attacker would have to fill the whole table to
    /// reach a given key). O(entries), once per tenth of the capacity.
    fn make_room(&mut self, now: Instant, capacity: usize) {
        if self.full_at.len() < capacity {
            return;
        }
        self.full_at.retain(|_, full_at| *full_at > now);
        if self.full_at.len() < capacity {
            return;
        }
        let evict = (capacity / 10).max(1);
        let mut times: Vec<Instant> = self.full_at.values().copied().collect();
        let (_, &mut cutoff, _) = times.select_nth_unstable(evict - 1);
        // Exactly `evict` go: all entries before the cutoff, then ties.
        let mut ties = evict - times.iter().filter(|t| **t < cutoff).count();
        self.full_at.retain(|_, full_at| {
            if *full_at < cutoff {
                return false;
            }
            if *full_at == cutoff && ties > 0 {
                ties -= 1;
                return false;
            }
            true
        });
    }
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

    fn settings(account: RateLimit, ip: RateLimit) -> ThrottleSettings {
        ThrottleSettings {
            login_per_account: account,
            login_per_ip: ip,
            signup_per_ip: limit(10, 3600),
            max_entries: 1000,
            login_concurrency_per_ip: 2,
            login_queue_timeout: Duration::from_secs(10),
        }
    }

    /// A failed login of `email` from CLIENT at `now`.
    fn fail(throttle: &Throttle, email: &str, now: Instant) {
        admitted(throttle.begin_login_at(email, CLIENT, now)).failed_at(now);
    }

    /// The `Retry-After` of a login of `email` from CLIENT at `now`, which
    /// must be refused.
    fn refused_for(throttle: &Throttle, email: &str, now: Instant) -> u64 {
        match throttle.begin_login_at(email, CLIENT, now) {
            Err(AppError::TooManyRequests { retry_after_secs }) => retry_after_secs,
            Err(other) => panic!("unexpected error {other:?}"),
            Ok(_) => panic!("attempt allowed"),
        }
    }

    fn admitted(result: Result<Admission<'_>, AppError>) -> LoginAttempt<'_> {
        match result {
            Ok(Admission::Admitted(attempt)) => attempt,
            Ok(Admission::Busy) => panic!("busy"),
            Err(err) => panic!("refused: {err:?}"),
        }
    }

    fn is_busy(result: Result<Admission<'_>, AppError>) -> bool {
        matches!(result, Ok(Admission::Busy))
    }

    const CLIENT: IpAddr = IpAddr::V4(std::net::Ipv4Addr::new(192, 0, 2, 1));

    #[test]
    fn a_burst_of_max_attempts_passes_and_the_next_waits_one_refill() {
        let buckets = Buckets::new(limit(10, 900), 100);
        let t0 = Instant::now();
        for _ in 0..10 {
            assert_eq!(buckets.take(1, t0), Ok(()));
        }
        assert_eq!(buckets.take(1, t0), Err(Duration::from_secs(90)));
        // Other keys are unaffected.
        assert_eq!(buckets.take(2, t0), Ok(()));
        // One attempt refills every window / max.
        let later = t0 + Duration::from_secs(89);
        assert_eq!(buckets.take(1, later), Err(Duration::from_secs(1)));
        let later = t0 + Duration::from_secs(90);
        assert_eq!(buckets.take(1, later), Ok(()));
        assert!(buckets.take(1, later).is_err());
    }

    #[test]
    fn a_drained_key_has_its_whole_budget_back_one_window_after_its_last_attempt() {
        let buckets = Buckets::new(limit(3, 60), 100);
        let t0 = Instant::now();
        for _ in 0..3 {
            assert!(buckets.take(7, t0).is_ok());
        }
        let t1 = t0 + Duration::from_secs(60);
        for _ in 0..3 {
            assert!(buckets.take(7, t1).is_ok());
        }
        assert!(buckets.take(7, t1).is_err());
    }

    #[test]
    fn no_more_than_the_asvs_hundred_failures_per_hour_with_the_defaults() {
        // Default per-account limit: 10 per 15 minutes, hammered once a second.
        let buckets = Buckets::new(limit(10, 900), 100);
        let t0 = Instant::now();
        let allowed = (0..3600)
            .filter(|s| buckets.take(1, t0 + Duration::from_secs(*s)).is_ok())
            .count();
        assert_eq!(allowed, 10 + 39, "a burst of 10, then one per 90 s");
        assert!(allowed <= 100);
    }

    #[test]
    fn giving_back_undoes_exactly_one_take() {
        let buckets = Buckets::new(limit(2, 10), 100);
        let t0 = Instant::now();
        assert!(buckets.take(1, t0).is_ok());
        assert!(buckets.take(1, t0).is_ok());
        buckets.give_back(1, t0);
        assert!(buckets.take(1, t0).is_ok());
        assert!(buckets.take(1, t0).is_err());
        buckets.give_back(1, t0);
        buckets.give_back(1, t0);
        buckets.give_back(1, t0);
        assert_eq!(buckets.len(), 0, "a full bucket is not stored");
        assert!(buckets.take(1, t0).is_ok());
        assert!(buckets.take(1, t0).is_ok());
        assert!(buckets.take(1, t0).is_err());
    }

    #[test]
    fn full_buckets_are_swept_once_per_window() {
        let buckets = Buckets::new(limit(5, 10), 1000);
        let t0 = Instant::now();
        for key in 0..100 {
            assert!(buckets.take(key, t0).is_ok());
        }
        assert_eq!(buckets.len(), 100);
        // Every bucket is full again two seconds later; the next sweep is
        // due one window after the first take.
        assert!(buckets.take(1000, t0 + Duration::from_secs(5)).is_ok());
        assert_eq!(buckets.len(), 101);
        assert!(buckets.take(1001, t0 + Duration::from_secs(10)).is_ok());
        assert_eq!(buckets.len(), 1);
    }

    #[test]
    fn the_table_never_outgrows_its_capacity_and_forgets_the_nearest_to_recovery_first() {
        let buckets = Buckets::new(limit(1, 3600), 100);
        let t0 = Instant::now();
        // Key 0 is drained first, so it is the closest to recovering.
        for key in 0..100u32 {
            assert!(
                buckets
                    .take(key, t0 + Duration::from_millis(u64::from(key)))
                    .is_ok()
            );
        }
        assert!(buckets.take(0, t0 + Duration::from_secs(1)).is_err());
        assert!(buckets.take(99, t0 + Duration::from_secs(1)).is_err());
        for key in 100..10_000u32 {
            assert!(buckets.take(key, t0 + Duration::from_secs(1)).is_ok());
            assert!(buckets.len() <= 100);
            assert!(buckets.len() >= 91, "only a tenth is forgotten at a time");
        }
        assert!(
            buckets.take(9_999, t0 + Duration::from_secs(1)).is_err(),
            "kept"
        );
        assert!(
            buckets.take(0, t0 + Duration::from_secs(1)).is_ok(),
            "evicted"
        );
    }

    #[test]
    fn a_login_needs_both_budgets_and_a_refusal_costs_nothing() {
        let throttle = Throttle::new(&settings(limit(2, 60), limit(3, 60)));
        let t0 = Instant::now();
        fail(&throttle, "ada@example.com", t0);
        fail(&throttle, "ada@example.com", t0);
        assert_eq!(refused_for(&throttle, "ada@example.com", t0), 30);
        // The refused attempt did not use the client's budget: one is left.
        fail(&throttle, "bob@example.com", t0);
        assert_eq!(refused_for(&throttle, "eve@example.com", t0), 20);
    }

    #[test]
    fn when_both_budgets_are_empty_retry_after_is_the_longer_wait() {
        let throttle = Throttle::new(&settings(limit(1, 60), limit(2, 10)));
        let t0 = Instant::now();
        fail(&throttle, "ada@example.com", t0);
        fail(&throttle, "bob@example.com", t0);
        // The client's budget refills in 5 s, ada's in 60 s.
        assert_eq!(refused_for(&throttle, "ada@example.com", t0), 60);
        assert_eq!(refused_for(&throttle, "eve@example.com", t0), 5);
    }

    #[test]
    fn success_forgets_the_account_failures_and_returns_the_client_attempt() {
        let throttle = Throttle::new(&settings(limit(2, 60), limit(2, 60)));
        let t0 = Instant::now();
        fail(&throttle, "ada@example.com", t0);
        admitted(throttle.begin_login_at("ada@example.com", CLIENT, t0)).succeeded();
        assert_eq!(throttle.login_account.len(), 0);
        // The client still carries its one failure, not the success.
        fail(&throttle, "ada@example.com", t0);
        assert!(
            throttle
                .begin_login_at("ada@example.com", CLIENT, t0)
                .is_err()
        );
    }

    #[test]
    fn a_cancelled_attempt_costs_nothing() {
        let throttle = Throttle::new(&settings(limit(1, 60), limit(1, 60)));
        let t0 = Instant::now();
        for _ in 0..5 {
            admitted(throttle.begin_login_at("ada@example.com", CLIENT, t0)).cancel();
        }
        fail(&throttle, "ada@example.com", t0);
        assert_eq!(refused_for(&throttle, "ada@example.com", t0), 60);
    }

    #[test]
    fn attempts_in_flight_hold_room_and_later_ones_wait_rather_than_fail() {
        let throttle = Throttle::new(&settings(limit(2, 60), limit(10, 60)));
        let t0 = Instant::now();
        let first = admitted(throttle.begin_login_at("ada@example.com", CLIENT, t0));
        let second = admitted(throttle.begin_login_at("ada@example.com", CLIENT, t0));
        // The budget is full of reservations, not failures: wait, not 429.
        assert!(is_busy(throttle.begin_login_at(
            "ada@example.com",
            CLIENT,
            t0
        )));
        // A waiting attempt holds nothing in the client's budget.
        assert_eq!(throttle.login_ip.pending_of(&CLIENT), 2);
        // Right passwords release their room, and the account starts afresh.
        first.succeeded();
        let third = admitted(throttle.begin_login_at("ada@example.com", CLIENT, t0));
        second.succeeded();
        third.succeeded();
        for _ in 0..2 {
            admitted(throttle.begin_login_at("ada@example.com", CLIENT, t0)).succeeded();
        }
        assert_eq!(throttle.login_ip.len(), 0, "successes charge nothing");
    }

    #[test]
    fn concurrent_guesses_cannot_overrun_the_budget() {
        let throttle = Throttle::new(&settings(limit(3, 60), limit(100, 60)));
        let t0 = Instant::now();
        let in_flight: Vec<_> = (0..3)
            .map(|_| admitted(throttle.begin_login_at("ada@example.com", CLIENT, t0)))
            .collect();
        assert!(is_busy(throttle.begin_login_at(
            "ada@example.com",
            CLIENT,
            t0
        )));
        for attempt in in_flight {
            attempt.failed_at(t0);
        }
        // Now the failures themselves fill the budget: refused with the wait.
        assert_eq!(refused_for(&throttle, "ada@example.com", t0), 20);
    }

    #[test]
    fn dropping_an_unsettled_attempt_counts_as_a_failure() {
        let throttle = Throttle::new(&settings(limit(1, 60), limit(10, 60)));
        let t0 = Instant::now();
        drop(admitted(throttle.begin_login_at(
            "ada@example.com",
            CLIENT,
            t0,
        )));
        assert_eq!(
            throttle
                .login_account
                .pending_of(&account_key("ada@example.com")),
            0
        );
        assert!(
            throttle
                .begin_login_at("ada@example.com", CLIENT, t0)
                .is_err()
        );
    }

    #[actix_web::test]
    async fn a_waiting_login_proceeds_when_the_attempt_in_flight_settles() {
        let throttle = Throttle::new(&settings(limit(1, 60), limit(10, 60)));
        let first = throttle
            .begin_login("ada@example.com", CLIENT)
            .await
            .expect("admitted");
        let waiting = throttle.begin_login("ada@example.com", CLIENT);
        let settle = async {
            actix_web::rt::time::sleep(Duration::from_millis(20)).await;
            first.succeeded();
        };
        let (second, ()) = futures::join!(waiting, settle);
        assert!(second.is_ok(), "admitted once the first settled");
    }

    #[actix_web::test]
    async fn a_login_waits_for_attempts_in_flight_at_most_the_queue_timeout() {
        let mut s = settings(limit(1, 60), limit(10, 60));
        s.login_queue_timeout = Duration::from_millis(50);
        let throttle = Throttle::new(&s);
        let _first = throttle
            .begin_login("ada@example.com", CLIENT)
            .await
            .expect("admitted");
        let started = Instant::now();
        let result = throttle.begin_login("ada@example.com", CLIENT).await;
        assert!(matches!(
            result,
            Err(AppError::TooManyRequests {
                retry_after_secs: 1
            })
        ));
        assert!(started.elapsed() >= Duration::from_millis(50));
    }

    #[test]
    fn identifiers_are_keyed_as_given() {
        assert_eq!(
            account_key("ada@example.com"),
            account_key("ada@example.com")
        );
        assert_ne!(
            account_key("ada@example.com"),
            account_key("ada@example.org")
        );
    }

    #[test]
    fn retry_after_rounds_up_to_at_least_one_second() {
        assert_eq!(whole_seconds_up(Duration::ZERO), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1)), 1);
        assert_eq!(whole_seconds_up(Duration::from_millis(1001)), 2);
        assert_eq!(whole_seconds_up(Duration::from_secs(90)), 90);
    }
}
