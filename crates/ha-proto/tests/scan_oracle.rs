//! `CompressedEvent::parse` reads Home Assistant's compact shapes with a hand-written scanner and
//! leaves everything else to serde. Its oracle is serde alone (`serde_json::from_str`): over the
//! fixture streams, mutated payloads and arbitrary text, both give the same event or the same
//! error. `parse_snapshot_each` scans a snapshot entry by entry and is held to the same oracle.

mod common;

use std::fmt;

use ha_proto::{CompressedEvent, ProtoError, SnapshotRest, lone_event_payload, parse_snapshot_each};
use proptest::prelude::*;
use proptest::sample::Index;
use serde::de::{Deserializer, IgnoredAny, MapAccess, Visitor};

use common::mutation::{apply, mutation};

/// The payloads of a snapshot and a stream of diffs over a fixture install.
fn payloads() -> &'static [String] {
    static PAYLOADS: std::sync::OnceLock<Vec<String>> = std::sync::OnceLock::new();
    PAYLOADS.get_or_init(|| {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 200);
        let mut frames = vec![ha_fixtures::compressed_snapshot_message(&states, 3)];
        frames.extend(ha_fixtures::compressed_diff_messages(5, &states, 1_000, 3));
        frames.iter().step_by(7).map(|f| lone_event_payload(f).expect("one event message").1.to_owned()).collect()
    })
}

/// `parse` gives what serde alone gives: the same event, or an error at the same place.
fn assert_as_serde(text: &str) {
    let ours = CompressedEvent::parse(text).map_err(|e| match e {
        ProtoError::Malformed { line, column, .. } => (line, column),
        other => panic!("not a JSON error: {other}"),
    });
    let serde = serde_json::from_str::<CompressedEvent<'_>>(text).map_err(|e| (e.line(), e.column()));
    assert_eq!(ours, serde, "{text}");
}

/// A small snapshot's payload, with room for mutations to reach every part of it.
fn snapshot_payload() -> &'static str {
    static PAYLOAD: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    PAYLOAD.get_or_init(|| {
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 12);
        let frame = ha_fixtures::compressed_snapshot_message(&states, 3);
        lone_event_payload(&frame).expect("one event message").1.to_owned()
    })
}

/// `parse_snapshot_each` hands over what serde alone decodes, or fails where serde fails.
fn assert_snapshot_as_serde(text: &str) {
    let mut handed = Vec::new();
    let ours = parse_snapshot_each(text, |key, state| {
        handed.push((key, state.clone()));
        true
    });
    match serde_json::from_str::<CompressedEvent<'_>>(text) {
        // A repeated `a` is an error here (entries cannot be taken back); serde keeps the last.
        Ok(_) if top_level_count(text, "a") > 1 && ours.is_err() => {}
        Ok(event) => {
            let rest = SnapshotRest { changed: event.changed.len(), removed: event.removed.len() };
            assert_eq!((ours.ok(), handed), (Some(Some(rest)), event.added), "{text}");
        }
        Err(_) => assert!(ours.is_err(), "{text}"),
    }
}

/// How often the top-level object of `text` (valid JSON) holds `key`.
fn top_level_count(text: &str, key: &str) -> usize {
    struct Count<'k>(&'k str);
    impl<'de> Visitor<'de> for Count<'_> {
        type Value = usize;
        fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("an object")
        }
        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<usize, A::Error> {
            let mut n = 0;
            while let Some(k) = map.next_key::<String>()? {
                n += usize::from(k == self.0);
                map.next_value::<IgnoredAny>()?;
            }
            Ok(n)
        }
    }
    serde_json::Deserializer::from_str(text).deserialize_map(Count(key)).unwrap_or(0)
}

#[test]
fn a_fixture_snapshot_is_handed_over_as_serde_decodes_it() {
    // arrange
    let payload = &payloads()[0];

    // act + assert
    assert_snapshot_as_serde(payload);
}

#[test]
fn fixture_payloads_decode_as_serde_decodes_them() {
    // arrange
    let payloads = payloads();

    // act + assert (one behaviour: equality, per payload)
    payloads.iter().for_each(|p| assert_as_serde(p));
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2048, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn mutated_payloads_decode_or_fail_as_serde_does(
        pick in any::<Index>(),
        mutations in prop::collection::vec(mutation(), 1..4),
    ) {
        let payloads = payloads();
        let bytes = apply(payloads[pick.index(payloads.len())].as_bytes().to_vec(), &mutations);
        let text = String::from_utf8_lossy(&bytes);

        assert_as_serde(&text);
    }

    #[test]
    fn mutated_snapshots_are_handed_over_or_fail_as_serde_does(mutations in prop::collection::vec(mutation(), 1..4)) {
        let bytes = apply(snapshot_payload().as_bytes().to_vec(), &mutations);
        let text = String::from_utf8_lossy(&bytes);

        assert_snapshot_as_serde(&text);
    }

    #[test]
    fn any_state_text_and_attribute_key_decode_as_serde_does(state in ".{0,12}", key in ".{0,8}", special in "[\\x00-\\x1f\"\\\\/]{0,3}") {
        let quoted = |t: &str| serde_json::to_string(t).unwrap();
        let text = format!(r#"{{"c":{{"light.a":{{"+":{{"s":{},"a":{{{}:1}}}}}}}}}}"#, quoted(&(state + &special)), quoted(&key));

        assert_as_serde(&text);
    }

    #[test]
    fn hex_escapes_and_surrogates_decode_or_fail_as_serde_does(units in prop::collection::vec(prop_oneof![0u32..0x80, 0xd7f0u32..0xe010, 0u32..0x10000], 1..4)) {
        let escaped: String = units.iter().map(|u| format!("\\u{u:04x}")).collect();
        let text = format!(r#"{{"c":{{"light.a":{{"+":{{"s":"x{escaped}y"}}}}}}}}"#);

        assert_as_serde(&text);
    }

    #[test]
    fn arbitrary_attribute_values_decode_or_fail_as_serde_does(tokens in prop::collection::vec(prop::sample::select(vec![
        "{", "}", "[", "]", ",", ":", " ", "\"k\"", "\"\\n\"", "\"\t\"", "-0", "12", "-3.25", "1e5", "01", "1.", "true", "nul",
    ]), 1..12)) {
        let text = format!(r#"{{"c":{{"light.a":{{"+":{{"a":{{"k":{},"z":1}}}}}}}}}}"#, tokens.concat());

        assert_as_serde(&text);
    }

    #[test]
    fn arbitrary_text_decodes_or_fails_as_serde_does(text in r#"\{"c":\{"[a-z]\.[a-z]":\{"\+":.{0,40}"#) {
        assert_as_serde(&text);
    }
}
