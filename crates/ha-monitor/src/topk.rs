//! Bounded "heavy hitter" summaries: the chattiest entities and domains without an unbounded map.
//!
//! [`SpaceSaving`] is Metwally et al.'s space-saving algorithm: `capacity` counters; a new key
//! evicts the smallest counter and inherits its count as an error bound. Any key whose true count
//! exceeds `total / capacity` is guaranteed to be present, and every reported count over-estimates
//! the truth by at most its `error`. The minimum is found through an indexed min-heap, so each
//! observation costs one hash lookup and O(log capacity) swaps, and no allocation once a slot's
//! key buffer is large enough. Keys are identified by their 64-bit hash: among a few hundred
//! kept keys a collision (which would merge two keys' counts) is vanishingly unlikely.

use std::collections::HashMap;
use std::time::Duration;

use crate::Millis;
use crate::hash::{HashBuild, hash_str};

/// One reported heavy hitter.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TopEntry {
    /// The key, e.g. an entity id or a domain.
    pub key: String,
    /// Estimated count (never below the true count).
    pub count: u64,
    /// How much of `count` may be over-estimate (`count - error` is a lower bound).
    pub error: u64,
}

#[derive(Debug)]
struct Slot {
    key: String,
    hash: u64,
    count: u64,
    error: u64,
}

/// The space-saving summary over a stream of keys.
#[derive(Debug)]
pub struct SpaceSaving {
    capacity: usize,
    index: HashMap<u64, usize, HashBuild>,
    slots: Vec<Slot>,
    heap: Vec<usize>, // slot ids, min-heap by count
    pos: Vec<usize>,  // slot id -> position in heap
    total: u64,
}

impl SpaceSaving {
    /// A summary keeping at most `capacity` (at least 1) counters.
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.max(1);
        Self {
            capacity,
            index: HashMap::with_capacity_and_hasher(capacity, HashBuild::default()),
            slots: Vec::with_capacity(capacity),
            heap: Vec::with_capacity(capacity),
            pos: Vec::with_capacity(capacity),
            total: 0,
        }
    }

    /// Counts `n` occurrences of `key`.
    pub fn observe(&mut self, key: &str, n: u64) {
        self.total += n;
        let hash = hash_str(key);
        if let Some(&id) = self.index.get(&hash) {
            self.slots[id].count += n;
            self.sift_down(self.pos[id]);
        } else if self.slots.len() < self.capacity {
            let id = self.slots.len();
            self.slots.push(Slot { key: key.to_owned(), hash, count: n, error: 0 });
            self.index.insert(hash, id);
            self.heap.push(id);
            self.pos.push(self.heap.len() - 1);
            self.sift_up(self.heap.len() - 1);
        } else {
            let id = self.heap[0];
            let slot = &mut self.slots[id];
            self.index.remove(&slot.hash);
            slot.key.clear();
            slot.key.push_str(key);
            slot.hash = hash;
            slot.error = slot.count;
            slot.count += n;
            self.index.insert(hash, id);
            self.sift_down(0);
        }
    }

    /// Sum of all observations.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// Counters held now.
    pub fn len(&self) -> usize {
        self.slots.len()
    }

    /// Whether nothing was observed.
    pub fn is_empty(&self) -> bool {
        self.slots.is_empty()
    }

    /// The `k` largest counters, largest first (ties by key).
    pub fn top(&self, k: usize) -> Vec<TopEntry> {
        let mut all: Vec<TopEntry> =
            self.slots.iter().map(|s| TopEntry { key: s.key.to_string(), count: s.count, error: s.error }).collect();
        all.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        all.truncate(k);
        all
    }

    /// Forgets everything, keeping the allocations.
    pub fn clear(&mut self) {
        self.index.clear();
        self.slots.clear();
        self.heap.clear();
        self.pos.clear();
        self.total = 0;
    }

    fn count_at(&self, heap_pos: usize) -> u64 {
        self.slots[self.heap[heap_pos]].count
    }

    fn swap(&mut self, a: usize, b: usize) {
        self.heap.swap(a, b);
        self.pos[self.heap[a]] = a;
        self.pos[self.heap[b]] = b;
    }

    fn sift_up(&mut self, mut i: usize) {
        while i > 0 {
            let parent = (i - 1) / 2;
            if self.count_at(i) >= self.count_at(parent) {
                break;
            }
            self.swap(i, parent);
            i = parent;
        }
    }

    fn sift_down(&mut self, mut i: usize) {
        loop {
            let (l, r) = (2 * i + 1, 2 * i + 2);
            let mut smallest = i;
            if l < self.heap.len() && self.count_at(l) < self.count_at(smallest) {
                smallest = l;
            }
            if r < self.heap.len() && self.count_at(r) < self.count_at(smallest) {
                smallest = r;
            }
            if smallest == i {
                return;
            }
            self.swap(i, smallest);
            i = smallest;
        }
    }
}

/// Heavy hitters of roughly the last one to two intervals: two [`SpaceSaving`] summaries, the
/// current interval's and the previous one's, merged on read.
#[derive(Debug)]
pub struct WindowedTopK {
    interval_ms: u64,
    epoch: u64,
    current: SpaceSaving,
    previous: SpaceSaving,
}

/// A heavy hitter with its rate over the covered time.
#[derive(Debug, Clone, PartialEq)]
pub struct TopRate {
    /// The key.
    pub key: String,
    /// Estimated count in the covered time.
    pub count: u64,
    /// `count` per second of covered time.
    pub per_second: f64,
}

impl WindowedTopK {
    /// Summaries of `capacity` counters rotated every `interval`.
    pub fn new(capacity: usize, interval: Duration) -> Self {
        Self {
            interval_ms: u64::try_from(interval.as_millis()).unwrap_or(u64::MAX).max(1),
            epoch: 0,
            current: SpaceSaving::new(capacity),
            previous: SpaceSaving::new(capacity),
        }
    }

    fn rotate(&mut self, now: Millis) {
        let epoch = now.0 / self.interval_ms;
        if epoch <= self.epoch {
            return;
        }
        std::mem::swap(&mut self.current, &mut self.previous);
        self.current.clear();
        if epoch != self.epoch + 1 {
            self.previous.clear();
        }
        self.epoch = epoch;
    }

    /// Counts one occurrence of `key` at `now`.
    pub fn observe(&mut self, key: &str, now: Millis) {
        self.rotate(now);
        self.current.observe(key, 1);
    }

    /// The `k` keys with the highest counts over the previous and the current interval, with their
    /// rate per second over that time (at least one second).
    pub fn top(&mut self, k: usize, now: Millis) -> Vec<TopRate> {
        self.rotate(now);
        let mut merged: HashMap<&str, u64> = HashMap::new();
        for s in self.previous.slots.iter().chain(self.current.slots.iter()) {
            *merged.entry(&s.key).or_default() += s.count;
        }
        // Covered: the previous interval and the elapsed part of this one, no more than the time since
        // start, and at least a second so that the first events are not read as a huge rate.
        let covered_ms = (self.interval_ms + now.0 % self.interval_ms).min(now.0).max(1000);
        let secs = covered_ms as f64 / 1000.0;
        let mut out: Vec<TopRate> = merged
            .into_iter()
            .map(|(key, count)| TopRate { key: key.to_string(), count, per_second: count as f64 / secs })
            .collect();
        out.sort_by(|a, b| b.count.cmp(&a.count).then_with(|| a.key.cmp(&b.key)));
        out.truncate(k);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn below_capacity_counts_are_exact() {
        let mut s = SpaceSaving::new(4);

        for key in ["a", "b", "a", "c", "a", "b"] {
            s.observe(key, 1);
        }

        let top = s.top(2);
        assert_eq!(top[0], TopEntry { key: "a".into(), count: 3, error: 0 });
        assert_eq!(top[1], TopEntry { key: "b".into(), count: 2, error: 0 });
    }

    #[test]
    fn new_key_evicts_the_smallest_and_inherits_its_count_as_error() {
        let mut s = SpaceSaving::new(2);
        s.observe("a", 5);
        s.observe("b", 2);

        s.observe("c", 1);

        assert_eq!(
            s.top(2),
            vec![TopEntry { key: "a".into(), count: 5, error: 0 }, TopEntry { key: "c".into(), count: 3, error: 2 },]
        );
    }

    #[test]
    fn windowed_top_forgets_intervals_older_than_the_previous_one() {
        let mut w = WindowedTopK::new(8, Duration::from_secs(10));
        w.observe("old", Millis(1_000));
        w.observe("recent", Millis(12_000));
        w.observe("recent", Millis(21_000));

        let top = w.top(5, Millis(25_000));

        assert_eq!(top.len(), 1);
        assert_eq!((top[0].key.as_str(), top[0].count), ("recent", 2));
        assert_eq!(top[0].per_second, 2.0 / 15.0);
    }

    proptest! {
        #[test]
        fn heavy_hitters_are_kept_and_counts_bound_the_truth(keys in proptest::collection::vec(0u8..40, 1..2000)) {
            // arrange
            let mut s = SpaceSaving::new(10);
            let mut truth: HashMap<String, u64> = HashMap::new();

            // act
            for k in &keys {
                let key = format!("sensor.e{k}");
                s.observe(&key, 1);
                *truth.entry(key).or_default() += 1;
            }

            // assert
            let top = s.top(10);
            for e in &top {
                let t = truth[&e.key];
                prop_assert!(e.count >= t && e.count - e.error <= t);
            }
            let threshold = keys.len() as u64 / 10;
            for (key, &t) in &truth {
                if t > threshold {
                    prop_assert!(top.iter().any(|e| &e.key == key), "{} with {} missing", key, t);
                }
            }
        }
    }
}
