//! Wall clock of ha-monitor's recording paths (criterion), 1,000 samples per iteration one
//! millisecond apart (so the rings rotate as in a live process): histogram record, counter
//! increment, and `StdMetrics::on_state_changed`, the cost recorded next to applying one event.

use std::hint::black_box;

use benches::{calibration, hot, inputs};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use ha_monitor::{
    Counter, DEFAULT_COUNTER_WINDOWS, DEFAULT_HISTOGRAM_WINDOWS, Histogram, Millis, Registry, StdMetrics,
};

/// Samples per iteration.
const SAMPLES: usize = 1_000;

fn calibration(c: &mut Criterion) {
    // The gate divides this process's wall figures by this one (id prefix `calibration/`).
    c.benchmark_group("calibration/spin").bench_function(BenchmarkId::from_parameter("monitor"), |b| {
        b.iter(|| calibration::spin(black_box(calibration::ITERATIONS)))
    });
}

/// Successive iterations carry on where the previous one stopped, so time never runs backwards.
fn next_start(start: &mut u64) -> Millis {
    let now = Millis(*start);
    *start += SAMPLES as u64;
    now
}

fn record(c: &mut Criterion) {
    let mut group = c.benchmark_group("monitor");
    group.throughput(Throughput::Elements(SAMPLES as u64));
    let histogram = Histogram::new(&DEFAULT_HISTOGRAM_WINDOWS);
    let values = inputs::latencies(SAMPLES);
    let mut start = 0;
    group.bench_function("histogram_record/n1000", |b| {
        b.iter(|| hot::record_histogram(&histogram, black_box(&values), next_start(&mut start)))
    });
    let counter = Counter::new(&DEFAULT_COUNTER_WINDOWS);
    let mut start = 0;
    group.bench_function("counter_inc/n1000", |b| {
        b.iter(|| hot::increment_counter(&counter, black_box(SAMPLES), next_start(&mut start)))
    });
    let metrics = StdMetrics::register(&mut Registry::default());
    let changes = inputs::observed_changes(ha_fixtures::MAX, SAMPLES);
    let mut start = 0;
    group.bench_function("on_state_changed/n1000", |b| {
        b.iter(|| hot::record_state_changes(&metrics, black_box(&changes), next_start(&mut start)))
    });
}

criterion_group!(wall_monitor, calibration, record);
criterion_main!(wall_monitor);
