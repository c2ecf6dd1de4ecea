//! Synthetic workload for the perf gate's end-to-end test: a deterministic arithmetic loop whose
//! cost the test can raise through environment variables read *outside* the measured region.

use std::hint::black_box;

/// Iterations of the base workload.
pub const BASE_ITERATIONS: u64 = 20_000;

/// Extra work in percent of `BASE_ITERATIONS`, from `SYNTH_EXTRA_WORK_PERCENT` (0 when unset).
pub fn iterations_from_env() -> u64 {
    let extra: u64 = std::env::var("SYNTH_EXTRA_WORK_PERCENT").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    BASE_ITERATIONS + BASE_ITERATIONS * extra / 100
}

/// Number of extra allocations the heap scenario makes, from `SYNTH_EXTRA_ALLOCS` (0 when unset).
pub fn extra_allocs_from_env() -> usize {
    std::env::var("SYNTH_EXTRA_ALLOCS").ok().and_then(|v| v.parse().ok()).unwrap_or(0)
}

/// A deterministic loop: a small linear congruential mix, `iterations` times.
pub fn work(iterations: u64) -> u64 {
    let mut acc = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..black_box(iterations) {
        acc = acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i) ^ (acc >> 29);
    }
    acc
}

/// Allocates `items` small boxes plus `extra` more, and returns their sum.
pub fn allocate(items: usize, extra: usize) -> u64 {
    let boxes: Vec<Box<u64>> = (0..items + extra).map(|i| Box::new(i as u64)).collect();
    boxes.iter().map(|b| **b).sum()
}
