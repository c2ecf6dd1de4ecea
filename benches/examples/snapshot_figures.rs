//! Prints the figures of item 3 of the client-speed work for a 16,384-entity install: the size of
//! both snapshot forms (`get_states` result, first `subscribe_entities` event), the median wall time
//! to parse and load each into an empty mirror (the `get_states` result both as owned `State`s, as
//! `ha_client::Client::get_states` returns them, and as borrowed views; the snapshot event as
//! ha-client's mirror does), and the mirror's heap after each (`EntityStore::approx_heap_bytes`)
//! against the snapshot's size.
//!
//! `cargo run --release -p benches --example snapshot_figures [entities] [runs]`

use std::time::{Duration, Instant};

use benches::{hot, inputs};
use ha_state::EntityStore;

fn median(mut times: Vec<Duration>) -> Duration {
    times.sort_unstable();
    times[times.len() / 2]
}

/// Median time of `runs` loads into an empty store, and the heap of the last store loaded.
fn time_loads(runs: usize, mut load: impl FnMut(&mut EntityStore)) -> (Vec<Duration>, usize) {
    let mut store = EntityStore::new();
    let times = (0..runs)
        .map(|_| {
            store = EntityStore::new();
            let start = Instant::now();
            load(&mut store);
            start.elapsed()
        })
        .collect();
    (times, store.approx_heap_bytes())
}

fn main() {
    let mut args = std::env::args().skip(1);
    let entities: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(ha_fixtures::MAX);
    let runs: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(11);
    let get_states = inputs::get_states_text(entities);
    let snapshot = inputs::snapshot_text(entities);

    let (states_times, states_heap) = time_loads(runs, |store| {
        store.replace_from_states(hot::parse_get_states(&get_states));
    });
    let (views_times, views_heap) = time_loads(runs, |store| {
        hot::load_get_states(store, &get_states);
    });
    let (compressed_times, compressed_heap) = time_loads(runs, |store| {
        hot::load_compressed(store, &snapshot);
    });

    for (form, bytes, times, heap) in [
        ("get_states result, owned states", get_states.len(), states_times, states_heap),
        ("get_states result, borrowed views", get_states.len(), views_times, views_heap),
        ("subscribe_entities snapshot", snapshot.len(), compressed_times, compressed_heap),
    ] {
        println!(
            "{form}: {entities} entities, {:.2} MB of JSON; parse + load median {:.2} ms over {runs} runs; \
             mirror heap {:.2} MB = {:.2} x the JSON",
            bytes as f64 / 1e6,
            median(times).as_secs_f64() * 1e3,
            heap as f64 / 1e6,
            heap as f64 / bytes as f64,
        );
    }
}
