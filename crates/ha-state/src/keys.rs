//! Interned attribute keys: `friendly_name`, `unit_of_measurement` and friends are stored once
//! per store and shared by every entity that has them.

use std::sync::Arc;

use crate::hash::FastSet;
use crate::heap;

/// An attribute key shared between entities.
pub(crate) type Key = Arc<str>;

/// The set of attribute keys in use.
#[derive(Debug, Clone, Default)]
pub(crate) struct KeyInterner {
    keys: FastSet<Key>,
}

impl KeyInterner {
    /// The shared copy of `key`, created on first use.
    pub(crate) fn intern(&mut self, key: &str) -> Key {
        if let Some(k) = self.keys.get(key) {
            return Arc::clone(k);
        }
        let k: Key = Arc::from(key);
        self.keys.insert(Arc::clone(&k));
        k
    }

    /// Drops keys no entity uses any more.
    pub(crate) fn prune(&mut self) {
        self.keys.retain(|k| Arc::strong_count(k) > 1);
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
    fn prune_drops_only_unused_keys() {
        let mut keys = KeyInterner::default();
        let kept = keys.intern("device_class");
        drop(keys.intern("icon"));

        keys.prune();

        assert_eq!(keys.len(), 1);
        assert!(Arc::ptr_eq(&kept, &keys.intern("device_class")));
    }
}
