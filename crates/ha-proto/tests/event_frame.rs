//! `CompressedEventFrame::parse` (one pass) against its oracle, `Frame::parse` then
//! `CompressedEvent::parse` (two passes): over the fixture streams a mirror really sees, every
//! golden server frame, reordered envelopes, and mutated frames.
//!
//! The contract checked on every input: a decoded frame equals the two passes' result; an error
//! means the two passes fail too; `None` means the frame is not one valid event message (always
//! for an array frame; a message of another type is declined at its `type`, unread beyond it). Frames that repeat an envelope key (`id`, `type`, `event`), which Home Assistant
//! never sends, may be declined or rejected where the two passes succeed, but a decoded one still
//! equals theirs.

use std::fmt;
use std::fs;

mod common;

use ha_proto::{CompressedEvent, CompressedEventFrame, Frame, ProtoError, ServerMessage};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use common::mutation::{Mutation, apply, mutation};

/// What the two passes make of a text.
#[derive(Debug, PartialEq)]
enum TwoPass<'a> {
    /// One event message whose payload is a compressed event.
    Event(CompressedEventFrame<'a>),
    /// A frame that decodes, but not into one event message (array, other type).
    NotAnEvent,
    /// `Frame::parse` fails, reports a bad message, or the payload is not a compressed event.
    Error,
}

/// Runs `check` with what the two passes make of `text` (the frame must outlive the event).
fn with_two_pass(text: &str, check: impl FnOnce(TwoPass<'_>)) {
    let Ok(frame) = Frame::parse(text) else { return check(TwoPass::Error) };
    if !frame.errors.is_empty() && !frame.coalesced {
        let ProtoError::InvalidMessage { msg_type, .. } = &frame.errors[0] else { unreachable!() };
        // A bad message of another type is not an event: the one pass declines it unread.
        let is_event = msg_type.is_empty() || msg_type == "event";
        return check(if is_event { TwoPass::Error } else { TwoPass::NotAnEvent });
    }
    match &frame.messages[..] {
        [ServerMessage::Event { id, event }] if !frame.coalesced => match CompressedEvent::parse(event.get()) {
            Ok(event) => check(TwoPass::Event(CompressedEventFrame { id: *id, event })),
            Err(_) => check(TwoPass::Error),
        },
        _ => check(TwoPass::NotAnEvent),
    }
}

/// Whether the top-level object repeats `id`, `type` or `event` (false for anything else).
fn repeats_an_envelope_key(text: &str) -> bool {
    struct Counts;
    impl<'de> Visitor<'de> for Counts {
        type Value = bool;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<bool, A::Error> {
            let mut seen = [0; 3];
            while let Some(key) = map.next_key::<String>()? {
                if let Some(i) = ["id", "type", "event"].iter().position(|k| *k == key) {
                    seen[i] += 1;
                }
                map.next_value::<IgnoredAny>()?;
            }
            Ok(seen.iter().any(|n| *n > 1))
        }
    }
    serde_json::Deserializer::from_str(text).deserialize_map(Counts).unwrap_or(false)
}

/// A `Malformed` error points inside (or just past) the frame.
fn assert_positioned(err: &ProtoError, text: &str) {
    if let ProtoError::Malformed { line, column, .. } = err {
        let lines: Vec<&str> = text.split('\n').collect();
        assert!((1..=lines.len()).contains(line), "line {line} of {}: {err}", lines.len());
        assert!(*column <= lines[line - 1].len() + 1, "column {column}: {err}");
    }
}

/// Checks the contract of the module docs on one text.
fn assert_contract(text: &str) {
    let one_pass = CompressedEventFrame::parse(text);
    let repeats = repeats_an_envelope_key(text);
    if text.trim_start_matches([' ', '\t', '\n', '\r']).starts_with('[') {
        return assert_eq!(one_pass.as_ref().ok(), Some(&None), "array frame not declined: {text}");
    }
    with_two_pass(text, |two_pass| match (&one_pass, two_pass) {
        (Ok(Some(one)), TwoPass::Event(two)) => assert_eq!(one, &two, "{text}"),
        (Ok(Some(one)), other) => panic!("decoded {one:?} where the two passes give {other:?}: {text}"),
        (_, _) if repeats => {}
        (Err(e), TwoPass::Error) => assert_positioned(e, text),
        // Declined at its `type`: the rest is not read, so it may be anything.
        (Ok(None), TwoPass::NotAnEvent | TwoPass::Error) => {}
        (one, two) => panic!("one pass {one:?}, two passes {two:?}: {text}"),
    });
}

fn golden_server_frames() -> Vec<String> {
    let dir = common::manifest_dir().join("tests/data");
    let mut texts = Vec::new();
    for sub in ["server", "malformed"] {
        let mut paths: Vec<_> = fs::read_dir(dir.join(sub)).unwrap().map(|e| e.unwrap().path()).collect();
        paths.sort();
        texts.extend(paths.iter().map(|p| fs::read_to_string(p).unwrap()));
    }
    texts
}

/// A snapshot and a stream of diffs over a fixture install, as a mirror receives them.
fn fixture_frames() -> &'static [String] {
    static FRAMES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    FRAMES.get_or_init(|| {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 300);
        let mut frames = vec![ha_fixtures::compressed_snapshot_message(&states, 3)];
        frames.extend(ha_fixtures::compressed_diff_messages(11, &states, 3_000, 3));
        frames
    })
}

#[test]
fn every_fixture_frame_decodes_like_the_two_passes() {
    // arrange
    let frames = fixture_frames();

    // act
    let decoded: Vec<_> = frames.iter().map(|t| CompressedEventFrame::parse(t).unwrap()).collect();

    // assert
    for (text, one_pass) in frames.iter().zip(&decoded) {
        with_two_pass(text, |two_pass| assert_eq!(two_pass, TwoPass::Event(one_pass.clone().unwrap())));
    }
    assert_eq!(decoded[0].as_ref().unwrap().event.added.len(), 300);
}

#[test]
fn every_golden_server_frame_keeps_the_contract() {
    // arrange
    let texts = golden_server_frames();

    // act + assert
    for text in &texts {
        assert_contract(text);
    }

    let mut compressed = texts
        .iter()
        .filter(|t| t.starts_with('{') && (t.contains(r#""event":{"a":"#) || t.contains(r#""event":{"c":"#)));
    assert!(compressed.clone().count() >= 3);
    assert!(compressed.all(|t| CompressedEventFrame::parse(t).unwrap().is_some_and(|f| !f.event.is_empty())));
}

#[test]
fn results_pongs_auth_unknown_types_and_arrays_are_declined() {
    // arrange
    let texts = golden_server_frames();
    let others: Vec<&String> =
        texts.iter().filter(|t| !t.contains(r#""type":"event""#) || t.starts_with('[')).collect();

    // act
    let outcomes: Vec<_> = others.iter().map(|t| CompressedEventFrame::parse(t)).collect();

    // assert
    assert!(outcomes.len() >= 25, "{} frames", outcomes.len());
    assert!(outcomes.iter().all(|o| matches!(o, Ok(None))), "{outcomes:?}");
}

#[test]
fn events_of_other_subscriptions_are_declined_when_not_wanted() {
    // arrange
    let texts = golden_server_frames();
    let events =
        texts.iter().filter(|t| t.starts_with('{') && t.contains(r#""type":"event""#) && !t.contains(r#""id":7,"#));

    // act
    let outcomes: Vec<_> = events.map(|t| CompressedEventFrame::parse_if(t, |id| id == 7)).collect();

    // assert
    assert!(outcomes.len() >= 3, "{} frames", outcomes.len());
    assert!(outcomes.iter().all(|o| matches!(o, Ok(None))), "{outcomes:?}");
}

fn mutate(text: &str, mutations: &[Mutation]) -> String {
    String::from_utf8_lossy(&apply(text.as_bytes().to_vec(), mutations)).into_owned()
}

/// A fixture frame's `event` payload and id, re-wrapped in an envelope whose fields come in any
/// order, with unknown fields and whitespace between them.
fn reordered_envelope() -> impl Strategy<Value = String> {
    let extra = prop::sample::select(vec![r#""v":2"#, r#""trace":{"a":[1,"x"]}"#, r#""result":null"#, r#""x":"}""#]);
    (any::<Index>(), prop::collection::vec(extra, 0..3), prop::sample::select(vec!["", " ", "\n", "\t "]))
        .prop_flat_map(|(pick, extras, space)| {
            let text = &fixture_frames()[pick.index(fixture_frames().len())];
            let frame = Frame::parse(text).unwrap();
            let [ServerMessage::Event { id, event }] = &frame.messages[..] else { unreachable!() };
            let mut fields =
                vec![format!(r#""id":{id}"#), r#""type":"event""#.to_owned(), format!(r#""event":{event}"#)];
            fields.extend(extras.into_iter().map(str::to_owned));
            Just(fields)
                .prop_shuffle()
                .prop_map(move |fields| format!("{space}{{{}}}{space}", fields.join(&format!(",{space}"))))
        })
}

fn seeds() -> &'static [String] {
    static SEEDS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    SEEDS.get_or_init(|| {
        let mut seeds = golden_server_frames();
        seeds.extend(fixture_frames().iter().step_by(97).cloned());
        seeds
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 1024, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn any_envelope_order_decodes_like_the_two_passes(text in reordered_envelope()) {
        let one_pass = CompressedEventFrame::parse(&text).unwrap();

        prop_assert!(one_pass.is_some(), "{}", text);
        assert_contract(&text);
    }

    #[test]
    fn mutated_frames_keep_the_contract(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let seeds = seeds();
        let text = mutate(&seeds[pick.index(seeds.len())], &mutations);

        assert_contract(&text);
    }

    #[test]
    fn arbitrary_text_never_panics(text in ".{0,64}|\\{.{0,64}") {
        assert_contract(&text);
    }
}
