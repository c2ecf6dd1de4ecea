//! Synthetic workload for the perf gate's end-to-end tests and `cargo xtask perf power`: small
//! deterministic workloads of three kinds (CPU-bound arithmetic, memory-bound pointer chasing, a
//! loop with system calls) whose cost a test raises through environment variables read *outside*
//! the measured region, so exactly one known change is injected at a time.

use std::hint::black_box;

/// Iterations of the base workload.
pub const BASE_ITERATIONS: u64 = 20_000;

/// Entries of the pointer-chasing table: 1 Mi `u32` = 4 MiB, beyond the private L1/L2 caches of the
/// development machines (AMD EPYC, Intel Xeon) yet within their L3 and their second-level TLB:
/// larger tables measured a 3x spread between processes here (huge pages or not, per process),
/// which says more about page placement than about the code.
pub const CHASE_ENTRIES: usize = 1 << 20;

/// Dependent loads per iteration of the pointer-chasing benchmark.
pub const CHASE_STEPS: u64 = 4_000;

/// Units of [`work`] per iteration of the system-call benchmark when `SYNTH_SYSCALL_WORK` is unset.
pub const SYSCALL_WORK: u64 = 2_000;

fn env_number<T: std::str::FromStr>(name: &str) -> Option<T> {
    std::env::var(name).ok().and_then(|v| v.parse().ok())
}

/// Extra percent of `base`, from the environment variable `name` (0 when unset).
fn plus_percent(base: u64, name: &str) -> u64 {
    base + base * env_number::<u64>(name).unwrap_or(0) / 100
}

/// Iterations of the CPU-bound workload: `BASE_ITERATIONS` plus `SYNTH_EXTRA_WORK_PERCENT` percent.
pub fn iterations_from_env() -> u64 {
    plus_percent(BASE_ITERATIONS, "SYNTH_EXTRA_WORK_PERCENT")
}

/// Dependent loads of the memory-bound workload: `CHASE_STEPS` plus `SYNTH_EXTRA_MISSES_PERCENT` percent.
pub fn chase_steps_from_env() -> u64 {
    plus_percent(CHASE_STEPS, "SYNTH_EXTRA_MISSES_PERCENT")
}

/// Units of work per iteration of the system-call workload (`SYNTH_SYSCALL_WORK`, default
/// [`SYSCALL_WORK`]) and the system calls added to each iteration (`SYNTH_EXTRA_SYSCALLS`, default 0).
pub fn syscall_loop_from_env() -> (u64, u32) {
    (env_number("SYNTH_SYSCALL_WORK").unwrap_or(SYSCALL_WORK), env_number("SYNTH_EXTRA_SYSCALLS").unwrap_or(0))
}

/// Number of extra allocations the heap scenario makes, from `SYNTH_EXTRA_ALLOCS` (0 when unset).
pub fn extra_allocs_from_env() -> usize {
    env_number("SYNTH_EXTRA_ALLOCS").unwrap_or(0)
}

/// A deterministic loop: a small linear congruential mix, `iterations` times.
pub fn work(iterations: u64) -> u64 {
    let mut acc = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..black_box(iterations) {
        acc = acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i) ^ (acc >> 29);
    }
    acc
}

/// A table of `entries` indices forming one random cycle (Sattolo's shuffle, seeded), so that
/// following it visits every entry in an order no prefetcher can guess.
pub fn chase_table(entries: usize) -> Vec<u32> {
    let mut table: Vec<u32> = (0..entries as u32).collect();
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    for i in (1..entries).rev() {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        let j = (state % i as u64) as usize;
        table.swap(i, j);
    }
    table
}

/// Follows the cycle in `table` for `steps` dependent loads from `start`; returns where it stopped.
pub fn chase(table: &[u32], start: u32, steps: u64) -> u32 {
    let mut at = start;
    for _ in 0..black_box(steps) {
        at = table[at as usize];
    }
    at
}

/// `units` of [`work`] followed by `syscalls` real system calls (`getppid`, which no libc caches).
pub fn syscall_loop(units: u64, syscalls: u32) -> u64 {
    let mut acc = work(units);
    for _ in 0..syscalls {
        acc ^= u64::from(getppid());
    }
    acc
}

fn getppid() -> u32 {
    unsafe extern "C" {
        safe fn getppid() -> i32;
    }
    getppid() as u32
}

/// Allocates `items` small boxes plus `extra` more, and returns their sum.
pub fn allocate(items: usize, extra: usize) -> u64 {
    let boxes: Vec<Box<u64>> = (0..items + extra).map(|i| Box::new(i as u64)).collect();
    boxes.iter().map(|b| **b).sum()
}
