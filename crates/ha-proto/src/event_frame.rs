//! The hot path of a mirror: a frame holding one `subscribe_entities` event, decoded in one pass
//! from the frame's text straight into [`CompressedEvent`].
//!
//! [`Frame::parse`](crate::Frame::parse) keeps each payload raw, so a compressed event is scanned
//! twice: once as the raw `event` of the frame, once by [`CompressedEvent::parse`]. For the one
//! message shape a busy mirror sees almost all the time (`{"id":N,"type":"event","event":{...}}`,
//! one message per frame), [`CompressedEventFrame::parse`] reads the envelope and decodes `event`
//! in the same pass. Everything else (a coalesced array, a result, a pong) is reported as
//! `Ok(None)` as soon as that is known, so a caller falls back to `Frame::parse` at little cost.
//!
//! Two decoders share the work: when the text starts exactly as Home Assistant writes an event
//! message, only the payload is decoded (then the closing brace checked); any other envelope
//! (keys in another order, unknown fields, whitespace) goes through a serde visitor that reads
//! the keys in any order and decodes the payload in place once `id` and `type` are known.

use std::cell::Cell;
use std::fmt;

use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, de};
use serde_json::value::RawValue;

use crate::compressed::CompressedEvent;
use crate::error::ProtoError;
use crate::scan;

/// What the one-pass decoder reports for malformed JSON (positions are the frame's).
const WHAT: &str = "compressed event frame";

/// One `subscribe_entities` event message alone in a frame, decoded in one pass.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompressedEventFrame<'a> {
    /// The subscribing command's id.
    pub id: u64,
    /// The event, borrowed from the frame like [`CompressedEvent::parse`]'s.
    pub event: CompressedEvent<'a>,
}

impl<'a> CompressedEventFrame<'a> {
    /// Decodes a frame holding one event message whose `event` is a compressed-state event.
    ///
    /// - `Ok(Some(frame))`: the frame is one event message; `id` and `event` are exactly what
    ///   [`Frame::parse`](crate::Frame::parse) then [`CompressedEvent::parse`] give.
    /// - `Ok(None)`: the frame is not one event message: an array (a coalesced frame), seen from
    ///   its first byte, or a message whose `type` is not `"event"`, seen at that field and not
    ///   read further (so the rest may even be malformed). Decode it with `Frame::parse`.
    /// - `Err(_)`: the text is not JSON, or it is an event message that is not a valid message
    ///   or whose `event` is not a compressed-state event; a `Malformed` error's position is in
    ///   the frame. The two passes fail on it too, save for one shape Home Assistant never
    ///   sends (a repeated `event` key whose earlier value is not a compressed event while the
    ///   last one is). Callers that must report errors exactly as the generic path does decode
    ///   the frame with `Frame::parse` again; it is the rare path.
    ///
    /// Envelope keys may come in any order (a payload that precedes its `id` or `type` is
    /// decoded after them, at the cost of a second look at it); unknown ones are skipped.
    ///
    /// ```
    /// use ha_proto::CompressedEventFrame;
    ///
    /// let text = r#"{"id":7,"type":"event","event":{"c":{"light.a":{"+":{"s":"off","lc":1683832800.5}}}}}"#;
    /// let frame = CompressedEventFrame::parse(text)?.expect("one event message");
    /// assert_eq!((frame.id, frame.event.changed[0].0.as_str()), (7, "light.a"));
    ///
    /// let pong = r#"{"id":8,"type":"pong"}"#;
    /// assert_eq!(CompressedEventFrame::parse(pong)?, None);
    /// # Ok::<(), ha_proto::ProtoError>(())
    /// ```
    pub fn parse(text: &'a str) -> Result<Option<Self>, ProtoError> {
        Self::parse_if(text, |_| true)
    }

    /// [`parse`](Self::parse), decoding `event` only for the subscriptions `wanted` accepts:
    /// `wanted(id)` is asked once the message is known to be an event with that id, before its
    /// `event` is decoded, and `Ok(None)` is returned when it says no (so events of other
    /// subscriptions cost only a look at their envelope, and their payload is not judged).
    /// One exception: in Home Assistant's order for diffs (`{"type":"event","event":{"c":...},"id":N}`,
    /// the id last) a payload that starts like a compressed event is decoded first, and `wanted`
    /// asked after it; a payload that does not decode is left to the envelope decoder, so it
    /// is still judged only for a wanted id.
    /// It may be asked again about the same id (for a frame that turns out to need the slower
    /// decoder), so it should answer from state that the decoding does not change.
    pub fn parse_if(text: &'a str, mut wanted: impl FnMut(u64) -> bool) -> Result<Option<Self>, ProtoError> {
        // A coalesced frame is an array: leave it to the generic path without decoding anything.
        if text.trim_start_matches(JSON_WHITESPACE).starts_with('[') {
            return Ok(None);
        }
        if let Some((id, payload)) = home_assistant_envelope(text) {
            if !wanted(id) {
                return Ok(None);
            }
            if let Some(event) = payload_then_close(payload) {
                return Ok(Some(CompressedEventFrame { id, event }));
            }
            // Another field after `event`, or bad input: the envelope decoder decides (and
            // positions errors in the frame).
        }
        // Home Assistant's order for diffs: the payload first, then the id. The payload is decoded
        // before `wanted` can be asked; a decline after it costs that decoding, nothing else.
        if let Some(payload) = id_last_envelope(text)
            && let Some((event, id, tail)) = payload_then_id(payload)
            && tail.trim_start_matches(JSON_WHITESPACE).is_empty()
        {
            return Ok(wanted(id).then_some(CompressedEventFrame { id, event }));
        }
        let declined = Cell::new(false);
        let mut de = serde_json::Deserializer::from_str(text);
        let envelope = Envelope { wanted, declined: &declined };
        let found = match envelope.deserialize(&mut de).and_then(|d| de.end().map(|()| d)) {
            Ok(found) => found,
            Err(_) if declined.get() => return Ok(None),
            Err(e) => return Err(ProtoError::json(WHAT, &e)),
        };
        found.finish(text)
    }
}

/// JSON's whitespace (RFC 8259), allowed around every token.
pub(crate) const JSON_WHITESPACE: [char; 4] = [' ', '\t', '\n', '\r'];

/// The id and the text after `"event":` when `text` starts exactly as Home Assistant's compact
/// encoder writes an event message: `{"id":<digits>,"type":"event","event":`. The envelope is
/// then known without decoding it (it costs a fifth of a small diff's decoding otherwise).
/// Digits with a leading zero are not JSON, and too many do not fit an id: both are left to the
/// envelope decoder.
pub(crate) fn home_assistant_envelope(text: &str) -> Option<(u64, &str)> {
    let (id, rest) = scan::message_id(text.strip_prefix(r#"{"id":"#)?)?;
    Some((id, rest.strip_prefix(r#","type":"event","event":"#)?))
}

/// The text after `"event":` when `text` starts exactly as Home Assistant writes the events it
/// caches (`subscribe_entities` diffs, bus events): `{"type":"event","event":`, the id coming
/// after the payload (captured from homeassistant 2024.3.3, see ha-sim's `Out::BusEvent`), and the
/// payload starts as a compressed-state event does (`{"a":`, `{"c":` or `{"r":`), so that other
/// subscriptions' bus events (`{"event_type":...`) are not decoded as one on speculation.
pub(crate) fn id_last_envelope(text: &str) -> Option<&str> {
    let payload = text.strip_prefix(r#"{"type":"event","event":"#)?;
    let looks_compressed = [r#"{"c":"#, r#"{"a":"#, r#"{"r":"#].iter().any(|start| payload.starts_with(start));
    looks_compressed.then_some(payload)
}

/// The compressed event at the start of `payload`, the id that follows it exactly as Home
/// Assistant writes it (`,"id":<digits>`), and the text after the envelope's closing brace (only
/// whitespace may come before the brace); `None` for anything else, decoded or not.
pub(crate) fn payload_then_id(payload: &str) -> Option<(CompressedEvent<'_>, u64, &str)> {
    let (event, rest) = event_prefix(payload)?;
    let (id, rest) = scan::message_id(rest.strip_prefix(r#","id":"#)?)?;
    let tail = rest.trim_start_matches(JSON_WHITESPACE).strip_prefix('}')?;
    Some((event, id, tail))
}

/// The compressed event at the start of `payload` when only the envelope's closing brace (and
/// whitespace) follows it; `None` for anything else, decoded or not.
fn payload_then_close(payload: &str) -> Option<CompressedEvent<'_>> {
    let (event, tail) = payload_then_brace(payload)?;
    tail.trim_start_matches(JSON_WHITESPACE).is_empty().then_some(event)
}

/// The compressed event at the start of `payload` and the text after the envelope's closing
/// brace, when only whitespace comes between the two; `None` for anything else.
pub(crate) fn payload_then_brace(payload: &str) -> Option<(CompressedEvent<'_>, &str)> {
    let (event, rest) = event_prefix(payload)?;
    let tail = rest.trim_start_matches(JSON_WHITESPACE).strip_prefix('}')?;
    Some((event, tail))
}

/// The compressed event at the start of `payload` and the text after it: read by the scanner
/// when it knows the shape (what Home Assistant writes), else decoded by serde.
pub(crate) fn event_prefix(payload: &str) -> Option<(CompressedEvent<'_>, &str)> {
    if let Some((event, len)) = scan::compressed_event_prefix(payload) {
        return Some((event, &payload[len..]));
    }
    let mut cursor = scan::Cursor::new(payload);
    let event = cursor.serde_value::<CompressedEvent<'_>>()?;
    Some((event, &payload[cursor.offset()..]))
}

/// The envelope keys that matter to an event; any other key is skipped.
enum Key {
    Id,
    Type,
    Event,
    Other,
}

impl<'de> Deserialize<'de> for Key {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Key;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }
            // Escaped keys arrive here decoded (in serde_json's scratch buffer): no copy.
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Key, E> {
                Ok(match v {
                    "id" => Key::Id,
                    "type" => Key::Type,
                    "event" => Key::Event,
                    _ => Key::Other,
                })
            }
        }
        d.deserialize_str(V)
    }
}

/// Whether a `type` value is `"event"`; any other string is another message type.
struct IsEvent(bool);

impl<'de> Deserialize<'de> for IsEvent {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = IsEvent;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message type string")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<IsEvent, E> {
                Ok(IsEvent(v == "event"))
            }
        }
        d.deserialize_str(V)
    }
}

/// The `event` value: decoded when the envelope before it said which subscription it belongs
/// to, else kept raw and decoded at the end (keys in an unusual order cost a second look).
enum Payload<'a> {
    Decoded(CompressedEvent<'a>),
    Raw(&'a RawValue),
}

/// What the one pass found in an event message.
struct Found<'a, F> {
    wanted: F,
    /// The raw `id`, parsed like `Frame::parse` does (its text as a `u64`).
    id: Option<&'a RawValue>,
    /// The id `wanted` accepted before the payload was decoded.
    accepted: Option<u64>,
    has_type: bool,
    event: Option<Payload<'a>>,
}

fn invalid(id: Option<u64>, message: String) -> ProtoError {
    ProtoError::InvalidMessage { index: 0, msg_type: "event".to_owned(), id, message }
}

/// The `id` as `Frame::parse` reads it: the number's text as a `u64` (so no sign, fraction or
/// exponent).
fn parse_id(raw: &RawValue) -> Result<u64, ProtoError> {
    raw.get().parse().map_err(|_| invalid(None, format!("field `id` is not a non-negative integer: {}", raw.get())))
}

impl<'a, F: FnMut(u64) -> bool> Found<'a, F> {
    /// Checks the envelope as `Frame::parse` would (same messages, same order of checks) and
    /// decodes a payload that was kept raw.
    fn finish(self, text: &str) -> Result<Option<CompressedEventFrame<'a>>, ProtoError> {
        let Found { mut wanted, id, accepted, has_type, event } = self;
        if !has_type {
            return Err(ProtoError::InvalidMessage {
                index: 0,
                msg_type: String::new(),
                id: id.and_then(|raw| raw.get().parse().ok()),
                message: "missing field `type`".to_owned(),
            });
        }
        let id = id.map(parse_id).transpose()?;
        let event = event.ok_or_else(|| invalid(id, "missing field `event`".to_owned()))?;
        let id = id.ok_or_else(|| invalid(None, "missing field `id`".to_owned()))?;
        // A repeated `id` key can change the id after the payload was accepted: ask again.
        if accepted != Some(id) && !wanted(id) {
            return Ok(None);
        }
        let event = match event {
            Payload::Decoded(event) => event,
            Payload::Raw(raw) => serde_json::from_str(raw.get()).map_err(|e| in_frame(&e, text, raw.get()))?,
        };
        Ok(Some(CompressedEventFrame { id, event }))
    }
}

/// An error of decoding `part` (a slice of `text`) positioned in `text`, as the one-pass errors are.
fn in_frame(err: &serde_json::Error, text: &str, part: &str) -> ProtoError {
    let offset = (part.as_ptr() as usize).wrapping_sub(text.as_ptr() as usize);
    let before = text.get(..offset).unwrap_or_default();
    let (line, column) = match err.line() {
        0 => (0, 0),
        1 => {
            let line_start = before.rfind('\n').map_or(0, |i| i + 1);
            (1 + before.matches('\n').count(), before.len() - line_start + err.column())
        }
        line => (line + before.matches('\n').count(), err.column()),
    };
    ProtoError::Malformed { what: WHAT, line, column, message: crate::error::reason(err) }
}

/// Decodes the top-level object. Declining (not an event, or not `wanted`) stops the scan with
/// an error and sets `declined`, which turns that error into `Ok(None)`.
struct Envelope<'d, F> {
    wanted: F,
    declined: &'d Cell<bool>,
}

impl<'de, F: FnMut(u64) -> bool> DeserializeSeed<'de> for Envelope<'_, F> {
    type Value = Found<'de, F>;
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(u64) -> bool> Visitor<'de> for Envelope<'_, F> {
    type Value = Found<'de, F>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let declined = self.declined;
        let decline = || {
            declined.set(true);
            de::Error::custom("not a single event message of a wanted subscription")
        };
        let mut out = Found { wanted: self.wanted, id: None, accepted: None, has_type: false, event: None };
        while let Some(key) = map.next_key::<Key>()? {
            match key {
                Key::Id => out.id = Some(map.next_value()?),
                Key::Type => {
                    if !map.next_value::<IsEvent>()?.0 {
                        return Err(decline());
                    }
                    out.has_type = true;
                }
                Key::Event => {
                    // The usual order (`id`, `type`, `event`): decide, then decode in place.
                    let id = out.id.filter(|_| out.has_type).and_then(|raw| parse_id(raw).ok());
                    out.event = Some(match id {
                        Some(id) => {
                            if out.accepted != Some(id) && !(out.wanted)(id) {
                                return Err(decline());
                            }
                            out.accepted = Some(id);
                            Payload::Decoded(map.next_value()?)
                        }
                        None => Payload::Raw(map.next_value()?),
                    });
                }
                Key::Other => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::{Frame, ServerMessage};

    const DIFF: &str = r#"{"id":7,"type":"event","event":{"c":{"light.a":{"+":{"s":"off","lc":1683832800.5,"a":{"brightness":0}},"-":{"a":["color_mode"]}}},"r":["sensor.old"]}}"#;

    /// Asserts that the one pass gives what `Frame::parse` then `CompressedEvent::parse` give.
    fn assert_like_two_passes(text: &str, one_pass: &CompressedEventFrame<'_>) {
        let frame = Frame::parse(text).unwrap();
        let [ServerMessage::Event { id, event }] = &frame.messages[..] else { panic!("not one event: {frame:?}") };
        let two_pass = CompressedEventFrame { id: *id, event: CompressedEvent::parse(event.get()).unwrap() };
        assert_eq!(one_pass, &two_pass);
    }

    fn one_pass(text: &str) -> CompressedEventFrame<'_> {
        CompressedEventFrame::parse(text).unwrap().expect("one event message")
    }

    #[test]
    fn home_assistants_order_decodes_like_the_two_passes() {
        let decoded = one_pass(DIFF);

        assert_like_two_passes(DIFF, &decoded);
        assert_eq!((decoded.id, decoded.event.len()), (7, 2));
    }

    #[test]
    fn home_assistants_diff_order_with_the_id_last_decodes_like_the_two_passes() {
        let text = r#"{"type":"event","event":{"c":{"light.a":{"+":{"s":"on","lc":1683832800.5}}}},"id":7}"#;

        let decoded = one_pass(text);

        assert_like_two_passes(text, &decoded);
        assert_eq!((decoded.id, decoded.event.len()), (7, 1));
    }

    #[test]
    fn an_unwanted_subscription_with_the_id_last_is_declined() {
        let text = r#"{"type":"event","event":{"c":{"light.a":{"+":{"s":"on"}}}},"id":9}"#;
        let mut asked = Vec::new();

        let decoded = CompressedEventFrame::parse_if(text, |id| {
            asked.push(id);
            id == 7
        });

        assert_eq!(decoded.unwrap(), None);
        assert_eq!(asked, [9]);
    }

    #[test]
    fn a_bus_event_with_the_id_last_is_not_decoded_on_speculation() {
        // A `subscribe_events` event: not a compressed event, so the payload must not be judged.
        let text = r#"{"type":"event","event":{"event_type":"state_changed","data":{}},"id":9}"#;

        let decoded = CompressedEventFrame::parse_if(text, |id| id == 7);

        assert_eq!(decoded.unwrap(), None);
    }

    #[test]
    fn key_order_does_not_change_the_result() {
        let text = r#"{"event":{"r":["sensor.old"]},"id":7,"type":"event"}"#;

        let decoded = one_pass(text);

        assert_like_two_passes(text, &decoded);
        assert_eq!(decoded.event.removed[0].as_str(), "sensor.old");
    }

    #[test]
    fn unknown_envelope_fields_are_skipped() {
        let text = r#"{"id":7,"trace":{"x":[1,{"y":null}]},"type":"event","event":{"r":["a.b"]},"v":2}"#;

        let decoded = one_pass(text);

        assert_like_two_passes(text, &decoded);
    }

    #[test]
    fn escaped_keys_and_type_mean_what_they_spell() {
        let text = r#"{"\u0069d":7,"typ\u0065":"ev\u0065nt","event":{"r":["a.b"]}}"#;

        let decoded = one_pass(text);

        assert_like_two_passes(text, &decoded);
    }

    #[test]
    fn a_coalesced_array_is_left_to_the_generic_path() {
        let text = format!(" \n[{DIFF}]");

        let decoded = CompressedEventFrame::parse(&text);

        assert_eq!(decoded.unwrap(), None);
    }

    #[test]
    fn another_message_type_is_declined_at_its_type_field() {
        // The rest of the text is not even JSON: the decoder must not have read it.
        let text = r#"{"id":8,"type":"result","success":true,"result":[{"#;

        let decoded = CompressedEventFrame::parse(text);

        assert_eq!(decoded.unwrap(), None);
    }

    #[test]
    fn an_unwanted_subscription_is_declined_before_its_payload_is_judged() {
        let text = r#"{"id":9,"type":"event","event":{"a":"not a compressed event"}}"#;
        let mut asked = Vec::new();

        let decoded = CompressedEventFrame::parse_if(text, |id| {
            asked.push(id);
            id == 7
        });

        assert_eq!(decoded.unwrap(), None);
        assert_eq!(asked, [9]);
    }

    #[test]
    fn a_repeated_id_is_asked_about_again() {
        let text = r#"{"id":7,"type":"event","event":{"r":["a.b"]},"id":9}"#;
        let mut asked = Vec::new();

        let decoded = CompressedEventFrame::parse_if(text, |id| {
            asked.push(id);
            id == 7
        });

        assert_eq!(decoded.unwrap(), None);
        assert_eq!(asked.last(), Some(&9), "{asked:?}");
    }

    #[test]
    fn a_field_after_the_event_is_decoded_like_the_two_passes() {
        let text = r#"{"id":7,"type":"event","event":{"r":["a.b"]},"v":{"x":[1]}} "#;

        let decoded = one_pass(text);

        assert_like_two_passes(text, &decoded);
    }

    #[test]
    fn whitespace_inside_home_assistants_envelope_is_allowed() {
        let text = "{\"id\":7,\"type\":\"event\",\"event\": {\"r\":[\"a.b\"]} \n} \r\n";

        let decoded = one_pass(text);

        assert_like_two_passes(text, &decoded);
    }

    #[test]
    fn an_id_with_a_leading_zero_is_not_json() {
        let text = r#"{"id":07,"type":"event","event":{"r":["a.b"]}}"#;

        let decoded = CompressedEventFrame::parse(text);

        assert!(matches!(decoded, Err(ProtoError::Malformed { .. })), "{decoded:?}");
        assert!(Frame::parse(text).is_err());
    }

    #[test]
    fn an_id_too_large_for_u64_is_an_invalid_message() {
        let text = r#"{"id":18446744073709551616,"type":"event","event":{"r":["a.b"]}}"#;

        let decoded = CompressedEventFrame::parse(text);

        assert!(matches!(decoded, Err(ProtoError::InvalidMessage { .. })), "{decoded:?}");
    }

    #[test]
    fn a_second_closing_brace_is_an_error() {
        let text = r#"{"id":7,"type":"event","event":{"r":["a.b"]}}}"#;

        let decoded = CompressedEventFrame::parse(text);

        assert!(matches!(decoded, Err(ProtoError::Malformed { .. })), "{decoded:?}");
    }

    #[test]
    fn a_bad_payload_is_an_error_positioned_in_the_frame() {
        let text = r#"{"id":7,"type":"event","event":{"c":{"Light.A":{}}}}"#;

        let err = CompressedEventFrame::parse(text).unwrap_err();

        let ProtoError::Malformed { line, column, .. } = err else { panic!("{err}") };
        assert_eq!(line, 1);
        assert!((38..=text.len()).contains(&column), "column {column}: {err}");
    }

    #[test]
    fn a_bad_payload_kept_raw_is_positioned_in_the_frame_too() {
        // arrange: the same bad payload on the same line and column, before and after the envelope
        let raw_first = "{\"event\":\n{\"r\":[5]},\"type\":\"event\",\"id\":7}";
        let raw_last = "{\"id\":7,\"type\":\"event\",\"event\":\n{\"r\":[5]}}";

        // act
        let kept_raw = CompressedEventFrame::parse(raw_first).unwrap_err();
        let in_place = CompressedEventFrame::parse(raw_last).unwrap_err();

        // assert
        let position = |e: &ProtoError| match e {
            ProtoError::Malformed { line, column, .. } => (*line, *column),
            other => panic!("{other}"),
        };
        assert_eq!(position(&kept_raw), (2, 7), "{kept_raw}");
        assert_eq!(position(&kept_raw), position(&in_place), "{in_place}");
    }

    #[test]
    fn an_event_without_an_id_is_an_invalid_message() {
        let text = r#"{"type":"event","event":{}}"#;

        let err = CompressedEventFrame::parse(text).unwrap_err();

        assert_eq!(err.to_string(), r#"message 0 of the frame (type "event"): missing field `id`"#);
    }

    #[test]
    fn an_id_that_is_not_a_non_negative_integer_is_an_invalid_message() {
        let text = r#"{"id":-0,"type":"event","event":{}}"#;

        let err = CompressedEventFrame::parse(text).unwrap_err();

        assert!(matches!(err, ProtoError::InvalidMessage { .. }), "{err}");
        assert!(Frame::parse(text).unwrap().messages.is_empty());
    }

    #[test]
    fn trailing_text_after_the_object_is_an_error() {
        let text = format!("{DIFF} x");

        let decoded = CompressedEventFrame::parse(&text);

        assert!(matches!(decoded, Err(ProtoError::Malformed { .. })), "{decoded:?}");
    }
}
