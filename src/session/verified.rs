//! Access tokens already verified, per worker thread: checking a token's
//! signature and parsing its header and claims is a tenth of what a relayed
//! or cached-session request costs the gateway, and a client sends the same
//! token with every request for minutes. A hit needs the very same token
//! string, verified by the same keys (`keys`: one id per `JwtKeys`, so two
//! gateways in one process share nothing), and is refused once the token
//! has expired, exactly as the full check would refuse it. Nothing else
//! changes over a token's life: the session version, the role and the
//! user's existence are checked afterwards on every request
//! (src/session/mod.rs), hit or miss. Pure: the clock is passed in.

use std::collections::HashMap;

use super::access::AccessClaims;
use crate::bounded;

/// Tokens one worker keeps at most (src/bounded.rs).
pub const MAX_ENTRIES: usize = 10_000;

pub struct VerifiedTokens {
    entries: HashMap<Box<str>, (u64, AccessClaims)>,
    max_entries: usize,
}

impl Default for VerifiedTokens {
    fn default() -> Self {
        VerifiedTokens::new(MAX_ENTRIES)
    }
}

impl VerifiedTokens {
    pub fn new(max_entries: usize) -> Self {
        VerifiedTokens {
            entries: HashMap::new(),
            max_entries,
        }
    }

    /// The claims of `token` if `keys` verified it before and it has not
    /// expired at `now` (Unix seconds), allowing `leeway` seconds as the
    /// full check does; an expired entry is dropped.
    pub fn get(&mut self, keys: u64, token: &str, now: i64, leeway: i64) -> Option<AccessClaims> {
        let (verified_by, claims) = self.entries.get(token)?;
        if *verified_by != keys {
            return None;
        }
        if claims.exp < now - leeway {
            self.entries.remove(token);
            return None;
        }
        Some(claims.clone())
    }

    /// Keeps `claims`, which `keys` has just verified for `token`.
    pub fn insert(&mut self, keys: u64, token: &str, claims: &AccessClaims, now: i64, leeway: i64) {
        let live = |(_, kept): &(u64, AccessClaims)| kept.exp >= now - leeway;
        if bounded::make_room(&mut self.entries, self.max_entries, token, live) {
            self.entries.insert(token.into(), (keys, claims.clone()));
        }
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
    use super::*;
    use crate::role::Role;

    fn claims(exp: i64) -> AccessClaims {
        AccessClaims {
            sub: "7".into(),
            email: "ada@example.com".into(),
            role: Role::User,
            iat: exp - 60,
            exp,
            nbf: None,
            iss: "bff-gateway".into(),
            aud: "bff-gateway".into(),
            jti: "j".into(),
            sv: 1,
        }
    }

    #[test]
    fn a_verified_token_is_answered_until_it_expires_with_the_same_leeway() {
        let mut cache = VerifiedTokens::default();
        cache.insert(1, "t", &claims(100), 50, 5);
        assert_eq!(cache.get(1, "t", 105, 5).map(|c| c.exp), Some(100));
        // The full check refuses `exp < now - leeway`: so does the cache,
        // and it forgets the token.
        assert!(cache.get(1, "t", 106, 5).is_none());
        assert!(cache.is_empty());
    }

    #[test]
    fn only_the_very_same_token_and_keys_hit() {
        let mut cache = VerifiedTokens::default();
        cache.insert(1, "header.claims.sig", &claims(100), 50, 0);
        assert!(cache.get(1, "header.claims.sig", 60, 0).is_some());
        assert!(cache.get(1, "header.claims.siG", 60, 0).is_none());
        assert!(cache.get(1, "header.claims.sig ", 60, 0).is_none());
        // Another gateway's keys in the same process: not theirs to trust.
        assert!(cache.get(2, "header.claims.sig", 60, 0).is_none());
    }

    #[test]
    fn a_full_cache_drops_expired_tokens_first_then_everything() {
        let mut cache = VerifiedTokens::new(2);
        cache.insert(1, "old", &claims(100), 50, 0);
        cache.insert(1, "live", &claims(300), 50, 0);
        cache.insert(1, "new", &claims(300), 200, 0);
        assert_eq!(cache.len(), 2);
        assert!(
            cache.get(1, "live", 200, 0).is_some(),
            "the live one stayed"
        );
        assert!(cache.get(1, "old", 200, 0).is_none());
        // Nothing expired: it starts over rather than grow.
        cache.insert(1, "newer", &claims(300), 200, 0);
        assert_eq!(cache.len(), 1);
    }

    #[test]
    fn a_cache_of_size_zero_keeps_nothing() {
        let mut cache = VerifiedTokens::new(0);
        cache.insert(1, "t", &claims(100), 50, 0);
        assert!(cache.get(1, "t", 60, 0).is_none());
    }
}
