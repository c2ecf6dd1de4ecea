//! Event payloads: the envelope Home Assistant sends for `subscribe_events`, and the
//! `state_changed` data decoded on demand.

use std::borrow::Cow;

use serde::{Deserialize, Serialize};

use crate::entity_id::EntityId;
use crate::error::ProtoError;
use crate::raw::RawJson;
use crate::state::{Context, State};
use crate::state_change::StateChange;
use crate::timestamp::Timestamp;

/// The `event` object of a `subscribe_events` event. `data` stays raw until asked for.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event<'a> {
    /// e.g. `state_changed`, `call_service`, or any custom type.
    #[serde(borrow)]
    pub event_type: Cow<'a, str>,
    /// The event data as raw JSON.
    #[serde(borrow, default = "RawJson::null")]
    pub data: RawJson<'a>,
    /// `LOCAL` or `REMOTE`.
    #[serde(default, borrow, deserialize_with = "crate::cow::borrow_option", skip_serializing_if = "Option::is_none")]
    pub origin: Option<Cow<'a, str>>,
    /// When the event was fired.
    pub time_fired: Timestamp,
    /// What caused it.
    pub context: Context,
}

/// `data` of a `state_changed` event.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StateChangedData {
    /// Which entity.
    pub entity_id: EntityId,
    /// The state before; `None` when the entity was added.
    pub old_state: Option<State>,
    /// The state after; `None` when the entity was removed.
    pub new_state: Option<State>,
}

/// `state_changed` data as a mirror reads it: `old_state` (like any unknown field) is skipped.
#[derive(Deserialize)]
struct Update {
    entity_id: EntityId,
    new_state: Option<State>,
}

/// The name of the event type whose data is [`StateChangedData`].
pub const STATE_CHANGED: &str = "state_changed";

impl<'a> Event<'a> {
    /// Decodes the `event` object of an event message: read by the scanner when it is in Home
    /// Assistant's compact shape, else by serde (which then words any error).
    pub fn parse(json: &'a str) -> Result<Self, ProtoError> {
        match crate::scan::event(json, false) {
            Some(event) => Ok(event),
            None => Self::from_serde(json),
        }
    }

    /// What serde alone decodes (the scanner declined the text; a checked and an unchecked scan
    /// decline the same texts, so a second scan would only repeat the first).
    fn from_serde(json: &'a str) -> Result<Self, ProtoError> {
        serde_json::from_str(json).map_err(|e| ProtoError::json("event", &e))
    }

    /// Decodes the `event` of an event message as [`Frame::parse`](crate::Frame::parse) or
    /// [`Frame::parse_each`](crate::Frame::parse_each) hands it over: what [`Event::parse`] gives
    /// for its text, for less work, since a [`RawJson`] is valid JSON already (`data` is only
    /// delimited, not checked again).
    pub fn parse_raw<'r>(raw: &'r RawJson<'_>) -> Result<Event<'r>, ProtoError> {
        match crate::scan::event(raw.get(), true) {
            Some(event) => Ok(event),
            None => Event::from_serde(raw.get()),
        }
    }

    /// The `state_changed` data, when this is a `state_changed` event.
    pub fn state_changed(&self) -> Option<Result<StateChangedData, ProtoError>> {
        (self.event_type == STATE_CHANGED)
            .then(|| serde_json::from_str(self.data.get()).map_err(|e| ProtoError::json("state_changed data", &e)))
    }

    /// The `state_changed` data without `old_state`, which is skipped, not decoded (the result's
    /// `old_state` is always `None`): all a mirror needs (`ha_state::EntityStore::apply_state_changed`
    /// keys on `new_state`), for much less work, since `old_state` is as large as `new_state` and
    /// is then neither decoded nor allocated.
    pub fn state_changed_update(&self) -> Option<Result<StateChangedData, ProtoError>> {
        (self.event_type == STATE_CHANGED).then(|| {
            serde_json::from_str::<Update>(self.data.get())
                .map(|u| StateChangedData { entity_id: u.entity_id, old_state: None, new_state: u.new_state })
                .map_err(|e| ProtoError::json("state_changed data", &e))
        })
    }

    /// The `state_changed` data as a mirror reads it, borrowed from this event and decoded in
    /// one pass over `data` ([`StateChange::parse`]): `old_state` skipped, no owned
    /// [`State`] built. Feed it to `ha_state::EntityStore::apply_state_change_into`.
    ///
    /// `data` is a [`RawJson`], valid JSON already, so the scanner only delimits what it skips
    /// (`old_state`, attribute values) instead of checking it again.
    pub fn state_change(&self) -> Option<Result<StateChange<'_>, ProtoError>> {
        (self.event_type == STATE_CHANGED).then(|| match crate::scan::state_change(self.data.get(), true) {
            Some(change) => Ok(change),
            None => StateChange::from_serde(self.data.get()),
        })
    }

    /// Detaches from the frame.
    /// The usual event type and origins stay borrowed from constants (no allocation).
    pub fn into_owned(self) -> Event<'static> {
        Event {
            event_type: static_or_owned(self.event_type, &[STATE_CHANGED]),
            data: self.data.into_owned(),
            origin: self.origin.map(|o| static_or_owned(o, &["LOCAL", "REMOTE"])),
            time_fired: self.time_fired,
            context: self.context,
        }
    }
}

/// `text` as one of the `constants` when it equals one, else owned.
fn static_or_owned(text: Cow<'_, str>, constants: &[&'static str]) -> Cow<'static, str> {
    match constants.iter().find(|c| **c == text) {
        Some(c) => Cow::Borrowed(c),
        None => Cow::Owned(text.into_owned()),
    }
}

/// An event of a `subscribe_trigger` subscription: `{"variables": {...}, "context": {...}}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TriggerEvent {
    /// The trigger variables (`variables.trigger` holds what fired).
    pub variables: serde_json::Value,
    /// What caused it, when sent.
    #[serde(default)]
    pub context: Option<Context>,
}
