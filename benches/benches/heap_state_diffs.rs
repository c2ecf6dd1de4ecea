//! Heap of parsing and applying 100,000 compressed diffs to a loaded 16,384-entity store (dhat),
//! reusing one `ChangeReport` as a mirror loop does. The store and the message texts are built
//! before the profiler starts, so the figures are the hot path's own: total bytes and blocks say
//! what each diff allocates, the peak how much it holds at once. Stats go to the gate's file in
//! `$HAPULSE_PERF_DHAT_DIR`; one scenario per binary (one dhat profiler per process).

use std::hint::black_box;

use benches::{heap, hot, inputs};
use ha_state::ChangeReport;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

/// Diffs applied.
const DIFFS: usize = 100_000;

fn main() {
    let mut input = inputs::compressed_diffs(ha_fixtures::MAX, DIFFS);
    let mut report = ChangeReport::new();

    let profiler = dhat::Profiler::builder().testing().build();
    black_box(hot::apply_compressed_messages(&mut input.store, black_box(&input.messages), &mut report));
    let stats = dhat::HeapStats::get();
    drop(profiler);

    black_box(&input);
    heap::report("state/apply_compressed/n100k", &stats);
}
