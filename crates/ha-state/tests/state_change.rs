//! `state_changed` events decoded in one pass ([`StateChangedFrame`]) and applied in place
//! ([`EntityStore::apply_state_change_into`]) give the mirror the owned path gives.

use ha_fixtures::{DEFAULT_SEED, SMALL, install, state_changed_messages};
use ha_proto::{Event, Frame, ServerMessage, StateChangedFrame};
use ha_state::{ChangeReport, EntityStore};

/// A `state_changed` message for `light.a` whose new state is `new_state` (JSON text).
fn message(new_state: &str) -> String {
    format!(
        r#"{{"type":"event","event":{{"event_type":"state_changed","data":{{"entity_id":"light.a","old_state":null,"new_state":{new_state}}},"origin":"LOCAL","time_fired":"2024-03-01T10:00:00+00:00","context":{{"id":"c"}}}},"id":3}}"#
    )
}

fn light(state: &str, attributes: &str, context: &str) -> String {
    format!(
        r#"{{"entity_id":"light.a","state":"{state}","attributes":{attributes},"last_changed":"2024-03-01T10:00:00+00:00","last_updated":"2024-03-01T10:00:00+00:00","context":{context}}}"#
    )
}

/// Applies `text` the one-pass way.
fn apply(store: &mut EntityStore, text: &str) -> ChangeReport {
    let frame = StateChangedFrame::parse(text).unwrap().expect("a state_changed event");
    let mut report = ChangeReport::new();
    store.apply_state_change_into(&frame.event.change, &mut report);
    report
}

/// Applies `text` the owned way (`Frame::parse`, `Event::parse`, `Event::state_changed`).
fn apply_owned(store: &mut EntityStore, text: &str) -> ChangeReport {
    let frame = Frame::parse(text).unwrap();
    let ServerMessage::Event { event, .. } = &frame.messages[0] else { panic!("not an event") };
    store.apply_state_changed(Event::parse(event.get()).unwrap().state_changed().unwrap().unwrap())
}

#[test]
fn a_new_entity_is_added() {
    let mut store = EntityStore::new();

    let report = apply(&mut store, &message(&light("on", r#"{"brightness":10}"#, r#"{"id":"c1"}"#)));

    assert_eq!(report.added.len(), 1);
    assert_eq!(store.entity("light.a").unwrap().attribute("brightness").unwrap().get(), "10");
}

#[test]
fn a_held_entity_is_replaced_whole() {
    let (mut one_pass, mut owned) = (EntityStore::new(), EntityStore::new());
    let first = message(&light("on", r#"{"brightness":10,"mode":"hs"}"#, r#"{"id":"c1","user_id":"u"}"#));
    let second = message(&light("off", r#"{"brightness":0,"mode":"hs"}"#, r#"{"id":"c2","parent_id":"p"}"#));
    apply(&mut one_pass, &first);
    apply_owned(&mut owned, &first);

    let report = apply(&mut one_pass, &second);

    apply_owned(&mut owned, &second);
    assert_eq!(report.updated.len(), 1);
    assert_eq!(one_pass, owned);
    assert_eq!(one_pass.get("light.a").unwrap().context.user_id, None);
}

#[test]
fn attributes_with_other_keys_replace_the_held_ones() {
    let mut store = EntityStore::new();
    apply(&mut store, &message(&light("on", r#"{"a":1,"b":2}"#, r#"{"id":"c1"}"#)));

    apply(&mut store, &message(&light("on", r#"{"b":3,"c":4,"b":5}"#, r#"{"id":"c1"}"#)));

    let attrs: Vec<(String, String)> =
        store.entity("light.a").unwrap().attributes().map(|(k, v)| (k.to_owned(), v.get().to_owned())).collect();
    assert_eq!(attrs, [("b".to_owned(), "5".to_owned()), ("c".to_owned(), "4".to_owned())]);
}

#[test]
fn a_null_new_state_removes_the_entity() {
    let mut store = EntityStore::new();
    apply(&mut store, &message(&light("on", "{}", r#"{"id":"c1"}"#)));

    let report = apply(&mut store, &message("null"));

    assert_eq!(report.removed.len(), 1);
    assert!(store.is_empty());
}

#[test]
fn removing_an_entity_the_store_does_not_hold_is_listed_as_unknown() {
    let mut store = EntityStore::new();

    let report = apply(&mut store, &message("null"));

    assert_eq!(report.unknown.iter().map(|id| id.as_str()).collect::<Vec<_>>(), ["light.a"]);
    assert_eq!(store.unknown_changes(), 1);
}

#[test]
fn a_generated_stream_gives_the_mirror_of_the_owned_path() {
    // arrange: 1,000 entities and 3,000 Zipf-skewed state_changed events
    let initial = install(DEFAULT_SEED, SMALL);
    let messages = state_changed_messages(11, &initial, 3_000, 1);
    let (mut one_pass, mut owned) = (EntityStore::new(), EntityStore::new());
    one_pass.replace_from_states(initial.clone());
    owned.replace_from_states(initial);
    let mut report = ChangeReport::new();

    // act
    for text in &messages {
        let frame = StateChangedFrame::parse(text).unwrap().expect("a state_changed event");
        report.clear();
        one_pass.apply_state_change_into(&frame.event.change, &mut report);
        assert_eq!(report.updated.len() + report.added.len(), 1);
        apply_owned(&mut owned, text);
    }

    // assert
    assert_eq!(one_pass, owned);
    assert_eq!(one_pass.to_states(), owned.to_states());
}
