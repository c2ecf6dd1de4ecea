//! Wall clock end to end over loopback (criterion): a `call_service` round trip from ha-client to
//! ha-sim, and 100,000 state changes from the simulator's world into the client's mirror
//! (serialise, WebSocket, parse, apply), waiting on the mirror's change stream. Both use
//! `iter_custom`, timing only the work on the runtime; measurement settings come from the perf gate.

use std::hint::black_box;
use std::time::Duration;

use benches::calibration;
use benches::client::Loopback;
use criterion::{BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};

/// Changes per iteration of the end-to-end benchmark.
const CHANGES: usize = 100_000;

fn calibration(c: &mut Criterion) {
    // The gate divides this process's wall figures by this one (id prefix `calibration/`).
    c.benchmark_group("calibration/spin").bench_function(BenchmarkId::from_parameter("client"), |b| {
        b.iter(|| calibration::spin(black_box(calibration::ITERATIONS)))
    });
}

fn round_trip(c: &mut Criterion) {
    let loopback = Loopback::start(ha_fixtures::SMALL);
    let call = loopback.light_call();
    c.benchmark_group("client/call_service").bench_function(BenchmarkId::from_parameter("round_trip"), |b| {
        b.iter_custom(|iters| loopback.round_trips(&call, iters))
    });
}

fn changes(c: &mut Criterion) {
    let loopback = Loopback::start(ha_fixtures::MAX);
    let mut mirror = loopback.mirror();
    let mut group = c.benchmark_group("client/changes_to_mirror");
    group.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(CHANGES as u64));
    group.bench_function(BenchmarkId::from_parameter("n100k"), |b| {
        b.iter_custom(|iters| (0..iters).map(|_| loopback.changes_end_to_end(&mut mirror, CHANGES)).sum::<Duration>())
    });
}

criterion_group!(wall_client, calibration, round_trip, changes);
criterion_main!(wall_client);
