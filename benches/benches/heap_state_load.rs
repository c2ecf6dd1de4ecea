//! Heap of loading a 16,384-entity snapshot the way a mirror does (dhat): parse the compressed
//! `subscribe_entities` snapshot message and replace an empty store with it. The message text is
//! built before the profiler starts; the stats (total and peak bytes and blocks) go to the gate's
//! file in `$HAPULSE_PERF_DHAT_DIR`. dhat allows one profiler per process: one scenario per binary.

use std::hint::black_box;

use benches::{heap, hot, inputs};
use ha_state::EntityStore;

#[global_allocator]
static ALLOC: dhat::Alloc = dhat::Alloc;

fn main() {
    let snapshot = inputs::snapshot_text(ha_fixtures::MAX);
    let mut store = EntityStore::new();

    let profiler = dhat::Profiler::builder().testing().build();
    black_box(hot::load_compressed(&mut store, black_box(&snapshot)));
    let stats = dhat::HeapStats::get();
    drop(profiler);

    black_box(&store);
    heap::report("state/load_compressed/n16384", &stats);
}
