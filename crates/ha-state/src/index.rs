//! The store's index from entity id to slot: an open-addressing table of 8-byte buckets.
//!
//! Why not a `HashMap<EntityId, u32>`: a lookup there is three dependent cache misses when the
//! mirror is cold (a control group, a 24-byte bucket, then the id's text), and a frame of 50
//! coalesced changes pays them one change after another. Here a bucket is a 32-bit tag of the
//! id's hash and the slot, so the table is a third of the size, the bucket an id lands in is
//! known from its hash alone, and [`EntityStore::prefetch`](crate::EntityStore::prefetch) can
//! ask for every bucket of a frame at once, then every entry, before anything is applied.
//!
//! The table does not hold the ids: a tag match is confirmed by the caller, who compares the id
//! with the slot's entry. Linear probing, at most 70% full, with backward-shift deletion (no
//! tombstones), so a lookup stops at the first empty bucket.

use std::hash::BuildHasher;

/// The bucket of an empty place. A full bucket holds `tag << 32 | (slot + 1)`, never 0.
const EMPTY: u64 = 0;

/// Tag of an id: the high half of its hash (foldhash's fixed seed, as the store's maps). The
/// bucket it starts at is its low bits, so the table can grow without the ids.
pub(crate) fn tag(id: &str) -> u32 {
    (foldhash::fast::FixedState::default().hash_one(id) >> 32) as u32
}

#[derive(Clone, Default)]
pub(crate) struct IdIndex {
    /// A power of two in length, or empty.
    buckets: Vec<u64>,
    len: usize,
}

impl IdIndex {
    pub(crate) fn len(&self) -> usize {
        self.len
    }

    pub(crate) fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Number of buckets (for the heap estimate).
    pub(crate) fn buckets(&self) -> usize {
        self.buckets.len()
    }

    fn mask(&self) -> usize {
        self.buckets.len().wrapping_sub(1)
    }

    /// The bucket where a search for `tag` starts; `None` while the table is empty.
    pub(crate) fn home(&self, tag: u32) -> Option<&u64> {
        self.buckets.get(tag as usize & self.mask())
    }

    /// The bucket holding the slot `is` confirms among those tagged `tag`.
    fn position(&self, tag: u32, mut is: impl FnMut(u32) -> bool) -> Option<usize> {
        let mask = self.mask();
        let mut at = tag as usize & mask;
        loop {
            let bucket = *self.buckets.get(at)?;
            if bucket == EMPTY {
                return None;
            }
            if (bucket >> 32) as u32 == tag && is(bucket as u32 - 1) {
                return Some(at);
            }
            at = (at + 1) & mask;
        }
    }

    /// The slot whose id `is` confirms, among those tagged `tag`.
    pub(crate) fn find(&self, tag: u32, is: impl FnMut(u32) -> bool) -> Option<u32> {
        self.position(tag, is).map(|at| self.buckets[at] as u32 - 1)
    }

    /// The first slot tagged `tag`, unconfirmed: almost always the one searched for, which is
    /// all a prefetch needs.
    pub(crate) fn first_candidate(&self, tag: u32) -> Option<u32> {
        self.find(tag, |_| true)
    }

    /// Room for `additional` more ids without growing.
    pub(crate) fn reserve(&mut self, additional: usize) {
        let wanted = self.len.saturating_add(additional);
        if wanted > max_len(self.buckets.len()) {
            let mut buckets = self.buckets.len().max(16);
            while wanted > max_len(buckets) {
                buckets *= 2;
            }
            self.rebuild(buckets);
        }
    }

    /// Adds `slot` under `tag`. The caller guarantees that no slot of the same id is indexed.
    ///
    /// # Panics
    /// When `slot` is `u32::MAX` (the store never has that many entities).
    pub(crate) fn insert(&mut self, tag: u32, slot: u32) {
        self.reserve(1);
        let stored = slot.checked_add(1).expect("fewer than 2^32 - 1 slots");
        let bucket = (u64::from(tag) << 32) | u64::from(stored);
        self.place(bucket);
        self.len += 1;
    }

    /// Removes the bucket of the slot `is` confirms among those tagged `tag`; returns that slot.
    pub(crate) fn remove(&mut self, tag: u32, is: impl FnMut(u32) -> bool) -> Option<u32> {
        let at = self.position(tag, is)?;
        let slot = self.buckets[at] as u32 - 1;
        let mask = self.mask();
        // Backward shift: move later buckets of the run into the hole when that does not put
        // them before their home, so that every search still reaches them before an empty one.
        let mut hole = at;
        let mut next = (hole + 1) & mask;
        while self.buckets[next] != EMPTY {
            let home = (self.buckets[next] >> 32) as usize & mask;
            if next.wrapping_sub(home) & mask >= next.wrapping_sub(hole) & mask {
                self.buckets[hole] = self.buckets[next];
                hole = next;
            }
            next = (next + 1) & mask;
        }
        self.buckets[hole] = EMPTY;
        self.len -= 1;
        Some(slot)
    }

    /// Every indexed slot, in no particular order.
    #[cfg(test)]
    pub(crate) fn slots(&self) -> impl Iterator<Item = u32> + '_ {
        self.buckets.iter().filter(|&&b| b != EMPTY).map(|&b| b as u32 - 1)
    }

    fn rebuild(&mut self, buckets: usize) {
        let old = std::mem::replace(&mut self.buckets, vec![EMPTY; buckets]);
        for bucket in old.into_iter().filter(|&b| b != EMPTY) {
            self.place(bucket);
        }
    }

    /// Writes a full bucket into the first empty place from its home on.
    fn place(&mut self, bucket: u64) {
        let mask = self.mask();
        let mut at = (bucket >> 32) as usize & mask;
        while self.buckets[at] != EMPTY {
            at = (at + 1) & mask;
        }
        self.buckets[at] = bucket;
    }
}

/// Ids a table of `buckets` holds before it grows: 70% of its buckets.
fn max_len(buckets: usize) -> usize {
    buckets / 10 * 7 + buckets % 10 * 7 / 10
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use proptest::prelude::*;

    use super::*;

    /// An index over ids kept beside it, as the store keeps them in its entries.
    #[derive(Default)]
    struct Model {
        index: IdIndex,
        ids: Vec<Option<String>>,
    }

    impl Model {
        fn get(&self, id: &str) -> Option<u32> {
            self.index.find(tag(id), |slot| self.ids[slot as usize].as_deref() == Some(id))
        }

        fn insert(&mut self, id: &str) -> u32 {
            let slot = self.ids.len() as u32;
            self.ids.push(Some(id.to_owned()));
            self.index.insert(tag(id), slot);
            slot
        }

        fn remove(&mut self, id: &str) -> Option<u32> {
            let ids = &self.ids;
            let slot = self.index.remove(tag(id), |slot| ids[slot as usize].as_deref() == Some(id))?;
            self.ids[slot as usize] = None;
            Some(slot)
        }
    }

    #[test]
    fn an_empty_index_finds_nothing_and_removes_nothing() {
        let mut model = Model::default();

        let (found, removed) = (model.get("light.a"), model.remove("light.a"));

        assert_eq!((found, removed), (None, None));
    }

    #[test]
    fn ids_sharing_a_tag_are_told_apart_by_the_caller() {
        // Arrange: two ids forced under one tag, as a hash collision would put them.
        let mut index = IdIndex::default();
        let ids = ["light.a", "light.b"];
        index.insert(7, 0);
        index.insert(7, 1);

        // Act
        let found: Vec<_> = ids.iter().map(|id| index.find(7, |slot| ids[slot as usize] == *id)).collect();

        // Assert
        assert_eq!(found, [Some(0), Some(1)]);
    }

    #[test]
    fn removing_from_the_middle_of_a_run_keeps_the_rest_reachable() {
        // Arrange: three ids with the same home bucket, so they form one probe run.
        let mut index = IdIndex::default();
        let ids = ["a.a", "a.b", "a.c"];
        for slot in 0..3 {
            index.insert(3, slot);
        }

        // Act
        let removed = index.remove(3, |slot| ids[slot as usize] == "a.a");

        // Assert
        assert_eq!(removed, Some(0));
        let found: Vec<_> = ids[1..].iter().map(|id| index.find(3, |slot| ids[slot as usize] == *id)).collect();
        assert_eq!(found, [Some(1), Some(2)]);
    }

    #[test]
    fn the_table_grows_before_it_is_70_percent_full() {
        let mut model = Model::default();

        for i in 0..1000 {
            model.insert(&format!("sensor.s{i}"));
        }

        assert_eq!(model.index.len(), 1000);
        assert!(model.index.buckets() * 7 >= 1000 * 10, "{} buckets", model.index.buckets());
    }

    proptest! {
        #[test]
        fn agrees_with_a_hash_map_under_any_inserts_and_removes(
            ops in prop::collection::vec((any::<bool>(), 0u8..40), 0..400),
        ) {
            // Arrange
            let mut model = Model::default();
            let mut oracle: HashMap<String, u32> = HashMap::new();

            // Act
            for (insert, n) in ops {
                let id = format!("switch.s{n}");
                if insert && !oracle.contains_key(&id) {
                    oracle.insert(id.clone(), model.insert(&id));
                } else if !insert {
                    prop_assert_eq!(model.remove(&id), oracle.remove(&id));
                }
            }

            // Assert
            prop_assert_eq!(model.index.len(), oracle.len());
            for n in 0u8..40 {
                let id = format!("switch.s{n}");
                prop_assert_eq!(model.get(&id), oracle.get(&id).copied());
            }
        }

        #[test]
        fn a_full_run_of_one_home_survives_any_removals(order in Just((0u32..24).collect::<Vec<_>>()).prop_shuffle()) {
            // Arrange: 24 slots under tags that share the low bits, so they crowd one run and wrap.
            let mut index = IdIndex::default();
            index.reserve(24);
            let tags: Vec<u32> = (0..24u32).map(|i| (i << 16) | 0xfffe).collect();
            for (slot, &t) in tags.iter().enumerate() {
                index.insert(t, slot as u32);
            }

            // Act / Assert: after each removal every remaining slot is still found.
            let mut left: Vec<u32> = (0..24).collect();
            for victim in order {
                prop_assert_eq!(index.remove(tags[victim as usize], |s| s == victim), Some(victim));
                left.retain(|&s| s != victim);
                for &s in &left {
                    prop_assert_eq!(index.find(tags[s as usize], |c| c == s), Some(s));
                }
            }
        }
    }
}
