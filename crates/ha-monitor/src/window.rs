//! Rings of per-interval slots: the sliding-window machinery shared by counters and histograms.
//!
//! A ring of `n` slots of `interval` each holds the last `n` intervals. A writer finds the slot of
//! `now` from the interval number (`epoch = now / interval`) and, when the slot still holds an older
//! epoch, claims it with one compare-and-swap and clears it. So recording never takes a lock; the only
//! wait is a short spin while another writer clears a slot, once per slot per interval.
//!
//! Invariant: a slot's `tag` is `epoch + 1` of the data it holds, `0` when never used, and `RESETTING`
//! while a writer clears it. A writer preempted for a whole ring turn could add one sample into a
//! newer interval; metrics tolerate that.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Millis;

const EMPTY: u64 = 0;
const RESETTING: u64 = u64::MAX;

/// The layout of one ring: `slots` intervals of `interval` each.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct WindowSpec {
    /// Length of one interval (at least 1 ms).
    pub interval: Duration,
    /// How many whole intervals the ring keeps besides the current one.
    pub slots: usize,
}

impl WindowSpec {
    /// A ring of `slots` intervals of `interval_ms` milliseconds.
    pub const fn millis(interval_ms: u64, slots: usize) -> Self {
        Self { interval: Duration::from_millis(interval_ms), slots }
    }

    /// The longest window this ring answers exactly.
    pub fn span(&self) -> Duration {
        self.interval * u32::try_from(self.slots).unwrap_or(u32::MAX)
    }

    fn interval_ms(&self) -> u64 {
        u64::try_from(self.interval.as_millis()).unwrap_or(u64::MAX).max(1)
    }
}

/// Data kept per interval; cleared in place when its slot is reused.
pub(crate) trait SlotData: Send + Sync {
    fn new() -> Self;
    fn clear(&self);
}

#[derive(Debug)]
struct Slot<S> {
    tag: AtomicU64,
    data: S,
}

/// One ring of slots.
#[derive(Debug)]
pub(crate) struct Ring<S> {
    interval_ms: u64,
    spec: WindowSpec,
    slots: Box<[Slot<S>]>,
}

impl<S: SlotData> Ring<S> {
    fn new(spec: WindowSpec) -> Self {
        // One extra slot for the current, partial interval.
        let slots = (0..spec.slots.max(1) + 1).map(|_| Slot { tag: AtomicU64::new(EMPTY), data: S::new() }).collect();
        Self { interval_ms: spec.interval_ms(), spec, slots }
    }

    /// The slot to write into at `now`, claimed and cleared first when it holds an older interval.
    /// `None` when `now` lies before what the ring already holds (a stale clock reading).
    fn current(&self, now: Millis) -> Option<&S> {
        let epoch = now.0 / self.interval_ms;
        let want = epoch + 1;
        let slot = &self.slots[(epoch % self.slots.len() as u64) as usize];
        loop {
            let tag = slot.tag.load(Ordering::Acquire);
            if tag == want {
                return Some(&slot.data);
            }
            if tag == RESETTING {
                std::hint::spin_loop();
                continue;
            }
            if tag > want {
                return None;
            }
            if slot.tag.compare_exchange(tag, RESETTING, Ordering::Acquire, Ordering::Relaxed).is_ok() {
                slot.data.clear();
                slot.tag.store(want, Ordering::Release);
                return Some(&slot.data);
            }
        }
    }

    /// Visits the slots of the current interval and the `k` before it, `k = ceil(window / interval)`
    /// capped at the ring's size. Returns the time they cover: `k` intervals plus the elapsed part of
    /// the current one.
    fn visit(&self, now: Millis, window: Duration, mut f: impl FnMut(&S)) -> Duration {
        let epoch = now.0 / self.interval_ms;
        let window_ms = u64::try_from(window.as_millis()).unwrap_or(u64::MAX);
        let k = window_ms.div_ceil(self.interval_ms).clamp(1, self.spec.slots.max(1) as u64);
        let oldest = epoch.saturating_sub(k);
        for slot in self.slots.iter() {
            let tag = slot.tag.load(Ordering::Acquire);
            if tag != EMPTY && tag != RESETTING && (oldest + 1..=epoch + 1).contains(&tag) {
                f(&slot.data);
            }
        }
        let covered = (epoch - oldest) * self.interval_ms + now.0 % self.interval_ms;
        Duration::from_millis(covered.max(1))
    }
}

/// Several rings of different resolution (e.g. 1 s × 10 and 10 s × 30) written together.
#[derive(Debug)]
pub(crate) struct Rings<S> {
    rings: Vec<Ring<S>>,
}

impl<S: SlotData> Rings<S> {
    pub(crate) fn new(specs: &[WindowSpec]) -> Self {
        let mut specs = specs.to_vec();
        specs.sort_by_key(|s| s.interval);
        Self { rings: specs.into_iter().map(Ring::new).collect() }
    }

    /// Calls `f` on the current slot of every ring.
    #[inline]
    pub(crate) fn each_current(&self, now: Millis, mut f: impl FnMut(&S)) {
        for ring in &self.rings {
            if let Some(slot) = ring.current(now) {
                f(slot);
            }
        }
    }

    /// Visits the slots covering `window` in the finest ring long enough for it (the longest ring
    /// when none is); returns the covered time, or `None` when there are no rings.
    pub(crate) fn visit(&self, now: Millis, window: Duration, f: impl FnMut(&S)) -> Option<Duration> {
        let ring = self.rings.iter().find(|r| r.spec.span() >= window).or(self.rings.last())?;
        Some(ring.visit(now, window, f))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug)]
    struct Cell(AtomicU64);

    impl SlotData for Cell {
        fn new() -> Self {
            Self(AtomicU64::new(0))
        }
        fn clear(&self) {
            self.0.store(0, Ordering::Relaxed);
        }
    }

    fn add(rings: &Rings<Cell>, now: u64, n: u64) {
        rings.each_current(Millis(now), |c| {
            c.0.fetch_add(n, Ordering::Relaxed);
        });
    }

    fn sum(rings: &Rings<Cell>, now: u64, window: Duration) -> (u64, Duration) {
        let mut total = 0;
        let covered = rings.visit(Millis(now), window, |c| total += c.0.load(Ordering::Relaxed)).unwrap();
        (total, covered)
    }

    #[test]
    fn window_includes_current_partial_and_whole_previous_intervals() {
        let rings = Rings::new(&[WindowSpec::millis(1000, 3)]);
        add(&rings, 500, 1); // epoch 0: out of the window at t = 3500
        add(&rings, 1500, 10); // epoch 1
        add(&rings, 3200, 100); // epoch 3

        let (total, covered) = sum(&rings, 3500, Duration::from_secs(2));

        assert_eq!(total, 110);
        assert_eq!(covered, Duration::from_millis(2500));
    }

    #[test]
    fn reused_slot_forgets_its_old_interval() {
        let rings = Rings::new(&[WindowSpec::millis(1000, 2)]);
        add(&rings, 100, 7); // epoch 0, slot 0
        add(&rings, 3100, 1); // epoch 3, slot 0 again

        let (total, _) = sum(&rings, 3100, Duration::from_secs(2));

        assert_eq!(total, 1);
    }

    #[test]
    fn write_older_than_the_ring_is_dropped() {
        let rings = Rings::new(&[WindowSpec::millis(1000, 1)]);
        add(&rings, 2100, 1); // epoch 2, slot 0

        add(&rings, 100, 5); // epoch 0 also maps to slot 0 but is older

        assert_eq!(sum(&rings, 2100, Duration::from_secs(1)).0, 1);
    }

    #[test]
    fn query_uses_finest_ring_long_enough() {
        let rings = Rings::new(&[WindowSpec::millis(10_000, 30), WindowSpec::millis(1000, 10)]);
        add(&rings, 1_000, 1);
        add(&rings, 55_000, 2);

        let short = sum(&rings, 55_000, Duration::from_secs(10));
        let long = sum(&rings, 55_000, Duration::from_secs(300));

        assert_eq!((short.0, long.0), (2, 3));
        assert_eq!(short.1, Duration::from_millis(10_000));
        assert_eq!(long.1, Duration::from_millis(55_000));
    }
}
