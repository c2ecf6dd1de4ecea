//! Home Assistant's merge rules for `subscribe_entities` diffs, one rule per test.

mod common;

use common::{at, epoch, event, names};
use ha_proto::Context;
use ha_state::EntityStore;

/// A store holding `light.a` with state "on", three attributes, a full context,
/// last_changed = at(0) and last_updated = at(50).
fn store_with_light() -> EntityStore {
    let mut store = EntityStore::new();
    let snapshot = format!(
        r#"{{"a":{{"light.a":{{"s":"on","a":{{"friendly_name":"A","brightness":10,"color_mode":"hs"}},"c":{{"id":"c1","parent_id":"p1","user_id":"u1"}},"lc":{},"lu":{}}}}}}}"#,
        epoch(0),
        epoch(50)
    );
    store.replace_from_compressed(&event(&snapshot)).unwrap();
    store
}

fn apply(store: &mut EntityStore, json: &str) {
    store.apply_compressed(&event(json)).unwrap();
}

fn attrs(store: &EntityStore) -> Vec<(String, String)> {
    let light = store.entity("light.a").unwrap();
    light.attributes().map(|(k, v)| (k.to_owned(), v.get().to_owned())).collect()
}

fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
    list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

#[test]
fn plus_s_sets_the_state_and_nothing_else() {
    let mut store = store_with_light();
    let before = store.get("light.a").unwrap();

    apply(&mut store, r#"{"c":{"light.a":{"+":{"s":"off"}}}}"#);

    let after = store.get("light.a").unwrap();
    assert_eq!(after.state, "off");
    assert_eq!((after.last_changed, after.last_updated), (before.last_changed, before.last_updated));
    assert_eq!((&after.attributes, &after.context), (&before.attributes, &before.context));
}

#[test]
fn plus_lc_sets_last_changed_and_last_updated() {
    let mut store = store_with_light();

    apply(&mut store, &format!(r#"{{"c":{{"light.a":{{"+":{{"s":"off","lc":{}}}}}}}}}"#, epoch(100)));

    let light = store.entity("light.a").unwrap();
    assert_eq!(light.last_changed(), at(100));
    assert_eq!(light.last_updated(), at(100));
}

#[test]
fn plus_lu_alone_sets_only_last_updated() {
    let mut store = store_with_light();

    apply(&mut store, &format!(r#"{{"c":{{"light.a":{{"+":{{"lu":{}}}}}}}}}"#, epoch(100)));

    let light = store.entity("light.a").unwrap();
    assert_eq!(light.last_changed(), at(0));
    assert_eq!(light.last_updated(), at(100));
}

#[test]
fn plus_lc_wins_over_plus_lu_when_both_are_sent() {
    let mut store = store_with_light();

    apply(&mut store, &format!(r#"{{"c":{{"light.a":{{"+":{{"lc":{},"lu":{}}}}}}}}}"#, epoch(100), epoch(200)));

    let light = store.entity("light.a").unwrap();
    assert_eq!((light.last_changed(), light.last_updated()), (at(100), at(100)));
}

#[test]
fn plus_c_string_replaces_only_the_context_id() {
    let mut store = store_with_light();

    apply(&mut store, r#"{"c":{"light.a":{"+":{"c":"c2"}}}}"#);

    let expected = Context { id: "c2".into(), parent_id: Some("p1".into()), user_id: Some("u1".into()) };
    assert_eq!(store.entity("light.a").unwrap().context().to_context(), expected);
}

#[test]
fn plus_c_object_sets_only_the_fields_it_names() {
    let mut store = store_with_light();

    apply(&mut store, r#"{"c":{"light.a":{"+":{"c":{"user_id":null}}}}}"#);

    let expected = Context { id: "c1".into(), parent_id: Some("p1".into()), user_id: None };
    assert_eq!(store.entity("light.a").unwrap().context().to_context(), expected);
}

#[test]
fn plus_c_object_with_id_and_parent_sets_both() {
    let mut store = store_with_light();

    apply(&mut store, r#"{"c":{"light.a":{"+":{"c":{"parent_id":"p2","id":"c2"}}}}}"#);

    let expected = Context { id: "c2".into(), parent_id: Some("p2".into()), user_id: Some("u1".into()) };
    assert_eq!(store.entity("light.a").unwrap().context().to_context(), expected);
}

#[test]
fn plus_a_merges_changed_keys_in_place_and_appends_new_ones() {
    let mut store = store_with_light();

    apply(&mut store, r#"{"c":{"light.a":{"+":{"a":{"brightness":200,"effect":"rainbow"}}}}}"#);

    let expected = pairs(&[
        ("friendly_name", r#""A""#),
        ("brightness", "200"),
        ("color_mode", r#""hs""#),
        ("effect", r#""rainbow""#),
    ]);
    assert_eq!(attrs(&store), expected);
}

#[test]
fn plus_a_keeps_nested_values_as_raw_json() {
    let mut store = store_with_light();

    apply(&mut store, r#"{"c":{"light.a":{"+":{"a":{"hs_color":[30.5, 70],"extra":{"k":[null,true]}}}}}}"#);

    let light = store.entity("light.a").unwrap();
    assert_eq!(light.attribute("hs_color").unwrap().get(), "[30.5, 70]");
    assert_eq!(light.attribute("extra").unwrap().get(), r#"{"k":[null,true]}"#);
}

#[test]
fn minus_a_removes_keys_and_ignores_missing_ones() {
    let mut store = store_with_light();

    apply(&mut store, r#"{"c":{"light.a":{"-":{"a":["color_mode","not_there"]}}}}"#);

    assert_eq!(attrs(&store), pairs(&[("friendly_name", r#""A""#), ("brightness", "10")]));
}

#[test]
fn minus_a_is_applied_after_plus_a() {
    let mut store = store_with_light();

    apply(&mut store, r#"{"c":{"light.a":{"+":{"a":{"effect":"x"}},"-":{"a":["effect"]}}}}"#);

    assert!(store.entity("light.a").unwrap().attribute("effect").is_none());
}

#[test]
fn empty_diff_changes_nothing_but_is_reported() {
    let mut store = store_with_light();
    let before = store.clone();

    let report = store.apply_compressed(&event(r#"{"c":{"light.a":{}}}"#)).unwrap();

    assert_eq!(store, before);
    assert_eq!(names(&report.updated), ["light.a"]);
}

#[test]
fn a_entry_for_a_held_id_replaces_it_whole() {
    let mut store = store_with_light();

    let report = store
        .apply_compressed(&event(&format!(
            r#"{{"a":{{"light.a":{{"s":"off","a":{{"friendly_name":"B"}},"c":"c9","lc":{}}}}}}}"#,
            epoch(300)
        )))
        .unwrap();

    let light = store.entity("light.a").unwrap();
    assert_eq!(attrs(&store), pairs(&[("friendly_name", r#""B""#)]));
    assert_eq!(light.context().to_context(), Context::from_id("c9"));
    assert_eq!((light.last_changed(), light.last_updated()), (at(300), at(300)));
    assert_eq!(names(&report.updated), ["light.a"]);
    assert!(report.added.is_empty());
}

#[test]
fn a_entry_without_lu_has_last_updated_equal_to_last_changed() {
    let mut store = EntityStore::new();

    store
        .apply_compressed(&event(&format!(r#"{{"a":{{"switch.x":{{"s":"on","c":"c","lc":{}}}}}}}"#, epoch(7))))
        .unwrap();

    let switch = store.entity("switch.x").unwrap();
    assert_eq!((switch.last_changed(), switch.last_updated()), (at(7), at(7)));
    assert_eq!(switch.attribute_count(), 0);
}

#[test]
fn a_entry_with_a_context_object_keeps_parent_and_user() {
    let mut store = EntityStore::new();

    store
        .apply_compressed(&event(&format!(
            r#"{{"a":{{"switch.x":{{"s":"on","c":{{"id":"c","parent_id":null,"user_id":"u"}},"lc":{}}}}}}}"#,
            epoch(7)
        )))
        .unwrap();

    let expected = Context { id: "c".into(), parent_id: None, user_id: Some("u".into()) };
    assert_eq!(store.entity("switch.x").unwrap().context().to_context(), expected);
}

#[test]
fn removal_runs_before_changes_within_one_event() {
    let mut store = store_with_light();

    let report = store.apply_compressed(&event(r#"{"c":{"light.a":{"+":{"s":"off"}}},"r":["light.a"]}"#)).unwrap();

    assert!(!store.contains("light.a"));
    assert_eq!(names(&report.removed), ["light.a"]);
    assert_eq!(names(&report.unknown), ["light.a"]);
}
