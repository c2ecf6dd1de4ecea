//! Criterion (wall clock) side of the synthetic crate. `SYNTH_WALL_NOISE_US` busy-waits that many
//! microseconds per iteration of `synth/sum/small` only: a wall-clock change without any
//! instruction change, which the gate must call "noise-suspect".

use std::hint::black_box;
use std::time::{Duration, Instant};

use criterion::{BenchmarkId, Criterion, criterion_group, criterion_main};

fn calibration(c: &mut Criterion) {
    // The gate divides every wall figure of this process by this one (id prefix `calibration/`).
    c.benchmark_group("calibration/spin").bench_function(BenchmarkId::from_parameter("fixed"), |b| {
        b.iter(|| benches::work(black_box(benches::BASE_ITERATIONS)))
    });
}

fn sum(c: &mut Criterion) {
    let iterations = benches::iterations_from_env();
    let noise: u64 = std::env::var("SYNTH_WALL_NOISE_US").ok().and_then(|v| v.parse().ok()).unwrap_or(0);
    let noise = Duration::from_micros(noise);
    c.benchmark_group("synth/sum").bench_function(BenchmarkId::from_parameter("small"), |b| {
        b.iter(|| {
            let started = Instant::now();
            let out = benches::work(black_box(iterations));
            while started.elapsed() < noise {
                std::hint::spin_loop();
            }
            out
        })
    });
}

criterion_group!(wall, calibration, sum);
criterion_main!(wall);
