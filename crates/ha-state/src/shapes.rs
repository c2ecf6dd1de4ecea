//! Interned attribute key lists ("shapes"): the keys of an entity in their order, shared by
//! every entity that has exactly these keys in this order.
//!
//! Entities of one integration carry the same attributes in the same order (a Hue light:
//! `min_color_temp_kelvin`, ..., `friendly_name`, `supported_features`), so a store of 16,384
//! entities needs a few hundred lists. Held per entity, a list cost one heap block of 24 bytes
//! per key (a pointer to the interned key and the end of its value), one `malloc` per entity of a
//! snapshot and one more block to fetch for each change; interned, it costs one pointer in the
//! entry and one hash lookup per entity of a snapshot, which also replaces the lookup per key
//! that interning keys alone took.

use std::hash::{BuildHasher, Hasher};
use std::sync::Arc;

use hashbrown::HashTable;

use crate::heap;
use crate::keys::{Key, KeyInterner};

/// An entity's attribute keys in received order, all different.
pub(crate) type Shape = Arc<[Key]>;

/// Below this many shapes the set never prunes on its own.
const MIN_PRUNE_AT: usize = 256;

/// The shapes in use, and the keys they are made of.
///
/// Shapes no entity uses any more are dropped with the keys on every snapshot replace, and
/// whenever the set has doubled since the last pruning, so entities whose keys keep changing
/// cannot grow it without bound between snapshots.
#[derive(Clone, Default)]
pub(crate) struct Shapes {
    table: HashTable<Shape>,
    keys: KeyInterner,
    /// Size at which `intern` prunes next (0 = `MIN_PRUNE_AT`).
    prune_at: usize,
}

/// The hash of a key list, the same for its texts and for its interned keys.
fn hash<'k>(keys: impl Iterator<Item = &'k str>) -> u64 {
    let mut hasher = foldhash::fast::FixedState::default().build_hasher();
    for key in keys {
        hasher.write(key.as_bytes());
        // Keys are JSON strings decoded to UTF-8: 0xff never occurs in one, so `ab`,`c` and
        // `a`,`bc` hash apart.
        hasher.write_u8(0xff);
    }
    hasher.finish()
}

impl Shapes {
    /// The shape of `keys` (in this order), created on first use; `None` when a key repeats.
    pub(crate) fn intern<'k>(&mut self, keys: impl Iterator<Item = &'k str> + Clone) -> Option<Shape> {
        let h = hash(keys.clone());
        let len = keys.clone().count();
        let same = |shape: &Shape| shape.len() == len && shape.iter().zip(keys.clone()).all(|(a, b)| **a == *b);
        if let Some(shape) = self.table.find(h, same) {
            return Some(Arc::clone(shape));
        }
        let mut texts = Vec::with_capacity(len);
        texts.extend(keys);
        if texts.iter().enumerate().any(|(at, k)| texts[..at].contains(k)) {
            return None;
        }
        if self.table.len() >= self.prune_at.max(MIN_PRUNE_AT) {
            self.prune();
        }
        let shape: Shape = texts.iter().map(|k| self.keys.intern(k)).collect();
        self.table.insert_unique(h, Arc::clone(&shape), |s| hash(s.iter().map(|k| &**k)));
        Some(shape)
    }

    /// The shape of `shape`'s keys followed by `key` (not among them).
    pub(crate) fn with(&mut self, shape: &[Key], key: &str) -> Shape {
        let keys = shape.iter().map(|k| &**k).chain(std::iter::once(key));
        self.intern(keys).expect("the key is new to the shape")
    }

    /// The shape of `shape`'s keys but the one at `at`.
    pub(crate) fn without(&mut self, shape: &[Key], at: usize) -> Shape {
        let keys = shape.iter().enumerate().filter(|&(i, _)| i != at).map(|(_, k)| &**k);
        self.intern(keys).expect("a shape's keys are unique")
    }

    /// Drops the shapes no entity uses, then the keys no shape uses.
    pub(crate) fn prune(&mut self) {
        self.table.retain(|shape| Arc::strong_count(shape) > 1);
        self.keys.prune();
        self.prune_at = self.table.len() * 2;
    }

    /// Number of distinct keys held (including unused ones not yet pruned).
    pub(crate) fn key_count(&self) -> usize {
        self.keys.len()
    }

    /// Heap of the set, of every shape's list and of the keys.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap::hash_table::<Shape>(self.table.capacity())
            + self.table.iter().map(|shape| heap::block(16 + shape.len() * size_of::<Key>())).sum::<usize>()
            + self.keys.heap_bytes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn intern(shapes: &mut Shapes, keys: &[&str]) -> Option<Shape> {
        shapes.intern(keys.iter().copied())
    }

    #[test]
    fn the_same_keys_in_the_same_order_share_one_shape() {
        let mut shapes = Shapes::default();

        let (a, b) = (intern(&mut shapes, &["a", "b"]).unwrap(), intern(&mut shapes, &["a", "b"]).unwrap());

        assert!(Arc::ptr_eq(&a, &b));
    }

    #[test]
    fn another_order_or_another_split_is_another_shape() {
        let mut shapes = Shapes::default();
        let ab = intern(&mut shapes, &["a", "b"]).unwrap();

        let others = [intern(&mut shapes, &["b", "a"]).unwrap(), intern(&mut shapes, &["ab"]).unwrap()];

        assert!(others.iter().all(|s| !Arc::ptr_eq(s, &ab)));
    }

    #[test]
    fn a_repeated_key_has_no_shape() {
        let mut shapes = Shapes::default();

        let shape = intern(&mut shapes, &["a", "b", "a"]);

        assert!(shape.is_none());
    }

    #[test]
    fn adding_and_removing_a_key_give_the_shapes_of_those_lists() {
        let mut shapes = Shapes::default();
        let ab = intern(&mut shapes, &["a", "b"]).unwrap();

        let (abc, b) = (shapes.with(&ab, "c"), shapes.without(&ab, 0));

        assert!(Arc::ptr_eq(&abc, &intern(&mut shapes, &["a", "b", "c"]).unwrap()));
        assert!(Arc::ptr_eq(&b, &intern(&mut shapes, &["b"]).unwrap()));
    }

    #[test]
    fn prune_drops_the_unused_shapes_and_their_keys() {
        let mut shapes = Shapes::default();
        let kept = intern(&mut shapes, &["a"]).unwrap();
        drop(intern(&mut shapes, &["b", "c"]));

        shapes.prune();

        assert_eq!((shapes.table.len(), shapes.key_count()), (1, 1));
        assert!(Arc::ptr_eq(&kept, &intern(&mut shapes, &["a"]).unwrap()));
    }

    #[test]
    fn shapes_that_keep_changing_do_not_accumulate() {
        let mut shapes = Shapes::default();

        for i in 0..10_000 {
            drop(intern(&mut shapes, &["friendly_name", &format!("transient_{i}")]));
        }

        assert!(shapes.table.len() <= MIN_PRUNE_AT + 1, "{} shapes kept", shapes.table.len());
    }
}
