//! Bus events (`subscribe_events`) are read by a hand-written scanner at three layers: the
//! message envelope ([`Frame::parse_each`]), the event object ([`Event::parse`]) and the
//! `state_changed` data ([`StateChange::parse`]), each leaving what it does not know to serde.
//! The oracle is serde alone at each layer: over fixture messages, mutated ones, and coalesced
//! arrays of them, both give the same value or fail at the same place.

mod common;

use ha_proto::raw::RawJson;
use ha_proto::{
    Event, Frame, FrameItem, ProtoError, ServerMessage, StateChange, StateView, Timestamp,
    parse_state_list_result_each, parse_state_views, parse_state_views_each,
};
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

/// A small `get_states` result over a fixture install.
fn state_list() -> &'static str {
    static LIST: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    LIST.get_or_init(|| {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 8);
        serde_json::to_string(&states).expect("states serialise")
    })
}

/// `parse_state_views` gives what serde alone gives, and so does `parse_state_views_each` (the
/// states it hands over one at a time, or its error).
fn assert_views_as_serde(text: &str) {
    let ours = parse_state_views(text).map_err(|e| place(&e));
    let mut handed = Vec::new();
    let each = parse_state_views_each(text, |view| handed.push(view.clone())).map_err(|e| place(&e));
    let serde = serde_json::from_str::<Vec<StateView<'_>>>(text).map_err(|e| format!("{}:{}", e.line(), e.column()));
    assert_eq!(ours, serde, "{text}");
    assert_eq!(each.map(|()| handed), serde, "{text}");
}

/// A `get_states` result message as Home Assistant writes it.
fn result_message() -> String {
    result_message_of(state_list())
}

/// The result message Home Assistant writes for a `get_states` answered with `list`.
fn result_message_of(list: &str) -> String {
    format!(r#"{{"id":12,"type":"result","success":true,"result":{list}}}"#)
}

/// `parse_state_list_result_each` hands over what `Frame::parse` and then serde alone give for
/// the result's list (the same states, the id of the result), says `None` of every frame that is
/// not one successful result holding a list, and fails where either of them fails.
fn assert_list_result_as_serde(text: &str) {
    let mut handed = Vec::new();
    let ours = parse_state_list_result_each(text, |view| handed.push(view.clone()));
    let parsed = Frame::parse(text);
    let expected = match &parsed {
        Err(_) => Err(()),
        Ok(frame) => match frame.messages.as_slice() {
            [ServerMessage::Result { id, outcome: Ok(result) }]
                if !frame.coalesced && frame.errors.is_empty() && result.get().starts_with('[') =>
            {
                serde_json::from_str::<Vec<StateView<'_>>>(result.get()).map(|views| Some((*id, views))).map_err(|_| ())
            }
            _ => Ok(None),
        },
    };
    let ours = match ours {
        Ok(Some(id)) => Ok(Some((id, handed))),
        Ok(None) => {
            assert!(handed.is_empty(), "{text}: states handed over, then None");
            Ok(None)
        }
        Err(_) => Err(()),
    };
    assert_eq!(ours, expected, "{text}");
}

/// `Frame::parse` of a lone message gives what serde gives for the same message as an element
/// of an array frame (always serde's path).
fn assert_lone_frame_as_serde(text: &str) {
    let Ok(ours) = Frame::parse(text) else { return };
    let array = format!("[{text}]");
    let Ok(serde) = Frame::parse(&array) else { panic!("{text}: valid alone, not in an array") };
    assert_eq!((ours.messages, ours.errors), (serde.messages, serde.errors), "{text}");
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
            FrameItem::Event { id, event, raw } => {
                assert_eq!(Some(event), Event::parse(raw.get()).ok(), "{raw}");
                messages.push(ha_proto::ServerMessage::Event { id, event: raw });
            }
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

/// For a text that is valid JSON (then a [`RawJson`], as frames hand events over), the scanner
/// that only delimits (`Event::parse_raw`) gives what serde alone gives.
fn assert_raw_event_as_serde(text: &str) {
    let Ok(raw) = RawJson::from_text(text) else { return };
    let ours = Event::parse_raw(&raw).map_err(|e| place(&e));
    let serde = serde_json::from_str::<Event<'_>>(raw.get()).map_err(|e| format!("{}:{}", e.line(), e.column()));
    assert_eq!(ours, serde, "{text}");
}

/// For `data` that is valid JSON (as an event's always is), `Event::state_change`, which only
/// delimits what it skips, gives what serde alone gives.
fn assert_event_data_as_serde(text: &str) {
    let Ok(data) = RawJson::from_text(text) else { return };
    let event = Event {
        event_type: ha_proto::STATE_CHANGED.into(),
        data,
        origin: None,
        time_fired: Timestamp::from_epoch_secs(0.0).expect("the epoch"),
        context: ha_proto::Context::default(),
    };
    let ours = event.state_change().expect("a state_changed event").map_err(|e| place(&e));
    let serde =
        serde_json::from_str::<StateChange<'_>>(event.data.get()).map_err(|e| format!("{}:{}", e.line(), e.column()));
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
        assert_raw_event_as_serde(&event_text(m));
        assert_change_as_serde(&data_text(m));
        assert_event_data_as_serde(&data_text(m));
    }
}

#[test]
fn a_fixture_state_list_decodes_as_serde_decodes_it() {
    // arrange
    let text = state_list();

    // act + assert
    assert_views_as_serde(text);
}

#[test]
fn a_result_message_frames_as_serde_frames_it() {
    // arrange
    let text = result_message();

    // act + assert
    assert_lone_frame_as_serde(&text);
}

#[test]
fn a_result_message_holding_a_state_list_decodes_as_serde_decodes_it() {
    // arrange
    let text = result_message();

    // act + assert
    assert_list_result_as_serde(&text);
}

#[test]
fn other_frames_are_not_state_list_results() {
    // arrange
    let frames = [
        r#"{"id":3,"type":"result","success":true,"result":null}"#.to_owned(),
        r#"{"id":3,"type":"result","success":false,"error":{"code":"x","message":"y"}}"#.to_owned(),
        format!("[{}]", result_message()),
        messages()[0].clone(),
    ];

    // act + assert
    for text in &frames {
        assert_list_result_as_serde(text);
    }
}

#[test]
fn a_result_in_another_spelling_decodes_as_serde_decodes_it() {
    // arrange
    let text = format!(r#"{{ "type": "result", "success": true, "id": 12, "result": {} }}"#, state_list());

    // act + assert
    assert_list_result_as_serde(&text);
}

#[test]
fn a_coalesced_array_of_bus_events_frames_as_serde_frames_it() {
    // arrange
    let text = format!("[{}]", messages()[..4].join(","));

    // act + assert
    assert_frame_as_serde(&text);
}

/// `state_changed` data whose new state is named `new_id` and carries the three timestamps given.
fn change_data(new_id: &str, [changed, reported, updated]: [&str; 3]) -> String {
    format!(
        r#"{{"entity_id":"light.kitchen","old_state":null,"new_state":{{"entity_id":"{new_id}","state":"on","attributes":{{}},"last_changed":"{changed}","last_reported":"{reported}","last_updated":"{updated}","context":{{"id":"c1","parent_id":null,"user_id":null}}}}}}"#
    )
}

const T1: &str = "2024-03-20T10:00:01.025778+00:00";
const T2: &str = "2024-03-20T10:00:02.500000+00:00";

#[test]
fn a_new_state_naming_an_invalid_id_fails_as_serde_does() {
    // arrange: the change's own id is valid, the new state's differs by one letter and is not
    let text = change_data("light.Kitchen", [T1, T1, T1]);

    // act
    let ours = StateChange::parse(&text);

    // assert
    assert!(ours.is_err(), "{ours:?}");
    assert_change_as_serde(&text);
}

#[test]
fn a_timestamp_after_a_different_one_reads_as_its_own_instant() {
    // arrange: repeated instants and a different one between them
    let text = change_data("light.kitchen", [T1, T2, T1]);

    // act
    let change = StateChange::parse(&text).expect("valid data");

    // assert
    let new = change.new_state.expect("a new state");
    let read = (new.last_changed, new.last_reported, new.last_updated);
    let expected = [T1, T2, T1].map(|t| Timestamp::parse_iso(t).expect("valid"));
    assert_eq!(read, (expected[0], Some(expected[1]), expected[2]));
}

#[test]
fn a_state_without_optional_members_after_one_with_them_decodes_as_serde_decodes_it() {
    // arrange: the later states lack members the first one has: last_reported, then also the
    // attributes, parent and user (the scanner reads every state of a list into the same place)
    let full = format!(
        r#"{{"entity_id":"light.a","state":"on","attributes":{{"brightness":255}},"last_changed":"{T1}","last_reported":"{T2}","last_updated":"{T1}","context":{{"id":"c1","parent_id":"p1","user_id":"u1"}}}}"#
    );
    let bare = format!(
        r#"{{"entity_id":"light.b","state":"off","last_changed":"{T2}","last_updated":"{T2}","context":{{"id":"c2"}}}}"#
    );
    // as Home Assistant before 2024.3 writes a state: its keys in order, no last_reported
    let older = format!(
        r#"{{"entity_id":"light.c","state":"on","attributes":{{}},"last_changed":"{T1}","last_updated":"{T1}","context":{{"id":"c3","parent_id":null,"user_id":null}}}}"#
    );
    let text = format!("[{full},{older},{bare}]");

    // act + assert
    assert_views_as_serde(&text);
    assert_list_result_as_serde(&result_message_of(&text));
}

/// Arbitrary valid JSON values, strings with escapes and nesting included.
fn json_values() -> impl Strategy<Value = serde_json::Value> {
    let leaf = prop_oneof![
        Just(serde_json::Value::Null),
        any::<bool>().prop_map(serde_json::Value::from),
        any::<i64>().prop_map(serde_json::Value::from),
        any::<f64>().prop_filter("finite", |f| f.is_finite()).prop_map(serde_json::Value::from),
        "[a-z\"\\\\\n\u{1}é😀 ]{0,6}".prop_map(serde_json::Value::from),
    ];
    leaf.prop_recursive(4, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(serde_json::Value::from),
            prop::collection::btree_map("[a-z\"]{0,3}", inner, 0..4)
                .prop_map(|m| serde_json::Value::Object(m.into_iter().collect())),
        ]
    })
}

/// `text` (a JSON object) with `value` set at `key` of the object `depth` levels down the first
/// object-valued members (or at the top when there are fewer), as valid JSON again.
fn with_member(text: &str, depth: usize, key: &str, value: serde_json::Value) -> String {
    let mut root: serde_json::Value = serde_json::from_str(text).expect("valid JSON");
    let mut at = &mut root;
    for _ in 0..depth {
        let next = at.as_object().and_then(|o| o.iter().find(|(_, v)| v.is_object()).map(|(k, _)| k.clone()));
        match next {
            Some(k) => at = &mut at[&k],
            None => break,
        }
    }
    at[key] = value;
    serde_json::to_string(&root).expect("serialises")
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

        let text = String::from_utf8_lossy(&bytes);

        assert_event_as_serde(&text);
        assert_raw_event_as_serde(&text);
    }

    #[test]
    fn mutated_data_decode_or_fail_as_serde_does(pick in any::<Index>(), mutations in prop::collection::vec(mutation(), 1..4)) {
        let messages = messages();
        let bytes = apply(data_text(&messages[pick.index(messages.len())]).into_bytes(), &mutations);

        let text = String::from_utf8_lossy(&bytes);

        assert_change_as_serde(&text);
        assert_event_data_as_serde(&text);
    }

    #[test]
    fn valid_events_with_any_member_decode_as_serde_does(
        pick in any::<Index>(),
        depth in 0..4usize,
        key in prop::sample::select(vec!["data", "origin", "old_state", "new_state", "attributes", "state", "context", "parent_id", "x\"y"]),
        value in json_values(),
    ) {
        let messages = messages();
        let text = with_member(&event_text(&messages[pick.index(messages.len())]), depth, key, value);

        assert_event_as_serde(&text);
        assert_raw_event_as_serde(&text);
    }

    #[test]
    fn valid_data_with_any_member_decode_as_serde_does(
        pick in any::<Index>(),
        depth in 0..4usize,
        key in prop::sample::select(vec!["old_state", "new_state", "attributes", "state", "last_reported", "context", "user_id", "x\"y"]),
        value in json_values(),
    ) {
        let messages = messages();
        let text = with_member(&data_text(&messages[pick.index(messages.len())]), depth, key, value);

        assert_change_as_serde(&text);
        assert_event_data_as_serde(&text);
    }

    #[test]
    fn mutated_state_lists_decode_or_fail_as_serde_does(mutations in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(state_list().as_bytes().to_vec(), &mutations);

        assert_views_as_serde(&String::from_utf8_lossy(&bytes));
    }

    #[test]
    fn valid_state_lists_with_any_member_decode_as_serde_does(
        depth in 1..4usize,
        key in prop::sample::select(vec!["attributes", "state", "last_reported", "context", "user_id", "extra", "x\"y"]),
        value in json_values(),
    ) {
        let mut list: Vec<serde_json::Value> = serde_json::from_str(state_list()).expect("valid");
        let first = serde_json::to_string(&list[0]).expect("serialises");
        list[0] = serde_json::from_str(&with_member(&first, depth - 1, key, value)).expect("valid");
        let text = serde_json::to_string(&list).expect("serialises");

        assert_views_as_serde(&text);
        assert_list_result_as_serde(&result_message_of(&text));
    }

    #[test]
    fn mutated_result_messages_frame_and_decode_as_serde_does(mutations in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(result_message().into_bytes(), &mutations);
        let text = String::from_utf8_lossy(&bytes);

        assert_lone_frame_as_serde(&text);
        assert_list_result_as_serde(&text);
    }
}
