//! Wire texts: every message parses with ha-proto, and the full and compressed streams agree.

use ha_fixtures::{
    DEFAULT_SEED, SMALL, compressed_diff_messages, compressed_snapshot_message, get_states_result, install,
    state_changed_messages,
};
use ha_proto::{CompressedEvent, Event, Frame, ServerMessage, State, parse_states};

fn event_text(message: &str, sub_id: u64) -> String {
    let frame = Frame::parse(message).expect("a valid frame");
    assert!(frame.errors.is_empty(), "{:?}", frame.errors);
    let [ServerMessage::Event { id, event }] = frame.messages.as_slice() else { panic!("not one event: {message}") };
    assert_eq!(*id, sub_id);
    event.get().to_owned()
}

/// Applies one compressed change to a state (Home Assistant's merge rules).
fn apply(state: &mut State, diff: &ha_proto::StateDiff<'_>) {
    if let Some(add) = &diff.additions {
        if let Some(s) = &add.state {
            state.state = s.to_string();
        }
        if let Some(lc) = add.last_changed {
            state.last_changed = lc;
            state.last_updated = lc;
        }
        if let Some(lu) = add.last_updated {
            state.last_updated = lu;
        }
        if let Some(c) = &add.context {
            c.apply_to(&mut state.context);
        }
        if let Some(a) = &add.attributes {
            for (k, v) in &a.0 {
                state.attributes.insert(k, v.clone().into_boxed());
            }
        }
    }
    if let Some(rem) = &diff.removals {
        for k in &rem.attributes {
            state.attributes.remove(k);
        }
    }
}

#[test]
fn state_changed_messages_parse_as_state_changed_events() {
    let states = install(DEFAULT_SEED, SMALL);

    let messages = state_changed_messages(DEFAULT_SEED, &states, 2_000, 18);

    assert_eq!(messages.len(), 2_000);
    for m in &messages {
        let text = event_text(m, 18);
        let event = Event::parse(&text).unwrap();
        let data = event.state_changed().expect("a state_changed event").unwrap();
        let (old, new) = (data.old_state.unwrap(), data.new_state.unwrap());
        assert_eq!(old.entity_id, data.entity_id);
        assert_eq!(new.entity_id, data.entity_id);
        assert_eq!(event.time_fired, new.last_updated);
        assert_eq!(event.context, new.context);
        assert_eq!(event.origin.as_deref(), Some("LOCAL"));
    }
}

#[test]
fn compressed_and_full_streams_describe_the_same_changes() {
    let states = install(DEFAULT_SEED, SMALL);
    let full = state_changed_messages(7, &states, 3_000, 18);
    let compressed = compressed_diff_messages(7, &states, 3_000, 7);

    let mut mirror = states.clone();
    for (f, c) in full.iter().zip(&compressed) {
        let (ftext, ctext) = (event_text(f, 18), event_text(c, 7));
        let data = Event::parse(&ftext).unwrap().state_changed().unwrap().unwrap();
        let diff = CompressedEvent::parse(&ctext).unwrap();

        let [(key, change)] = diff.changed.as_slice() else { panic!("one change per event: {ctext}") };
        assert_eq!(key.as_str(), data.entity_id.as_str());
        let slot = mirror.iter_mut().find(|s| s.entity_id == data.entity_id).unwrap();
        apply(slot, change);
        let mut expected = data.new_state.unwrap();
        expected.last_reported = slot.last_reported;
        assert_eq!(*slot, expected);
    }
    assert_eq!(full.len(), compressed.len());
}

#[test]
fn message_streams_are_deterministic() {
    let states = install(DEFAULT_SEED, SMALL);

    let (a, b) = (compressed_diff_messages(3, &states, 500, 1), compressed_diff_messages(3, &states, 500, 1));

    assert_eq!(a, b);
}

#[test]
fn get_states_result_parses_back_to_the_same_states() {
    let states = install(DEFAULT_SEED, SMALL);

    let message = get_states_result(&states, 4);

    let frame = Frame::parse(&message).unwrap();
    let [ServerMessage::Result { id: 4, outcome: Ok(result) }] = frame.messages.as_slice() else { panic!() };
    assert_eq!(parse_states(result.get()).unwrap(), states);
}

#[test]
fn compressed_snapshot_expands_to_the_same_states() {
    let states = install(DEFAULT_SEED, SMALL);

    let message = compressed_snapshot_message(&states, 7);

    let text = event_text(&message, 7);
    let event = CompressedEvent::parse(&text).unwrap();
    assert_eq!(event.added.len(), states.len());
    for ((key, compressed), state) in event.added.iter().zip(&states) {
        let mut expected = state.clone();
        expected.last_reported = None;
        assert_eq!(compressed.to_state(key.to_entity_id()), expected);
    }
}
