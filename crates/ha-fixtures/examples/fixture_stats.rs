//! Prints what a generated install and change stream look like: domain mix, attribute-size
//! percentiles, message sizes, the change skew, and how long generation takes.
//!
//! `cargo run --release -p ha-fixtures --example fixture_stats [entities] [seed]`

use std::collections::HashMap;
use std::time::Instant;

use ha_fixtures::{
    ChangeStream, DEFAULT_SEED, MAX, compressed_diff_messages, compressed_snapshot_message, get_states_result, install,
    state_changed_messages, stream_start,
};

fn main() {
    let mut args = std::env::args().skip(1);
    let entities = args.next().and_then(|a| a.parse().ok()).unwrap_or(MAX);
    let seed = args.next().and_then(|a| a.parse().ok()).unwrap_or(DEFAULT_SEED);

    let started = Instant::now();
    let states = install(seed, entities);
    let install_time = started.elapsed();
    let started = Instant::now();
    drop(install(seed ^ 1, entities));
    println!("a second install (warm allocator) took {:?}", started.elapsed());

    let mut domains: HashMap<&str, usize> = HashMap::new();
    for s in &states {
        *domains.entry(s.entity_id.domain()).or_default() += 1;
    }
    let mut domains: Vec<_> = domains.into_iter().collect();
    domains.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    println!("install({seed:#x}, {entities}) in {install_time:?}");
    for (d, n) in &domains {
        println!("  {d:<16} {n:>6}  {:>5.1} %", *n as f64 * 100.0 / entities as f64);
    }

    let mut sizes: Vec<usize> = states.iter().map(|s| s.attributes.json_len()).collect();
    sizes.sort_unstable();
    let pct = |p: f64| sizes[((sizes.len() - 1) as f64 * p) as usize];
    println!(
        "attribute JSON bytes: p10 {} p50 {} p90 {} p99 {} max {}; over 4 KB: {}",
        pct(0.1),
        pct(0.5),
        pct(0.9),
        pct(0.99),
        pct(1.0),
        sizes.iter().filter(|&&n| n > 4096).count()
    );

    let started = Instant::now();
    let get_states = get_states_result(&states, 1);
    let snapshot = compressed_snapshot_message(&states, 2);
    println!(
        "get_states result {} bytes, compressed snapshot {} bytes ({:?})",
        get_states.len(),
        snapshot.len(),
        started.elapsed()
    );

    let changes = 100_000;
    let mut live = states.clone();
    let mut stream = ChangeStream::new(seed, &states, stream_start(&states));
    let started = Instant::now();
    let mut per_entity = vec![0usize; states.len()];
    let mut state_text_changes = 0;
    for _ in 0..changes {
        let (i, old, new) = stream.step(&mut live);
        per_entity[i] += 1;
        state_text_changes += usize::from(old.state != new.state);
    }
    let step_time = started.elapsed();
    per_entity.sort_unstable_by(|a, b| b.cmp(a));
    let top = per_entity.iter().take((states.len() / 100).max(1)).sum::<usize>();
    println!(
        "{changes} changes in {step_time:?}: top 1 % of entities made {:.1} %, {:.1} % changed the state text",
        top as f64 * 100.0 / changes as f64,
        state_text_changes as f64 * 100.0 / changes as f64
    );

    let started = Instant::now();
    let none = state_changed_messages(seed, &states, 0, 3);
    println!("setup of a message stream (clone + ranking): {:?}", started.elapsed());
    drop(none);
    let started = Instant::now();
    let full = state_changed_messages(seed, &states, 10_000, 3);
    let compressed = compressed_diff_messages(seed, &states, 10_000, 4);
    let mean = |m: &[String]| m.iter().map(String::len).sum::<usize>() / m.len().max(1);
    println!(
        "10,000 state_changed messages (mean {} bytes) and compressed diffs (mean {} bytes) in {:?}",
        mean(&full),
        mean(&compressed),
        started.elapsed()
    );
}
