//! Bus events (`subscribe_events`) are read by a hand-written scanner at three layers: the
//! message envelope ([`Frame::parse_each`]), the event object ([`Event::parse`]) and the
//! `state_changed` data ([`StateChange::parse`]), each leaving what it does not know to serde.
//! The oracle is serde alone at each layer: over fixture messages, mutated ones, and coalesced
//! arrays of them, both give the same value or fail at the same place.

mod common;

use ha_proto::{Event, Frame, FrameItem, ProtoError, StateChange};
use proptest::prelude::*;
use proptest::sample::Index;

use common::mutation::{apply, mutation};

/// `state_changed` messages over a fixture install, as Home Assistant writes them (id last).
fn messages() -> &'static [String] {
    static MESSAGES: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    MESSAGES.get_or_init(|| {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 100);
        ha_fixtures::state_changed_messages(11, &states, 400, 3).into_iter().step_by(5).collect()
    })
}

/// The event object of a message (valid fixture text).
fn event_text(message: &str) -> String {
    let frame = Frame::parse(message).expect("a fixture frame");
    match &frame.messages[..] {
        [ha_proto::ServerMessage::Event { event, .. }] => event.get().to_owned(),
        other => panic!("not one event: {other:?}"),
    }
}

/// The `data` of a message's event (valid fixture text).
fn data_text(message: &str) -> String {
    let text = event_text(message);
    Event::parse(&text).expect("a fixture event").data.get().to_owned()
}

/// A JSON error's place, or the error itself when it is another kind.
fn place(e: &ProtoError) -> String {
    match e {
        ProtoError::Malformed { line, column, .. } => format!("{line}:{column}"),
        other => other.to_string(),
    }
}

/// `parse_each` hands over what `Frame::parse` gives: the same messages, the same errors.
fn assert_frame_as_serde(text: &str) {
    let mut messages = Vec::new();
    let mut errors = Vec::new();
    let ours = Frame::parse_each(
        text,
        |_| false,
        |item| match item {
            FrameItem::Message(m) => messages.push(m),
            FrameItem::Invalid(e) => errors.push(e),
            other => panic!("no subscription is wanted, yet {other:?}"),
        },
    );
    match Frame::parse(text) {
        Ok(frame) => {
            assert!(ours.is_ok(), "{text}: {ours:?}");
            assert_eq!((messages, errors), (frame.messages, frame.errors), "{text}");
        }
        Err(e) => assert_eq!(ours.map_err(|o| place(&o)), Err(place(&e)), "{text}"),
    }
}

/// `Event::parse` gives what serde alone gives.
fn assert_event_as_serde(text: &str) {
    let ours = Event::parse(text).map_err(|e| place(&e));
    let serde = serde_json::from_str::<Event<'_>>(text).map_err(|e| format!("{}:{}", e.line(), e.column()));
    assert_eq!(ours, serde, "{text}");
}

/// `StateChange::parse` gives what serde alone gives.
fn assert_change_as_serde(text: &str) {
    let ours = StateChange::parse(text).map_err(|e| place(&e));
    let serde = serde_json::from_str::<StateChange<'_>>(text).map_err(|e| format!("{}:{}", e.line(), e.column()));
    assert_eq!(ours, serde, "{text}");
}

#[test]
fn fixture_messages_frame_as_serde_frames_them() {
    // arrange
    let messages = messages();

    // act + assert (one behaviour: equality, per message)
    messages.iter().for_each(|m| assert_frame_as_serde(m));
}

#[test]
fn fixture_events_and_data_decode_as_serde_decodes_them() {
    // arrange
    let messages = messages();

    // act + assert (one behaviour: equality, per layer of each message)
    for m in messages {
        assert_event_as_serde(&event_text(m));
        assert_change_as_serde(&data_text(m));
    }
}

#[test]
fn a_coalesced_array_of_bus_events_frames_as_serde_frames_it() {
    // arrange
    let text = format!("[{}]", messages()[..4].join(","));

    // act + assert
    assert_frame_as_serde(&text);
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_messages_frame_or_fail_as_serde_does(pick in any::<Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let messages = messages();
        let bytes = apply(messages[pick.index(messages.len())].as_bytes().to_vec(), &mutations);

        assert_frame_as_serde(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_arrays_frame_or_fail_as_serde_does(pick in any::<Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let messages = messages();
        let at = pick.index(messages.len() - 1);
        let text = format!("[{},{}]", messages[at], messages[at + 1]);
        let bytes = apply(text.into_bytes(), &mutations);

        assert_frame_as_serde(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_events_decode_or_fail_as_serde_does(pick in any::<Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let messages = messages();
        let bytes = apply(event_text(&messages[pick.index(messages.len())]).into_bytes(), &mutations);

        assert_event_as_serde(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn mutated_data_decode_or_fail_as_serde_does(pick in any::<Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let messages = messages();
        let bytes = apply(data_text(&messages[pick.index(messages.len())]).into_bytes(), &mutations);

        assert_change_as_serde(&String::from_utf8_lossy(&bytes));
    }
}
