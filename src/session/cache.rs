//! The per-instance session-state cache: user id → what `Sessions::check`
//! reads from the database (session version, role, email). The clock is
//! passed in, so every edge is unit-tested.
//!
//! Correctness never depends on it:
//! - it is only *live* while invalidations are known to arrive (the
//!   listener, src/session/listener.rs, is connected); otherwise it is
//!   empty and every lookup misses;
//! - a fill carries the epoch of its miss, and every invalidation or flush
//!   bumps the epoch, so a row read before a change can never land after it;
//! - an entry older than `max_age` misses, the backstop for a lost
//!   invalidation; at most `max_entries` entries, oldest evicted first.

use std::{
    collections::{HashMap, VecDeque},
    sync::{Mutex, MutexGuard, PoisonError},
    time::{Duration, Instant},
};

use crate::{
    accounts::Role,
    config::SessionCacheSettings,
    metrics::{self, CacheResult},
};

/// What a session check needs to know about a user.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CachedSession {
    pub session_version: i32,
    pub email: String,
    pub role: Role,
}

impl CachedSession {
    /// Whether this entry may answer for a token carrying these claims
    /// without the database: it refuses a token from before a revocation,
    /// and accepts one that agrees on version, role and email. A token that
    /// disagrees otherwise (newer version, other role or email) was issued
    /// after a change this entry has not seen yet: look it up.
    pub fn answers_for(&self, session_version: i32, role: Role, email: &str) -> bool {
        self.session_version > session_version
            || (self.session_version == session_version && self.role == role && self.email == email)
    }
}

/// Permission to fill the entry a lookup missed, unless something changed
/// in between.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Ticket(u64);

#[derive(Debug, PartialEq, Eq)]
pub enum Lookup {
    Hit(CachedSession),
    /// `None` while the cache is not live: look up, and do not fill.
    Miss(Option<Ticket>),
}

pub struct SessionCache {
    max_entries: usize,
    max_age: Duration,
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    live: bool,
    epoch: u64,
    entries: HashMap<i32, Entry>,
    /// Fill order, oldest first; a row whose stamp no longer matches its
    /// entry (refilled or invalidated since) is skipped.
    order: VecDeque<(i32, u64)>,
    next_stamp: u64,
}

struct Entry {
    session: CachedSession,
    filled_at: Instant,
    stamp: u64,
}

impl SessionCache {
    pub fn new(settings: &SessionCacheSettings) -> Self {
        SessionCache {
            max_entries: settings.max_entries,
            max_age: settings.max_age,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn inner(&self) -> MutexGuard<'_, Inner> {
        // Every critical section leaves `Inner` consistent.
        self.inner.lock().unwrap_or_else(PoisonError::into_inner)
    }

    pub fn lookup(&self, user_id: i32, now: Instant) -> Lookup {
        let mut inner = self.inner();
        if !inner.live {
            metrics::cache_lookup(CacheResult::Bypassed);
            return Lookup::Miss(None);
        }
        let fresh = inner
            .entries
            .get(&user_id)
            .map(|e| now.saturating_duration_since(e.filled_at) < self.max_age);
        match fresh {
            Some(true) => {
                if let Some(entry) = inner.entries.get(&user_id) {
                    metrics::cache_lookup(CacheResult::Hit);
                    return Lookup::Hit(entry.session.clone());
                }
            }
            Some(false) => {
                inner.entries.remove(&user_id);
            }
            None => {}
        }
        metrics::cache_lookup(CacheResult::Miss);
        Lookup::Miss(Some(Ticket(inner.epoch)))
    }

    /// Stores what a missed lookup read, if nothing was invalidated or
    /// flushed since the miss.
    pub fn fill(&self, ticket: Option<Ticket>, user_id: i32, session: CachedSession, now: Instant) {
        let mut inner = self.inner();
        if !inner.live || ticket != Some(Ticket(inner.epoch)) {
            return;
        }
        let stamp = inner.next_stamp;
        inner.next_stamp += 1;
        inner.entries.insert(
            user_id,
            Entry {
                session,
                filled_at: now,
                stamp,
            },
        );
        inner.order.push_back((user_id, stamp));
        while inner.entries.len() > self.max_entries {
            let Some((id, stamp)) = inner.order.pop_front() else {
                break;
            };
            if inner.entries.get(&id).is_some_and(|e| e.stamp == stamp) {
                inner.entries.remove(&id);
            }
        }
        // Skipped rows pile up under refills; keep the queue within 2× the
        // entries by dropping them.
        if inner.order.len() > 2 * self.max_entries.max(1) {
            let Inner { entries, order, .. } = &mut *inner;
            order.retain(|(id, stamp)| entries.get(id).is_some_and(|e| e.stamp == *stamp));
        }
    }

    /// A write changed what a check of `user_id` would answer.
    pub fn invalidate(&self, user_id: i32) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.entries.remove(&user_id);
        metrics::cache_invalidated(false);
    }

    /// Empties the cache and sets whether it may be used: `true` once the
    /// listener receives every change from now on, `false` when it may miss
    /// some. Also the answer to "something changed, not sure what".
    pub fn reset(&self, live: bool) {
        let mut inner = self.inner();
        inner.epoch += 1;
        inner.live = live;
        inner.entries.clear();
        inner.order.clear();
        metrics::cache_invalidated(true);
        metrics::cache_listener(live);
    }

    pub fn is_live(&self) -> bool {
        self.inner().live
    }

    /// For the readiness probe: `off` (configured away), `live`, or
    /// `bypassed` (the listener is not subscribed; checks read the database).
    pub fn status(&self) -> &'static str {
        match (self.max_entries, self.is_live()) {
            (0, _) => "off",
            (_, true) => "live",
            (_, false) => "bypassed",
        }
    }

    pub fn len(&self) -> usize {
        self.inner().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const AGE: Duration = Duration::from_secs(60);

    fn cache(max_entries: usize) -> SessionCache {
        let cache = SessionCache::new(&SessionCacheSettings {
            max_entries,
            max_age: AGE,
        });
        cache.reset(true);
        cache
    }

    fn session(version: i32) -> CachedSession {
        CachedSession {
            session_version: version,
            email: "ada@example.com".into(),
            role: Role::User,
        }
    }

    fn ticket(cache: &SessionCache, id: i32, now: Instant) -> Option<Ticket> {
        match cache.lookup(id, now) {
            Lookup::Miss(ticket) => ticket,
            Lookup::Hit(hit) => panic!("expected a miss, got {hit:?}"),
        }
    }

    fn filled(cache: &SessionCache, id: i32, version: i32, now: Instant) {
        let t = ticket(cache, id, now);
        cache.fill(t, id, session(version), now);
    }

    #[test]
    fn an_entry_answers_for_older_tokens_and_agreeing_ones_only() {
        let entry = session(3);
        let email = entry.email.clone();
        assert!(
            entry.answers_for(2, Role::Admin, "old@example.com"),
            "revoked"
        );
        assert!(entry.answers_for(3, Role::User, &email));
        assert!(!entry.answers_for(4, Role::User, &email), "newer version");
        assert!(!entry.answers_for(3, Role::Admin, &email), "other role");
        assert!(
            !entry.answers_for(3, Role::User, "new@example.com"),
            "other email"
        );
    }

    #[test]
    fn a_filled_entry_is_a_hit_until_its_max_age() {
        let cache = cache(10);
        let t0 = Instant::now();
        filled(&cache, 1, 3, t0);
        assert_eq!(cache.lookup(1, t0), Lookup::Hit(session(3)));
        assert_eq!(
            cache.lookup(1, t0 + AGE - Duration::from_millis(1)),
            Lookup::Hit(session(3))
        );
        assert!(matches!(cache.lookup(1, t0 + AGE), Lookup::Miss(Some(_))));
        assert!(cache.is_empty(), "the stale entry is dropped");
    }

    #[test]
    fn a_cache_that_is_not_live_misses_and_refuses_fills() {
        let cache = SessionCache::new(&SessionCacheSettings {
            max_entries: 10,
            max_age: AGE,
        });
        let now = Instant::now();
        assert_eq!(cache.lookup(1, now), Lookup::Miss(None));
        cache.fill(None, 1, session(1), now);
        assert!(cache.is_empty());
        assert!(!cache.is_live());
    }

    #[test]
    fn going_down_flushes_and_going_live_again_starts_empty() {
        let cache = cache(10);
        let now = Instant::now();
        filled(&cache, 1, 1, now);
        let pending = ticket(&cache, 2, now);
        cache.reset(false);
        assert_eq!(cache.lookup(1, now), Lookup::Miss(None));
        cache.reset(true);
        assert!(cache.is_empty());
        // A fill that began before the outage cannot land after it.
        cache.fill(pending, 2, session(1), now);
        assert!(cache.is_empty());
        filled(&cache, 1, 2, now);
        assert_eq!(cache.lookup(1, now), Lookup::Hit(session(2)));
    }

    #[test]
    fn an_invalidation_removes_the_entry_and_cancels_fills_in_flight() {
        let cache = cache(10);
        let now = Instant::now();
        filled(&cache, 1, 1, now);
        let in_flight = ticket(&cache, 2, now);
        cache.invalidate(1);
        assert!(matches!(cache.lookup(1, now), Lookup::Miss(Some(_))));
        // Read before the change, arriving after it: dropped.
        cache.fill(in_flight, 2, session(1), now);
        assert!(matches!(cache.lookup(2, now), Lookup::Miss(Some(_))));
        filled(&cache, 2, 1, now);
        assert_eq!(cache.lookup(2, now), Lookup::Hit(session(1)));
    }

    #[test]
    fn a_fill_without_a_ticket_is_refused() {
        let cache = cache(10);
        cache.fill(None, 1, session(1), Instant::now());
        assert!(cache.is_empty());
    }

    #[test]
    fn the_oldest_entry_is_evicted_at_the_bound() {
        let cache = cache(2);
        let now = Instant::now();
        filled(&cache, 1, 1, now);
        filled(&cache, 2, 1, now);
        filled(&cache, 3, 1, now);
        assert_eq!(cache.len(), 2);
        assert!(matches!(cache.lookup(1, now), Lookup::Miss(Some(_))));
        assert!(matches!(cache.lookup(2, now), Lookup::Hit(_)));
        assert!(matches!(cache.lookup(3, now), Lookup::Hit(_)));
    }

    #[test]
    fn a_refilled_entry_counts_from_its_latest_fill() {
        let cache = cache(2);
        let now = Instant::now();
        filled(&cache, 1, 1, now);
        filled(&cache, 2, 1, now);
        // 1 expires and is refilled: now 2 is the oldest.
        let later = now + AGE;
        filled(&cache, 1, 2, later);
        filled(&cache, 3, 1, later);
        assert_eq!(cache.len(), 2);
        assert_eq!(cache.lookup(1, later), Lookup::Hit(session(2)));
        assert!(matches!(cache.lookup(2, later), Lookup::Miss(Some(_))));
    }

    #[test]
    fn the_fill_order_stays_bounded_under_refills() {
        let cache = cache(3);
        let mut now = Instant::now();
        for _ in 0..100 {
            now += AGE;
            filled(&cache, 1, 1, now);
        }
        assert_eq!(cache.len(), 1);
        assert!(cache.inner().order.len() <= 6);
    }
}
