//! Latency histograms recorded with atomics and read through HdrHistogram over sliding windows.
//!
//! Recording finds a log-linear bucket (values below 128 exact, then 64 buckets per power of two:
//! at most 1/64 relative error) and does one relaxed `fetch_add` per ring. Reading merges the
//! buckets of the window's slots into an [`hdrhistogram::Histogram`] and asks it for quantiles.

use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use hdrhistogram::Histogram as Hdr;

use crate::Millis;
use crate::window::{Rings, SlotData, WindowSpec};

const DIRECT_BITS: u32 = 7; // values below 2^7 get a bucket each
const HALF: u64 = 1 << (DIRECT_BITS - 1); // buckets per power of two above that
/// Largest value a histogram tells apart; larger values count as this one (about 19 hours in µs).
pub const MAX_VALUE: u64 = (1 << 36) - 1;
const BUCKETS: usize = ((36 - DIRECT_BITS + 1) as u64 * HALF + HALF) as usize;

/// Bucket of `v` (already capped at [`MAX_VALUE`]).
#[inline]
fn bucket_of(v: u64) -> usize {
    if v < (1 << DIRECT_BITS) {
        return v as usize;
    }
    let msb = 63 - v.leading_zeros();
    let shift = msb + 1 - DIRECT_BITS;
    (u64::from(shift) * HALF + (v >> shift)) as usize
}

/// The smallest and largest value of bucket `i`.
fn bucket_bounds(i: usize) -> (u64, u64) {
    let i = i as u64;
    if i < (1 << DIRECT_BITS) {
        return (i, i);
    }
    let shift = i / HALF - 1;
    let mantissa = i - shift * HALF;
    (mantissa << shift, ((mantissa + 1) << shift) - 1)
}

#[derive(Debug)]
struct Buckets {
    counts: Box<[AtomicU32]>,
    max: AtomicU64,
}

impl SlotData for Buckets {
    fn new() -> Self {
        Self { counts: (0..BUCKETS).map(|_| AtomicU32::new(0)).collect(), max: AtomicU64::new(0) }
    }

    fn clear(&self) {
        for c in self.counts.iter() {
            c.store(0, Ordering::Relaxed);
        }
        self.max.store(0, Ordering::Relaxed);
    }
}

/// Default rings of a histogram: 1 s × 10 (the "last 10 s") and 10 s × 30 (the "last 5 min").
pub const DEFAULT_HISTOGRAM_WINDOWS: [WindowSpec; 2] = [WindowSpec::millis(1000, 10), WindowSpec::millis(10_000, 30)];

/// A histogram of non-negative integer values (by convention microseconds for latencies) over
/// sliding windows. Share it with `Arc`; `record` takes `&self` and never locks.
#[derive(Debug)]
pub struct Histogram {
    rings: Rings<Buckets>,
    count: AtomicU64,
    sum: AtomicU64,
}

/// Percentiles of one window, in the histogram's unit.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct WindowStats {
    /// Samples in the window.
    pub count: u64,
    /// Median.
    pub p50: u64,
    /// 90th percentile.
    pub p90: u64,
    /// 99th percentile.
    pub p99: u64,
    /// Exact largest sample (capped at [`MAX_VALUE`]).
    pub max: u64,
    /// Arithmetic mean, from the bucket midpoints.
    pub mean: f64,
}

impl Histogram {
    /// A histogram with the given rings (see [`DEFAULT_HISTOGRAM_WINDOWS`]).
    pub fn new(windows: &[WindowSpec]) -> Self {
        Self { rings: Rings::new(windows), count: AtomicU64::new(0), sum: AtomicU64::new(0) }
    }

    /// Records one sample taken at `now`.
    #[inline]
    pub fn record(&self, value: u64, now: Millis) {
        let v = value.min(MAX_VALUE);
        let bucket = bucket_of(v);
        self.rings.each_current(now, |b| {
            b.counts[bucket].fetch_add(1, Ordering::Relaxed);
            if v > b.max.load(Ordering::Relaxed) {
                b.max.fetch_max(v, Ordering::Relaxed);
            }
        });
        self.count.fetch_add(1, Ordering::Relaxed);
        self.sum.fetch_add(v, Ordering::Relaxed);
    }

    /// Records a duration in microseconds.
    #[inline]
    pub fn record_duration(&self, d: Duration, now: Millis) {
        self.record(u64::try_from(d.as_micros()).unwrap_or(u64::MAX), now);
    }

    /// Samples recorded since creation.
    pub fn total_count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }

    /// Sum of all samples recorded since creation.
    pub fn total_sum(&self) -> u64 {
        self.sum.load(Ordering::Relaxed)
    }

    /// The samples of the last `window` (rounded up to whole intervals, plus the current partial
    /// interval) merged into an HdrHistogram, and their exact maximum.
    pub fn merged(&self, now: Millis, window: Duration) -> (Hdr<u64>, u64) {
        let mut counts = vec![0u64; BUCKETS];
        let mut max = 0;
        self.rings.visit(now, window, |b| {
            for (acc, c) in counts.iter_mut().zip(b.counts.iter()) {
                *acc += u64::from(c.load(Ordering::Relaxed));
            }
            max = max.max(b.max.load(Ordering::Relaxed));
        });
        // 3 significant digits: finer than our buckets, so the merge adds no visible error.
        let mut hdr = Hdr::new_with_bounds(1, MAX_VALUE, 3).expect("static bounds are valid");
        for (i, &c) in counts.iter().enumerate().filter(|(_, c)| **c > 0) {
            let (lo, hi) = bucket_bounds(i);
            hdr.saturating_record_n(lo + (hi - lo) / 2, c);
        }
        (hdr, max)
    }

    /// Percentiles of the last `window`; `None` when it holds no sample.
    pub fn window_stats(&self, now: Millis, window: Duration) -> Option<WindowStats> {
        let (hdr, max) = self.merged(now, window);
        if hdr.is_empty() {
            return None;
        }
        let q = |q: f64| hdr.value_at_quantile(q).min(max);
        Some(WindowStats { count: hdr.len(), p50: q(0.5), p90: q(0.9), p99: q(0.99), max, mean: hdr.mean() })
    }
}

impl Default for Histogram {
    fn default() -> Self {
        Self::new(&DEFAULT_HISTOGRAM_WINDOWS)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn buckets_are_contiguous_and_cover_the_range() {
        let mut expected_lo = 0;

        for i in 0..BUCKETS {
            let (lo, hi) = bucket_bounds(i);
            assert_eq!(lo, expected_lo, "bucket {i}");
            assert_eq!((bucket_of(lo), bucket_of(hi)), (i, i));
            expected_lo = hi + 1;
        }

        assert_eq!(expected_lo, MAX_VALUE + 1);
    }

    #[test]
    fn empty_window_has_no_stats() {
        let h = Histogram::default();
        h.record(5, Millis(0));

        let stats = h.window_stats(Millis(60_000), Duration::from_secs(10));

        assert_eq!(stats, None);
    }

    #[test]
    fn stats_report_exact_max_and_count() {
        let h = Histogram::default();
        for v in [1000, 2000, 3000, 123_457] {
            h.record(v, Millis(500));
        }

        let stats = h.window_stats(Millis(900), Duration::from_secs(10)).unwrap();

        assert_eq!((stats.count, stats.max), (4, 123_457));
        assert_eq!((h.total_count(), h.total_sum()), (4, 129_457));
    }

    #[test]
    fn values_above_max_are_capped() {
        let h = Histogram::default();

        h.record(u64::MAX, Millis(0));

        assert_eq!(h.window_stats(Millis(0), Duration::from_secs(1)).unwrap().max, MAX_VALUE);
    }

    #[test]
    fn concurrent_recorders_lose_no_sample_across_interval_changes() {
        let h = Histogram::default();

        std::thread::scope(|s| {
            for t in 0..4u64 {
                let h = &h;
                s.spawn(move || (0..5_000u64).for_each(|i| h.record(t * 1000 + i % 1000, Millis(i))));
            }
        });

        let short = h.window_stats(Millis(4_999), Duration::from_secs(10)).unwrap(); // 1 s slots
        let long = h.window_stats(Millis(4_999), Duration::from_secs(300)).unwrap(); // 10 s slots
        assert_eq!((short.count, long.count, h.total_count()), (20_000, 20_000, 20_000));
        assert_eq!(short.max, 3999);
    }

    /// The rank HdrHistogram uses: the smallest sample with at least `ceil(q * n)` samples at or below it.
    fn naive_quantile(sorted: &[u64], q: f64) -> u64 {
        let rank = ((q * sorted.len() as f64).ceil() as usize).max(1);
        sorted[rank - 1]
    }

    fn close(got: u64, want: u64) -> bool {
        // Bucket width is at most 1/64 of the value; HdrHistogram adds at most 0.1 %.
        got.abs_diff(want) as f64 <= want as f64 / 64.0 + want as f64 / 500.0 + 1.0
    }

    proptest! {
        #[test]
        fn window_percentiles_match_naive_computation(
            samples in proptest::collection::vec((0u64..2_000, 0u64..5_000_000), 1..300),
            window_s in 1u64..400,
        ) {
            // arrange: samples at increasing times (ms steps), each with a value in µs
            let h = Histogram::default();
            let mut t = 0;
            let mut timed = Vec::new();
            for (step, v) in &samples {
                t += step;
                h.record(*v, Millis(t));
                timed.push((t, *v));
            }
            let now = t + 3;
            let window = Duration::from_secs(window_s);

            // act
            let stats = h.window_stats(Millis(now), window);

            // assert: oracle = the samples of the same slot-aligned window
            let spec = DEFAULT_HISTOGRAM_WINDOWS.iter().find(|s| s.span() >= window).unwrap_or(&DEFAULT_HISTOGRAM_WINDOWS[1]);
            let iv = spec.interval.as_millis() as u64;
            let k = (window_s * 1000).div_ceil(iv).clamp(1, spec.slots as u64);
            let oldest = (now / iv).saturating_sub(k);
            let mut inside: Vec<u64> = timed.iter().filter(|(t, _)| t / iv >= oldest).map(|(_, v)| *v).collect();
            inside.sort_unstable();
            match stats {
                None => prop_assert!(inside.is_empty()),
                Some(s) => {
                    prop_assert_eq!(s.count, inside.len() as u64);
                    prop_assert_eq!(s.max, *inside.last().unwrap());
                    for (q, got) in [(0.5, s.p50), (0.9, s.p90), (0.99, s.p99)] {
                        let want = naive_quantile(&inside, q);
                        prop_assert!(close(got, want), "q{} got {} want {}", q, got, want);
                    }
                }
            }
        }
    }
}
