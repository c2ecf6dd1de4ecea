//! Queries (by id, by domain, iteration, sorted export) and heap accounting.

mod common;

use std::collections::BTreeSet;

use common::{added, expected, removed, state};
use ha_proto::State;
use ha_state::EntityStore;

fn mixed() -> Vec<State> {
    vec![
        state("sensor.b", "1", &[], 1),
        state("light.kitchen", "on", &[("brightness", "255")], 1),
        state("sensor.a", "2", &[], 1),
        state("light.hall", "off", &[], 1),
        state("switch.fan", "on", &[], 1),
        state("sensor.c", "3", &[], 1),
    ]
}

fn ids<'a>(refs: impl Iterator<Item = ha_state::EntityRef<'a>>) -> BTreeSet<String> {
    refs.map(|e| e.entity_id().to_string()).collect()
}

#[test]
fn domain_query_returns_exactly_that_domain() {
    let mut store = EntityStore::new();
    store.replace_from_states(mixed());

    let (lights, sensors, none) =
        (ids(store.domain("light")), ids(store.domain("sensor")), store.domain("cover").count());

    assert_eq!(lights, BTreeSet::from(["light.hall".to_owned(), "light.kitchen".to_owned()]));
    assert_eq!(sensors.len(), 3);
    assert_eq!(none, 0);
}

#[test]
fn domain_query_follows_removals_and_additions() {
    let mut store = EntityStore::new();
    store.replace_from_states(mixed());

    store.apply_state_changed(removed(state("sensor.a", "2", &[], 1)));
    store.apply_state_changed(added(state("sensor.d", "4", &[], 2)));
    store.apply_state_changed(removed(state("switch.fan", "on", &[], 1)));

    assert_eq!(ids(store.domain("sensor")), BTreeSet::from(["sensor.b", "sensor.c", "sensor.d"].map(String::from)));
    assert_eq!(store.domain("switch").count(), 0);
    assert_eq!(store.domains(), ["light", "sensor"]);
}

#[test]
fn domain_iterator_does_not_borrow_the_domain_name() {
    let store: EntityStore = mixed().into_iter().collect();

    let lights = {
        let name = String::from("light");
        store.domain(&name)
    };

    assert_eq!(lights.count(), 2);
}

#[test]
fn store_is_send_and_sync() {
    fn assert_send_sync<T: Send + Sync>() {}

    assert_send_sync::<EntityStore>();
}

#[test]
fn domain_name_must_match_exactly() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("input_boolean.x", "on", &[], 1), state("input.y", "on", &[], 1)]);

    let (input, input_boolean) = (store.domain("input").count(), store.domain("input_boolean").count());

    assert_eq!((input, input_boolean), (1, 1));
}

#[test]
fn get_contains_and_entity_agree() {
    let mut store = EntityStore::new();
    store.replace_from_states(mixed());

    let light = store.entity("light.kitchen").unwrap();

    assert!(store.contains("light.kitchen") && !store.contains("light.nope"));
    assert_eq!(store.get("light.kitchen"), Some(light.to_state()));
    assert_eq!(light.attribute("brightness").unwrap().get(), "255");
    assert_eq!((light.domain(), light.state()), ("light", "on"));
    assert!(store.get("light.nope").is_none());
}

#[test]
fn iter_visits_every_entity_once() {
    let mut store = EntityStore::new();
    store.replace_from_states(mixed());

    let seen: Vec<_> = store.iter().map(|e| e.entity_id().to_string()).collect();

    assert_eq!(seen.len(), 6);
    assert_eq!(seen.iter().collect::<BTreeSet<_>>().len(), 6);
}

#[test]
fn to_states_is_sorted_by_entity_id() {
    let mut store = EntityStore::new();
    store.replace_from_states(mixed());

    let states = store.to_states();

    assert_eq!(states, expected(mixed()));
}

#[test]
fn debug_output_names_the_entities() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("light.a", "on", &[("brightness", "3")], 1)]);

    let text = format!("{store:?}");

    assert!(text.contains("light.a") && text.contains("brightness"), "{text}");
}

fn big_entity(i: usize) -> State {
    let payload = format!("\"{}\"", "x".repeat(1000));
    state(&format!("sensor.big_{i}"), "1", &[("payload", &payload), ("friendly_name", r#""Big""#)], 1)
}

#[test]
fn heap_grows_at_least_by_the_attribute_bytes_added() {
    let mut store = EntityStore::new();
    let empty = store.approx_heap_bytes();

    store.replace_from_states((0..100).map(big_entity).collect());

    let grown = store.approx_heap_bytes();
    assert!(grown >= empty + 100 * 1002, "{empty} -> {grown}");
    // and not absurdly more: payload plus a generous 1 KiB per entity of overhead
    assert!(grown <= empty + 100 * (1002 + 1024), "{empty} -> {grown}");
}

#[test]
fn heap_shrinks_when_entities_are_removed() {
    let mut store = EntityStore::new();
    store.replace_from_states((0..100).map(big_entity).collect());
    let full = store.approx_heap_bytes();

    store.replace_from_states((0..10).map(big_entity).collect());

    let after = store.approx_heap_bytes();
    assert!(after + 90 * 1002 <= full, "{full} -> {after}");
}

#[test]
fn attribute_keys_are_stored_once_per_store() {
    let mut store = EntityStore::new();

    store.replace_from_states((0..100).map(big_entity).collect());

    assert_eq!(store.distinct_attribute_keys(), 2);
}

#[test]
fn unused_attribute_keys_are_dropped_on_replace() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("light.a", "on", &[("old_key", "1")], 1)]);

    store.replace_from_states(vec![state("light.a", "on", &[("new_key", "1")], 1)]);

    assert_eq!(store.distinct_attribute_keys(), 1);
}
