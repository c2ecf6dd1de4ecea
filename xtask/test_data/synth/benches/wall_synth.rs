//! Criterion (wall clock) side of the synthetic crate: one benchmark of each kind of cost, each
//! raised only by its own variable, read outside the measured loop (see src/lib.rs):
//! `synth/sum/small` (CPU: `SYNTH_EXTRA_WORK_PERCENT`, and `SYNTH_WALL_NOISE_US`, a busy wait of that
//! many microseconds per iteration, which no instruction count sees), `synth/chase/large` (memory:
//! `SYNTH_EXTRA_MISSES_PERCENT`) and `synth/syscall/loop` (system calls: `SYNTH_EXTRA_SYSCALLS`).
//!
//! With `SYNTH_PROBE` set, the binary prints the cost of one system call and of one unit of work on
//! this machine and exits, so `cargo xtask perf power` can size a system call as a share of an iteration.

use std::hint::black_box;
use std::sync::LazyLock;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group};

fn calibration(c: &mut Criterion) {
    // The gate divides every wall figure of this process by this one (id prefix `calibration/`).
    c.benchmark_group("calibration/spin").bench_function(BenchmarkId::from_parameter("fixed"), |b| {
        b.iter(|| synth_benches::work(black_box(synth_benches::BASE_ITERATIONS)))
    });
}

fn sum(c: &mut Criterion) {
    let iterations = synth_benches::iterations_from_env();
    let noise: u64 = std::env::var("SYNTH_WALL_NOISE_US").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let noise = Duration::from_micros(noise);
    c.benchmark_group("synth/sum").bench_function(BenchmarkId::from_parameter("small"), |b| {
        b.iter(|| {
            let started = Instant::now();
            let out = synth_benches::work(black_box(iterations));
            while started.elapsed() < noise {
                std::hint::spin_loop();
            }
            out
        })
    });
}

/// Built on first use only: a process that runs other benchmarks (a filtered A/B round) skips it.
static CHASE_TABLE: LazyLock<Vec<u32>> = LazyLock::new(|| synth_benches::chase_table(synth_benches::CHASE_ENTRIES));

fn chase(c: &mut Criterion) {
    let steps = synth_benches::chase_steps_from_env();
    let mut at = 0;
    c.benchmark_group("synth/chase").bench_function(BenchmarkId::from_parameter("large"), |b| {
        let table = CHASE_TABLE.as_slice();
        b.iter(|| {
            at = synth_benches::chase(black_box(table), at, steps);
            at
        })
    });
}

fn syscall(c: &mut Criterion) {
    let (units, syscalls) = synth_benches::syscall_loop_from_env();
    c.benchmark_group("synth/syscall").bench_function(BenchmarkId::from_parameter("loop"), |b| {
        b.iter(|| synth_benches::syscall_loop(black_box(units), syscalls))
    });
}

/// Median ns of `f` over many timed batches.
fn median_ns(mut f: impl FnMut(), per_batch: u32) -> f64 {
    let mut batches: Vec<f64> = (0..201)
        .map(|_| {
            let started = Instant::now();
            for _ in 0..per_batch {
                f();
            }
            started.elapsed().as_nanos() as f64 / f64::from(per_batch)
        })
        .collect();
    batches.sort_by(f64::total_cmp);
    batches[batches.len() / 2]
}

fn probe() {
    let syscall_ns = median_ns(|| _ = black_box(synth_benches::syscall_loop(0, 1)), 200);
    let unit_ns = median_ns(|| _ = black_box(synth_benches::work(black_box(1_000))), 20) / 1_000.0;
    println!("syscall_ns {syscall_ns}\nwork_unit_ns {unit_ns}");
}

criterion_group!(wall, calibration, sum, chase, syscall);

fn main() {
    if std::env::var_os("SYNTH_PROBE").is_some() {
        probe();
        return;
    }
    wall();
    Criterion::default().configure_from_args().final_summary();
}
