//! The size bound of the per-worker maps whose entries expire by time
//! (src/session/verified.rs, src/relay/token_cache.rs): when a new key
//! finds the map full, expired entries go first and, if that frees
//! nothing, all of them. Clearing is cheaper than tracking age order, and
//! refilling costs only the work these maps exist to save.

use std::{borrow::Borrow, collections::HashMap, hash::Hash};

/// Makes room for `key` in a map of at most `max` entries; `live` tells an
/// entry worth keeping. False when the map may hold nothing (`max == 0`).
pub fn make_room<K, V, Q>(
    map: &mut HashMap<K, V>,
    max: usize,
    key: &Q,
    live: impl Fn(&V) -> bool,
) -> bool
where
    K: Borrow<Q> + Hash + Eq,
    Q: Hash + Eq + ?Sized,
{
    if max == 0 {
        return false;
    }
    if map.len() >= max && !map.contains_key(key) {
        map.retain(|_, value| live(value));
        if map.len() >= max {
            map.clear();
        }
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_full_map_drops_dead_entries_first_then_everything() {
        let mut map = HashMap::from([(1, true), (2, false)]);
        assert!(make_room(&mut map, 2, &3, |live| *live));
        assert_eq!(map, HashMap::from([(1, true)]));
        map.insert(3, true);
        assert!(make_room(&mut map, 2, &4, |live| *live));
        assert!(map.is_empty(), "nothing was dead: start over");
    }

    #[test]
    fn replacing_a_key_needs_no_room_and_a_zero_bound_keeps_nothing() {
        let mut map = HashMap::from([(1, false), (2, false)]);
        assert!(make_room(&mut map, 2, &1, |live| *live));
        assert_eq!(map.len(), 2, "the key replaces its own entry");
        assert!(!make_room(&mut HashMap::<i32, bool>::new(), 0, &1, |_| {
            true
        }));
    }
}
