//! [`Frame::parse_each`]: every message of a frame, coalesced arrays included, with the
//! `subscribe_entities` events of the subscriptions a caller names decoded in the same pass.
//!
//! Under load Home Assistant coalesces messages into array frames (`[msg,msg,...]`), and those
//! are what a busy mirror reads. [`Frame::parse`] keeps each payload raw, so an array's event is
//! scanned three times: as an element of the array, as a message object, and by
//! [`CompressedEvent::parse`]. Here each element that starts exactly as Home Assistant's compact
//! encoder writes an event message (`{"id":N,"type":"event","event":`) of a wanted subscription has
//! only its payload decoded, straight into [`CompressedEvent`], and the walk continues after its
//! closing brace. So has an element in the order Home Assistant writes its diffs in
//! (`{"type":"event","event":{"c":...},"id":N}`, the id last): the payload is decoded first, then
//! the id read and asked about. A bus event (`subscribe_events`) in Home Assistant's envelope
//! (`{"type":"event","event":{"event_type":...},"id":N}`) is read by the scanner, which checks it
//! and decodes the event object in the same pass ([`FrameItem::Event`]), so a subscriber's
//! `state_changed` event is not walked once to check it and again to decode it. Any other element
//! (a result, a pong, keys in another order) is decoded as `Frame::parse` decodes it, and any
//! element the fast decoder rejects is decoded again that way, so errors read exactly as the two
//! passes report them.

use serde_json::value::RawValue;

use crate::compressed::CompressedEvent;
use crate::error::ProtoError;
use crate::event::Event;
use crate::event_frame::{
    CompressedEventFrame, JSON_WHITESPACE, home_assistant_envelope, id_last_envelope, payload_then_brace,
    payload_then_id,
};
use crate::raw::RawJson;
use crate::scan::{self, BusEvent};
use crate::server_msg::{Frame, MessageFields, ServerMessage, decode_message};
use crate::state_change::StateChangedEvent;

/// One message of a frame, as [`Frame::parse_each`] hands it over.
#[derive(Debug)]
pub enum FrameItem<'a> {
    /// An event of a subscription the caller wanted, decoded as a compressed-state event
    /// (`subscribe_entities`): what `Frame::parse` then [`CompressedEvent::parse`] give.
    Compressed(CompressedEventFrame<'a>),
    /// A bus event (`subscribe_events`) of a subscription the caller did not name, in Home
    /// Assistant's envelope, decoded in the frame's pass: `event` is what
    /// [`Event::parse`](crate::Event::parse) gives for `raw`, the event object as
    /// [`Frame::parse`] keeps it (so this is that message, `ServerMessage::Event { id, event: raw }`,
    /// with its event decoded). A bus event the scanner does not know the shape of comes as a
    /// [`Message`](Self::Message).
    Event {
        /// The subscribing command's id.
        id: u64,
        /// The event object, decoded.
        event: Event<'a>,
        /// The event object as sent (valid JSON).
        raw: RawJson<'a>,
    },
    /// A `state_changed` bus event of a subscription for which [`Frame::parse_each_with`] was
    /// told [`Want::StateChanged`], in Home Assistant's envelope, decoded with its `data` in the
    /// frame's pass: what [`StateChangedFrame::parse`](crate::StateChangedFrame::parse) gives for
    /// the message. Such a subscription's events that the scanner does not know the shape of (or
    /// of another type) come as [`Event`](Self::Event) or [`Message`](Self::Message).
    StateChanged {
        /// The subscribing command's id.
        id: u64,
        /// The event, decoded (boxed: it is some 300 bytes, handed on by value).
        event: Box<StateChangedEvent<'a>>,
        /// The event object as sent (valid JSON).
        raw: RawJson<'a>,
    },
    /// Any other message, as [`Frame::parse`] decodes it.
    Message(ServerMessage<'a>),
    /// A message that is not a valid message (as in [`Frame::errors`], naming its index, and its
    /// id when that can be read). The other messages are still handed over.
    Invalid(ProtoError),
    /// An event of a wanted subscription whose payload is not a compressed-state event: the
    /// subscription's id and the error [`CompressedEvent::parse`] gives for the payload. The
    /// message itself was valid, so only that subscription is concerned.
    BadEvent {
        /// The subscribing command's id.
        id: u64,
        /// Why the payload is not a compressed-state event.
        error: ProtoError,
    },
}

/// How [`Frame::parse_each_with`] hands over the events of one subscription.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Want {
    /// As any other message (a bus event in Home Assistant's envelope comes as
    /// [`FrameItem::Event`]).
    Message,
    /// Decoded as compressed-state events (`subscribe_entities`): [`FrameItem::Compressed`].
    Compressed,
    /// `state_changed` events decoded with their `data`: [`FrameItem::StateChanged`].
    StateChanged,
}

impl<'a> Frame<'a> {
    /// Decodes a frame (one object or a coalesced array) message by message, in frame order,
    /// handing each to `each`; events of the subscriptions `wanted` accepts arrive decoded as
    /// compressed-state events ([`FrameItem::Compressed`]), in the same pass over the text.
    /// Nothing is collected, so a frame costs no allocation of its own.
    ///
    /// Messages come out as [`Frame::parse`] gives them, except that a wanted event comes
    /// decoded (or as [`FrameItem::BadEvent`] when its payload is not a compressed event), that
    /// a bus event of any other subscription in Home Assistant's envelope comes decoded too, as
    /// [`FrameItem::Event`] (with its raw text), and that a message that is not valid comes as
    /// [`FrameItem::Invalid`] in its place in the frame rather than after every valid one.
    ///
    /// `Err` when the text as a whole is not JSON, or neither an object nor an array: the error
    /// `Frame::parse` gives. Unlike `Frame::parse`, the messages before the fault of an array have
    /// been handed over by then; a caller that must not act on part of a broken frame uses
    /// `Frame::parse` (a mirror can: a broken frame ends the connection, and the reconnect
    /// replaces the mirror with a fresh snapshot).
    ///
    /// `wanted` is asked with the id of each event message before its payload is decoded (in Home
    /// Assistant's order for diffs, the id last, after a payload that starts like a compressed
    /// event was decoded on speculation); it may be asked again about the same id (see [`CompressedEventFrame::parse_if`]), so it should answer
    /// from state the decoding does not change.
    ///
    /// ```
    /// use ha_proto::{Frame, FrameItem, ServerMessage};
    ///
    /// let text = r#"[{"id":7,"type":"event","event":{"c":{"light.a":{"+":{"s":"off"}}}}},
    ///               {"id":8,"type":"result","success":true,"result":null}]"#;
    /// let mut seen = Vec::new();
    /// Frame::parse_each(text, |id| id == 7, |item| match item {
    ///     FrameItem::Compressed(frame) => seen.push(format!("mirror {}: {}", frame.id, frame.event.changed[0].0.as_str())),
    ///     FrameItem::Message(ServerMessage::Result { id, .. }) => seen.push(format!("result {id}")),
    ///     other => panic!("{other:?}"),
    /// })?;
    /// assert_eq!(seen, ["mirror 7: light.a", "result 8"]);
    /// # Ok::<(), ha_proto::ProtoError>(())
    /// ```
    pub fn parse_each(
        text: &'a str,
        mut wanted: impl FnMut(u64) -> bool,
        mut each: impl FnMut(FrameItem<'a>),
    ) -> Result<(), ProtoError> {
        walk::<false>(text, &mut |id| if wanted(id) { Want::Compressed } else { Want::Message }, &mut each)
    }

    /// [`Frame::parse_each`], each subscription's events handed over as `want` answers for its
    /// id, which it is asked with as `wanted` is; its answer for an id should not change while
    /// the frame is decoded.
    ///
    /// `state_changes` says whether `want` answers [`Want::StateChanged`] for any id. In Home
    /// Assistant's envelope a bus event's id comes after the event, so with `state_changes` a
    /// `state_changed` event is decoded with its `data` on speculation; one whose id wants it
    /// otherwise is then read again. Without, no event comes as [`FrameItem::StateChanged`].
    ///
    /// ```
    /// use ha_proto::{Frame, FrameItem, Want};
    ///
    /// let text = r#"{"type":"event","event":{"event_type":"state_changed","data":{"entity_id":"light.a",
    ///   "old_state":null,"new_state":{"entity_id":"light.a","state":"on","attributes":{},
    ///   "last_changed":"2024-03-01T10:00:00+00:00","last_updated":"2024-03-01T10:00:00+00:00",
    ///   "context":{"id":"c1","parent_id":null,"user_id":null}}},"origin":"LOCAL",
    ///   "time_fired":"2024-03-01T10:00:00+00:00","context":{"id":"c1","parent_id":null,"user_id":null}},"id":7}"#;
    /// let mut seen = Vec::new();
    /// Frame::parse_each_with(text, true, |_| Want::StateChanged, |item| match item {
    ///     FrameItem::StateChanged { id, event, .. } => seen.push((id, event.change.entity_id.as_str().to_owned())),
    ///     other => panic!("{other:?}"),
    /// })?;
    /// assert_eq!(seen, [(7, "light.a".to_owned())]);
    /// # Ok::<(), ha_proto::ProtoError>(())
    /// ```
    pub fn parse_each_with(
        text: &'a str,
        state_changes: bool,
        mut want: impl FnMut(u64) -> Want,
        mut each: impl FnMut(FrameItem<'a>),
    ) -> Result<(), ProtoError> {
        if state_changes { walk::<true>(text, &mut want, &mut each) } else { walk::<false>(text, &mut want, &mut each) }
    }
}

/// [`Frame::parse_each_with`], state changes decoded on speculation with `STATE_CHANGES` (a
/// constant, so that the walk without them is compiled without that code at all).
#[inline]
pub(crate) fn walk<'a, const STATE_CHANGES: bool>(
    text: &'a str,
    want: &mut impl FnMut(u64) -> Want,
    each: &mut impl FnMut(FrameItem<'a>),
) -> Result<(), ProtoError> {
    let body = text.trim_start_matches(JSON_WHITESPACE);
    let Some(elements) = body.strip_prefix('[') else {
        // One object: the one-pass decoder of a lone event, else the generic path. A bus
        // event (`subscribe_events`) in Home Assistant's envelope is no compressed event: the
        // bus-event scanner checks and decodes it (should a mirror's id carry one, its payload
        // is decoded as a compressed event all the same), and what it declines goes to the
        // generic path, not to the compressed decoder, which would only decline it too.
        if starts_as_bus_event(text) {
            let hand = |id, raw, decoded| hand_over_bus_event(id, raw, decoded, want, each);
            if scan::bus_event_message::<STATE_CHANGES>(text, true, hand).is_some() {
                return Ok(());
            }
        } else if let Ok(Some(frame)) = CompressedEventFrame::parse_if(text, &mut |id| want(id) == Want::Compressed) {
            each(FrameItem::Compressed(frame));
            return Ok(());
        }
        return generic(text, want, each);
    };
    let mut rest = elements.trim_start_matches(JSON_WHITESPACE);
    if let Some(after) = rest.strip_prefix(']') {
        return end_of_frame(text, after);
    }
    let mut index = 0;
    loop {
        rest = match element::<STATE_CHANGES>(rest, index, want, each) {
            Some(after) => after.trim_start_matches(JSON_WHITESPACE),
            None => return Err(whole_frame_error(text)),
        };
        index += 1;
        if let Some(after) = rest.strip_prefix(',') {
            rest = after.trim_start_matches(JSON_WHITESPACE);
        } else if let Some(after) = rest.strip_prefix(']') {
            return end_of_frame(text, after);
        } else {
            return Err(whole_frame_error(text));
        }
    }
}

/// Whether `text` starts as Home Assistant writes a bus event message (`subscribe_events`, the
/// id last): `{"type":"event","event":{"event_type":`.
fn starts_as_bus_event(text: &str) -> bool {
    text.starts_with(r#"{"type":"event","event":{"event_type":"#)
}

/// Decodes the array element at the start of `text` (message `index` of the frame) and returns
/// the text after it; `None` when it is not JSON (the whole frame is then malformed).
fn element<'a, const STATE_CHANGES: bool>(
    text: &'a str,
    index: usize,
    want: &mut impl FnMut(u64) -> Want,
    each: &mut impl FnMut(FrameItem<'a>),
) -> Option<&'a str> {
    if let Some((id, payload)) = home_assistant_envelope(text) {
        let asked = want(id);
        if asked == Want::Compressed
            && let Some((event, after)) = payload_then_brace(payload)
        {
            each(FrameItem::Compressed(CompressedEventFrame { id, event }));
            return Some(after);
        }
        // Another subscription's event, or a payload the fast decoder rejects: decode it as
        // `Frame::parse` would, without asking about the same id again (a repeated `id` key may
        // name another one).
        return generic_element(text, index, &mut |other| if other == id { asked } else { want(other) }, each);
    }
    // Home Assistant's order for diffs, the id after the payload: decoded on speculation (only
    // payloads that start like a compressed event), then handed over if the id is wanted.
    if let Some(payload) = id_last_envelope(text)
        && let Some((event, id, after)) = payload_then_id(payload)
    {
        let asked = want(id);
        if asked == Want::Compressed {
            each(FrameItem::Compressed(CompressedEventFrame { id, event }));
            return Some(after);
        }
        return generic_element(text, index, &mut |other| if other == id { asked } else { want(other) }, each);
    }
    // A bus event (`subscribe_events`) in Home Assistant's envelope: checked and decoded.
    let hand = |id, raw, decoded| hand_over_bus_event(id, raw, decoded, want, each);
    if let Some(after) = scan::bus_event_message::<STATE_CHANGES>(text, false, hand) {
        return Some(after);
    }
    generic_element(text, index, want, each)
}

/// The element at the start of `text` decoded as `Frame::parse` decodes an array's element.
fn generic_element<'a>(
    text: &'a str,
    index: usize,
    want: &mut impl FnMut(u64) -> Want,
    each: &mut impl FnMut(FrameItem<'a>),
) -> Option<&'a str> {
    let mut values = serde_json::Deserializer::from_str(text).into_iter::<&'a RawValue>();
    let raw = values.next()?.ok()?;
    let after = &text[values.byte_offset()..];
    match serde_json::from_str::<MessageFields<'a>>(raw.get()) {
        Ok(MessageFields(fields)) => match decode_message(&fields, Some(raw)) {
            Ok(message) => hand_over(message, want, each),
            Err((msg_type, message)) => {
                // The same id `Frame::parse` reports, so the client resyncs only what it belonged to.
                let id = fields.readable_id();
                each(FrameItem::Invalid(ProtoError::InvalidMessage { index, msg_type, id, message }))
            }
        },
        Err(e) => each(FrameItem::Invalid(ProtoError::InvalidMessage {
            index,
            msg_type: String::new(),
            id: None,
            message: format!("not a message object: {}", crate::error::reason(&e)),
        })),
    }
    Some(after)
}

/// The generic path for a whole frame: `Frame::parse`, then each wanted event's payload decoded.
fn generic<'a>(
    text: &'a str,
    want: &mut impl FnMut(u64) -> Want,
    each: &mut impl FnMut(FrameItem<'a>),
) -> Result<(), ProtoError> {
    let frame = Frame::parse(text)?;
    for message in frame.messages {
        hand_over(message, want, each);
    }
    for error in frame.errors {
        each(FrameItem::Invalid(error));
    }
    Ok(())
}

/// Hands over one decoded message: an event wanted compressed with its payload decoded.
fn hand_over<'a>(message: ServerMessage<'a>, want: &mut impl FnMut(u64) -> Want, each: &mut impl FnMut(FrameItem<'a>)) {
    match message {
        ServerMessage::Event { id, event } => match event.as_borrowed() {
            Some(raw) if want(id) == Want::Compressed => each(match CompressedEvent::parse(raw) {
                Ok(event) => FrameItem::Compressed(CompressedEventFrame { id, event }),
                Err(error) => FrameItem::BadEvent { id, error },
            }),
            _ => each(FrameItem::Message(ServerMessage::Event { id, event })),
        },
        other => each(FrameItem::Message(other)),
    }
}

/// Hands over a bus event found in Home Assistant's envelope: as its id wants it when the
/// scanner read it that way, read again when it was decoded as a state change on speculation
/// and the id wants it as an event, else as [`hand_over`] does.
#[inline(always)]
fn hand_over_bus_event<'a>(
    id: u64,
    raw: RawJson<'a>,
    decoded: BusEvent<'a>,
    want: &mut impl FnMut(u64) -> Want,
    each: &mut impl FnMut(FrameItem<'a>),
) {
    // (Matched without a tuple of the two: the event, some 200 bytes, would be copied into it.)
    let asked = want(id);
    match decoded {
        BusEvent::Event(event) if asked != Want::Compressed => each(FrameItem::Event { id, event, raw }),
        BusEvent::StateChanged(event) if asked == Want::StateChanged => {
            each(FrameItem::StateChanged { id, event, raw })
        }
        BusEvent::StateChanged(_) if asked == Want::Message => {
            match raw.as_borrowed().and_then(|text| scan::event(text, true)) {
                Some(event) => each(FrameItem::Event { id, event, raw }),
                None => hand_over(ServerMessage::Event { id, event: raw }, want, each),
            }
        }
        _ => hand_over(ServerMessage::Event { id, event: raw }, want, each),
    }
}

/// Only whitespace may follow the array.
fn end_of_frame(text: &str, after: &str) -> Result<(), ProtoError> {
    if after.trim_start_matches(JSON_WHITESPACE).is_empty() { Ok(()) } else { Err(whole_frame_error(text)) }
}

/// The error `Frame::parse` gives for a frame the walk found malformed (the rare path: the frame
/// is decoded again only to word and position the error the same way).
fn whole_frame_error(text: &str) -> ProtoError {
    match Frame::parse(text) {
        Err(e) => e,
        // Unreachable as long as the walk accepts exactly what `Frame::parse` accepts; should they
        // ever disagree, the frame is still reported, never silently taken.
        Ok(_) => ProtoError::Malformed {
            what: "server frame",
            line: 0,
            column: 0,
            message: "the coalesced frame could not be walked".to_owned(),
        },
    }
}
