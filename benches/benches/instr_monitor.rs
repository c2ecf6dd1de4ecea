//! Instruction counts of ha-monitor's recording paths (iai-callgrind), the twins of
//! `wall_monitor`: 1,000 samples one millisecond apart per benchmark, set up outside the counted
//! region.

use std::hint::black_box;

use benches::hot;
use benches::inputs::{self, Observed};
use ha_monitor::{
    Counter, DEFAULT_COUNTER_WINDOWS, DEFAULT_HISTOGRAM_WINDOWS, Histogram, Millis, Registry, StdMetrics,
};
use iai_callgrind::{library_benchmark, library_benchmark_group, main};

/// Samples per benchmark.
const SAMPLES: usize = 1_000;

fn histogram_and_values() -> (Histogram, Vec<u64>) {
    (Histogram::new(&DEFAULT_HISTOGRAM_WINDOWS), inputs::latencies(SAMPLES))
}

fn counter() -> Counter {
    Counter::new(&DEFAULT_COUNTER_WINDOWS)
}

/// The changes come from a 1k-entity install: a 16k one made the setup's heap overflow valgrind's
/// brk segment, after which malloc's cost (and this count) depended on the target directory's path.
fn metrics_and_changes() -> (Registry, StdMetrics, Vec<Observed>) {
    let mut registry = Registry::default();
    let metrics = StdMetrics::register(&mut registry);
    (registry, metrics, inputs::observed_changes(ha_fixtures::SMALL, SAMPLES))
}

#[library_benchmark]
#[bench::n1000(setup = histogram_and_values)]
fn histogram_record((histogram, values): (Histogram, Vec<u64>)) -> (u64, Histogram, Vec<u64>) {
    black_box((hot::record_histogram(&histogram, &values, Millis(0)), histogram, values))
}

#[library_benchmark]
#[bench::n1000(setup = counter)]
fn counter_inc(counter: Counter) -> (u64, Counter) {
    black_box((hot::increment_counter(&counter, SAMPLES, Millis(0)), counter))
}

#[library_benchmark]
#[bench::n1000(setup = metrics_and_changes)]
fn on_state_changed(
    (registry, metrics, changes): (Registry, StdMetrics, Vec<Observed>),
) -> (usize, Registry, StdMetrics, Vec<Observed>) {
    black_box((hot::record_state_changes(&metrics, &changes, Millis(0)), registry, metrics, changes))
}

library_benchmark_group!(name = monitor; benchmarks = histogram_record, counter_inc, on_state_changed);

main!(library_benchmark_groups = monitor);
