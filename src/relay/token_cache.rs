//! Relay tokens kept for reuse, per worker and per upstream: signing one
//! costs as much as the rest of a relayed request, and the same user
//! calling the same upstream again within seconds would get the same
//! claims but `iat`, `exp` and `jti`. A token is reused only while at least
//! half its lifetime is left, so an upstream never gets one about to
//! expire, and only for the same user, email and role: a role change or a
//! renamed account gets a new token at once. Revocation needs nothing here:
//! the session check runs before every relayed request. Pure: the clock is
//! passed in.

use std::collections::HashMap;

use crate::{bounded, role::Role};

/// Entries one worker keeps per upstream at most (src/bounded.rs).
pub const MAX_ENTRIES: usize = 4096;

pub struct TokenCache {
    entries: HashMap<i32, Entry>,
    max_entries: usize,
}

struct Entry {
    email: String,
    role: Role,
    token: String,
    /// Unix seconds; reused before this, never at or after it.
    reuse_until: i64,
}

impl Default for TokenCache {
    fn default() -> Self {
        TokenCache::new(MAX_ENTRIES)
    }
}

impl TokenCache {
    pub fn new(max_entries: usize) -> Self {
        TokenCache {
            entries: HashMap::new(),
            max_entries,
        }
    }

    /// The token for this caller at `now` (Unix seconds): the kept one if
    /// it is for the same email and role and has half its `ttl` left, else
    /// a fresh one from `mint(now)`, kept for next time.
    pub fn token<E>(
        &mut self,
        caller: (i32, &str, Role),
        now: i64,
        ttl_secs: i64,
        mint: impl FnOnce(i64) -> Result<String, E>,
    ) -> Result<String, E> {
        let (user_id, email, role) = caller;
        if let Some(entry) = self.entries.get(&user_id)
            && entry.email == email
            && entry.role == role
            && now < entry.reuse_until
        {
            return Ok(entry.token.clone());
        }
        let token = mint(now)?;
        let live = |entry: &Entry| now < entry.reuse_until;
        if bounded::make_room(&mut self.entries, self.max_entries, &user_id, live) {
            self.entries.insert(
                user_id,
                Entry {
                    email: email.to_owned(),
                    role,
                    token: token.clone(),
                    reuse_until: now + ttl_secs / 2,
                },
            );
        }
        Ok(token)
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use std::cell::Cell;

    use super::*;

    const TTL: i64 = 30;

    /// Mints `token-<n>` and counts the calls.
    fn minter(count: &Cell<u32>) -> impl FnOnce(i64) -> Result<String, ()> + '_ {
        move |_| {
            count.set(count.get() + 1);
            Ok(format!("token-{}", count.get()))
        }
    }

    const ADA: (i32, &str, Role) = (1, "ada@example.com", Role::User);

    #[test]
    fn a_token_is_reused_while_half_its_lifetime_is_left() {
        let (mut cache, minted) = (TokenCache::default(), Cell::new(0));
        let first = cache.token(ADA, 100, TTL, minter(&minted)).unwrap();
        let again = cache.token(ADA, 114, TTL, minter(&minted)).unwrap();
        assert_eq!(first, again);
        assert_eq!(minted.get(), 1);
        // At iat + ttl/2 the upstream would get less than half: a new one.
        let later = cache.token(ADA, 115, TTL, minter(&minted)).unwrap();
        assert_ne!(later, first);
        assert_eq!(minted.get(), 2);
    }

    #[test]
    fn a_role_or_email_change_gets_a_new_token_at_once() {
        let (mut cache, minted) = (TokenCache::default(), Cell::new(0));
        let user = cache.token(ADA, 100, TTL, minter(&minted)).unwrap();
        let admin = cache
            .token(
                (1, "ada@example.com", Role::Admin),
                101,
                TTL,
                minter(&minted),
            )
            .unwrap();
        assert_ne!(user, admin);
        let renamed = cache
            .token(
                (1, "ada@new.example", Role::Admin),
                101,
                TTL,
                minter(&minted),
            )
            .unwrap();
        assert_ne!(renamed, admin);
        assert_eq!(minted.get(), 3);
        assert_eq!(cache.len(), 1, "one entry per user");
    }

    #[test]
    fn users_never_share_a_token() {
        let (mut cache, minted) = (TokenCache::default(), Cell::new(0));
        let ada = cache.token(ADA, 100, TTL, minter(&minted)).unwrap();
        let bob = cache
            .token(
                (2, "bob@example.com", Role::User),
                100,
                TTL,
                minter(&minted),
            )
            .unwrap();
        assert_ne!(ada, bob);
        assert_eq!(cache.token(ADA, 101, TTL, minter(&minted)).unwrap(), ada);
    }

    #[test]
    fn a_failed_mint_is_reported_and_not_kept() {
        let mut cache = TokenCache::default();
        let failed: Result<String, &str> = cache.token(ADA, 100, TTL, |_| Err("no key"));
        assert_eq!(failed, Err("no key"));
        assert!(cache.is_empty());
    }

    #[test]
    fn a_ttl_under_two_seconds_is_never_reused() {
        let (mut cache, minted) = (TokenCache::default(), Cell::new(0));
        cache.token(ADA, 100, 1, minter(&minted)).unwrap();
        cache.token(ADA, 100, 1, minter(&minted)).unwrap();
        assert_eq!(minted.get(), 2);
    }

    #[test]
    fn a_full_cache_drops_expired_entries_first_then_everything() {
        let (mut cache, minted) = (TokenCache::new(2), Cell::new(0));
        cache
            .token((1, "a@x", Role::User), 100, TTL, minter(&minted))
            .unwrap();
        cache
            .token((2, "b@x", Role::User), 110, TTL, minter(&minted))
            .unwrap();
        // User 1's entry is past reuse at 116, user 2's is not.
        cache
            .token((3, "c@x", Role::User), 116, TTL, minter(&minted))
            .unwrap();
        assert_eq!(cache.len(), 2);
        let kept = cache.token((2, "b@x", Role::User), 117, TTL, minter(&minted));
        assert_eq!(kept.unwrap(), "token-2", "user 2 survived the sweep");
        // Nothing expired: the cache starts over rather than grow.
        cache
            .token((4, "d@x", Role::User), 118, TTL, minter(&minted))
            .unwrap();
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cache_of_size_zero_keeps_nothing() {
        let (mut cache, minted) = (TokenCache::new(0), Cell::new(0));
        cache.token(ADA, 100, TTL, minter(&minted)).unwrap();
        cache.token(ADA, 100, TTL, minter(&minted)).unwrap();
        assert_eq!(minted.get(), 2);
        assert!(cache.is_empty());
    }
}
