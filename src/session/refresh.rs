//! The refresh decision: what a presented refresh token means, given the
//! session row its family names. Pure (the clock and the policy are passed
//! in), so every branch and edge is unit-tested here; `Sessions::rotate` in
//! src/session/mod.rs carries the decision out.

use chrono::{NaiveDateTime, TimeDelta};

/// What the store holds for one session: the row of its family.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct StoredSession {
    pub current_hash: Option<String>,
    pub previous_hash: Option<String>,
    /// When the current token was issued (login or rotation): the session's
    /// last activity. `None` only for sessions started before this was
    /// recorded at login; the idle timeout cannot judge those.
    pub rotated_at: Option<NaiveDateTime>,
    /// The absolute end, fixed at login.
    pub expires_at: Option<NaiveDateTime>,
}

/// The settings the decision applies.
#[derive(Debug, Clone, Copy)]
pub struct Policy {
    /// How long after a rotation the immediately previous token still
    /// succeeds (a second tab, a lost response).
    pub reuse_window: TimeDelta,
    /// A session whose current token was issued this long ago has been
    /// abandoned and ends; `None` turns the rule off.
    pub idle_timeout: Option<TimeDelta>,
}

/// The presented token's hash and the hash of the successor it rotates
/// into, under the current key and under each retired one.
#[derive(Debug, Clone, Copy)]
pub struct Presented<'a> {
    pub hash: &'a str,
    /// What a rotation now stores.
    pub successor_hash: &'a str,
    /// What a rotation before the last key rotation stored.
    pub retired_successor_hashes: &'a [String],
}

impl Presented<'_> {
    fn rotates_into(&self, hash: Option<&str>) -> bool {
        hash.is_some_and(|hash| {
            hash == self.successor_hash || self.retired_successor_hashes.iter().any(|h| h == hash)
        })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Decision {
    /// The current token of a live session: rotate it (compare-and-swap).
    Rotate,
    /// The immediately previous token, inside the reuse window and still
    /// followed by the successor it rotated into: a second tab or a retry
    /// whose response was lost. Answer as that rotation did.
    Retry,
    /// The current (or retried) token of a session past its absolute
    /// expiry, or idle for the idle timeout: the session is over.
    Expired,
    /// Any other token of a known family has been rotated away before: a
    /// copy is being replayed. End the session for everyone holding it.
    Reused,
    /// No session has this family (never issued, or already ended): nothing
    /// to revoke, so garbage tokens cannot end anyone's session.
    Unknown,
}

pub fn decide(
    stored: Option<&StoredSession>,
    presented: Presented<'_>,
    now: NaiveDateTime,
    policy: Policy,
) -> Decision {
    let Some(stored) = stored else {
        return Decision::Unknown;
    };
    let idle = policy
        .idle_timeout
        .zip(stored.rotated_at)
        .is_some_and(|(timeout, at)| at + timeout <= now);
    let expired = idle || stored.expires_at.is_none_or(|at| at <= now);
    let is_current = stored.current_hash.as_deref() == Some(presented.hash);
    let is_retry = stored.previous_hash.as_deref() == Some(presented.hash)
        && presented.rotates_into(stored.current_hash.as_deref())
        && stored
            .rotated_at
            .is_some_and(|at| at > now - policy.reuse_window);
    if !(is_current || is_retry) {
        Decision::Reused
    } else if expired {
        Decision::Expired
    } else if is_current {
        Decision::Rotate
    } else {
        Decision::Retry
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const OLD: &str = "hash-of-t0";
    const CURRENT: &str = "hash-of-t1";
    const NEXT: &str = "hash-of-t2";

    fn at(secs: i64) -> NaiveDateTime {
        chrono::DateTime::from_timestamp(1_800_000_000 + secs, 0)
            .expect("in range")
            .naive_utc()
    }

    /// A 30-second reuse window, no idle timeout.
    fn window() -> Policy {
        Policy {
            reuse_window: TimeDelta::seconds(30),
            idle_timeout: None,
        }
    }

    /// The 30-second window and a 100-second idle timeout.
    fn idle_after_100s() -> Policy {
        Policy {
            idle_timeout: Some(TimeDelta::seconds(100)),
            ..window()
        }
    }

    /// t0 rotated into t1 at `rotated_at`; the session ends at `expires_at`.
    fn rotated_once(rotated_at: i64, expires_at: i64) -> StoredSession {
        StoredSession {
            current_hash: Some(CURRENT.into()),
            previous_hash: Some(OLD.into()),
            rotated_at: Some(at(rotated_at)),
            expires_at: Some(at(expires_at)),
        }
    }

    fn present<'a>(hash: &'a str, successor_hash: &'a str) -> Presented<'a> {
        Presented {
            hash,
            successor_hash,
            retired_successor_hashes: &[],
        }
    }

    /// t1 (current) presented; its successor would be t2.
    fn current() -> Presented<'static> {
        present(CURRENT, NEXT)
    }

    /// t0 (previous) presented; its successor is t1, the current token.
    fn previous() -> Presented<'static> {
        present(OLD, CURRENT)
    }

    #[test]
    fn no_row_for_the_family_is_unknown() {
        assert_eq!(decide(None, current(), at(0), window()), Decision::Unknown);
    }

    #[test]
    fn the_current_token_of_a_live_session_rotates() {
        let fresh = StoredSession {
            current_hash: Some(CURRENT.into()),
            expires_at: Some(at(100)),
            ..StoredSession::default()
        };
        assert_eq!(
            decide(Some(&fresh), current(), at(0), window()),
            Decision::Rotate
        );
        let stored = rotated_once(-1000, 100);
        assert_eq!(
            decide(Some(&stored), current(), at(99), window()),
            Decision::Rotate
        );
    }

    #[test]
    fn expiry_exactly_now_has_ended_the_session() {
        let stored = rotated_once(0, 100);
        assert_eq!(
            decide(Some(&stored), current(), at(100), window()),
            Decision::Expired
        );
        assert_eq!(
            decide(Some(&stored), current(), at(101), window()),
            Decision::Expired
        );
        let no_expiry = StoredSession {
            expires_at: None,
            ..rotated_once(0, 0)
        };
        assert_eq!(
            decide(Some(&no_expiry), current(), at(1), window()),
            Decision::Expired
        );
    }

    #[test]
    fn the_previous_token_inside_the_window_is_a_retry() {
        let stored = rotated_once(0, 1000);
        for now in [0, 1, 29] {
            assert_eq!(
                decide(Some(&stored), previous(), at(now), window()),
                Decision::Retry,
                "{now}s after the rotation"
            );
        }
    }

    #[test]
    fn the_window_is_open_at_its_start_and_closed_at_its_end() {
        let stored = rotated_once(0, 1000);
        let just_inside = at(30) - TimeDelta::nanoseconds(1);
        assert_eq!(
            decide(Some(&stored), previous(), just_inside, window()),
            Decision::Retry
        );
        assert_eq!(
            decide(Some(&stored), previous(), at(30), window()),
            Decision::Reused
        );
        assert_eq!(
            decide(Some(&stored), previous(), at(31), window()),
            Decision::Reused
        );
    }

    #[test]
    fn a_zero_window_makes_every_reuse_theft() {
        let stored = rotated_once(0, 1000);
        assert_eq!(
            decide(
                Some(&stored),
                previous(),
                at(0),
                Policy {
                    reuse_window: TimeDelta::zero(),
                    ..window()
                }
            ),
            Decision::Reused
        );
    }

    #[test]
    fn a_retry_of_an_expired_session_is_expired_not_theft() {
        let stored = rotated_once(0, 10);
        assert_eq!(
            decide(Some(&stored), previous(), at(10), window()),
            Decision::Expired
        );
    }

    #[test]
    fn a_previous_token_whose_successor_rotated_again_is_reused() {
        // t0 → t1 → t2: t0's successor (t1) is no longer current.
        let stored = StoredSession {
            current_hash: Some(NEXT.into()),
            previous_hash: Some(CURRENT.into()),
            rotated_at: Some(at(0)),
            expires_at: Some(at(1000)),
        };
        assert_eq!(
            decide(Some(&stored), previous(), at(1), window()),
            Decision::Reused
        );
        // A previous hash that matches but whose claimed successor does not.
        let stored = rotated_once(0, 1000);
        assert_eq!(
            decide(Some(&stored), present(OLD, "forged"), at(1), window()),
            Decision::Reused
        );
    }

    #[test]
    fn an_older_or_foreign_token_of_a_known_family_is_reused_even_when_expired() {
        let stored = rotated_once(0, 10);
        for now in [1, 10, 500] {
            assert_eq!(
                decide(
                    Some(&stored),
                    present("hash-of-ancient", OLD),
                    at(now),
                    window()
                ),
                Decision::Reused,
                "at {now}"
            );
        }
    }

    #[test]
    fn a_retry_without_a_rotation_time_is_not_trusted() {
        let stored = StoredSession {
            rotated_at: None,
            ..rotated_once(0, 1000)
        };
        assert_eq!(
            decide(Some(&stored), previous(), at(1), window()),
            Decision::Reused
        );
    }

    #[test]
    fn a_session_idle_for_the_timeout_has_ended_at_its_edge() {
        // Issued at 0, absolute expiry far away.
        let stored = rotated_once(0, 10_000);
        let just_inside = at(100) - TimeDelta::nanoseconds(1);
        assert_eq!(
            decide(Some(&stored), current(), just_inside, idle_after_100s()),
            Decision::Rotate
        );
        for now in [100, 101, 5_000] {
            assert_eq!(
                decide(Some(&stored), current(), at(now), idle_after_100s()),
                Decision::Expired,
                "{now}s after the last refresh"
            );
        }
        // Off: only the absolute expiry counts.
        assert_eq!(
            decide(Some(&stored), current(), at(5_000), window()),
            Decision::Rotate
        );
    }

    #[test]
    fn the_idle_clock_restarts_at_every_rotation_and_never_moves_the_absolute_expiry() {
        // Last rotated at 900: idle until 1000, but the session ends at 950.
        let stored = rotated_once(900, 950);
        assert_eq!(
            decide(Some(&stored), current(), at(949), idle_after_100s()),
            Decision::Rotate
        );
        assert_eq!(
            decide(Some(&stored), current(), at(950), idle_after_100s()),
            Decision::Expired
        );
    }

    #[test]
    fn a_retry_is_never_idle_and_an_idle_session_s_replay_is_still_theft() {
        let stored = rotated_once(0, 10_000);
        assert_eq!(
            decide(Some(&stored), previous(), at(29), idle_after_100s()),
            Decision::Retry
        );
        assert_eq!(
            decide(
                Some(&stored),
                present("hash-of-ancient", OLD),
                at(500),
                idle_after_100s()
            ),
            Decision::Reused
        );
    }

    #[test]
    fn a_session_without_a_recorded_issue_time_is_judged_by_its_absolute_expiry() {
        let stored = StoredSession {
            current_hash: Some(CURRENT.into()),
            expires_at: Some(at(10_000)),
            ..StoredSession::default()
        };
        assert_eq!(
            decide(Some(&stored), current(), at(5_000), idle_after_100s()),
            Decision::Rotate
        );
    }

    #[test]
    fn a_retry_across_a_key_rotation_matches_the_successor_of_the_retired_key() {
        // t0 rotated into t1 under the old key; the new key would give another.
        let stored = rotated_once(0, 1000);
        let retired = [String::from("hash-of-other"), String::from(CURRENT)];
        let across = Presented {
            hash: OLD,
            successor_hash: "hash-of-t1-under-the-new-key",
            retired_successor_hashes: &retired,
        };
        assert_eq!(
            decide(Some(&stored), across, at(1), window()),
            Decision::Retry
        );
        // The old key removed: nothing ties t0 to t1 any more.
        let removed = Presented {
            retired_successor_hashes: &[],
            ..across
        };
        assert_eq!(
            decide(Some(&stored), removed, at(1), window()),
            Decision::Reused
        );
    }
}
