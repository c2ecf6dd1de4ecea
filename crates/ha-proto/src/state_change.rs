//! `state_changed` events as a mirror reads them: decoded in one pass, borrowed from the frame,
//! `old_state` skipped.
//!
//! The generic path scans a `state_changed` message three times: [`Frame::parse`] keeps `event`
//! raw, [`Event::parse`](crate::Event::parse) keeps `data` raw, and
//! [`Event::state_changed`](crate::Event::state_changed) builds an owned [`State`](crate::State)
//! for each of `old_state` and `new_state`. [`StateChangedFrame::parse`] reads the frame's text
//! once, straight into [`StateChange`]: strings and attribute values borrow from the frame (a
//! string is copied only when it holds escapes), `old_state` is skipped by the JSON scanner
//! without being decoded, and each timestamp is parsed once. [`StateChange::parse`] does the same
//! for the `data` of an already decoded [`Event`](crate::Event).

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::compressed::{AttrPatch, EntityKey};
use crate::cow::CowStr;
use crate::error::ProtoError;
use crate::event::STATE_CHANGED;
use crate::event_frame::JSON_WHITESPACE;
use crate::server_msg::{Frame, ServerMessage};
use crate::state::{Context, State};
use crate::timestamp::Timestamp;

/// The `data` of a `state_changed` event as a mirror needs it: which entity, and its new state
/// (`None` when the entity was removed). `old_state`, like any unknown field, is skipped.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StateChange<'a> {
    /// Which entity.
    #[serde(borrow)]
    pub entity_id: EntityKey<'a>,
    /// The state after the change; `None` (`null` or absent) when the entity was removed.
    #[serde(default, borrow)]
    pub new_state: Option<StateView<'a>>,
}

/// A full state borrowed from the frame: [`State`] without the copies.
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct StateView<'a> {
    /// Which entity.
    #[serde(borrow)]
    pub entity_id: EntityKey<'a>,
    /// The state text.
    #[serde(borrow, deserialize_with = "crate::cow::borrow")]
    pub state: Cow<'a, str>,
    /// Attributes, raw JSON per key, in received order (a repeated key is kept as sent; the last
    /// value wins when applied, as in [`crate::Attributes`]).
    #[serde(default, borrow, deserialize_with = "attributes")]
    pub attributes: AttrPatch<'a>,
    /// When `state` last changed.
    pub last_changed: Timestamp,
    /// When the state was last reported (Home Assistant 2024.3+).
    #[serde(default)]
    pub last_reported: Option<Timestamp>,
    /// When `state` or `attributes` last changed.
    pub last_updated: Timestamp,
    /// What caused the last change.
    #[serde(borrow)]
    pub context: ContextView<'a>,
}

/// A [`Context`] borrowed from the frame.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct ContextView<'a> {
    /// ULID of the context.
    #[serde(borrow, deserialize_with = "crate::cow::borrow")]
    pub id: Cow<'a, str>,
    /// The context that caused this one, if any.
    #[serde(default, borrow, deserialize_with = "crate::cow::borrow_option")]
    pub parent_id: Option<Cow<'a, str>>,
    /// The user who caused it, if any.
    #[serde(default, borrow, deserialize_with = "crate::cow::borrow_option")]
    pub user_id: Option<Cow<'a, str>>,
}

impl ContextView<'_> {
    /// An owned copy.
    pub fn to_context(&self) -> Context {
        Context {
            id: self.id.to_string(),
            parent_id: self.parent_id.as_deref().map(str::to_owned),
            user_id: self.user_id.as_deref().map(str::to_owned),
        }
    }
}

impl StateView<'_> {
    /// An owned [`State`], as [`Event::state_changed`](crate::Event::state_changed) gives it.
    pub fn to_state(&self) -> State {
        State {
            entity_id: self.entity_id.to_entity_id(),
            state: self.state.to_string(),
            attributes: self.attributes.to_attributes(),
            last_changed: self.last_changed,
            last_reported: self.last_reported,
            last_updated: self.last_updated,
            context: self.context.to_context(),
        }
    }
}

impl<'a> StateView<'a> {
    /// A placeholder the scanner fills in place (its fields are overwritten before it is handed
    /// out), its attributes read into `attributes`.
    pub(crate) fn blank(attributes: Vec<(Cow<'a, str>, crate::raw::RawJson<'a>)>) -> Self {
        StateView {
            entity_id: EntityKey::blank(),
            state: Cow::Borrowed(""),
            attributes: AttrPatch(attributes),
            last_changed: Timestamp::from_micros(0),
            last_reported: None,
            last_updated: Timestamp::from_micros(0),
            context: ContextView::default(),
        }
    }

    /// A copy of everything but the attributes (left empty, without a heap block): the texts
    /// borrowed from the frame are not copied.
    pub(crate) fn shallow_clone(&self) -> Self {
        StateView {
            entity_id: self.entity_id.clone(),
            state: self.state.clone(),
            attributes: AttrPatch(Vec::new()),
            last_changed: self.last_changed,
            last_reported: self.last_reported,
            last_updated: self.last_updated,
            context: self.context.clone(),
        }
    }
}

impl StateChangedFrame<'_> {
    /// A placeholder the scanner fills in place.
    fn blank() -> Self {
        StateChangedFrame { id: 0, event: StateChangedEvent::blank() }
    }
}

impl StateChangedEvent<'_> {
    /// A placeholder the scanner fills in place.
    pub(crate) fn blank() -> Self {
        StateChangedEvent {
            change: StateChange { entity_id: EntityKey::blank(), new_state: None },
            origin: None,
            time_fired: Timestamp::from_micros(0),
            context: ContextView::default(),
        }
    }
}

/// Full states carry a dozen attributes or more: room for 16 up front saves the reallocations of
/// growing from a diff's 4.
fn attributes<'de, D: Deserializer<'de>>(d: D) -> Result<AttrPatch<'de>, D::Error> {
    AttrPatch::deserialize_expecting(d, 16)
}

impl<'a> StateChange<'a> {
    /// Decodes the `data` of a `state_changed` event (what
    /// [`Event::state_change`](crate::Event::state_change) does for an event already decoded).
    pub fn parse(data: &'a str) -> Result<Self, ProtoError> {
        match crate::scan::state_change(data, false) {
            Some(change) => Ok(change),
            None => Self::from_serde(data),
        }
    }

    /// What serde alone decodes, for text the scanner declined.
    pub(crate) fn from_serde(data: &'a str) -> Result<Self, ProtoError> {
        serde_json::from_str(data).map_err(|e| ProtoError::json("state_changed data", &e))
    }
}

/// The `event` object of a `state_changed` event, decoded in one pass.
#[derive(Debug, Clone, PartialEq, yoke::Yokeable)]
pub struct StateChangedEvent<'a> {
    /// The event's `data`.
    pub change: StateChange<'a>,
    /// `LOCAL` or `REMOTE`, when sent.
    pub origin: Option<Cow<'a, str>>,
    /// When the event was fired.
    pub time_fired: Timestamp,
    /// What caused the event.
    pub context: ContextView<'a>,
}

impl<'a> StateChangedEvent<'a> {
    /// Decodes an event object that is the whole of `text` (whitespace around it aside): by the
    /// scanner when it knows the shape, else by serde, which words any error. `Ok(None)` for an
    /// event of another type.
    pub(crate) fn parse_object(text: &'a str) -> Result<Option<Self>, ProtoError> {
        let mut event = StateChangedEvent::blank();
        let body = text.trim_start_matches(JSON_WHITESPACE);
        if let Some(len) = crate::scan::state_changed_event_prefix_into(body, &mut event)
            && body[len..].trim_start_matches(JSON_WHITESPACE).is_empty()
        {
            return Ok(Some(event));
        }
        let event = serde_json::from_str::<MaybeStateChanged<'_>>(text).map_err(|e| ProtoError::json(WHAT, &e))?;
        Ok(event.0)
    }
}

/// One `subscribe_events` event message alone in a frame whose event is a `state_changed`
/// event, decoded in one pass from the frame's text.
#[derive(Debug, Clone, PartialEq)]
pub struct StateChangedFrame<'a> {
    /// The subscribing command's id.
    pub id: u64,
    /// The event.
    pub event: StateChangedEvent<'a>,
}

/// What [`StateChangedFrame`] reports for malformed input (positions are the event object's).
const WHAT: &str = "state_changed event";

impl<'a> StateChangedFrame<'a> {
    /// Decodes a frame holding one event message whose event is a `state_changed` event.
    ///
    /// - `Ok(Some(frame))`: the frame is one event message of type `state_changed`; `id` and the
    ///   entity's new state are what [`Frame::parse`], [`Event::parse`](crate::Event::parse) and
    ///   [`Event::state_changed`](crate::Event::state_changed) give.
    /// - `Ok(None)`: the frame is a coalesced array, another message type, or an event of
    ///   another type. Decode it with [`Frame::parse`].
    /// - `Err(_)`: the text is not JSON, or it is an event message that is not valid, or a
    ///   `state_changed` event whose fields are not what Home Assistant sends. Unknown fields
    ///   are skipped anywhere.
    ///
    /// Home Assistant's two envelopes (the id first, or the id after the event as it writes the
    /// bus events it caches) are decoded in one pass; any other key order or an extra envelope
    /// field costs a second look at the event.
    ///
    /// ```
    /// use ha_proto::StateChangedFrame;
    ///
    /// let text = r#"{"type":"event","event":{"event_type":"state_changed","data":{"entity_id":"light.a",
    ///   "old_state":null,"new_state":{"entity_id":"light.a","state":"on","attributes":{"brightness":255},
    ///   "last_changed":"2024-03-01T10:00:00+00:00","last_updated":"2024-03-01T10:00:00+00:00",
    ///   "context":{"id":"c1","parent_id":null,"user_id":null}}},"origin":"LOCAL",
    ///   "time_fired":"2024-03-01T10:00:00+00:00","context":{"id":"c1","parent_id":null,"user_id":null}},"id":7}"#;
    /// let frame = StateChangedFrame::parse(text)?.expect("a state_changed event");
    /// let new = frame.event.change.new_state.expect("added");
    /// assert_eq!((frame.id, &*new.state, new.attributes.0.len()), (7, "on", 1));
    /// # Ok::<(), ha_proto::ProtoError>(())
    /// ```
    pub fn parse(text: &'a str) -> Result<Option<Self>, ProtoError> {
        // An event frame is read from a buffer that may be cold (one of many queued or recorded
        // frames): its cache lines are fetched at once, not one by one as the scan reaches them.
        crate::scan::touch_lines(text);
        let mut frame = StateChangedFrame::blank();
        match fast_into(text, &mut frame) {
            Some(true) => Ok(Some(frame)),
            Some(false) => Ok(None),
            None => slow(text),
        }
    }
}

/// Home Assistant's envelopes, compact, decoded in one pass into `frame`: `Some(true)` when it
/// holds a `state_changed` event (then `frame` holds it), `Some(false)` for another event type,
/// `None` for anything else (then the slow path decides, and words any error).
#[inline(always)]
fn fast_into<'a>(text: &'a str, frame: &mut StateChangedFrame<'a>) -> Option<bool> {
    fast_with(text, payload_and_rest, frame)
}

/// Reads the event object at the start of a payload into `out`: whether it is a `state_changed`
/// event (`false` for another event type, `out` then unspecified) and the text after it; `None`
/// when it cannot tell.
type ReadEvent<'a> = fn(&'a str, &mut StateChangedEvent<'a>) -> Option<(bool, &'a str)>;

/// [`fast_into`], the event object read by `payload_and_rest`.
#[inline(always)]
fn fast_with<'a>(text: &'a str, payload_and_rest: ReadEvent<'a>, frame: &mut StateChangedFrame<'a>) -> Option<bool> {
    if let Some(payload) = text.strip_prefix(r#"{"type":"event","event":"#) {
        let (ours, rest) = payload_and_rest(payload, &mut frame.event)?;
        let rest = rest.strip_prefix(r#","id":"#)?;
        let (id, rest) = crate::scan::message_id(rest)?;
        end_of_object(rest)?;
        frame.id = id;
        return Some(ours);
    }
    let rest = text.strip_prefix(r#"{"id":"#)?;
    let (id, rest) = crate::scan::message_id(rest)?;
    let payload = rest.strip_prefix(r#","type":"event","event":"#)?;
    let (ours, rest) = payload_and_rest(payload, &mut frame.event)?;
    end_of_object(rest)?;
    frame.id = id;
    Some(ours)
}

/// The event object at the start of `payload` read into `out`, and the text after it: read by the
/// scanner when it knows the shape (a `state_changed` event as Home Assistant writes it), else by
/// serde.
#[inline(always)]
fn payload_and_rest<'a>(payload: &'a str, out: &mut StateChangedEvent<'a>) -> Option<(bool, &'a str)> {
    if let Some(len) = crate::scan::state_changed_event_prefix_into(payload, out) {
        return Some((true, &payload[len..]));
    }
    serde_payload_and_rest(payload, out)
}

/// [`payload_and_rest`] by serde alone.
fn serde_payload_and_rest<'a>(payload: &'a str, out: &mut StateChangedEvent<'a>) -> Option<(bool, &'a str)> {
    let mut values = serde_json::Deserializer::from_str(payload).into_iter::<MaybeStateChanged<'_>>();
    let event = values.next()?.ok()?;
    let rest = &payload[values.byte_offset()..];
    match event.0 {
        Some(event) => {
            *out = event;
            Some((true, rest))
        }
        None => Some((false, rest)),
    }
}

/// Only whitespace, the closing brace and whitespace may follow.
fn end_of_object(rest: &str) -> Option<()> {
    let after = rest.trim_start_matches(JSON_WHITESPACE).strip_prefix('}')?;
    after.trim_start_matches(JSON_WHITESPACE).is_empty().then_some(())
}

/// Any other envelope: [`Frame::parse`], then the event object decoded.
fn slow(text: &str) -> Result<Option<StateChangedFrame<'_>>, ProtoError> {
    let frame = Frame::parse(text)?;
    if let Some(err) = frame.errors.into_iter().next() {
        return Err(err);
    }
    if frame.coalesced {
        return Ok(None);
    }
    let Some(ServerMessage::Event { id, event }) = frame.messages.into_iter().next() else { return Ok(None) };
    let Some(raw) = event.as_borrowed() else { return Ok(None) };
    let event = serde_json::from_str::<MaybeStateChanged<'_>>(raw).map_err(|e| ProtoError::json(WHAT, &e))?;
    Ok(event.0.map(|event| StateChangedFrame { id, event }))
}

/// An event object decoded as a `state_changed` event, `None` when its `event_type` is another.
struct MaybeStateChanged<'a>(Option<StateChangedEvent<'a>>);

/// The keys of an event object.
enum EventKey {
    EventType,
    Data,
    Origin,
    TimeFired,
    Context,
    Other,
}

impl<'de> Deserialize<'de> for EventKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = EventKey;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<EventKey, E> {
                Ok(match v {
                    "event_type" => EventKey::EventType,
                    "data" => EventKey::Data,
                    "origin" => EventKey::Origin,
                    "time_fired" => EventKey::TimeFired,
                    "context" => EventKey::Context,
                    _ => EventKey::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// `data` before `event_type` is known: kept raw, decoded once the type says it is ours.
enum Data<'a> {
    Decoded(StateChange<'a>),
    Raw(&'a RawValue),
}

/// Sets a field once; a repeated key is an error, as in [`crate::Event`]'s derived decoder.
fn once<T, E: de::Error>(slot: &mut Option<T>, name: &'static str, value: T) -> Result<(), E> {
    if slot.is_some() {
        return Err(E::duplicate_field(name));
    }
    *slot = Some(value);
    Ok(())
}

impl<'de> Deserialize<'de> for MaybeStateChanged<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MaybeStateChanged<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an event object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut is_ours: Option<bool> = None;
                let mut data: Option<Data<'de>> = None;
                let mut origin: Option<Option<Cow<'de, str>>> = None;
                let mut time_fired: Option<Timestamp> = None;
                let mut context: Option<ContextView<'de>> = None;
                while let Some(key) = map.next_key::<EventKey>()? {
                    match key {
                        EventKey::EventType => {
                            let ty = map.next_value::<CowStr<'de>>()?.0;
                            once(&mut is_ours, "event_type", ty == STATE_CHANGED)?;
                        }
                        EventKey::Data => {
                            let value = match is_ours {
                                Some(true) => Data::Decoded(map.next_value()?),
                                Some(false) => Data::Raw(map.next_value()?),
                                None => Data::Raw(map.next_value()?),
                            };
                            once(&mut data, "data", value)?;
                        }
                        EventKey::Origin => {
                            let value = map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0);
                            once(&mut origin, "origin", value)?;
                        }
                        EventKey::TimeFired => {
                            let value = map.next_value()?;
                            once(&mut time_fired, "time_fired", value)?;
                        }
                        EventKey::Context => {
                            let value = map.next_value()?;
                            once(&mut context, "context", value)?;
                        }
                        EventKey::Other => {
                            map.next_value::<IgnoredAny>()?;
                        }
                    }
                }
                // The checks `Event`'s derived decoder makes, in its order.
                let is_ours = is_ours.ok_or_else(|| de::Error::missing_field("event_type"))?;
                let time_fired = time_fired.ok_or_else(|| de::Error::missing_field("time_fired"))?;
                let context = context.ok_or_else(|| de::Error::missing_field("context"))?;
                if !is_ours {
                    return Ok(MaybeStateChanged(None));
                }
                let change = match data {
                    Some(Data::Decoded(change)) => change,
                    Some(Data::Raw(raw)) => serde_json::from_str(raw.get()).map_err(de::Error::custom)?,
                    // `Event` reads a missing `data` as `null`, which is not state_changed data.
                    None => return Err(de::Error::missing_field("data")),
                };
                Ok(MaybeStateChanged(Some(StateChangedEvent { change, origin: origin.flatten(), time_fired, context })))
            }
        }
        d.deserialize_map(V)
    }
}

/// Byte mutations of JSON text, shared with the integration tests.
#[cfg(test)]
#[path = "../tests/common/mutation.rs"]
mod mutation;

#[cfg(test)]
mod tests {
    use proptest::prelude::*;

    use super::mutation;
    use super::*;
    use crate::{Event, StateChangedData};

    const NEW: &str = r#"{"entity_id":"light.a","state":"on","attributes":{"brightness":255,"friendly_name":"A"},"last_changed":"2024-03-01T10:00:00+00:00","last_reported":"2024-03-01T10:00:01+00:00","last_updated":"2024-03-01T10:00:01+00:00","context":{"id":"c2","parent_id":null,"user_id":"u1"}}"#;
    const OLD: &str = r#"{"entity_id":"light.a","state":"off","attributes":{},"last_changed":"2024-03-01T09:00:00+00:00","last_updated":"2024-03-01T09:00:00+00:00","context":{"id":"c1","parent_id":null,"user_id":null}}"#;
    const TAIL: &str = r#""origin":"LOCAL","time_fired":"2024-03-01T10:00:01+00:00","context":{"id":"c2","parent_id":null,"user_id":"u1"}"#;

    /// An event object whose `data` is `data`.
    fn event(data: &str) -> String {
        format!(r#"{{"event_type":"state_changed","data":{data},{TAIL}}}"#)
    }

    /// Home Assistant's envelope for cached bus events: the id last.
    fn id_last(event: &str) -> String {
        format!(r#"{{"type":"event","event":{event},"id":7}}"#)
    }

    fn data(new_state: &str) -> String {
        format!(r#"{{"entity_id":"light.a","old_state":{OLD},"new_state":{new_state}}}"#)
    }

    fn one_pass(text: &str) -> StateChangedFrame<'_> {
        StateChangedFrame::parse(text).unwrap().expect("a state_changed event")
    }

    /// What the generic path gives: `Frame::parse`, `Event::parse`, `Event::state_changed`.
    fn three_passes(text: &str) -> (u64, StateChangedData) {
        let frame = Frame::parse(text).unwrap();
        let [ServerMessage::Event { id, event }] = &frame.messages[..] else { panic!("not one event: {frame:?}") };
        (*id, Event::parse(event.get()).unwrap().state_changed().unwrap().unwrap())
    }

    #[test]
    fn home_assistants_envelope_decodes_like_the_generic_path() {
        let text = id_last(&event(&data(NEW)));

        let frame = one_pass(&text);

        let (id, data) = three_passes(&text);
        assert_eq!(frame.id, id);
        assert_eq!(frame.event.change.entity_id.as_str(), data.entity_id.as_str());
        assert_eq!(frame.event.change.new_state.map(|s| s.to_state()), data.new_state);
    }

    #[test]
    fn the_event_fields_are_decoded() {
        let text = id_last(&event(&data(NEW)));

        let frame = one_pass(&text);

        assert_eq!(frame.event.origin.as_deref(), Some("LOCAL"));
        assert_eq!(frame.event.time_fired, Timestamp::parse_iso("2024-03-01T10:00:01+00:00").unwrap());
        assert_eq!(frame.event.context.user_id.as_deref(), Some("u1"));
    }

    #[test]
    fn the_id_first_envelope_decodes_too() {
        let text = format!(r#"{{"id":7,"type":"event","event":{}}}"#, event(&data(NEW)));

        let frame = one_pass(&text);

        assert_eq!(
            (frame.id, frame.event.change.new_state.map(|s| s.to_state())),
            (7, three_passes(&text).1.new_state)
        );
    }

    #[test]
    fn a_null_new_state_is_a_removal() {
        let text = id_last(&event(&data("null")));

        let frame = one_pass(&text);

        assert_eq!(frame.event.change.entity_id.as_str(), "light.a");
        assert_eq!(frame.event.change.new_state, None);
    }

    #[test]
    fn an_absent_new_state_is_a_removal_as_in_the_generic_path() {
        let text = id_last(&event(r#"{"entity_id":"light.a","old_state":null}"#));

        let frame = one_pass(&text);

        assert_eq!(frame.event.change.new_state, None);
        assert_eq!(three_passes(&text).1.new_state, None);
    }

    #[test]
    fn unknown_fields_are_skipped_at_every_level() {
        let new = NEW.replacen(r#""state":"on""#, r#""x":[1,{"y":null}],"state":"on""#, 1);
        let data = data(&new).replacen('{', r#"{"extra":{"z":[true]},"#, 1);
        let event = event(&data).replacen('{', r#"{"unknown":"u","#, 1);
        let text = format!(r#"{{"type":"event","trace":1,"event":{event},"id":7}}"#);

        let frame = one_pass(&text);

        assert_eq!(frame.event.change.new_state.map(|s| s.to_state()), three_passes(&text).1.new_state);
    }

    #[test]
    fn data_before_event_type_is_decoded_once_the_type_is_known() {
        let text = id_last(&format!(r#"{{"data":{},"event_type":"state_changed",{TAIL}}}"#, data(NEW)));

        let frame = one_pass(&text);

        assert_eq!(frame.event.change.new_state.map(|s| s.to_state()), three_passes(&text).1.new_state);
    }

    #[test]
    fn escaped_strings_are_decoded() {
        let new = NEW.replacen(r#""state":"on""#, r#""state":"o\u006e""#, 1);
        let text = id_last(&event(&data(&new)));

        let frame = one_pass(&text);

        assert_eq!(frame.event.change.new_state.map(|s| s.state.into_owned()).as_deref(), Some("on"));
    }

    #[test]
    fn another_event_type_is_declined() {
        let text = id_last(
            r#"{"event_type":"call_service","data":{"domain":"light"},"time_fired":"2024-03-01T10:00:01+00:00","context":{"id":"c"}}"#,
        );

        let decoded = StateChangedFrame::parse(&text);

        assert_eq!(decoded.unwrap(), None);
    }

    #[test]
    fn other_messages_and_coalesced_frames_are_declined() {
        let result = r#"{"id":8,"type":"result","success":true,"result":null}"#;
        let array = format!("[{}]", id_last(&event(&data(NEW))));

        let decoded = (StateChangedFrame::parse(result), StateChangedFrame::parse(&array));

        assert_eq!((decoded.0.unwrap(), decoded.1.unwrap()), (None, None));
    }

    #[test]
    fn text_that_is_not_json_is_an_error() {
        let text = id_last(&event(&data(NEW)));

        let decoded = StateChangedFrame::parse(&text[..text.len() - 10]);

        assert!(matches!(decoded, Err(ProtoError::Malformed { .. })), "{decoded:?}");
    }

    #[test]
    fn an_invalid_entity_id_is_an_error() {
        let text = id_last(&event(&data(&NEW.replacen("light.a", "Light A", 1))));

        let decoded = StateChangedFrame::parse(&text);

        assert!(decoded.is_err(), "{decoded:?}");
        assert!(
            Event::parse(&event(&data(&NEW.replacen("light.a", "Light A", 1))))
                .unwrap()
                .state_changed()
                .unwrap()
                .is_err()
        );
    }

    #[test]
    fn a_new_state_without_last_changed_is_an_error() {
        let new = NEW.replacen(r#""last_changed":"2024-03-01T10:00:00+00:00","#, "", 1);
        let text = id_last(&event(&data(&new)));

        let decoded = StateChangedFrame::parse(&text);

        let err = decoded.unwrap_err();
        assert!(err.to_string().contains("last_changed"), "{err}");
    }

    #[test]
    fn null_attributes_are_an_error_as_in_the_generic_path() {
        let new = NEW.replacen(r#""attributes":{"brightness":255,"friendly_name":"A"}"#, r#""attributes":null"#, 1);
        let text = id_last(&event(&data(&new)));

        let decoded = StateChangedFrame::parse(&text);

        assert!(decoded.is_err(), "{decoded:?}");
        assert!(Event::parse(&event(&data(&new))).unwrap().state_changed().unwrap().is_err());
    }

    #[test]
    fn a_state_changed_event_without_time_fired_is_an_error_as_in_the_generic_path() {
        let event = format!(r#"{{"event_type":"state_changed","data":{},"context":{{"id":"c"}}}}"#, data(NEW));
        let text = id_last(&event);

        let decoded = StateChangedFrame::parse(&text);

        assert!(decoded.unwrap_err().to_string().contains("time_fired"));
        assert!(Event::parse(&event).is_err());
    }

    #[test]
    fn a_repeated_data_key_is_an_error_as_in_the_generic_path() {
        let event = format!(r#"{{"event_type":"state_changed","data":{0},"data":{0},{TAIL}}}"#, data(NEW));
        let text = id_last(&event);

        let decoded = StateChangedFrame::parse(&text);

        assert!(decoded.is_err(), "{decoded:?}");
        assert!(Event::parse(&event).is_err());
    }

    #[test]
    fn event_state_change_gives_what_the_one_pass_gives() {
        let event_text = event(&data(NEW));
        let text = id_last(&event_text);
        let event = Event::parse(&event_text).unwrap();

        let change = event.state_change().unwrap().unwrap();

        assert_eq!(change, one_pass(&text).event.change);
    }

    #[test]
    fn generated_state_changed_messages_decode_like_the_generic_path() {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 200);
        let messages = ha_fixtures::state_changed_messages(7, &states, 500, 3);

        for text in &messages {
            let frame = one_pass(text);

            let (id, data) = three_passes(text);
            assert_eq!(frame.id, id);
            assert_eq!(frame.event.change.entity_id.as_str(), data.entity_id.as_str());
            assert_eq!(frame.event.change.new_state.map(|s| s.to_state()), data.new_state, "{text:.200}");
        }
    }

    /// `StateChangedFrame::parse` with every event object read by serde (the scanner left out).
    fn serde_only(text: &str) -> Result<Option<StateChangedFrame<'_>>, ProtoError> {
        let mut frame = StateChangedFrame::blank();
        match fast_with(text, serde_payload_and_rest, &mut frame) {
            Some(true) => Ok(Some(frame)),
            Some(false) => Ok(None),
            None => slow(text),
        }
    }

    /// Fixture `state_changed` messages, in Home Assistant's envelope.
    fn fixture_messages() -> &'static [String] {
        static MESSAGES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
        MESSAGES.get_or_init(|| {
            let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 100);
            ha_fixtures::state_changed_messages(11, &states, 200, 3)
        })
    }

    #[test]
    fn the_scanner_reads_every_fixture_message_as_serde_does() {
        for text in fixture_messages() {
            // arrange: the scanner must take these (else this test would compare serde with itself)
            let payload = text.strip_prefix(r#"{"type":"event","event":"#).expect("id-last envelope");
            let mut event = StateChangedEvent::blank();
            assert!(
                crate::scan::state_changed_event_prefix_into(payload, &mut event).is_some(),
                "declined: {text:.200}"
            );

            // act + assert
            assert_eq!(StateChangedFrame::parse(text), serde_only(text), "{text:.300}");
        }
    }

    proptest! {
        #[test]
        fn mutated_messages_decode_or_fail_as_serde_does(
            pick in any::<proptest::sample::Index>(),
            mutations in prop::collection::vec(mutation::mutation(), 1..4),
        ) {
            let messages = fixture_messages();
            let bytes = mutation::apply(messages[pick.index(messages.len())].clone().into_bytes(), &mutations);
            let text = String::from_utf8_lossy(&bytes);

            prop_assert_eq!(StateChangedFrame::parse(&text), serde_only(&text), "{}", text);
        }

        #[test]
        fn messages_of_any_event_type_decode_as_serde_does(
            pick in any::<proptest::sample::Index>(),
            event_type in "[a-z_]{1,16}|state_changed[a-z]?",
        ) {
            let messages = fixture_messages();
            let text = messages[pick.index(messages.len())]
                .replacen(r#""event_type":"state_changed""#, &format!(r#""event_type":"{event_type}""#), 1);

            prop_assert_eq!(StateChangedFrame::parse(&text), serde_only(&text), "{}", text);
        }

        #[test]
        fn arbitrary_text_never_panics(text in "\\PC{0,200}") {
            let _ = StateChangedFrame::parse(&text);
        }

        #[test]
        fn any_cut_of_a_valid_message_never_panics_and_is_never_taken(cut in 0usize..1000) {
            let text = id_last(&event(&data(NEW)));
            let cut = cut.min(text.len() - 1);

            let decoded = StateChangedFrame::parse(&text[..cut]);

            prop_assert!(decoded.is_err() || decoded.unwrap().is_none());
        }
    }
}
