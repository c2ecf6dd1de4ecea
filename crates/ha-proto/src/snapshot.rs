//! A `subscribe_entities` snapshot decoded one entity at a time.
//!
//! The first event of a subscription holds every entity (5 MB of JSON for 16,384 of them).
//! Decoded into a [`CompressedEvent`] it exists a second time as a list of decoded states (about
//! 8 MB more at the peak) before the mirror copies it. [`parse_snapshot_each`] hands each `a`
//! entry over as soon as it is decoded instead, so the caller can write it into its mirror and
//! the decoded state is gone before the next one is read; [`lone_event_payload`] finds the
//! payload of a frame that holds one event message, without decoding anything.

use std::fmt;

use serde::de;
use serde::de::{DeserializeSeed, Deserializer, IgnoredAny, MapAccess, Visitor};

use crate::compressed::{CompressedState, EntityKey, PairVec, StateDiff};
use crate::cow::CowStr;
use crate::error::ProtoError;
use crate::event_frame::JSON_WHITESPACE;
use crate::scan::Cursor;

/// What [`parse_snapshot_each`] found besides the `a` entries it handed over: a snapshot has
/// neither, so either count above zero means the event was not one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct SnapshotRest {
    /// Number of `c` (changed) entries.
    pub changed: usize,
    /// Number of `r` (removed) entries.
    pub removed: usize,
}

/// Decodes a compressed-state event (the `event` object of a `subscribe_entities` message) and
/// gives every `a` entry to `each` as soon as it is decoded, in the order of the text.
///
/// The entry is lent, not given: the scanner reads the next entry's attributes into the same
/// list, so decoding a snapshot allocates nothing per entry (clone an entry to keep it).
///
/// - `Ok(Some(rest))`: the whole text is one compressed event; every `a` entry was handed over.
///   `c` and `r` entries are decoded as [`CompressedEvent::parse`](crate::CompressedEvent::parse)
///   decodes them, and counted.
/// - `Ok(None)`: `each` returned `false`; decoding stopped there.
/// - `Err(_)`: the text is not a compressed event (nothing may follow it but whitespace), or it
///   holds `a` twice (where `CompressedEvent::parse` keeps the last map, entries already handed
///   over cannot be taken back). Entries before the fault have been handed over.
///
/// ```
/// let text = r#"{"a":{"light.a":{"s":"on","a":{},"c":"01H","lc":1.5},"light.b":{"s":"off","a":{},"c":"01J","lc":2.5}}}"#;
/// let mut seen = Vec::new();
/// let rest = ha_proto::parse_snapshot_each(text, |id, state| {
///     seen.push(format!("{}={}", id.as_str(), state.state));
///     true
/// })?;
/// assert_eq!(seen, ["light.a=on", "light.b=off"]);
/// assert_eq!(rest, Some(ha_proto::SnapshotRest::default()));
/// # Ok::<(), ha_proto::ProtoError>(())
/// ```
pub fn parse_snapshot_each<'a>(
    json: &'a str,
    mut each: impl FnMut(EntityKey<'a>, &CompressedState<'a>) -> bool,
) -> Result<Option<SnapshotRest>, ProtoError> {
    let mut handed = 0usize;
    match scan_snapshot(json, &mut |key, state| {
        handed += 1;
        each(key, state)
    }) {
        Scanned::Done => return Ok(Some(SnapshotRest::default())),
        Scanned::Stopped => return Ok(None),
        Scanned::Unread => {}
    }
    // A shape the scanner does not read (a `c` or `r` beside `a`, an escaped id), or bad input:
    // serde decodes the whole event, without handing over again what the scanner already did,
    // so errors are serde's, at serde's positions.
    let mut skip = handed;
    serde_snapshot(json, |key, state| {
        if skip > 0 {
            skip -= 1;
            return true;
        }
        each(key, state)
    })
}

/// How far the scanner got with a snapshot.
enum Scanned {
    /// Every entry was handed over; the event holds nothing else.
    Done,
    /// The caller stopped it.
    Stopped,
    /// It met something it does not read, after handing over the entries before it.
    Unread,
}

/// Scans a snapshot of the shape Home Assistant writes, `{"a":{id:state,...}}`: each entry the
/// scanner declines is decoded by serde in its place; anything else stops the scan.
fn scan_snapshot<'a>(json: &'a str, each: &mut impl FnMut(EntityKey<'a>, &CompressedState<'a>) -> bool) -> Scanned {
    let mut cursor = Cursor::new(json);
    // One attribute list for every entry: each state's attributes are read into the buffer the
    // one before it left, so decoding allocates nothing per entry.
    let mut spare = Vec::new();
    let mut walk = || -> Option<bool> {
        cursor.eat(b'{')?;
        if cursor.key()? != "a" {
            return None;
        }
        cursor.eat(b'{')?;
        let mut first = true;
        while cursor.next_member(b'}', first)? {
            first = false;
            let key = cursor.entity_key()?;
            let state = cursor.compressed_state_or_serde(&mut spare)?;
            let more = each(key, &state);
            spare = state.attributes.0;
            if !more {
                return Some(false);
            }
        }
        cursor.eat(b'}')?;
        cursor.at_end().then_some(true)
    };
    match walk() {
        Some(true) => Scanned::Done,
        Some(false) => Scanned::Stopped,
        None => Scanned::Unread,
    }
}

/// The whole event decoded by serde, each `a` entry handed over as it is decoded.
fn serde_snapshot<'a>(
    json: &'a str,
    mut each: impl FnMut(EntityKey<'a>, &CompressedState<'a>) -> bool,
) -> Result<Option<SnapshotRest>, ProtoError> {
    let mut stopped = false;
    let mut de = serde_json::Deserializer::from_str(json);
    let decoded = de.deserialize_map(Event { each: &mut each, stopped: &mut stopped }).and_then(|rest| {
        de.end()?;
        Ok(rest)
    });
    match decoded {
        Ok(rest) => Ok(Some(rest)),
        Err(_) if stopped => Ok(None),
        Err(e) => Err(ProtoError::json("compressed state event", &e)),
    }
}

/// The id and the text of `event` of a frame holding one event message exactly as Home
/// Assistant's compact encoder writes it, in either of its orders: `{"id":N,"type":"event",
/// "event":PAYLOAD}` or `{"type":"event","event":PAYLOAD,"id":N}` (whitespace may follow). Only
/// the envelope's start and end are looked at, so this costs nothing for a large payload; the
/// payload is not checked, and a frame of another shape can give a wrong slice (an unknown field
/// after `event`, say). Decode it strictly, as [`parse_snapshot_each`] does, and treat a failure
/// as "not this shape".
pub fn lone_event_payload(text: &str) -> Option<(u64, &str)> {
    let text = text.trim_end_matches(JSON_WHITESPACE);
    if let Some(rest) = text.strip_prefix(r#"{"id":"#) {
        let (id, rest) = leading_id(rest)?;
        let payload = rest.strip_prefix(r#","type":"event","event":"#)?.strip_suffix('}')?;
        return Some((id, payload));
    }
    let rest = text.strip_prefix(r#"{"type":"event","event":"#)?.strip_suffix('}')?;
    let digits = rest.len() - rest.bytes().rev().take_while(u8::is_ascii_digit).count();
    let (rest, id) = (&rest[..digits], parse_id(&rest[digits..])?);
    Some((id, rest.strip_suffix(r#","id":"#)?))
}

/// The id at the start of `text` and the text after it.
fn leading_id(text: &str) -> Option<(u64, &str)> {
    let (digits, rest) = text.split_at(text.bytes().take_while(u8::is_ascii_digit).count());
    Some((parse_id(digits)?, rest))
}

/// A JSON unsigned integer that fits an id (no leading zero, not empty).
fn parse_id(digits: &str) -> Option<u64> {
    if digits.len() > 1 && digits.starts_with('0') {
        return None;
    }
    digits.parse().ok()
}

struct Event<'f, F> {
    each: &'f mut F,
    stopped: &'f mut bool,
}

impl<'de, F: FnMut(EntityKey<'de>, &CompressedState<'de>) -> bool> Visitor<'de> for Event<'_, F> {
    type Value = SnapshotRest;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a compressed state event")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<SnapshotRest, A::Error> {
        let (mut rest, mut seen_added) = (SnapshotRest::default(), false);
        while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
            match &*key {
                "a" if seen_added => return Err(de::Error::custom("repeated key `a`")),
                "a" => {
                    seen_added = true;
                    map.next_value_seed(Added { each: &mut *self.each, stopped: &mut *self.stopped })?;
                }
                "c" => rest.changed = map.next_value::<PairVec<EntityKey<'de>, StateDiff<'de>>>()?.0.len(),
                "r" => rest.removed = map.next_value::<Vec<EntityKey<'de>>>()?.len(),
                _ => {
                    map.next_value::<IgnoredAny>()?;
                }
            }
        }
        Ok(rest)
    }
}

/// The `a` map, handed over entry by entry.
struct Added<'f, F> {
    each: &'f mut F,
    stopped: &'f mut bool,
}

impl<'de, F: FnMut(EntityKey<'de>, &CompressedState<'de>) -> bool> DeserializeSeed<'de> for Added<'_, F> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de, F: FnMut(EntityKey<'de>, &CompressedState<'de>) -> bool> Visitor<'de> for Added<'_, F> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an object keyed by entity id")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<(), A::Error> {
        while let Some(key) = map.next_key::<EntityKey<'de>>()? {
            let state = map.next_value::<CompressedState<'de>>()?;
            if !(self.each)(key, &state) {
                *self.stopped = true;
                return Err(de::Error::custom("stopped by the caller"));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::CompressedEvent;

    const SNAPSHOT: &str = r#"{"a":{"light.a":{"s":"on","a":{"b":1},"c":"01H","lc":1.5},"light.b":{"s":"off","a":{},"c":"01J","lc":2.5}}}"#;

    type Outcome = Result<Option<SnapshotRest>, ProtoError>;

    fn collect(json: &str) -> (Outcome, Vec<(String, String)>) {
        let mut seen = Vec::new();
        let result = parse_snapshot_each(json, |k, s| {
            seen.push((k.as_str().to_owned(), s.state.to_string()));
            true
        });
        (result, seen)
    }

    #[test]
    fn every_added_entry_is_handed_over_as_compressed_event_parse_decodes_it() {
        let whole = CompressedEvent::parse(SNAPSHOT).unwrap();
        let mut handed = Vec::new();

        let rest = parse_snapshot_each(SNAPSHOT, |k, s| {
            handed.push((k, s.clone()));
            true
        });

        assert_eq!(rest.unwrap(), Some(SnapshotRest::default()));
        assert_eq!(handed, whole.added);
    }

    #[test]
    fn changes_and_removals_are_counted() {
        let json = r#"{"a":{},"c":{"light.a":{"+":{"s":"off"}}},"r":["light.b","light.c"]}"#;

        let (result, seen) = collect(json);

        assert_eq!(result.unwrap(), Some(SnapshotRest { changed: 1, removed: 2 }));
        assert!(seen.is_empty());
    }

    #[test]
    fn the_caller_can_stop_the_decoding() {
        let mut calls = 0;

        let result = parse_snapshot_each(SNAPSHOT, |_, _| {
            calls += 1;
            false
        });

        assert_eq!(result.unwrap(), None);
        assert_eq!(calls, 1);
    }

    #[test]
    fn text_after_the_event_is_an_error() {
        let json = format!("{SNAPSHOT},\"x\":1");

        let (result, _) = collect(&json);

        assert!(matches!(result, Err(ProtoError::Malformed { .. })), "{result:?}");
    }

    #[test]
    fn a_repeated_added_map_is_an_error() {
        let json = r#"{"a":{},"a":{}}"#;

        let (result, _) = collect(json);

        assert!(result.is_err());
    }

    #[test]
    fn a_bad_state_is_an_error_after_the_good_ones_before_it() {
        let json = r#"{"a":{"light.a":{"s":"on","c":"01H","lc":1.5},"light.b":{"s":5}}}"#;

        let (result, seen) = collect(json);

        assert!(result.is_err());
        assert_eq!(seen, [("light.a".to_owned(), "on".to_owned())]);
    }

    #[test]
    fn the_payload_of_an_id_first_message_is_found() {
        let text = format!("{{\"id\":12,\"type\":\"event\",\"event\":{SNAPSHOT}}}\n");

        let found = lone_event_payload(&text);

        assert_eq!(found, Some((12, SNAPSHOT)));
    }

    #[test]
    fn the_payload_of_an_id_last_message_is_found() {
        let text = format!("{{\"type\":\"event\",\"event\":{SNAPSHOT},\"id\":7}}");

        let found = lone_event_payload(&text);

        assert_eq!(found, Some((7, SNAPSHOT)));
    }

    #[test]
    fn other_shapes_have_no_lone_payload() {
        for text in [
            r#"[{"id":1,"type":"event","event":{}}]"#,
            r#"{"id":1,"type":"result","success":true,"result":null}"#,
            r#"{"id":01,"type":"event","event":{}}"#,
            r#"{"type":"event","event":{},"id":}"#,
            r#"{"type":"event","event":{},"id":99999999999999999999999}"#,
        ] {
            let found = lone_event_payload(text);

            assert_eq!(found, None, "{text}");
        }
    }
}
