//! Complete server messages as Home Assistant sends them: `state_changed` events, compressed
//! `subscribe_entities` events, and `get_states` results.

use std::borrow::Cow;

use ha_proto::raw::RawJson;
use ha_proto::{
    CompressedEvent, CompressedState, EntityKey, Event, STATE_CHANGED, ServerMessage, State, StateChangedData,
    StateDiff, Timestamp,
};

use crate::{ChangeStream, INSTALL_NOW};

/// Where the message generators start their stream's clock: one second after the newest
/// timestamp in `states` (or [`INSTALL_NOW`] for no states).
pub fn stream_start(states: &[State]) -> Timestamp {
    let newest = states
        .iter()
        .map(|s| s.last_reported.unwrap_or(s.last_updated).max(s.last_updated).as_micros())
        .max()
        .unwrap_or(INSTALL_NOW.as_micros() - 1_000_000);
    Timestamp::from_micros(newest + 1_000_000)
}

/// Runs `count` changes of the stream `ChangeStream::new(seed, states, stream_start(states))`
/// and hands each `(old, new)` to `each`.
fn changes(seed: u64, states: &[State], count: usize, mut each: impl FnMut(&State, &State)) {
    if states.is_empty() {
        return;
    }
    let mut live = states.to_vec();
    let mut stream = ChangeStream::new(seed, states, stream_start(states));
    for _ in 0..count {
        let (_, old, new) = stream.step(&mut live);
        each(&old, &new);
    }
}

/// The `state_changed` event of one change, as a complete message on subscription `sub_id`.
pub fn state_changed_message(old: &State, new: &State, sub_id: u64) -> String {
    let data = StateChangedData {
        entity_id: new.entity_id.clone(),
        old_state: Some(old.clone()),
        new_state: Some(new.clone()),
    };
    let event = Event {
        event_type: Cow::Borrowed(STATE_CHANGED),
        data: RawJson::from_value(&data),
        origin: Some(Cow::Borrowed("LOCAL")),
        time_fired: new.last_updated,
        context: new.context.clone(),
    };
    id_last_event_message(&event, sub_id)
}

/// The compressed `subscribe_entities` event of one change (`{"c": {id: {"+": .., "-": ..}}}`).
pub fn compressed_diff_message(old: &State, new: &State, sub_id: u64) -> String {
    let event = CompressedEvent {
        changed: vec![(EntityKey::from(&new.entity_id), StateDiff::between(old, new))],
        ..CompressedEvent::default()
    };
    id_last_event_message(&event, sub_id)
}

/// An event message as Home Assistant 2024.3.3 writes the events it caches (`subscribe_entities`
/// diffs, and bus events such as `state_changed` for `subscribe_events`): compact, the id after
/// the payload (`{"type":"event","event":{...},"id":N}`, captured by `cargo xtask ha-conformance`;
/// ha-sim sends them the same way). Snapshots and results put the id first.
fn id_last_event_message(event: &impl serde::Serialize, sub_id: u64) -> String {
    let event = serde_json::to_string(event).expect("events serialise");
    format!(r#"{{"type":"event","event":{event},"id":{sub_id}}}"#)
}

/// `count` `state_changed` event messages on subscription `sub_id`: the changes of
/// `ChangeStream::new(seed, states, stream_start(states))`, applied one after another.
pub fn state_changed_messages(seed: u64, states: &[State], count: usize, sub_id: u64) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    changes(seed, states, count, |old, new| out.push(state_changed_message(old, new, sub_id)));
    out
}

/// The same changes as [`state_changed_messages`] for the same arguments, as compressed
/// `subscribe_entities` diff messages.
pub fn compressed_diff_messages(seed: u64, states: &[State], count: usize, sub_id: u64) -> Vec<String> {
    let mut out = Vec::with_capacity(count);
    changes(seed, states, count, |old, new| out.push(compressed_diff_message(old, new, sub_id)));
    out
}

/// The `get_states` result message: `{"id":..,"type":"result","success":true,"result":[...]}`.
pub fn get_states_result(states: &[State], id: u64) -> String {
    let result = serde_json::to_string(states).expect("states serialise");
    let mut out = String::with_capacity(result.len() + 48);
    out.push_str(r#"{"id":"#);
    out.push_str(&id.to_string());
    out.push_str(r#","type":"result","success":true,"result":"#);
    out.push_str(&result);
    out.push('}');
    out
}

/// The first `subscribe_entities` event: every state, compressed (`{"a": {...}}`).
pub fn compressed_snapshot_message(states: &[State], sub_id: u64) -> String {
    let event = CompressedEvent {
        added: states.iter().map(|s| (EntityKey::from(&s.entity_id), CompressedState::from_state(s))).collect(),
        ..CompressedEvent::default()
    };
    ServerMessage::Event { id: sub_id, event: RawJson::from_value(&event) }.to_json()
}
