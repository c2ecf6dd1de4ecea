//! Counters with per-interval rings (for rates and increases over windows) and gauges.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use crate::Millis;
use crate::window::{Rings, SlotData, WindowSpec};

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

/// Default rings of a counter: 1 s × 10, 10 s × 30 (5 min) and 1 min × 60 (1 h).
pub const DEFAULT_COUNTER_WINDOWS: [WindowSpec; 3] =
    [WindowSpec::millis(1000, 10), WindowSpec::millis(10_000, 30), WindowSpec::millis(60_000, 60)];

/// A monotonically increasing count that also knows its recent increase per window.
#[derive(Debug)]
pub struct Counter {
    total: AtomicU64,
    rings: Rings<Cell>,
}

impl Counter {
    /// A counter with the given rings (see [`DEFAULT_COUNTER_WINDOWS`]).
    pub fn new(windows: &[WindowSpec]) -> Self {
        Self { total: AtomicU64::new(0), rings: Rings::new(windows) }
    }

    /// Adds `n` at `now`.
    #[inline]
    pub fn add(&self, n: u64, now: Millis) {
        self.total.fetch_add(n, Ordering::Relaxed);
        self.rings.each_current(now, |c| {
            c.0.fetch_add(n, Ordering::Relaxed);
        });
    }

    /// Adds one at `now`.
    #[inline]
    pub fn inc(&self, now: Millis) {
        self.add(1, now);
    }

    /// Everything added since creation.
    pub fn total(&self) -> u64 {
        self.total.load(Ordering::Relaxed)
    }

    /// What was added during the last `window` (whole intervals plus the current partial one),
    /// and the time that covers.
    pub fn increase(&self, now: Millis, window: Duration) -> (u64, Duration) {
        let mut sum = 0;
        let covered = self.rings.visit(now, window, |c| sum += c.0.load(Ordering::Relaxed));
        (sum, covered.unwrap_or(window))
    }

    /// Average increase per second over the last `window`. The covered time counts as at least one
    /// second, so a burst in the first milliseconds after start is not read as a huge rate.
    pub fn rate(&self, now: Millis, window: Duration) -> f64 {
        let (sum, covered) = self.increase(now, window);
        sum as f64 / covered.as_secs_f64().max(1.0)
    }
}

impl Default for Counter {
    fn default() -> Self {
        Self::new(&DEFAULT_COUNTER_WINDOWS)
    }
}

/// A value that goes up and down (stored as `f64` bits in one atomic).
#[derive(Debug, Default)]
pub struct Gauge(AtomicU64);

impl Gauge {
    /// Sets the value.
    #[inline]
    pub fn set(&self, v: f64) {
        self.0.store(v.to_bits(), Ordering::Relaxed);
    }

    /// Adds `d` (may be negative).
    pub fn add(&self, d: f64) {
        let _ = self
            .0
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| Some((f64::from_bits(bits) + d).to_bits()));
    }

    /// The current value.
    pub fn get(&self) -> f64 {
        f64::from_bits(self.0.load(Ordering::Relaxed))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rate_divides_the_window_increase_by_the_covered_time() {
        let c = Counter::default();
        for t in 0..10 {
            c.add(5, Millis(10_000 + t * 1000));
        }

        let rate = c.rate(Millis(20_000), Duration::from_secs(10));

        assert_eq!(rate, 5.0);
        assert_eq!(c.total(), 50);
    }

    #[test]
    fn rate_right_after_start_divides_by_at_least_one_second() {
        let c = Counter::default();
        c.add(50, Millis(0));

        let rate = c.rate(Millis(0), Duration::from_secs(10));

        assert_eq!(rate, 50.0);
    }

    #[test]
    fn increase_over_an_hour_uses_the_minute_ring() {
        let c = Counter::default();
        c.inc(Millis(60_000));
        c.inc(Millis(1_800_000));

        let (n, covered) = c.increase(Millis(3_000_000), Duration::from_secs(3600));

        assert_eq!(n, 2);
        assert_eq!(covered, Duration::from_secs(3000));
    }

    #[test]
    fn gauge_add_accumulates_on_the_set_value() {
        let g = Gauge::default();
        g.set(10.5);

        g.add(-0.5);

        assert_eq!(g.get(), 10.0);
    }

    #[test]
    fn concurrent_adds_are_all_counted() {
        let c = Counter::default();

        std::thread::scope(|s| {
            for _ in 0..4 {
                s.spawn(|| (0..10_000).for_each(|i| c.inc(Millis(i))));
            }
        });

        assert_eq!(c.total(), 40_000);
        assert_eq!(c.increase(Millis(9_999), Duration::from_secs(300)).0, 40_000);
    }
}
