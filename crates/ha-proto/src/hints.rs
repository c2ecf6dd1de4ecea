//! Guesses about a frame taken before it is decoded, for work that may start early (prefetching
//! a mirror's entries) and is harmless when the guess is wrong.

use std::sync::LazyLock;

use memchr::arch::all::packedpair::HeuristicFrequencyRank;
use memchr::memmem::{Finder, FinderBuilder};

/// What precedes the first entity id of an event's `c` (changed) map in the compact JSON that
/// Home Assistant and ha-sim send.
const EVENT_CHANGED: &str = r#""event":{"c":{""#;

/// Which bytes of [`EVENT_CHANGED`] the search keys on: `v` and `c`, rare in such frames, where
/// memchr's default table (built for prose) would pick `"`, `:` or `{`, which JSON is made of.
struct JsonFrameRank;

impl HeuristicFrequencyRank for JsonFrameRank {
    fn rank(&self, byte: u8) -> u8 {
        match byte {
            b'v' | b'c' => 0,
            b'"' | b':' | b'{' => 255,
            _ => 128,
        }
    }
}

/// The entity ids that the compressed events of `frame` change, guessed without decoding it:
/// every text that follows `"event":{"c":{"` up to the next quote, in order.
///
/// A hint, not a parse: it finds the first id of each event whose `c` map comes first (an event
/// that changes several entities yields only its first), may yield text that is no entity id,
/// and skips nothing a decoder would refuse. Use it only where a wrong or missing id costs time,
/// never correctness, as with `ha_state::EntityStore::prefetch`.
///
/// ```
/// let frame = r#"[{"id":3,"type":"event","event":{"c":{"light.a":{"+":{"s":"on"}}}}},{"id":3,"type":"event","event":{"c":{"sensor.b":{"+":{"s":"1"}}}}}]"#;
/// let ids: Vec<&str> = ha_proto::changed_id_hints(frame).collect();
/// assert_eq!(ids, ["light.a", "sensor.b"]);
/// ```
pub fn changed_id_hints(frame: &str) -> impl Iterator<Item = &str> + '_ {
    // Built once: building a searcher costs about as much as searching a 5-change frame.
    static FINDER: LazyLock<Finder<'static>> =
        LazyLock::new(|| FinderBuilder::new().build_forward_with_ranker(JsonFrameRank, EVENT_CHANGED));
    FINDER.find_iter(frame.as_bytes()).filter_map(move |at| {
        let rest = &frame[at + EVENT_CHANGED.len()..];
        memchr::memchr(b'"', rest.as_bytes()).map(|end| &rest[..end])
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_frame_without_changes_gives_no_ids() {
        let frame = r#"{"id":1,"type":"result","success":true,"result":null}"#;

        let ids: Vec<&str> = changed_id_hints(frame).collect();

        assert!(ids.is_empty());
    }

    #[test]
    fn an_unterminated_id_at_the_end_is_not_guessed() {
        let frame = r#"{"id":1,"type":"event","event":{"c":{"light.a"#;

        let ids: Vec<&str> = changed_id_hints(frame).collect();

        assert!(ids.is_empty());
    }

    #[test]
    fn each_event_of_a_coalesced_frame_gives_its_first_changed_id() {
        let frame = coalesced_frame();

        let ids: Vec<&str> = changed_id_hints(&frame).collect();

        assert_eq!(ids, ["sensor.t1", "light.kitchen"]);
    }

    /// Two events as Home Assistant coalesces them, the second changing two entities.
    fn coalesced_frame() -> String {
        [
            r#"[{"id":7,"type":"event","event":{"c":{"sensor.t1":{"+":{"s":"21.5","lc":1.5}}}}}"#,
            r#"{"id":7,"type":"event","event":{"c":{"light.kitchen":{"+":{"s":"off"}},"light.hall":{"-":{"a":["x"]}}}}}]"#,
        ]
        .join(",")
    }

    proptest::proptest! {
        #[test]
        fn never_panics_and_yields_only_slices_of_the_frame(frame in ".{0,200}") {
            for id in changed_id_hints(&frame) {
                proptest::prop_assert!(frame.contains(id));
                proptest::prop_assert!(!id.contains('"'));
            }
        }
    }
}
