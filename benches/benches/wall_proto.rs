//! Wall clock of ha-proto's decoding and encoding (criterion): `get_states` results of 1k, 10k and
//! 16,384 entities, one compressed diff, one `state_changed` event, one `call_service` command.
//! Measurement settings come from the perf gate's command line (`perf.toml` [wall]).

use std::hint::black_box;

use benches::{calibration, hot, inputs};
use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};

fn calibration(c: &mut Criterion) {
    // The gate divides this process's wall figures by this one (id prefix `calibration/`).
    c.benchmark_group("calibration/spin").bench_function(BenchmarkId::from_parameter("proto"), |b| {
        b.iter(|| calibration::spin(black_box(calibration::ITERATIONS)))
    });
}

fn parse_get_states(c: &mut Criterion) {
    let mut group = c.benchmark_group("proto/parse_get_states");
    for (case, n) in [("n1k", ha_fixtures::SMALL), ("n10k", ha_fixtures::MEDIUM), ("n16384", ha_fixtures::MAX)] {
        let text = inputs::get_states_text(n);
        group.throughput(Throughput::Bytes(text.len() as u64));
        // The parsed states are dropped outside the timed region.
        group.bench_function(BenchmarkId::from_parameter(case), |b| {
            b.iter_with_large_drop(|| hot::parse_get_states(black_box(&text)))
        });
    }
}

fn parse_events(c: &mut Criterion) {
    let diff = inputs::one_compressed_diff();
    c.benchmark_group("proto/parse_compressed_diff")
        .bench_function(BenchmarkId::from_parameter("median"), |b| b.iter(|| hot::parse_compressed(black_box(&diff))));
    let event = inputs::one_state_changed();
    c.benchmark_group("proto/parse_state_changed").bench_function(BenchmarkId::from_parameter("median"), |b| {
        b.iter(|| hot::parse_state_changed(black_box(&event)))
    });
    c.benchmark_group("proto/parse_state_changed_frame").bench_function(BenchmarkId::from_parameter("median"), |b| {
        b.iter(|| hot::parse_state_changed_frame(black_box(&event)))
    });
}

fn serialise(c: &mut Criterion) {
    let message = inputs::call_service();
    c.benchmark_group("proto/serialise_call_service")
        .bench_function(BenchmarkId::from_parameter("light_turn_on"), |b| b.iter(|| black_box(&message).to_json()));
}

criterion_group!(wall_proto, calibration, parse_get_states, parse_events, serialise);
criterion_main!(wall_proto);
