//! Bad input never panics: arbitrary bytes and mutated golden frames (byte flips,
//! truncations, insertions, duplications) go through every decoder and everything a caller
//! does next with what came out; failures must be typed errors that say where.

use std::fs;
use std::path::Path;
use std::sync::OnceLock;

mod common;

use ha_proto::{
    CompressedEvent, CompressedEventFrame, EntityId, Event, Frame, ProtoError, ServerMessage, State, Timestamp,
    parse_client_frame, parse_states,
};
use proptest::prelude::*;
use proptest::sample::Index;

use common::mutation::{apply, json_byte, mutation};

/// Every golden file's bytes: the seeds that mutations start from.
fn corpus() -> &'static [Vec<u8>] {
    static CORPUS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    CORPUS.get_or_init(|| {
        let mut files = Vec::new();
        collect(&common::manifest_dir().join("tests/data"), &mut files);
        files.sort();
        files.iter().map(|p| fs::read(p).unwrap()).collect()
    })
}

fn collect(dir: &Path, out: &mut Vec<std::path::PathBuf>) {
    for entry in fs::read_dir(dir).unwrap() {
        let path = entry.unwrap().path();
        if path.is_dir() {
            collect(&path, out);
        } else if path.extension().is_some_and(|e| e == "json") {
            out.push(path);
        }
    }
}

fn mutated(seeds: &'static [Vec<u8>], edits: std::ops::Range<usize>) -> impl Strategy<Value = String> {
    (any::<Index>(), prop::collection::vec(mutation(), edits)).prop_map(move |(pick, mutations)| {
        let seed = seeds[pick.index(seeds.len())].clone();
        String::from_utf8_lossy(&apply(seed, &mutations)).into_owned()
    })
}

/// The goldens that are event frames: the hot path, worth most of the mutations.
fn event_frames() -> &'static [Vec<u8>] {
    static EVENTS: OnceLock<Vec<Vec<u8>>> = OnceLock::new();
    EVENTS.get_or_init(|| {
        let is_event = |s: &&Vec<u8>| s.windows(14).any(|w| w == br#""type":"event""#);
        corpus().iter().filter(is_event).cloned().collect()
    })
}

fn arbitrary_text() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::collection::vec(any::<u8>(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
        prop::collection::vec(json_byte(), 0..200).prop_map(|b| String::from_utf8_lossy(&b).into_owned()),
    ]
}

/// A `Malformed` error must point inside (or just past) the text it was given.
fn assert_positioned(err: &ProtoError, text: &str) {
    match err {
        ProtoError::Malformed { line, column, .. } => {
            let lines = text.split('\n').count();
            assert!((1..=lines).contains(line), "line {line} of {lines}: {err}");
            let line_len = text.split('\n').nth(line - 1).map_or(0, str::len);
            assert!(*column <= line_len + 1, "column {column} of a {line_len}-byte line: {err}");
        }
        ProtoError::InvalidEntityId(e) => assert!(!e.reason.is_empty()),
        other => panic!("unexpected error kind from a whole-text decoder: {other}"),
    }
}

/// What a client does with a frame: try the one-pass mirror decoder, then decode the frame and
/// every payload it can.
fn drive_frame(text: &str) {
    match CompressedEventFrame::parse(text) {
        Ok(Some(frame)) => {
            let _ = serde_json::to_string(&frame.event).unwrap();
        }
        Ok(None) => {}
        Err(ProtoError::InvalidMessage { index, msg_type, .. }) => {
            assert!(index == 0 && ["", "event"].contains(&msg_type.as_str()), "{index} {msg_type}");
        }
        Err(e) => assert_positioned(&e, text),
    }
    match Frame::unknown_fields(text) {
        // A path is the field's key, so it is empty only for the (legal) empty key `""`.
        Ok(fields) => fields.iter().for_each(|f| assert!(!f.path.is_empty() || text.contains("\"\""), "{f:?}")),
        Err(e) => assert_positioned(&e, text),
    }
    let frame = match Frame::parse(text) {
        Ok(frame) => frame,
        Err(e) => return assert_positioned(&e, text),
    };
    let elements = frame.messages.len() + frame.errors.len();
    let mut last = None;
    for e in &frame.errors {
        let ProtoError::InvalidMessage { index, .. } = e else { panic!("frame element error without index: {e}") };
        assert!(*index < elements && last.is_none_or(|l| l < *index), "index {index} of {elements}: {e}");
        last = Some(*index);
        let _ = e.to_string();
    }
    if !frame.coalesced {
        assert_eq!(elements, 1, "a single-object frame holds one message");
    }
    for message in &frame.messages {
        let _ = message.to_json();
        let _ = message.clone().into_owned();
        match message {
            ServerMessage::Event { event, .. } => {
                drive_compressed(event.get());
                drive_event(event.get());
            }
            ServerMessage::Result { outcome: Ok(result), .. } => drive_states(result.get()),
            ServerMessage::Result { outcome: Err(info), .. } => {
                let _ = info.to_string();
            }
            _ => {}
        }
    }
    let _ = Frame::encode(&frame.messages);
}

fn drive_compressed(text: &str) {
    let event = match CompressedEvent::parse(text) {
        Ok(event) => event,
        Err(e) => return assert_positioned(&e, text),
    };
    for (key, state) in &event.added {
        let full = state.to_state(key.to_entity_id());
        let _ = (full.last_changed.to_string(), full.attributes.json_len());
    }
    for (key, diff) in &event.changed {
        let _ = key.to_entity_id();
        if let Some(context) = diff.additions.as_ref().and_then(|a| a.context.as_ref()) {
            let _ = context.to_context();
        }
        if let Some(attrs) = diff.additions.as_ref().and_then(|a| a.attributes.as_ref()) {
            let _ = attrs.to_attributes();
        }
    }
    let _ = serde_json::to_string(&event).unwrap();
}

fn drive_event(text: &str) {
    let event = match Event::parse(text) {
        Ok(event) => event,
        Err(e) => return assert_positioned(&e, text),
    };
    if let Some(Ok(data)) = event.state_changed() {
        let _ = serde_json::to_string(&data).unwrap();
    }
    let _ = event.into_owned();
}

fn drive_states(text: &str) {
    match parse_states(text) {
        Ok(states) => {
            let _ = serde_json::to_string(&states).unwrap();
        }
        Err(e) => assert_positioned(&e, text),
    }
}

/// Every decoder, on one text.
fn drive_everything(text: &str) {
    drive_frame(text);
    drive_compressed(text);
    drive_event(text);
    drive_states(text);
    match parse_client_frame(text) {
        Ok(commands) => {
            for command in commands.iter().flatten() {
                let _ = command.to_json();
            }
        }
        Err(e) => assert_positioned(&e, text),
    }
    if let Err(e) = serde_json::from_str::<State>(text) {
        assert!(e.line() >= 1, "{e}");
    }
    match Timestamp::parse_iso(text) {
        Ok(t) => assert_eq!(Timestamp::parse_iso(&t.to_string()), Ok(t)),
        Err(e) => assert_eq!(e.value, text),
    }
    match EntityId::new(text) {
        Ok(id) => assert_eq!(format!("{}.{}", id.domain(), id.object_id()), text),
        Err(e) => assert_eq!(e.id, text),
    }
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_bytes_never_panic(text in arbitrary_text()) {
        drive_everything(&text);
    }

    #[test]
    fn mutated_goldens_never_panic(text in mutated(corpus(), 1..5)) {
        drive_everything(&text);
    }

    #[test]
    fn lightly_mutated_event_frames_never_panic(text in mutated(event_frames(), 1..3)) {
        drive_frame(&text);
    }

    #[test]
    fn mutated_timestamps_never_panic(text in "[0-9]{4}-[0-9]{2}-[0-9]{2}[T ][0-9]{2}:[0-9]{2}:[0-9]{2}(\\.[0-9]{0,9})?([+-][0-9]{2}:?[0-9]{2}|Z)?.?") {
        match Timestamp::parse_iso(&text) {
            Ok(t) => prop_assert_eq!(Timestamp::parse_iso(&t.to_string()), Ok(t)),
            Err(e) => prop_assert_eq!(e.value, text),
        }
    }

    #[test]
    fn near_valid_entity_ids_never_panic(text in "[a-z0-9_.A-Zé ]{0,12}") {
        match EntityId::new(&text) {
            Ok(id) => prop_assert_eq!(id.as_str(), text.as_str()),
            Err(e) => prop_assert_eq!(e.id, text),
        }
    }
}

#[test]
fn every_golden_itself_goes_through_every_decoder() {
    // arrange
    let seeds = corpus();

    // act + assert: no panic, and errors are positioned
    for seed in seeds {
        drive_everything(std::str::from_utf8(seed).unwrap());
    }

    assert!(seeds.len() > 60, "the corpus should hold the goldens, found {}", seeds.len());
    assert!(event_frames().len() >= 10, "found {} event frames", event_frames().len());
}
