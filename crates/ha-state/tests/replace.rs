//! Replacing the store from a snapshot: absent entities go (the reconnect pitfall), the report
//! says what changed, and invalid snapshots leave the store untouched.

mod common;

use common::{epoch, event, expected, names, snapshot_with_a_context_without_id, state};
use ha_proto::{CompressedEvent, CompressedState, EntityKey, State};
use ha_state::{EntityStore, StateError};

fn three() -> Vec<State> {
    vec![
        state("light.a", "on", &[("brightness", "10")], 1),
        state("light.b", "off", &[], 2),
        state("sensor.t", "21.5", &[("unit_of_measurement", r#""°C""#)], 3),
    ]
}

fn snapshot_of(states: &[State]) -> String {
    let added = states.iter().map(|s| (EntityKey::from(&s.entity_id), CompressedState::from_state(s))).collect();
    serde_json::to_string(&CompressedEvent { added, ..Default::default() }).unwrap()
}

#[test]
fn replace_from_states_loads_every_entity_without_last_reported() {
    let mut store = EntityStore::new();

    let report = store.replace_from_states(three());

    assert_eq!(store.to_states(), expected(three()));
    assert_eq!(names(&report.added), ["light.a", "light.b", "sensor.t"]);
    assert!(report.updated.is_empty() && report.removed.is_empty());
}

#[test]
fn replace_from_states_removes_entities_absent_from_the_new_list() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());

    let report = store.replace_from_states(vec![state("light.b", "off", &[], 2)]);

    assert_eq!(store.len(), 1);
    assert!(store.contains("light.b") && !store.contains("light.a") && !store.contains("sensor.t"));
    assert_eq!(names(&report.removed), ["light.a", "sensor.t"]);
}

#[test]
fn replace_from_compressed_removes_entities_deleted_while_away() {
    // arrange: the store saw three entities; while disconnected light.a was deleted
    let mut store = EntityStore::new();
    store.replace_from_compressed(&event(&snapshot_of(&three()))).unwrap();
    let after_reconnect = snapshot_of(&three()[1..]);

    let report = store.replace_from_compressed(&event(&after_reconnect)).unwrap();

    assert!(!store.contains("light.a"));
    assert_eq!(store.len(), 2);
    assert_eq!(names(&report.removed), ["light.a"]);
    assert!(report.added.is_empty() && report.updated.is_empty());
}

#[test]
fn replace_reports_only_entities_whose_content_differs() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let mut next = three();
    next[2] = state("sensor.t", "22.0", &[("unit_of_measurement", r#""°C""#)], 9);
    next.push(state("switch.new", "on", &[], 4));

    let report = store.replace_from_states(next.clone());

    assert_eq!(names(&report.updated), ["sensor.t"]);
    assert_eq!(names(&report.added), ["switch.new"]);
    assert!(report.removed.is_empty());
    assert_eq!(store.to_states(), expected(next));
}

#[test]
fn replace_ignores_last_reported_when_comparing() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let mut next = three();
    next[0].last_reported = Some(common::at(1000));

    let report = store.replace_from_states(next);

    assert!(report.is_empty(), "{report:?}");
}

#[test]
fn replace_with_an_empty_snapshot_empties_the_store() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());

    let report = store.replace_from_compressed(&event(r#"{"a":{}}"#)).unwrap();

    assert!(store.is_empty());
    assert_eq!(store.domain("light").count(), 0);
    assert_eq!(report.removed.len(), 3);
}

#[test]
fn both_snapshot_feeds_build_equal_stores() {
    let (mut from_states, mut from_compressed) = (EntityStore::new(), EntityStore::new());

    from_states.replace_from_states(three());
    from_compressed.replace_from_compressed(&event(&snapshot_of(&three()))).unwrap();

    assert_eq!(from_states, from_compressed);
    assert_eq!(from_states.to_states(), from_compressed.to_states());
}

#[test]
fn borrowed_state_views_build_the_store_owned_states_build() {
    let text = serde_json::to_string(&three()).unwrap();
    let views = ha_proto::parse_state_views(&text).unwrap();
    let (mut from_states, mut from_views) = (EntityStore::new(), EntityStore::new());

    from_states.replace_from_states(three());
    let report = from_views.replace_from_state_views(&views);

    assert_eq!(from_views.to_states(), from_states.to_states());
    assert_eq!(names(&report.added), ["light.a", "light.b", "sensor.t"]);
}

#[test]
fn replace_from_state_views_updates_only_what_differs_and_removes_the_absent() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let mut next = three();
    next[0].state = "off".into();
    next.pop();
    let text = serde_json::to_string(&next).unwrap();
    let views = ha_proto::parse_state_views(&text).unwrap();

    let report = store.replace_from_state_views(&views);

    assert_eq!(store.to_states(), expected(next));
    assert_eq!(names(&report.updated), ["light.a"]);
    assert_eq!(names(&report.removed), ["sensor.t"]);
}

#[test]
fn a_state_list_decoded_one_state_at_a_time_replaces_as_its_views_do() {
    let mut next = three();
    next[0].state = "off".into();
    next.pop();
    let text = serde_json::to_string(&next).unwrap();
    let (mut by_views, mut decoded) = (EntityStore::new(), EntityStore::new());
    by_views.replace_from_states(three());
    decoded.replace_from_states(three());

    let expected_report = by_views.replace_from_state_views(&ha_proto::parse_state_views(&text).unwrap());
    let report = decoded.replace_from_snapshot(EntityStore::decode_state_list(&text).unwrap());

    assert_eq!(decoded.to_states(), by_views.to_states());
    assert_eq!(report, expected_report);
}

#[test]
fn a_get_states_result_frame_decodes_as_its_state_list_does() {
    let list = serde_json::to_string(&three()).unwrap();
    let frame = format!(r#"{{"id":41,"type":"result","success":true,"result":{list}}}"#);
    let (mut from_list, mut from_frame) = (EntityStore::new(), EntityStore::new());
    let expected_report = from_list.replace_from_snapshot(EntityStore::decode_state_list(&list).unwrap());

    let (id, snapshot) = EntityStore::decode_state_list_result(&frame).unwrap().expect("a state list result");
    let report = from_frame.replace_from_snapshot(snapshot);

    assert_eq!(id, 41);
    assert_eq!(from_frame.to_states(), from_list.to_states());
    assert_eq!(report, expected_report);
}

#[test]
fn a_frame_that_is_not_a_state_list_result_is_left_to_frame_parse() {
    let frame = r#"{"id":41,"type":"result","success":true,"result":null}"#;

    let decoded = EntityStore::decode_state_list_result(frame);

    assert!(matches!(decoded, Ok(None)), "{decoded:?}");
}

#[test]
fn a_result_frame_whose_list_is_not_a_state_list_does_not_decode() {
    let frame = r#"{"id":41,"type":"result","success":true,"result":[{"entity_id":"light.a"}]}"#;

    let decoded = EntityStore::decode_state_list_result(frame);

    assert!(matches!(decoded, Err(StateError::Decode(_))), "{decoded:?}");
}

#[test]
fn a_text_that_is_not_a_state_list_does_not_decode() {
    let text = r#"[{"entity_id":"light.a","state":"on"}"#;

    let decoded = EntityStore::decode_state_list(text);

    assert!(matches!(decoded, Err(StateError::Decode(_))), "{decoded:?}");
}

#[test]
fn replace_from_compressed_refuses_an_event_with_changes_and_keeps_the_store() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let before = store.clone();

    let err = store.replace_from_compressed(&event(r#"{"c":{"light.a":{"+":{"s":"off"}}},"r":["light.b"]}"#));

    assert_eq!(err, Err(StateError::NotASnapshot { changed: 1, removed: 1 }));
    assert_eq!(store, before);
}

#[test]
fn a_context_object_without_id_is_refused_before_anything_is_written() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let before = store.clone();
    let json = snapshot_with_a_context_without_id();

    let err = store.replace_from_compressed(&event(&json)).unwrap_err();

    assert!(matches!(&err, StateError::MissingContextId { entity_id } if entity_id.as_str() == "switch.bad"));
    assert_eq!(err.to_string(), "entity switch.bad has a context without an id");
    assert_eq!(store, before);
}

#[test]
fn apply_compressed_refuses_an_invalid_added_state_atomically() {
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    let before = store.clone();
    let json = format!(r#"{{"a":{{"switch.bad":{{"s":"on","c":{{}},"lc":{}}}}},"r":["light.a"]}}"#, epoch(1));

    let result = store.apply_compressed(&event(&json));

    assert!(result.is_err());
    assert_eq!(store, before);
}

#[test]
fn duplicate_attribute_keys_in_a_snapshot_keep_the_last_value() {
    let mut store = EntityStore::new();
    let json = format!(r#"{{"a":{{"light.a":{{"s":"on","a":{{"k":1,"k":2}},"c":"c","lc":{}}}}}}}"#, epoch(1));

    store.replace_from_compressed(&event(&json)).unwrap();

    let light = store.entity("light.a").unwrap();
    assert_eq!(light.attribute_count(), 1);
    assert_eq!(light.attribute("k").unwrap().get(), "2");
}

#[test]
fn slots_freed_by_a_replace_are_reused_consistently() {
    // arrange: remove two entities, then add two new ones into the freed slots
    let mut store = EntityStore::new();
    store.replace_from_states(three());
    store.replace_from_states(vec![state("light.b", "off", &[], 2)]);
    let next = vec![
        state("light.b", "off", &[], 2),
        state("light.c", "on", &[], 5),
        state("climate.x", "heat", &[("temperature", "20")], 6),
    ];

    store.replace_from_states(next.clone());

    let mut lights: Vec<_> = store.domain("light").map(|e| e.entity_id().to_string()).collect();
    lights.sort();
    assert_eq!(lights, ["light.b", "light.c"]);
    assert_eq!(store.domain("climate").count(), 1);
    assert_eq!(store.to_states(), expected(next));
}
