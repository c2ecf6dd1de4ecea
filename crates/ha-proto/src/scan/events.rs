//! The scanner for `subscribe_events` bus events, in Home Assistant's compact shapes: the
//! message envelope (`{"type":"event","event":{...},"id":N}`), the event object
//! ([`Event`]), and the `data` of a `state_changed` event ([`StateChange`]).
//!
//! serde_json went over a `state_changed` message three times, once per layer, each time
//! checking every byte through its generic reader (about 43,000 instructions for a median event
//! of 1,139 bytes, `docs/performance.md`). Here each layer is read by the scanner: raw parts
//! (the event, its `data`, `old_state`, attribute values) are checked by
//! [`value_len`](super::value_len), fields are matched as byte strings, timestamps are parsed
//! from the borrowed text. As everywhere in the scanner, anything unusual is declined (`None`)
//! and the caller decodes the same text with serde, so what comes out, and every error, is
//! serde's.

use std::borrow::Cow;
use std::ops::Range;

use super::Cursor;
use crate::compressed::{AttrPatch, EntityKey};
use crate::event::{Event, STATE_CHANGED};
use crate::event_frame::JSON_WHITESPACE;
use crate::raw::RawJson;
use crate::state_change::{ContextView, StateChange, StateChangedEvent, StateView};
use crate::timestamp::Timestamp;

/// Full states carry a dozen attributes or more (as `state_change::attributes` reserves).
const FULL_STATE_ATTRS: usize = 16;

/// A decoded attributes object: keys and raw values.
type AttrList<'a> = Vec<(Cow<'a, str>, RawJson<'a>)>;

/// A state view with room for a full state's attributes.
fn blank_view<'a>() -> StateView<'a> {
    StateView::blank(Vec::with_capacity(FULL_STATE_ATTRS))
}

/// A bus event message exactly as Home Assistant writes the events it caches:
/// `{"type":"event","event":{"event_type":...},"id":N}`. Hands `hand` the id, the event object
/// (checked and kept raw) and the event as the scanner read it, and returns the text after the
/// closing brace; `None` (nothing handed) for anything else, and with `whole` when more than
/// whitespace follows. With `STATE_CHANGES`, a `state_changed` event is decoded with its `data`
/// ([`BusEvent::StateChanged`]; the id, which comes after it, is not known yet); any other event,
/// and one the scanner does not know the shape of, comes as without.
///
/// (The event is handed on rather than returned: returned through the layers of the frame's
/// walk, the 160-byte event was copied three times more per message, measured.)
pub(crate) fn bus_event_message<'a, const STATE_CHANGES: bool>(
    text: &'a str,
    whole: bool,
    hand: impl FnOnce(u64, RawJson<'a>, BusEvent<'a>),
) -> Option<&'a str> {
    let payload = text.strip_prefix(r#"{"type":"event","event":"#)?;
    if !payload.starts_with(r#"{"event_type":"#) {
        return None;
    }
    if STATE_CHANGES
        && payload.starts_with(r#"{"event_type":"state_changed""#)
        && let Some((event, len)) = state_changed_payload(payload)
    {
        let (id, raw, after) = bus_event_end(payload, len, whole)?;
        hand(id, raw, BusEvent::StateChanged(event));
        return Some(after);
    }
    let mut cursor = Cursor::new(payload);
    match cursor.event() {
        Some(event) => {
            let (id, raw, after) = bus_event_end(payload, cursor.offset(), whole)?;
            hand(id, raw, BusEvent::Event(event));
            Some(after)
        }
        None => {
            let (id, raw, after) = bus_event_end(payload, super::value_len(payload.as_bytes())?, whole)?;
            hand(id, raw, BusEvent::Unread);
            Some(after)
        }
    }
}

/// A `state_changed` event object at the start of `payload` decoded with its `data`, and its
/// length. Boxed: a 300-byte event handed on by value through the frame's layers was copied at
/// each of them. (Not inlined, so that the common path of [`bus_event_message`], an event of a
/// subscriber that wants it raw, is compiled as it was before this one existed.)
#[inline(never)]
fn state_changed_payload(payload: &str) -> Option<(Box<StateChangedEvent<'_>>, usize)> {
    let mut event = Box::new(StateChangedEvent::blank());
    let len = state_changed_event_prefix_into(payload, &mut event)?;
    Some((event, len))
}

/// The rest of a bus event message after its event object (`len` bytes of `payload`): the id,
/// the event object, and the text after the closing brace (`None` with `whole` when more than
/// whitespace follows).
#[inline(always)]
fn bus_event_end(payload: &str, len: usize, whole: bool) -> Option<(u64, RawJson<'_>, &str)> {
    let (event, rest) = payload.split_at(len);
    let (id, rest) = super::message_id(rest.strip_prefix(r#","id":"#)?)?;
    let after = rest.trim_start_matches(JSON_WHITESPACE).strip_prefix('}')?;
    if whole && !after.trim_start_matches(JSON_WHITESPACE).is_empty() {
        return None;
    }
    Some((id, RawJson::checked(event), after))
}

/// A bus event as [`bus_event_message`] read it.
pub(crate) enum BusEvent<'a> {
    /// Decoded, `data` kept raw.
    Event(Event<'a>),
    /// A `state_changed` event decoded with its `data`.
    StateChanged(Box<StateChangedEvent<'a>>),
    /// Only checked (the scanner does not know its shape).
    Unread,
}

/// A successful result message exactly as Home Assistant writes it, alone in `text`
/// (`{"id":N,"type":"result","success":true,"result":...}`, whitespace around it aside): the id
/// and the result (checked, not decoded); `None` for anything else.
pub(crate) fn success_message(text: &str) -> Option<(u64, RawJson<'_>)> {
    let (id, payload) = success_envelope(text)?;
    let len = super::value_len(payload.as_bytes())?;
    let (result, rest) = payload.split_at(len);
    let after = rest.trim_start_matches(JSON_WHITESPACE).strip_prefix('}')?;
    after.trim_start_matches(JSON_WHITESPACE).is_empty().then_some((id, RawJson::checked(result)))
}

/// The id and the text from the result on, of a successful result message exactly as Home
/// Assistant begins it (`{"id":N,"type":"result","success":true,"result":`, whitespace before it
/// aside); `None` for anything else.
fn success_envelope(text: &str) -> Option<(u64, &str)> {
    let (id, rest) = super::message_id(text.trim_start_matches(JSON_WHITESPACE).strip_prefix(r#"{"id":"#)?)?;
    Some((id, rest.strip_prefix(r#","type":"result","success":true,"result":"#)?))
}

/// A `state_changed` event object at the start of `text` (not checked before) decoded in one
/// pass into `out`, `data` included; returns its length. `event_type` comes first, as Home
/// Assistant writes it, then `data`, `origin`, `time_fired` and `context` in any order. `None`
/// for another event type, an unknown or repeated key, or anything else the scanner does not
/// know (serde then decides, and `out` holds a part of the event, to be overwritten).
///
/// The event is written where the caller keeps it: returned by value through each layer, the
/// 304-byte event was copied some twenty times per message.
#[inline(always)]
pub(crate) fn state_changed_event_prefix_into<'a>(text: &'a str, out: &mut StateChangedEvent<'a>) -> Option<usize> {
    let mut cursor = Cursor::new(text);
    cursor.state_changed_event_into(out)?;
    Some(cursor.offset())
}

/// The event object that is the whole of `text` (whitespace around it aside), if the scanner
/// knows its shape. `checked`: the text is known to be valid JSON (a [`RawJson`]'s), so `data` is
/// only delimited.
pub(crate) fn event(text: &str, checked: bool) -> Option<Event<'_>> {
    whole(text, checked, Cursor::event)
}

/// The `data` of a `state_changed` event that is the whole of `text`, if the scanner knows its
/// shape. `checked`: the text is known to be valid JSON, so `old_state` and the attribute values
/// are only delimited.
pub(crate) fn state_change(text: &str, checked: bool) -> Option<StateChange<'_>> {
    whole(text, checked, Cursor::state_change)
}

/// What `read` reads from `text`, when that is the whole of it.
fn whole<'a, T>(text: &'a str, checked: bool, read: fn(&mut Cursor<'a>) -> Option<T>) -> Option<T> {
    let mut cursor = if checked { Cursor::over_checked(text) } else { Cursor::new(text) };
    let value = read(&mut cursor)?;
    cursor.at_end().then_some(value)
}

/// A state list (`get_states` result, `GET /api/states` body) that is the whole of `text`, if
/// the scanner knows the shape of every state in it.
pub(crate) fn state_views(text: &str) -> Option<Vec<StateView<'_>>> {
    // A typical state takes some 500 bytes of JSON: room for all of them up front, roughly.
    let mut out = Vec::with_capacity(text.len() / 512);
    state_list(text, |view| {
        // The state is kept: its attribute list goes with it, and the next one gets a new list.
        let attributes = std::mem::replace(&mut view.attributes, AttrPatch(Vec::with_capacity(FULL_STATE_ATTRS)));
        out.push(StateView { attributes, ..view.shallow_clone() });
    })?;
    Some(out)
}

/// Hands each state of a state list that is the whole of `text` to `each` as it is read, one
/// state (and its attribute list) reused from state to state. `Some(())` when every state was
/// read; `None` as soon as one is not in a shape the scanner knows (the states before it were
/// handed over).
pub(crate) fn state_views_each<'a>(text: &'a str, each: &mut impl FnMut(&StateView<'a>)) -> Option<()> {
    state_list(text, |view| each(view))
}

/// Reads the state list that is the whole of `text`, lending each state to `take` (which may
/// take what it wants to keep out of it).
fn state_list<'a>(text: &'a str, take: impl FnMut(&mut StateView<'a>)) -> Option<()> {
    let mut cursor = Cursor::new(text);
    cursor.state_list(take)?;
    cursor.at_end().then_some(())
}

/// A successful result message exactly as Home Assistant writes it, alone in `text`, whose
/// result is a state list (`{"id":N,"type":"result","success":true,"result":[...]}`, how the
/// answer to `get_states` arrives): each state is handed to `each` as it is read, one attribute
/// list reused, in the frame's one pass (the list is checked as it is decoded, not before).
/// `Some(id)` when the whole frame was read; `None` as soon as anything is not in a shape the
/// scanner knows, the frame's envelope included (the states before it were handed over).
pub(crate) fn success_state_list_each<'a>(text: &'a str, each: &mut impl FnMut(&StateView<'a>)) -> Option<u64> {
    let (id, payload) = success_envelope(text)?;
    let mut cursor = Cursor::new(payload);
    cursor.state_list(|view| each(view))?;
    cursor.eat(b'}')?;
    cursor.at_end().then_some(id)
}

/// Whether `a` and `b` are the same text; one of Home Assistant's 32-byte timestamps
/// (`2024-03-20T10:00:01.025778+00:00`) is compared as two 16-byte words, not through `memcmp`.
fn same_text(a: &str, b: &str) -> bool {
    match (a.as_bytes().as_array::<32>(), b.as_bytes().as_array::<32>()) {
        (Some(x), Some(y)) => super::same_bytes(x, y),
        _ => a == b,
    }
}

/// The keys of an object read so far, one bit per key the reader knows.
#[derive(Default)]
struct Seen(u8);

impl Seen {
    /// Marks `key` read; `false` when it had been read before.
    fn first(&mut self, key: u8) -> bool {
        let first = self.0 & key == 0;
        self.0 |= key;
        first
    }

    /// Whether every one of `keys` was read.
    fn all(&self, keys: u8) -> bool {
        self.0 & keys == keys
    }
}

// The keys of a state object, as `Seen` bits.
const ENTITY_ID: u8 = 1;
const STATE: u8 = 1 << 1;
const ATTRIBUTES: u8 = 1 << 2;
const LAST_CHANGED: u8 = 1 << 3;
const LAST_REPORTED: u8 = 1 << 4;
const LAST_UPDATED: u8 = 1 << 5;
const CONTEXT: u8 = 1 << 6;
// The keys of an event object after `event_type`, as `Seen` bits.
const DATA: u8 = 1;
const ORIGIN: u8 = 1 << 1;
const TIME_FIRED: u8 = 1 << 2;
const EVENT_CONTEXT: u8 = 1 << 3;
// The keys of a context object, as `Seen` bits.
const ID: u8 = 1;
const PARENT_ID: u8 = 1 << 1;
const USER_ID: u8 = 1 << 2;

impl<'a> Cursor<'a> {
    /// A state list, each state read into one [`StateView`] that is lent to `take`.
    fn state_list(&mut self, mut take: impl FnMut(&mut StateView<'a>)) -> Option<()> {
        self.eat(b'[')?;
        let mut view = blank_view();
        let mut first = true;
        while self.next_member(b']', first)? {
            first = false;
            self.state_view_into(&mut view, None, None)?;
            take(&mut view);
        }
        Some(())
    }

    /// An event object: `event_type`, `data` (kept raw), `origin`, `time_fired`, `context`.
    /// Unknown and repeated keys are declined.
    fn event(&mut self) -> Option<Event<'a>> {
        self.eat(b'{')?;
        let (mut event_type, mut data, mut origin, mut time_fired, mut context) = (None, None, None, None, None);
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.key()? {
                "event_type" if event_type.is_none() => event_type = Some(self.plain_str()?),
                "data" if data.is_none() => data = Some(self.raw_value()?),
                "origin" if origin.is_none() => origin = Some(self.nullable_str()?),
                "time_fired" if time_fired.is_none() => time_fired = Some(self.iso_timestamp()?),
                "context" if context.is_none() => {
                    let mut view = ContextView::default();
                    self.context_view_into(&mut view)?;
                    context = Some(view.to_context());
                }
                _ => return None,
            }
        }
        Some(Event {
            event_type: Cow::Borrowed(event_type?),
            data: data.unwrap_or_else(|| RawJson::checked("null")),
            origin: origin.flatten(),
            time_fired: time_fired?,
            context: context?,
        })
    }

    /// A `state_changed` event object read into `out`, its `data` decoded as it is read (see
    /// [`state_changed_event_prefix_into`]).
    #[inline(always)]
    fn state_changed_event_into(&mut self, out: &mut StateChangedEvent<'a>) -> Option<()> {
        self.eat(b'{')?;
        if self.key()? != "event_type" || self.plain_str()? != STATE_CHANGED {
            return None;
        }
        out.origin = None;
        let mut seen = Seen::default();
        while self.next_member(b'}', false)? {
            match self.key()? {
                "data" if seen.first(DATA) => self.state_change_into(&mut out.change)?,
                "origin" if seen.first(ORIGIN) => out.origin = self.nullable_str()?,
                "time_fired" if seen.first(TIME_FIRED) => out.time_fired = self.iso_timestamp()?,
                "context" if seen.first(EVENT_CONTEXT) => self.context_view_into(&mut out.context)?,
                _ => return None,
            }
        }
        seen.all(DATA | TIME_FIRED | EVENT_CONTEXT).then_some(())
    }

    /// `state_changed` data (see [`state_change_into`](Self::state_change_into)).
    fn state_change(&mut self) -> Option<StateChange<'a>> {
        let mut change = StateChange { entity_id: EntityKey::blank(), new_state: None };
        self.state_change_into(&mut change)?;
        Some(change)
    }

    /// `state_changed` data read into `out`: `entity_id` and `new_state`; any other key
    /// (`old_state`) is skipped, its value checked, as serde skips unknown fields.
    #[inline(always)]
    fn state_change_into(&mut self, out: &mut StateChange<'a>) -> Option<()> {
        self.eat(b'{')?;
        let (mut entity_id, mut new_state) = (false, false);
        // The span of `old_state`'s attributes object while the new state's attribute list
        // holds them decoded.
        let mut old_attributes = None;
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.key()? {
                "entity_id" if !entity_id => {
                    out.entity_id = EntityKey::new(self.plain_str()?).ok()?;
                    entity_id = true;
                }
                "new_state" if !new_state => {
                    new_state = true;
                    if self.eat_word(b"null") {
                        out.new_state = None;
                    } else {
                        let known = entity_id.then_some(&out.entity_id);
                        let view = out.new_state.get_or_insert_with(blank_view);
                        self.state_view_into(view, known, old_attributes.take())?;
                    }
                }
                "entity_id" | "new_state" => return None,
                // Before the new state (Home Assistant's order), its attribute list is free to
                // hold the old state's attributes, which the new state's usually repeat.
                "old_state" if !new_state => {
                    let view = out.new_state.get_or_insert_with(blank_view);
                    old_attributes = self.skip_state(Some(&mut view.attributes.0))?;
                }
                "old_state" => {
                    self.skip_state(None)?;
                }
                _ => {
                    self.raw_value()?;
                }
            }
        }
        if !new_state {
            out.new_state = None;
        }
        entity_id.then_some(())
    }

    /// A full state read into `out`, its attributes into `out`'s attribute list (emptied
    /// first); unknown keys are skipped, as serde does. `known`: an entity id already validated
    /// (the change's own, which the new state repeats), not checked again when the state's id
    /// is the same text.
    ///
    /// `decoded`: the span of an attributes object (the change's `old_state`'s) that `out`'s
    /// attribute list holds decoded; attributes of the same text are then not decoded again.
    fn state_view_into(
        &mut self,
        out: &mut StateView<'a>,
        known: Option<&EntityKey<'a>>,
        decoded: Option<Range<usize>>,
    ) -> Option<()> {
        let start = self.pos;
        if self.home_assistants_state(out, known, decoded).is_some() {
            return Some(());
        }
        self.pos = start;
        self.eat(b'{')?;
        out.attributes.0.clear();
        out.last_reported = None;
        let mut seen = Seen::default();
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.key()? {
                "entity_id" if seen.first(ENTITY_ID) => out.entity_id = self.state_entity_id(known)?,
                "state" if seen.first(STATE) => out.state = Cow::Borrowed(self.plain_str()?),
                "attributes" if seen.first(ATTRIBUTES) => {
                    let list = std::mem::take(&mut out.attributes.0);
                    out.attributes = self.attributes_into(list)?;
                }
                "last_changed" if seen.first(LAST_CHANGED) => out.last_changed = self.iso_timestamp()?,
                "last_reported" if seen.first(LAST_REPORTED) => {
                    out.last_reported = if self.eat_word(b"null") { None } else { Some(self.iso_timestamp()?) };
                }
                "last_updated" if seen.first(LAST_UPDATED) => out.last_updated = self.iso_timestamp()?,
                "context" if seen.first(CONTEXT) => self.context_view_into(&mut out.context)?,
                "entity_id" | "state" | "attributes" | "last_changed" | "last_reported" | "last_updated"
                | "context" => return None,
                _ => {
                    self.raw_value()?;
                }
            }
        }
        seen.all(ENTITY_ID | STATE | LAST_CHANGED | LAST_UPDATED | CONTEXT).then_some(())
    }

    /// A context object read into `out`: `id`, `parent_id`, `user_id`, borrowed; other keys
    /// are declined.
    fn context_view_into(&mut self, out: &mut ContextView<'a>) -> Option<()> {
        let start = self.pos;
        if self.home_assistants_context(out).is_some() {
            return Some(());
        }
        self.pos = start;
        self.eat(b'{')?;
        out.parent_id = None;
        out.user_id = None;
        let mut seen = Seen::default();
        let mut first = true;
        while self.next_member(b'}', first)? {
            first = false;
            match self.key()? {
                "id" if seen.first(ID) => out.id = Cow::Borrowed(self.plain_str()?),
                "parent_id" if seen.first(PARENT_ID) => out.parent_id = self.nullable_str()?,
                "user_id" if seen.first(USER_ID) => out.user_id = self.nullable_str()?,
                _ => return None,
            }
        }
        seen.all(ID).then_some(())
    }

    /// A full state with its keys in the order Home Assistant writes them (`entity_id`,
    /// `state`, `attributes`, `last_changed`, `last_reported` when sent, `last_updated`,
    /// `context`), each key read as a literal; `None` for anything else (the cursor is then
    /// somewhere inside, and the caller reads the state again by its keys).
    #[inline(always)]
    fn home_assistants_state(
        &mut self,
        out: &mut StateView<'a>,
        known: Option<&EntityKey<'a>>,
        decoded: Option<Range<usize>>,
    ) -> Option<()> {
        if !self.eat_word(br#"{"entity_id":"#) {
            return None;
        }
        out.entity_id = self.state_entity_id(known)?;
        if !self.eat_word(br#","state":"#) {
            return None;
        }
        out.state = Cow::Borrowed(self.plain_str()?);
        if !self.eat_word(br#","attributes":"#) {
            return None;
        }
        if !self.eat_decoded(decoded) {
            let list = std::mem::take(&mut out.attributes.0);
            out.attributes = self.attributes_into(list)?;
        }
        if !self.eat_word(br#","last_changed":"#) {
            return None;
        }
        out.last_changed = self.iso_timestamp()?;
        out.last_reported = None;
        if self.eat_word(br#","last_reported":"#) {
            out.last_reported = Some(self.iso_timestamp()?);
        }
        if !self.eat_word(br#","last_updated":"#) {
            return None;
        }
        out.last_updated = self.iso_timestamp()?;
        if !self.eat_word(br#","context":"#) {
            return None;
        }
        self.context_view_into(&mut out.context)?;
        self.eat(b'}')
    }

    /// A full state that is checked as JSON and not kept (a change's `old_state`, or `null`):
    /// walked by Home Assistant's layout when it has it, else checked by [`raw_value`](Self::raw_value).
    /// Either way only valid JSON is accepted, as serde accepts it when it skips the member.
    ///
    /// With `attributes`, the state's attributes are decoded into that list when it has Home
    /// Assistant's layout, and their span is returned, for [`eat_decoded`](Self::eat_decoded).
    fn skip_state(&mut self, attributes: Option<&mut AttrList<'a>>) -> Option<Option<Range<usize>>> {
        if self.eat_word(b"null") {
            return Some(None);
        }
        let start = self.pos;
        if let Some(span) = self.skip_home_assistants_state(attributes) {
            return Some(span);
        }
        self.pos = start;
        self.raw_value().map(|_| None)
    }

    /// Steps over an attributes object whose text is that of `decoded` (the same bytes decode
    /// to the same attributes, which the caller's list holds already); `false`, nothing
    /// consumed, otherwise. Home Assistant sends a change's old and new state with the same
    /// attributes more often than not: a sensor's new reading keeps its unit and name.
    #[inline(always)]
    fn eat_decoded(&mut self, decoded: Option<Range<usize>>) -> bool {
        let Some(span) = decoded else {
            return false;
        };
        self.skip_whitespace();
        let bytes = self.text.as_bytes();
        let same = bytes[self.pos..].starts_with(&bytes[span.clone()]);
        if same {
            self.pos += span.len();
        }
        same
    }

    /// A full state in the layout [`home_assistants_state`](Self::home_assistants_state) reads,
    /// stepped over: its keys matched as literals and its strings (timestamps included) only
    /// checked for escapes and control characters, its attributes checked by
    /// [`raw_value`](Self::raw_value). The generic walk matched every key as a string of its own,
    /// a quarter of the instructions of a `state_changed` event (callgrind, 2026-12-06). `None`
    /// for anything else (the cursor is then somewhere inside).
    ///
    /// With `attributes`, the attributes are decoded into that list, and their span returned,
    /// when the scanner decodes them (keys without escapes); else they are only checked.
    #[inline(always)]
    fn skip_home_assistants_state(&mut self, attributes: Option<&mut AttrList<'a>>) -> Option<Option<Range<usize>>> {
        if !self.eat_word(br#"{"entity_id":"#) {
            return None;
        }
        self.plain_str()?;
        if !self.eat_word(br#","state":"#) {
            return None;
        }
        self.plain_str()?;
        if !self.eat_word(br#","attributes":"#) || self.peek() != Some(b'{') {
            return None;
        }
        let at = self.pos;
        let span = if attributes.is_some_and(|list| self.attributes_kept(list)) {
            Some(at..self.pos)
        } else {
            self.raw_value()?;
            None
        };
        if !self.eat_word(br#","last_changed":"#) {
            return None;
        }
        self.plain_str()?;
        if self.eat_word(br#","last_reported":"#) {
            self.plain_str()?;
        }
        if !self.eat_word(br#","last_updated":"#) {
            return None;
        }
        self.plain_str()?;
        if !self.eat_word(br#","context":"#) {
            return None;
        }
        let context = self.pos;
        if self.home_assistants_context_id().is_none() {
            self.pos = context;
            self.raw_value()?;
        }
        self.eat(b'}')?;
        Some(span)
    }

    /// The attributes object at the cursor decoded into `list`: `true` when the scanner decodes
    /// it, else `false` with the cursor back where it was (the object may still be valid JSON).
    #[inline(always)]
    fn attributes_kept(&mut self, list: &mut AttrList<'a>) -> bool {
        let at = self.pos;
        match self.attributes_into(std::mem::take(list)) {
            Some(AttrPatch(decoded)) => {
                *list = decoded;
                true
            }
            None => {
                self.pos = at;
                false
            }
        }
    }

    /// A state's entity id, validated unless it is the text of `known` (already validated).
    /// Inlined, as the code it stands for was before it was shared.
    #[inline(always)]
    fn state_entity_id(&mut self, known: Option<&EntityKey<'a>>) -> Option<EntityKey<'a>> {
        let id = self.plain_str()?;
        match known.and_then(|known| EntityKey::revalidated(id, known)) {
            Some(key) => Some(key),
            None => EntityKey::new(id).ok(),
        }
    }

    /// The context Home Assistant writes for most changes, `{"id":"…","parent_id":null,"user_id":null}`
    /// exactly, read into `out`; `None` for anything else (the cursor is then somewhere inside,
    /// and the caller reads the context again by its keys).
    #[inline(always)]
    fn home_assistants_context(&mut self, out: &mut ContextView<'a>) -> Option<()> {
        let id = self.home_assistants_context_id()?;
        out.id = Cow::Borrowed(id);
        out.parent_id = None;
        out.user_id = None;
        Some(())
    }

    /// The id of a context in the form [`home_assistants_context`](Self::home_assistants_context)
    /// reads, read as two literals around the id; `None` for anything else (the cursor is then
    /// somewhere inside).
    #[inline(always)]
    fn home_assistants_context_id(&mut self) -> Option<&'a str> {
        if !self.eat_word(br#"{"id":"#) {
            return None;
        }
        let id = self.plain_str()?;
        self.eat_word(br#","parent_id":null,"user_id":null}"#).then_some(id)
    }

    /// An ISO 8601 timestamp string, parsed as serde's visitor parses it; a string that does
    /// not parse is declined (serde then words the error). The same text as the last one read is
    /// not parsed again.
    fn iso_timestamp(&mut self) -> Option<Timestamp> {
        if let Some(at) = self.home_assistants_timestamp() {
            return Some(at);
        }
        let text = self.plain_str()?;
        if let Some((seen, at)) = self.last_time
            && same_text(seen, text)
        {
            return Some(at);
        }
        let at = Timestamp::parse_iso(text).ok()?;
        self.last_time = Some((text, at));
        Some(at)
    }

    /// A timestamp string in the form Home Assistant writes (`"2024-03-20T10:00:01.025778+00:00"`,
    /// quotes included) read at fixed places: compared with the last one read as two 16-byte
    /// words, or parsed, without searching the string for its end (the 32 bytes hold only digits
    /// and separators). `None` for any other text, the cursor moved past whitespace only. A timestamp read through
    /// [`plain_str`](Self::plain_str) cost about 130 instructions more (callgrind, 2026-12-06),
    /// and an event holds four.
    #[inline(always)]
    fn home_assistants_timestamp(&mut self) -> Option<Timestamp> {
        self.skip_whitespace();
        let text = self.text;
        let [b'"', inner @ .., b'"'] = text.as_bytes().get(self.pos..)?.first_chunk::<34>()? else {
            return None;
        };
        if let Some((seen, at)) = self.last_time
            && seen.as_bytes().as_array::<32>().is_some_and(|seen| super::same_bytes(seen, inner))
        {
            self.pos += 34;
            return Some(at);
        }
        let at = Timestamp::parse_home_assistants(inner)?;
        self.last_time = Some((text.get(self.pos + 1..self.pos + 33)?, at));
        self.pos += 34;
        Some(at)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// `state_changed` messages over a fixture install, as Home Assistant writes them.
    fn messages() -> Vec<String> {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 100);
        ha_fixtures::state_changed_messages(11, &states, 300, 3)
    }

    #[test]
    fn every_fixture_message_is_scanned_at_every_layer() {
        let messages = messages();

        let declined: Vec<&String> = messages
            .iter()
            .filter(|m| {
                let mut read = None;
                let after = bus_event_message::<false>(m, false, |_, raw, decoded| read = Some((raw, decoded)));
                let (Some(after), Some((raw, BusEvent::Event(decoded)))) = (after, read) else { return true };
                let Some(_) = event(raw.get(), false) else { return true };
                !after.is_empty() || state_change(decoded.data.get(), false).is_none()
            })
            .collect();

        assert!(declined.is_empty(), "{} declined, first: {:?}", declined.len(), declined.first());
    }

    #[test]
    fn a_repeated_timestamp_reads_as_the_one_before_it() {
        let text = r#""2024-03-20T10:00:01.025778+00:00","2024-03-20T10:00:01.025778+00:00""#;
        let mut cursor = Cursor::new(text);

        let first = cursor.iso_timestamp();
        cursor.eat(b',');
        let second = cursor.iso_timestamp();

        let expected = Timestamp::parse_iso("2024-03-20T10:00:01.025778+00:00").ok();
        assert_eq!((first, second, cursor.at_end()), (expected, expected, true));
    }

    #[test]
    fn a_string_that_goes_on_after_home_assistants_timestamp_is_declined() {
        let text = r#""2024-03-20T10:00:01.025778+00:00","2024-03-20T10:00:01.025778+00:00Z""#;
        let mut cursor = Cursor::new(text);

        let first = cursor.iso_timestamp();
        cursor.eat(b',');
        let second = cursor.iso_timestamp();

        assert_eq!((first.is_some(), second), (true, None));
    }

    /// A full state of `sensor.a` in Home Assistant's layout.
    fn state(value: &str, attributes: &str) -> String {
        format!(
            r#"{{"entity_id":"sensor.a","state":"{value}","attributes":{attributes},"last_changed":"2024-03-20T10:00:01.025778+00:00","last_updated":"2024-03-20T10:00:01.025778+00:00","context":{{"id":"01HSDMW29PB74SC50XACH3A4CG","parent_id":null,"user_id":null}}}}"#
        )
    }

    /// `state_changed` data in Home Assistant's layout with these attributes objects.
    fn change_data(old_attributes: &str, new_attributes: &str) -> String {
        format!(
            r#"{{"entity_id":"sensor.a","old_state":{},"new_state":{}}}"#,
            state("1", old_attributes),
            state("2", new_attributes)
        )
    }

    /// The new state's attributes of a change, as (key, raw value) texts.
    fn new_attributes(data: &str) -> Option<Vec<(String, String)>> {
        let change = state_change(data, false)?;
        let attributes = change.new_state?.attributes.0;
        Some(attributes.iter().map(|(k, v)| (k.to_string(), v.get().to_owned())).collect())
    }

    fn pairs(list: &[(&str, &str)]) -> Option<Vec<(String, String)>> {
        Some(list.iter().map(|(k, v)| (k.to_string(), v.to_string())).collect())
    }

    #[test]
    fn new_attributes_that_repeat_the_old_ones_are_decoded() {
        let data = change_data(r#"{"unit":"W","n":[1,{"x":null}]}"#, r#"{"unit":"W","n":[1,{"x":null}]}"#);

        let attributes = new_attributes(&data);

        assert_eq!(attributes, pairs(&[("unit", r#""W""#), ("n", r#"[1,{"x":null}]"#)]));
    }

    #[test]
    fn new_attributes_that_differ_from_the_old_ones_are_their_own() {
        let data = change_data(r#"{"unit":"W","n":1}"#, r#"{"unit":"W","n":2}"#);

        let attributes = new_attributes(&data);

        assert_eq!(attributes, pairs(&[("unit", r#""W""#), ("n", "2")]));
    }

    #[test]
    fn new_attributes_that_start_like_the_old_ones_are_their_own() {
        let data = change_data(r#"{"unit":"W"}"#, r#"{"unit":"W","n":2}"#);

        let attributes = new_attributes(&data);

        assert_eq!(attributes, pairs(&[("unit", r#""W""#), ("n", "2")]));
    }

    #[test]
    fn an_old_state_after_the_new_one_leaves_the_new_attributes() {
        let reordered = format!(
            r#"{{"entity_id":"sensor.a","new_state":{},"old_state":{}}}"#,
            state("2", r#"{"b":2}"#),
            state("1", r#"{"a":1}"#)
        );

        let attributes = new_attributes(&reordered);

        assert_eq!(attributes, pairs(&[("b", "2")]));
    }

    #[test]
    fn old_attributes_with_an_escaped_key_are_checked_and_the_new_ones_decoded() {
        let data = change_data(r#"{"a\u0062":1}"#, r#"{"b":1}"#);

        let attributes = new_attributes(&data);

        assert_eq!(attributes, pairs(&[("b", "1")]));
    }

    #[test]
    fn old_attributes_that_are_not_json_decline_the_change() {
        let data = change_data(r#"{"a":01}"#, r#"{"b":1}"#);

        let attributes = new_attributes(&data);

        assert_eq!(attributes, None);
    }

    #[test]
    fn a_fixture_state_list_is_scanned() {
        let text = serde_json::to_string(&ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 300)).expect("serialises");

        let views = state_views(&text).map(|v| v.len());

        assert_eq!(views, Some(300));
    }

    #[test]
    fn a_result_message_in_home_assistants_envelope_is_scanned() {
        let text = r#"{"id":5,"type":"result","success":true,"result":[{"a":1}]}"#;

        let scanned = success_message(text).map(|(id, raw)| (id, raw.get().to_owned()));

        assert_eq!(scanned, Some((5, r#"[{"a":1}]"#.to_owned())));
    }
}
