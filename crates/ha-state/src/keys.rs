//! Interned attribute keys: `friendly_name`, `unit_of_measurement` and friends are stored once
//! per store and shared by every entity that has them.

use std::sync::Arc;

use crate::hash::FastSet;
use crate::heap;

/// An attribute key shared between entities.
pub(crate) type Key = Arc<str>;

/// Below this many keys the interner never prunes on its own (real installs use a few hundred).
const MIN_PRUNE_AT: usize = 1024;

/// The set of attribute keys in use.
///
/// Keys no entity uses any more are dropped on every snapshot replace, and also whenever the
/// set has doubled since the last pruning, so integrations that invent keys (ids, timestamps)
/// cannot grow it without bound between snapshots. Amortised, that costs O(1) per new key.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyInterner {
    keys: FastSet<Key>,
    /// Size at which `intern` prunes next (0 = `MIN_PRUNE_AT`).
    prune_at: usize,
}

impl KeyInterner {
    /// The shared copy of `key`, created on first use.
    pub(crate) fn intern(&mut self, key: &str) -> Key {
        if let Some(k) = self.keys.get(key) {
            return Arc::clone(k);
        }
        if self.keys.len() >= self.prune_at.max(MIN_PRUNE_AT) {
            self.prune();
        }
        let k: Key = Arc::from(key);
        self.keys.insert(Arc::clone(&k));
        k
    }

    /// Drops keys no entity uses any more.
    pub(crate) fn prune(&mut self) {
        self.keys.retain(|k| Arc::strong_count(k) > 1);
        self.prune_at = self.keys.len() * 2;
    }

    /// Number of distinct keys held (including unused ones not yet pruned).
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    /// Heap bytes of the set and of every key's text.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap::hash_table::<Key>(self.keys.capacity()) + self.keys.iter().map(|k| heap::arc_str(k)).sum::<usize>()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_text_gives_the_same_allocation() {
        let mut keys = KeyInterner::default();

        let (a, b) = (keys.intern("friendly_name"), keys.intern("friendly_name"));

        assert!(Arc::ptr_eq(&a, &b));
        assert_eq!(keys.len(), 1);
    }

    #[test]
    fn transient_keys_do_not_accumulate_between_snapshots() {
        let mut keys = KeyInterner::default();
        let held: Vec<Key> = (0..10).map(|i| keys.intern(&format!("held_{i}"))).collect();

        for i in 0..100_000 {
            drop(keys.intern(&format!("transient_{i}")));
        }

        assert!(keys.len() <= MIN_PRUNE_AT + 1, "{} keys kept", keys.len());
        assert!(held.iter().all(|k| Arc::ptr_eq(k, &keys.intern(k))));
    }

    #[test]
    fn prune_drops_only_unused_keys() {
        let mut keys = KeyInterner::default();
        let kept = keys.intern("device_class");
        drop(keys.intern("icon"));

        keys.prune();

        assert_eq!(keys.len(), 1);
        assert!(Arc::ptr_eq(&kept, &keys.intern("device_class")));
    }
}
