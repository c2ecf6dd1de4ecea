//! `state_changed` events: added, updated and removed entities, and removals of unknown ones.

mod common;

use common::{added, expected, names, removed, state, updated};
use ha_proto::StateChangedData;
use ha_state::EntityStore;

#[test]
fn new_state_without_old_state_adds_the_entity() {
    let mut store = EntityStore::new();
    let light = state("light.a", "on", &[("brightness", "10")], 1);

    let report = store.apply_state_changed(added(light.clone()));

    assert_eq!(store.to_states(), expected([light]));
    assert_eq!(names(&report.added), ["light.a"]);
}

#[test]
fn new_state_replaces_the_held_entity_whole() {
    let mut store = EntityStore::new();
    let old = state("light.a", "on", &[("brightness", "10"), ("effect", r#""x""#)], 1);
    store.apply_state_changed(added(old.clone()));
    let new = state("light.a", "off", &[("friendly_name", r#""A""#)], 2);

    let report = store.apply_state_changed(updated(old, new.clone()));

    assert_eq!(store.to_states(), expected([new]));
    assert_eq!(names(&report.updated), ["light.a"]);
    assert!(report.added.is_empty());
}

#[test]
fn null_new_state_removes_the_entity() {
    let mut store = EntityStore::new();
    let light = state("light.a", "on", &[], 1);
    store.apply_state_changed(added(light.clone()));

    let report = store.apply_state_changed(removed(light));

    assert!(store.is_empty());
    assert_eq!(store.domain("light").count(), 0);
    assert_eq!(names(&report.removed), ["light.a"]);
}

#[test]
fn removal_of_an_unknown_entity_is_skipped_and_counted() {
    let mut store = EntityStore::new();
    store.apply_state_changed(added(state("light.a", "on", &[], 1)));

    let report = store.apply_state_changed(removed(state("light.zz", "on", &[], 1)));

    assert_eq!(store.len(), 1);
    assert!(report.is_empty());
    assert_eq!(names(&report.unknown), ["light.zz"]);
    assert_eq!(store.unknown_changes(), 1);
}

#[test]
fn store_membership_not_old_state_decides_added_or_updated() {
    // arrange: an update whose old_state claims the entity existed, for a store that never saw it
    let mut store = EntityStore::new();
    let old = state("light.a", "on", &[], 1);
    let new = state("light.a", "off", &[], 2);

    let report = store.apply_state_changed(updated(old, new));

    assert_eq!(names(&report.added), ["light.a"]);
    assert!(report.updated.is_empty());
}

#[test]
fn state_changed_parsed_from_json_feeds_the_store() {
    let mut store = EntityStore::new();
    let json = r#"{"entity_id":"sensor.t","old_state":null,"new_state":{"entity_id":"sensor.t","state":"21.5",
        "attributes":{"unit_of_measurement":"°C"},"last_changed":"2024-03-20T10:00:00.123456+00:00",
        "last_reported":"2024-03-20T10:00:00.123456+00:00","last_updated":"2024-03-20T10:00:00.123456+00:00",
        "context":{"id":"01HSA","parent_id":null,"user_id":null}}}"#;
    let data: StateChangedData = serde_json::from_str(json).unwrap();

    store.apply_state_changed(data);

    let sensor = store.get("sensor.t").unwrap();
    assert_eq!(sensor.state, "21.5");
    assert_eq!(sensor.attributes.get("unit_of_measurement").unwrap().get(), r#""°C""#);
    assert_eq!(sensor.last_reported, None);
}
