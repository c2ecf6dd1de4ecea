//! Instruction counts of the entity mirror (iai-callgrind), the twins of `wall_state` with the
//! same ids: group = area, function = op, bench id = case. The apply benchmarks count 10,000
//! messages (the first 10,000 of wall_state's 100,000; 100,000 took minutes under callgrind). Inputs
//! (installs, stores, message texts) are built by `setup`, outside the counted region; results are
//! returned so their drop is not counted.

use std::hint::black_box;

use benches::hot;
use benches::inputs::{self, Updates};
use ha_proto::State;
use ha_state::{ChangeReport, EntityStore};
use iai_callgrind::{library_benchmark, library_benchmark_group, main};

// Cases are small on purpose (1k-entity installs, 2k messages): every setup runs under valgrind, and
// 16,384-entity cases made this target take 10+ minutes of gate time. Instruction counts scale
// linearly; the wall suite (`wall_state`) measures the full sizes.

fn empty_store_and_states(n: usize) -> (EntityStore, Vec<State>) {
    (EntityStore::new(), inputs::install(n))
}

fn empty_store_and_get_states(n: usize) -> (EntityStore, String) {
    (EntityStore::new(), inputs::get_states_text(n))
}

fn empty_store_and_snapshot(n: usize) -> (EntityStore, String) {
    (EntityStore::new(), inputs::snapshot_text(n))
}

fn compressed_diffs(count: usize) -> (Updates, ChangeReport) {
    (inputs::compressed_diffs(ha_fixtures::SMALL, count), ChangeReport::new())
}

fn state_changed_events(count: usize) -> (Updates, ChangeReport) {
    (inputs::state_changed_events(ha_fixtures::SMALL, count), ChangeReport::new())
}

fn coalesced_state_changed(per_frame: usize, count: usize) -> (Updates, ChangeReport) {
    (inputs::coalesced_state_changed(ha_fixtures::SMALL, per_frame, count), ChangeReport::new())
}

fn frames(per_frame: usize) -> Updates {
    inputs::coalesced_frames(ha_fixtures::SMALL, per_frame, inputs::FRAME_CHANGES)
}

/// Entities of the install whose mirror is just big enough for the client's prefetch of a
/// coalesced frame's entries (`EntityStore::prefetch`) to act. Not the 16,384 of the wall rows:
/// a setup heap that large overflows valgrind's brk segment, and the count then depends on the
/// executable's path.
const PREFETCH_ENTITIES: usize = 4096;

/// Frames over an install big enough for the prefetch to act: the row that counts what it costs.
fn frames_prefetched(per_frame: usize) -> Updates {
    inputs::coalesced_frames(PREFETCH_ENTITIES, per_frame, inputs::FRAME_CHANGES)
}

fn loaded_store(domain: &'static str) -> (EntityStore, &'static str) {
    (inputs::install(ha_fixtures::SMALL).into_iter().collect(), domain)
}

#[library_benchmark]
#[bench::n1k(args = (ha_fixtures::SMALL), setup = empty_store_and_states)]
fn load_states((mut store, states): (EntityStore, Vec<State>)) -> EntityStore {
    black_box(store.replace_from_states(states));
    store
}

#[library_benchmark]
#[bench::n1k(args = (ha_fixtures::SMALL), setup = empty_store_and_get_states)]
fn load_get_states((mut store, text): (EntityStore, String)) -> (EntityStore, String) {
    black_box(hot::load_get_states(&mut store, &text));
    (store, text)
}

#[library_benchmark]
#[bench::n1k(args = (ha_fixtures::SMALL), setup = empty_store_and_snapshot)]
fn load_compressed((mut store, text): (EntityStore, String)) -> (EntityStore, String) {
    black_box(hot::load_compressed(&mut store, &text));
    (store, text)
}

#[library_benchmark]
#[bench::n2k(args = (2_000), setup = compressed_diffs)]
fn apply_compressed((mut input, mut report): (Updates, ChangeReport)) -> (Updates, ChangeReport) {
    black_box(hot::apply_compressed_messages(&mut input.store, &input.messages, &mut report));
    (input, report)
}

#[library_benchmark]
#[bench::n2k(args = (2_000), setup = state_changed_events)]
fn apply_state_changed((mut input, mut report): (Updates, ChangeReport)) -> (Updates, ChangeReport) {
    black_box(hot::apply_state_changed_messages(&mut input.store, &input.messages, &mut report));
    (input, report)
}

#[library_benchmark]
#[bench::n2k(args = (2_000), setup = state_changed_events)]
fn apply_state_changed_detached((mut input, mut report): (Updates, ChangeReport)) -> (Updates, ChangeReport) {
    black_box(hot::apply_state_changed_detached(&mut input.store, &input.messages, &mut report));
    (input, report)
}

// No wall twin yet: blessing one re-measures every wall row, and the four tries of 2026-12-08 ran in
// hours that read the unchanged memory-bound rows up to 70% slower than their baselines.
#[library_benchmark]
#[bench::c3_n2k(args = (3, 2_000), setup = coalesced_state_changed)]
fn apply_state_changed_coalesced((mut input, mut report): (Updates, ChangeReport)) -> (Updates, ChangeReport) {
    black_box(hot::apply_state_changed_coalesced(&mut input.store, &input.messages, &mut report));
    (input, report)
}

#[library_benchmark]
#[bench::n2k(args = (2_000), setup = state_changed_events)]
fn apply_state_changed_frames((mut input, mut report): (Updates, ChangeReport)) -> (Updates, ChangeReport) {
    black_box(hot::apply_state_changed_frames(&mut input.store, &input.messages, &mut report));
    (input, report)
}

#[library_benchmark]
#[bench::c1(args = (1), setup = frames)]
#[bench::c8(args = (8), setup = frames)]
#[bench::c64(args = (64), setup = frames)]
#[bench::c64_n4096(args = (64), setup = frames_prefetched)]
fn apply_frame(mut input: Updates) -> (usize, Updates) {
    (black_box(hot::apply_frames(&mut input.store, inputs::SUB_ID, &input.messages)), input)
}

#[library_benchmark]
#[bench::light(args = ("light"), setup = loaded_store)]
#[bench::sensor(args = ("sensor"), setup = loaded_store)]
fn query_domain((store, domain): (EntityStore, &'static str)) -> (usize, EntityStore) {
    black_box((hot::count_on(&store, domain), store))
}

library_benchmark_group!(
    name = state;
    benchmarks = load_states, load_get_states, load_compressed, apply_compressed, apply_state_changed,
        apply_state_changed_detached, apply_state_changed_coalesced, apply_state_changed_frames, apply_frame,
        query_domain
);

main!(library_benchmark_groups = state);
