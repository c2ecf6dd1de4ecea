//! Helpers shared by the integration tests: building states and events by hand.

#![allow(dead_code, unreachable_pub)] // each test binary uses a different subset

use ha_proto::{CompressedEvent, Context, EntityId, State, StateChangedData, Timestamp};
use serde_json::value::RawValue;

/// An entity id (panics on an invalid one: test input is hand-written).
pub fn id(text: &str) -> EntityId {
    EntityId::new(text).unwrap()
}

/// An instant `secs` seconds after 2023-05-11T19:18:36Z (a whole number of seconds keeps the
/// epoch-float encoding exact).
pub fn at(secs: i64) -> Timestamp {
    Timestamp::from_micros((1_683_832_716 + secs) * 1_000_000)
}

/// The epoch-seconds text of [`at`], for hand-written compressed JSON.
pub fn epoch(secs: i64) -> String {
    (1_683_832_716 + secs).to_string()
}

/// A full state with last_changed = last_updated = `at(t)` and a bare context `ctx-<t>`.
pub fn state(entity_id: &str, text: &str, attrs: &[(&str, &str)], t: i64) -> State {
    let mut state = State {
        entity_id: id(entity_id),
        state: text.to_owned(),
        attributes: Default::default(),
        last_changed: at(t),
        last_reported: Some(at(t)),
        last_updated: at(t),
        context: Context::from_id(format!("ctx-{t}")),
    };
    for (k, v) in attrs {
        state.attributes.insert(k, raw(v));
    }
    state
}

/// Raw JSON from text.
pub fn raw(json: &str) -> Box<RawValue> {
    RawValue::from_string(json.to_owned()).unwrap()
}

/// What the mirror gives back for `state`: the same without `last_reported`.
pub fn mirrored(mut state: State) -> State {
    state.last_reported = None;
    state
}

/// Parses a compressed event, panicking on bad test input.
pub fn event(json: &str) -> CompressedEvent<'_> {
    CompressedEvent::parse(json).unwrap()
}

/// `state_changed` data for an addition.
pub fn added(new: State) -> StateChangedData {
    StateChangedData { entity_id: new.entity_id.clone(), old_state: None, new_state: Some(new) }
}

/// `state_changed` data for an update.
pub fn updated(old: State, new: State) -> StateChangedData {
    StateChangedData { entity_id: new.entity_id.clone(), old_state: Some(old), new_state: Some(new) }
}

/// `state_changed` data for a removal.
pub fn removed(old: State) -> StateChangedData {
    StateChangedData { entity_id: old.entity_id.clone(), old_state: Some(old), new_state: None }
}

/// Entity ids of a report list as text, for compact assertions.
pub fn names(ids: &[EntityId]) -> Vec<&str> {
    ids.iter().map(EntityId::as_str).collect()
}

/// What `to_states()` should return for `states`: without `last_reported`, sorted by id.
pub fn expected(states: impl IntoIterator<Item = State>) -> Vec<State> {
    let mut out: Vec<State> = states.into_iter().map(mirrored).collect();
    out.sort_by(|a, b| a.entity_id.cmp(&b.entity_id));
    out
}

/// A snapshot event whose second entity (`switch.bad`) has a context object without an id.
pub fn snapshot_with_a_context_without_id() -> String {
    format!(
        r#"{{"a":{{"switch.ok":{{"s":"on","c":"c","lc":{t}}},"switch.bad":{{"s":"on","c":{{"user_id":"u"}},"lc":{t}}}}}}}"#,
        t = epoch(1)
    )
}
