//! Benchmark inputs, all from `ha-fixtures` with fixed seeds: the same bytes on every run, so
//! instruction counts repeat exactly and wall figures compare across commits.
//!
//! Installs use [`ha_fixtures::DEFAULT_SEED`]; change streams use [`STREAM_SEED`]. Message texts
//! are complete server messages as Home Assistant 2024.3 sends them.

use std::time::Duration;

use ha_fixtures::ChangeStream;
use ha_monitor::Millis;
use ha_proto::{ClientMessage, Command, State, Target};
use ha_state::EntityStore;

/// Entity changes per iteration of the frame benchmarks (`state/apply_frame/c1|c8|c64`): 512 frames
/// of one change, 64 of eight, 8 of sixty-four.
pub const FRAME_CHANGES: usize = 512;
/// Seed of every change stream.
pub const STREAM_SEED: u64 = 7;
/// Subscription id of generated events.
pub const SUB_ID: u64 = 2;

/// The `n`-entity install of the default seed.
pub fn install(n: usize) -> Vec<State> {
    ha_fixtures::install(ha_fixtures::DEFAULT_SEED, n)
}

/// The `get_states` result message of the `n`-entity install.
pub fn get_states_text(n: usize) -> String {
    ha_fixtures::get_states_result(&install(n), 1)
}

/// The first `subscribe_entities` event (the compressed snapshot) of the `n`-entity install.
pub fn snapshot_text(n: usize) -> String {
    ha_fixtures::compressed_snapshot_message(&install(n), SUB_ID)
}

/// A store holding an install and messages that change it, in order.
#[derive(Debug, Clone)]
pub struct Updates {
    /// The store, loaded with the install the messages start from.
    pub store: EntityStore,
    /// The messages, complete server messages.
    pub messages: Vec<String>,
}

fn updates(entities: usize, messages: impl FnOnce(&[State]) -> Vec<String>) -> Updates {
    let states = install(entities);
    let messages = messages(&states);
    let mut store = EntityStore::new();
    store.replace_from_states(states);
    Updates { store, messages }
}

/// `count` compressed `subscribe_entities` diff messages over the `entities` install.
pub fn compressed_diffs(entities: usize, count: usize) -> Updates {
    updates(entities, |states| ha_fixtures::compressed_diff_messages(STREAM_SEED, states, count, SUB_ID))
}

/// The same changes as [`compressed_diffs`], as `state_changed` event messages.
pub fn state_changed_events(entities: usize, count: usize) -> Updates {
    updates(entities, |states| ha_fixtures::state_changed_messages(STREAM_SEED, states, count, SUB_ID))
}

/// `changes` compressed diff messages over the `entities` install, coalesced `per_frame` to a frame
/// as Home Assistant's writer does under load (`supported_features: {coalesce_messages: 1}`): a
/// frame holding one message is that message alone, a frame holding more is a JSON array of them
/// (`[msg,msg,...]`). The last frame holds the rest when `changes` is not a multiple of `per_frame`.
pub fn coalesced_frames(entities: usize, per_frame: usize, changes: usize) -> Updates {
    let mut input = compressed_diffs(entities, changes);
    input.messages = coalesce(std::mem::take(&mut input.messages), per_frame);
    input
}

/// The messages of [`state_changed_events`], coalesced `per_frame` to a frame as
/// [`coalesced_frames`] coalesces diffs: what a `subscribe_events` subscription receives when Home
/// Assistant's writer finds several events queued.
pub fn coalesced_state_changed(entities: usize, per_frame: usize, count: usize) -> Updates {
    let mut input = state_changed_events(entities, count);
    input.messages = coalesce(std::mem::take(&mut input.messages), per_frame);
    input
}

/// `messages` joined `per_frame` to a frame, as [`coalesced_frames`] describes. Each message is
/// dropped as soon as its frame is written, so that the set-up's heap peaks at about one copy of
/// the messages: under callgrind a larger one overflows valgrind's brk segment (docs/benchmarking.md,
/// Limits).
fn coalesce(messages: Vec<String>, per_frame: usize) -> Vec<String> {
    let per_frame = per_frame.max(1);
    let mut frames = Vec::with_capacity(messages.len().div_ceil(per_frame));
    let mut messages = messages.into_iter().peekable();
    while let Some(first) = messages.next() {
        if per_frame == 1 || messages.peek().is_none() {
            frames.push(first);
            continue;
        }
        let mut frame = format!("[{first}");
        drop(first);
        for message in messages.by_ref().take(per_frame - 1) {
            frame.push(',');
            frame.push_str(&message);
        }
        frame.push(']');
        frames.push(frame);
    }
    frames
}

/// The message of median length among the first 1,000 of `messages` (ties: the earliest):
/// one typical message whose cost does not depend on picking a lucky one.
pub fn median_message(mut messages: Vec<String>) -> String {
    messages.truncate(1_000);
    let mut by_len: Vec<(usize, usize)> = messages.iter().enumerate().map(|(i, m)| (m.len(), i)).collect();
    by_len.sort_unstable();
    let (_, index) = by_len[by_len.len() / 2];
    messages.swap_remove(index)
}

/// One compressed diff message of median size among the first 1,000 changes of the `SMALL`
/// install (a small install keeps the set-up cheap under callgrind; a diff's size depends on the
/// entity's domain and attributes, not on the install's size).
pub fn one_compressed_diff() -> String {
    median_message(compressed_diffs(ha_fixtures::SMALL, 1_000).messages)
}

/// One `state_changed` event message of median size, chosen like [`one_compressed_diff`].
pub fn one_state_changed() -> String {
    median_message(state_changed_events(ha_fixtures::SMALL, 1_000).messages)
}

/// A typical `call_service`: turn two lights on with a brightness and a transition.
pub fn call_service() -> ClientMessage {
    ClientMessage {
        id: 42,
        command: Command::CallService {
            domain: "light".to_owned(),
            service: "turn_on".to_owned(),
            service_data: Some(serde_json::json!({"brightness_pct": 80, "transition": 2})),
            target: Some(Target::entities(["light.kitchen_ceiling", "light.living_room_lamp"])),
            return_response: None,
        },
    }
}

/// One applied state change as the monitor records it.
#[derive(Debug, Clone, PartialEq)]
pub struct Observed {
    /// The entity.
    pub entity_id: String,
    /// Bytes of its attribute JSON.
    pub attributes_bytes: usize,
    /// Time from `time_fired` to applied.
    pub lag: Duration,
}

/// `count` state changes of the `entities` install's change stream, as the monitor sees them
/// (lags between 1 and 20 ms).
pub fn observed_changes(entities: usize, count: usize) -> Vec<Observed> {
    let mut states = install(entities);
    let mut stream = ChangeStream::new(STREAM_SEED, &states, ha_fixtures::stream_start(&states));
    (0..count)
        .map(|i| {
            let (_, _, new) = stream.step(&mut states);
            Observed {
                entity_id: new.entity_id.as_str().to_owned(),
                attributes_bytes: new.attributes.json_len(),
                lag: Duration::from_micros(1_000 + (i as u64 * 7_919) % 19_000),
            }
        })
        .collect()
}

/// `count` latency-like values in microseconds (a fixed spread from 100 µs to about 2 s).
pub fn latencies(count: usize) -> Vec<u64> {
    let mut x = 0x2545_f491_4f6c_dd1d_u64;
    (0..count)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            100 + (x % 1_000) * (x >> 60).pow(2) * 8 + x % 5_000
        })
        .collect()
}

/// The instants of `count` samples taken one millisecond apart from `start`.
pub fn instants(start: Millis, count: usize) -> impl Iterator<Item = Millis> {
    (0..count as u64).map(move |i| Millis(start.0 + i))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn coalescing_makes_arrays_and_leaves_a_last_lone_message_bare() {
        let messages = ["{1}", "{2}", "{3}", "{4}", "{5}", "{6}", "{7}"].map(str::to_owned).to_vec();

        let frames = coalesce(messages, 3);

        assert_eq!(frames, ["[{1},{2},{3}]", "[{4},{5},{6}]", "{7}"]);
    }

    #[test]
    fn median_message_is_neither_the_shortest_nor_the_longest() {
        let messages = vec!["aaa".to_owned(), "a".to_owned(), "aaaaa".to_owned()];

        let median = median_message(messages);

        assert_eq!(median, "aaa");
    }

    #[test]
    fn coalesced_frames_are_arrays_of_the_same_messages() {
        let single = compressed_diffs(50, 10).messages;

        let frames = coalesced_frames(50, 4, 10).messages;

        assert_eq!(frames.len(), 3);
        assert_eq!(frames[0], format!("[{}]", single[..4].join(",")));
        assert_eq!(frames[2], format!("[{}]", single[8..].join(",")));
    }

    #[test]
    fn a_frame_of_one_change_is_the_message_itself() {
        let single = compressed_diffs(50, 3).messages;

        let frames = coalesced_frames(50, 1, 3).messages;

        assert_eq!(frames, single);
    }

    #[test]
    fn observed_changes_are_reproducible() {
        let (a, b) = (observed_changes(100, 20), observed_changes(100, 20));

        assert_eq!(a, b);
    }
}
