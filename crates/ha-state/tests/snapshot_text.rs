//! Replacing the store from a snapshot's text, decoded one entity at a time
//! (`replace_from_compressed_text`): the same store and report as decoding the whole event first
//! (`replace_from_compressed`), and the same refusals, which leave the store untouched.

mod common;

use common::{epoch, event, snapshot_with_a_context_without_id, state};
use ha_proto::{CompressedEvent, CompressedState, EntityKey, State};
use ha_state::{EntityStore, StateError, StoreConfig};

fn snapshot_of(states: &[State]) -> String {
    let added = states.iter().map(|s| (EntityKey::from(&s.entity_id), CompressedState::from_state(s))).collect();
    serde_json::to_string(&CompressedEvent { added, ..Default::default() }).unwrap()
}

fn three() -> Vec<State> {
    vec![
        state("light.a", "on", &[("brightness", "10"), ("hs_color", "[30.5,70]")], 1),
        state("light.b", "off", &[], 2),
        state("sensor.t", "21.5", &[("unit_of_measurement", r#""°C""#)], 3),
    ]
}

/// light.a changed, light.b gone, switch.c new.
fn next() -> Vec<State> {
    vec![
        state("light.a", "off", &[("brightness", "0"), ("hs_color", "[30.5,70]")], 4),
        state("sensor.t", "21.5", &[("unit_of_measurement", r#""°C""#)], 3),
        state("switch.c", "on", &[], 5),
    ]
}

fn recording() -> EntityStore {
    EntityStore::with_config(StoreConfig { record_changes: true })
}

#[test]
fn an_empty_store_gets_what_decoding_the_whole_event_gives() {
    let text = snapshot_of(&three());
    let (mut whole, mut streamed) = (recording(), recording());
    let expected = whole.replace_from_compressed(&event(&text)).unwrap();

    let report = streamed.replace_from_compressed_text(&text).unwrap();

    assert_eq!(report, expected);
    assert_eq!(streamed, whole);
    assert_eq!(streamed.to_states(), whole.to_states());
}

#[test]
fn a_loaded_store_is_merged_with_the_report_decoding_the_whole_event_gives() {
    let (mut whole, mut streamed) = (recording(), recording());
    whole.replace_from_compressed_text(&snapshot_of(&three())).unwrap();
    streamed.replace_from_compressed_text(&snapshot_of(&three())).unwrap();
    let text = snapshot_of(&next());
    let expected = whole.replace_from_compressed(&event(&text)).unwrap();

    let report = streamed.replace_from_compressed_text(&text).unwrap();

    assert_eq!(report, expected);
    assert_eq!(streamed.to_states(), whole.to_states());
}

#[test]
fn a_state_without_a_context_id_is_refused_and_the_store_kept() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let before = store.clone();
    let text = snapshot_with_a_context_without_id();

    let err = store.replace_from_compressed_text(&text).unwrap_err();

    assert!(matches!(&err, StateError::MissingContextId { entity_id } if entity_id.as_str() == "switch.bad"));
    assert_eq!(store, before);
}

#[test]
fn an_empty_store_stays_empty_after_a_refused_snapshot() {
    let mut store = EntityStore::new();
    let text = format!(r#"{{"a":{{"switch.ok":{{"s":"on","c":"c","lc":{t}}}}},"r":["light.x"]}}"#, t = epoch(1));

    let err = store.replace_from_compressed_text(&text);

    assert_eq!(err, Err(StateError::NotASnapshot { changed: 0, removed: 1 }));
    assert!(store.is_empty());
}

#[test]
fn text_that_is_not_a_compressed_event_is_a_decode_error_and_the_store_kept() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let before = store.clone();
    let text = format!("{},\"trailing\":1", snapshot_of(&next()));

    let err = store.replace_from_compressed_text(&text).unwrap_err();

    assert!(matches!(err, StateError::Decode(_)), "{err:?}");
    assert_eq!(store, before);
}
