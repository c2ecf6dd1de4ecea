//! Change reports: old and new states when recording is on, nothing extra when it is off,
//! skipped changes for unknown entities, and report reuse.

mod common;

use common::{added, epoch, event, mirrored, names, removed, state};
use ha_state::{Change, ChangeReport, EntityStore, StoreConfig};

fn recording() -> EntityStore {
    EntityStore::with_config(StoreConfig { record_changes: true })
}

#[test]
fn recording_store_reports_old_and_new_state_of_a_diff() {
    let mut store = recording();
    let light = state("light.a", "on", &[("brightness", "10")], 1);
    store.replace_from_states(vec![light.clone()]);

    let report = store.apply_compressed(&event(r#"{"c":{"light.a":{"+":{"s":"off","a":{"brightness":0}}}}}"#)).unwrap();

    let mut after = mirrored(light.clone());
    after.state = "off".into();
    after.attributes.insert("brightness", common::raw("0"));
    assert_eq!(
        report.changes,
        [Change { entity_id: common::id("light.a"), old: Some(mirrored(light)), new: Some(after) }]
    );
}

#[test]
fn recording_store_reports_added_and_removed_entities() {
    let mut store = recording();
    let light = state("light.a", "on", &[], 1);

    let add = store.apply_state_changed(added(light.clone()));
    let remove = store.apply_state_changed(removed(light.clone()));

    assert!(add.changes[0].is_added());
    assert_eq!(add.changes[0].new, Some(mirrored(light.clone())));
    assert!(remove.changes[0].is_removed());
    assert_eq!(remove.changes[0].old, Some(mirrored(light)));
}

#[test]
fn recording_replace_reports_changes_for_added_updated_and_removed() {
    let mut store = recording();
    store.replace_from_states(vec![state("light.a", "on", &[], 1), state("light.b", "on", &[], 1)]);

    let report = store.replace_from_states(vec![state("light.a", "off", &[], 2), state("light.c", "on", &[], 2)]);

    let kinds: Vec<_> =
        report.changes.iter().map(|c| (c.entity_id.as_str(), c.old.is_some(), c.new.is_some())).collect();
    assert_eq!(kinds, [("light.a", true, true), ("light.c", false, true), ("light.b", true, false)]);
}

#[test]
fn default_store_reports_ids_but_no_states() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("light.a", "on", &[], 1)]);

    let report = store.apply_compressed(&event(r#"{"c":{"light.a":{"+":{"s":"off"}}}}"#)).unwrap();

    assert_eq!(names(&report.updated), ["light.a"]);
    assert!(report.changes.is_empty());
}

#[test]
fn changes_and_removals_for_unknown_entities_are_skipped_and_counted() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("light.a", "on", &[], 1)]);
    let before = store.clone();

    let report = store.apply_compressed(&event(r#"{"c":{"light.zz":{"+":{"s":"off"}}},"r":["light.yy"]}"#)).unwrap();

    assert_eq!(store, before);
    assert!(report.is_empty());
    assert_eq!(names(&report.unknown), ["light.yy", "light.zz"]);
    assert_eq!(store.unknown_changes(), 2);
}

#[test]
fn added_updated_and_removed_of_one_event_are_all_reported() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("light.a", "on", &[], 1), state("light.b", "on", &[], 1)]);
    let json = format!(
        r#"{{"a":{{"light.c":{{"s":"on","c":"c","lc":{}}}}},"c":{{"light.a":{{"+":{{"s":"off"}}}}}},"r":["light.b"]}}"#,
        epoch(5)
    );

    let report = store.apply_compressed(&event(&json)).unwrap();

    assert_eq!(
        (names(&report.added), names(&report.updated), names(&report.removed)),
        (vec!["light.c"], vec!["light.a"], vec!["light.b"])
    );
    assert_eq!(report.len(), 3);
}

#[test]
fn apply_into_appends_to_a_reused_report() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("light.a", "on", &[], 1)]);
    let mut report = ChangeReport::new();

    store.apply_compressed_into(&event(r#"{"c":{"light.a":{"+":{"s":"off"}}}}"#), &mut report).unwrap();
    store.apply_compressed_into(&event(r#"{"c":{"light.a":{"+":{"s":"on"}}}}"#), &mut report).unwrap();
    let both = report.updated.len();
    report.clear();

    assert_eq!(both, 2);
    assert!(report.is_empty() && report.unknown.is_empty());
}

#[test]
fn config_can_be_switched_on_later() {
    let mut store = EntityStore::new();
    store.replace_from_states(vec![state("light.a", "on", &[], 1)]);

    store.set_config(StoreConfig { record_changes: true });
    let report = store.apply_compressed(&event(r#"{"c":{"light.a":{"+":{"s":"off"}}}}"#)).unwrap();

    assert!(store.config().record_changes);
    assert_eq!(report.changes.len(), 1);
}
