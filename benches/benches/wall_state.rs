//! Wall clock of the entity mirror (criterion): loading a 16,384-entity snapshot, parsing and
//! applying 100,000 compressed diffs or `state_changed` events (the client's hot path, from
//! pre-generated message texts), WebSocket text frames of 1, 8 and 64 coalesced changes decoded and
//! applied as ha-client's connection task does, and a domain query. Measurement settings come from the perf gate.

use std::hint::black_box;

use benches::{calibration, hot, inputs};
use criterion::{BatchSize, BenchmarkId, Criterion, SamplingMode, Throughput, criterion_group, criterion_main};
use ha_state::{ChangeReport, EntityStore};

/// Messages of the apply benchmarks: `n100k`, and `n10k` (the first 10,000, the same work as the
/// instruction-count twins in instr_state, which pairs them for the gate's noise-suspect rule).
const UPDATES: usize = 100_000;
/// Messages of the `n10k` apply benchmarks.
const UPDATES_10K: usize = 10_000;

/// Changes per iteration of the frame benchmarks (the same in `instr_state`).
const FRAME_CHANGES: usize = inputs::FRAME_CHANGES;
/// Cases of the frame benchmarks: changes per frame.
const FRAME_CASES: [(&str, usize); 3] = [("c1", 1), ("c8", 8), ("c64", 64)];

fn calibration(c: &mut Criterion) {
    // The gate divides this process's wall figures by this one (id prefix `calibration/`).
    c.benchmark_group("calibration/spin").bench_function(BenchmarkId::from_parameter("state"), |b| {
        b.iter(|| calibration::spin(black_box(calibration::ITERATIONS)))
    });
}

fn load(c: &mut Criterion) {
    let states = inputs::install(ha_fixtures::MAX);
    let snapshot = inputs::snapshot_text(ha_fixtures::MAX);
    let mut group = c.benchmark_group("state");
    group.sampling_mode(SamplingMode::Flat).throughput(Throughput::Elements(ha_fixtures::MAX as u64));
    // Input copies are made, and the loaded stores dropped, outside the timed region.
    group.bench_function("load_states/n16384", |b| {
        b.iter_batched(
            || (EntityStore::new(), states.clone()),
            |(mut store, states)| {
                black_box(store.replace_from_states(states));
                store
            },
            BatchSize::PerIteration,
        )
    });
    let get_states = inputs::get_states_text(ha_fixtures::MAX);
    group.bench_function("load_get_states/n16384", |b| {
        b.iter_batched(
            EntityStore::new,
            |mut store| {
                black_box(hot::load_get_states(&mut store, black_box(&get_states)));
                store
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("load_compressed/n16384", |b| {
        b.iter_batched(
            EntityStore::new,
            |mut store| {
                black_box(hot::load_compressed(&mut store, black_box(&snapshot)));
                store
            },
            BatchSize::PerIteration,
        )
    });
}

fn apply(c: &mut Criterion) {
    let compressed = inputs::compressed_diffs(ha_fixtures::MAX, UPDATES);
    let full = inputs::state_changed_events(ha_fixtures::MAX, UPDATES);
    let mut group = c.benchmark_group("state");
    group.sampling_mode(SamplingMode::Flat);
    for (case, n) in [("n10k", UPDATES_10K), ("n100k", UPDATES)] {
        group.throughput(Throughput::Elements(n as u64));
        // Each iteration starts from a copy of the loaded store (made outside the timed region).
        group.bench_function(format!("apply_compressed/{case}"), |b| {
            let mut report = ChangeReport::new();
            b.iter_batched_ref(
                || compressed.store.clone(),
                |store| {
                    black_box(hot::apply_compressed_messages(store, black_box(&compressed.messages[..n]), &mut report))
                },
                BatchSize::PerIteration,
            )
        });
        group.bench_function(format!("apply_state_changed/{case}"), |b| {
            let mut report = ChangeReport::new();
            b.iter_batched_ref(
                || full.store.clone(),
                |store| {
                    black_box(hot::apply_state_changed_messages(store, black_box(&full.messages[..n]), &mut report))
                },
                BatchSize::PerIteration,
            )
        });
    }
    group.throughput(Throughput::Elements(UPDATES_10K as u64));
    group.bench_function("apply_state_changed_detached/n10k", |b| {
        let mut report = ChangeReport::new();
        b.iter_batched_ref(
            || full.store.clone(),
            |store| {
                black_box(hot::apply_state_changed_detached(
                    store,
                    black_box(&full.messages[..UPDATES_10K]),
                    &mut report,
                ))
            },
            BatchSize::PerIteration,
        )
    });
    group.bench_function("apply_state_changed_frames/n10k", |b| {
        let mut report = ChangeReport::new();
        b.iter_batched_ref(
            || full.store.clone(),
            |store| {
                black_box(hot::apply_state_changed_frames(store, black_box(&full.messages[..UPDATES_10K]), &mut report))
            },
            BatchSize::PerIteration,
        )
    });
}

fn frames(c: &mut Criterion) {
    let mut group = c.benchmark_group("state/apply_frame");
    group.throughput(Throughput::Elements(FRAME_CHANGES as u64));
    for (case, per_frame) in FRAME_CASES {
        let mut input = inputs::coalesced_frames(ha_fixtures::SMALL, per_frame, FRAME_CHANGES);
        // Re-applying the same frames rewrites the same fields: the store neither grows nor needs
        // a fresh copy per iteration.
        group.bench_function(BenchmarkId::from_parameter(case), |b| {
            b.iter(|| hot::apply_frames(&mut input.store, inputs::SUB_ID, black_box(&input.messages)))
        });
    }
    group.finish();
}

fn query(c: &mut Criterion) {
    let store: EntityStore = inputs::install(ha_fixtures::MAX).into_iter().collect();
    let mut group = c.benchmark_group("state/query_domain");
    for domain in ["light", "sensor"] {
        group.bench_function(BenchmarkId::from_parameter(domain), |b| {
            b.iter(|| hot::count_on(black_box(&store), black_box(domain)))
        });
    }
}

criterion_group!(wall_state, calibration, load, apply, frames, query);
criterion_main!(wall_state);
