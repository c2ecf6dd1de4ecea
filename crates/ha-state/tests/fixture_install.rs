//! A realistic install of Home Assistant's expected maximum size (16,384 entities, from
//! ha-fixtures) loads completely and exactly, through both snapshot feeds; a realistic change
//! stream gives the same store through both update feeds.

use ha_fixtures::{
    ChangeStream, DEFAULT_SEED, MAX, SMALL, compressed_diff_messages, compressed_snapshot_message, install,
    state_changed_messages, stream_start,
};
use ha_proto::{CompressedEvent, Event, Frame, ServerMessage, State};
use ha_state::EntityStore;

/// Every field but `last_reported`, which the mirror does not hold.
fn assert_same_but_last_reported(stored: &State, source: &State) {
    assert_eq!(stored.entity_id, source.entity_id);
    assert_eq!(stored.state, source.state, "{}", source.entity_id);
    assert_eq!(stored.attributes, source.attributes, "{}", source.entity_id);
    assert_eq!(stored.last_changed, source.last_changed, "{}", source.entity_id);
    assert_eq!(stored.last_updated, source.last_updated, "{}", source.entity_id);
    assert_eq!(stored.context, source.context, "{}", source.entity_id);
    assert_eq!(stored.last_reported, None);
}

#[test]
fn max_size_install_loads_from_states_with_every_entity_equal() {
    let source = install(DEFAULT_SEED, MAX);
    let mut store = EntityStore::new();

    let report = store.replace_from_states(source.clone());

    assert_eq!(store.len(), MAX);
    assert_eq!(report.added.len(), MAX);
    for state in &source {
        let stored = store.get(state.entity_id.as_str()).unwrap_or_else(|| panic!("{} missing", state.entity_id));
        assert_same_but_last_reported(&stored, state);
    }
}

#[test]
fn max_size_install_loads_from_the_compressed_snapshot_message_with_every_entity_equal() {
    let source = install(DEFAULT_SEED, MAX);
    let message = compressed_snapshot_message(&source, 1);
    let frame = Frame::parse(&message).unwrap();
    let ServerMessage::Event { event, .. } = &frame.messages[0] else { panic!("not an event: {message:.80}") };
    let snapshot = CompressedEvent::parse(event.get()).unwrap();
    let mut store = EntityStore::new();

    store.replace_from_compressed(&snapshot).unwrap();

    assert_eq!(store.len(), MAX);
    for state in &source {
        let stored = store.get(state.entity_id.as_str()).unwrap_or_else(|| panic!("{} missing", state.entity_id));
        assert_same_but_last_reported(&stored, state);
    }
}

#[test]
fn domain_index_of_a_max_size_install_partitions_every_entity() {
    let source = install(DEFAULT_SEED, MAX);
    let mut store = EntityStore::new();

    store.replace_from_states(source);

    let by_domain: usize = store.domains().iter().map(|d| store.domain(d).filter(|e| e.domain() == *d).count()).sum();
    assert_eq!(by_domain, MAX);
}

fn event_of(message: &str) -> String {
    let frame = Frame::parse(message).unwrap();
    let ServerMessage::Event { event, .. } = &frame.messages[0] else { panic!("not an event: {message:.80}") };
    event.get().to_owned()
}

#[test]
fn realistic_stream_gives_the_same_store_through_both_feeds_and_matches_the_truth() {
    // arrange: 1,000 entities, 3,000 Zipf-skewed changes as full events and as compressed diffs
    let initial = install(DEFAULT_SEED, SMALL);
    let (seed, count) = (11, 3_000);
    let full_messages = state_changed_messages(seed, &initial, count, 1);
    let diff_messages = compressed_diff_messages(seed, &initial, count, 2);
    let mut truth = initial.clone();
    let mut stream = ChangeStream::new(seed, &initial, stream_start(&initial));
    for _ in 0..count {
        stream.step(&mut truth);
    }
    let (mut by_full, mut by_diff) = (EntityStore::new(), EntityStore::new());
    by_full.replace_from_states(initial.clone());
    by_diff.replace_from_states(initial);

    for (full, diff) in full_messages.iter().zip(&diff_messages) {
        let data = Event::parse(&event_of(full)).unwrap().state_changed().unwrap().unwrap();
        by_full.apply_state_changed(data);
        let text = event_of(diff);
        let report = by_diff.apply_compressed(&CompressedEvent::parse(&text).unwrap()).unwrap();
        assert!(report.unknown.is_empty());
    }

    let mut fresh = EntityStore::new();
    fresh.replace_from_states(truth);
    assert_eq!(by_full, by_diff);
    assert_eq!(by_diff, fresh);
}
