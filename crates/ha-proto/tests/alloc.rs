//! The hot path (frame → compressed diff, frame → `state_changed` data) allocates only for
//! what it keeps: no `serde_json::Value` tree, no copies of entity ids, keys or values that
//! can be borrowed from the frame. Checked by counting heap allocations on this thread.

// A counting global allocator cannot be written without `unsafe`; it only forwards to
// `System`, and it lives in this test binary alone.
#![allow(unsafe_code)]

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;

use ha_proto::{CompressedEvent, CompressedEventFrame, Event, Frame, FrameItem, ServerMessage};

struct Counting;

thread_local! {
    static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
}

// Forwards to the system allocator and only bumps a thread-local counter.
unsafe impl GlobalAlloc for Counting {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.alloc(layout) }
    }
    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as the caller's.
        unsafe { System.dealloc(ptr, layout) }
    }
    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        ALLOCATIONS.with(|c| c.set(c.get() + 1));
        // SAFETY: same contract as the caller's.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static GLOBAL: Counting = Counting;

fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
    let before = ALLOCATIONS.with(Cell::get);
    let out = f();
    (out, ALLOCATIONS.with(Cell::get) - before)
}

const DIFF_FRAME: &str = r#"{"id":7,"type":"event","event":{"c":{"sensor.house_power":{"+":{"s":"1523.4","lc":1710928801.25,"c":"01HSBDJ4V1M3K9Q7W2X5Y8Z0AB","a":{"current":6.62,"voltage":230.1,"friendly_name":"House power"}},"-":{"a":["stale_key"]}}}}}"#;

#[test]
fn compressed_diff_frame_parses_without_copying_keys_or_values() {
    // arrange: warm up thread-locals so their lazy setup is not counted
    let _ = Frame::parse(DIFF_FRAME);

    // act
    let ((frame, diff_len), count) = allocations_during(|| {
        let frame = Frame::parse(DIFF_FRAME).unwrap();
        let ServerMessage::Event { event, .. } = &frame.messages[0] else { panic!("not an event") };
        let diff = CompressedEvent::parse(event.get()).unwrap();
        let len = diff.len();
        drop(diff);
        (frame, len)
    });

    // assert: one Vec each for the frame's messages, `changed`, `+.a` and `-.a`, plus the
    // stack serde_json grows once to skip nested raw JSON; nothing per key or value
    // (before borrowing strings this frame cost 16)
    assert_eq!((frame.messages.len(), diff_len), (1, 1));
    assert!(count <= 5, "{count} allocations for one compressed diff frame");
}

#[test]
fn one_pass_compressed_diff_frame_allocates_only_the_diffs_vecs() {
    // arrange: warm up thread-locals so their lazy setup is not counted
    let _ = CompressedEventFrame::parse(DIFF_FRAME);

    // act
    let (frame, count) = allocations_during(|| CompressedEventFrame::parse(DIFF_FRAME).unwrap().unwrap());

    // assert: one Vec each for `changed`, `+.a` and `-.a`, plus the stack serde_json grows once to
    // skip nested raw JSON; no message list, nothing per key or value
    assert_eq!((frame.id, frame.event.len()), (7, 1));
    assert!(count <= 4, "{count} allocations for one compressed diff frame");
}

/// [`DIFF_FRAME`]'s message as Home Assistant 2024.3 writes its diffs: the id after the payload.
const DIFF_ID_LAST: &str = r#"{"type":"event","event":{"c":{"sensor.house_power":{"+":{"s":"1523.4","lc":1710928801.25,"c":"01HSBDJ4V1M3K9Q7W2X5Y8Z0AB","a":{"current":6.62,"voltage":230.1,"friendly_name":"House power"}},"-":{"a":["stale_key"]}}}},"id":7}"#;

#[test]
fn a_coalesced_frame_in_home_assistants_order_allocates_only_the_diffs_vecs() {
    // arrange: four diffs coalesced as Home Assistant does under load
    let text = format!("[{DIFF_ID_LAST},{DIFF_ID_LAST},{DIFF_ID_LAST},{DIFF_ID_LAST}]");
    let decode = || {
        let mut changes = 0;
        Frame::parse_each(
            &text,
            |id| id == 7,
            |item| match item {
                FrameItem::Compressed(frame) => changes += frame.event.len(),
                other => panic!("{other:?}"),
            },
        )
        .unwrap();
        changes
    };
    let _ = decode();

    // act
    let (changes, count) = allocations_during(decode);

    // assert: per diff one Vec each for `changed`, `+.a` and `-.a`, nothing else (the generic
    // path, which decoded the id-last order until 2026-12-05, took 20 here: the envelope's
    // fields and serde_json's scratch for the raw scan of each element)
    assert_eq!(changes, 4);
    assert!(count <= 12, "{count} allocations for four compressed diffs in one frame");
}

const STATE_CHANGED_FRAME: &str = r#"{"id":18,"type":"event","event":{"event_type":"state_changed","data":{"entity_id":"light.kitchen","old_state":{"entity_id":"light.kitchen","state":"off","attributes":{"supported_color_modes":["brightness"],"friendly_name":"Kitchen"},"last_changed":"2024-03-20T09:00:00+00:00","last_reported":"2024-03-20T09:00:00+00:00","last_updated":"2024-03-20T09:00:00+00:00","context":{"id":"01HSBCZ8F3KQ2M6V0N1P4R7T9W","parent_id":null,"user_id":null}},"new_state":{"entity_id":"light.kitchen","state":"on","attributes":{"supported_color_modes":["brightness"],"brightness":101,"friendly_name":"Kitchen"},"last_changed":"2024-03-20T10:00:00.123456+00:00","last_reported":"2024-03-20T10:00:00.123456+00:00","last_updated":"2024-03-20T10:00:00.123456+00:00","context":{"id":"01HSBDFGQ4C7MXV0Q1J4V2TZ9N","parent_id":null,"user_id":"9c7e0b5a2f1d4e3c8b6a7d5e4f3c2b1a"}}},"origin":"LOCAL","time_fired":"2024-03-20T10:00:00.123456+00:00","context":{"id":"01HSBDFGQ4C7MXV0Q1J4V2TZ9N","parent_id":null,"user_id":"9c7e0b5a2f1d4e3c8b6a7d5e4f3c2b1a"}}}"#;

#[test]
fn state_changed_event_allocates_only_what_the_states_own() {
    // arrange
    let frame = Frame::parse(STATE_CHANGED_FRAME).unwrap();
    let ServerMessage::Event { event, .. } = &frame.messages[0] else { panic!("not an event") };
    let _ = Event::parse(event.get()).unwrap().state_changed();

    // act
    let (data, count) = allocations_during(|| Event::parse(event.get()).unwrap().state_changed().unwrap().unwrap());

    // assert: per state an Arc'd entity id, the state text, the attribute Vec, a key and a
    // value box per attribute, and the context's strings; plus the event's own context and
    // entity id and serde_json's scratch stack per decoder (3). A `Value` tree would add
    // nodes and strings on top of these.
    let states: Vec<_> = [data.old_state.as_ref(), data.new_state.as_ref()].into_iter().flatten().collect();
    let owned_by_states: usize =
        states.iter().map(|s| 3 + 2 * s.attributes.len() + 1 + usize::from(s.context.user_id.is_some())).sum();
    let budget = owned_by_states + 1 + 2 + 3;
    assert!(count <= budget, "{count} allocations, budget {budget}");
}

#[test]
fn state_changed_update_allocates_nothing_for_the_old_state() {
    // arrange
    let frame = Frame::parse(STATE_CHANGED_FRAME).unwrap();
    let ServerMessage::Event { event, .. } = &frame.messages[0] else { panic!("not an event") };
    let event = Event::parse(event.get()).unwrap();
    let _ = event.state_changed_update();

    // act
    let (data, count) = allocations_during(|| event.state_changed_update().unwrap().unwrap());

    // assert: what the new state owns (see above) and the entity id, plus serde_json's scratch
    // stack; nothing for the old state, which `state_changed` decodes in full
    let new = data.new_state.as_ref().unwrap();
    let budget = 3 + 2 * new.attributes.len() + 1 + usize::from(new.context.user_id.is_some()) + 1 + 3;
    assert!(count <= budget, "{count} allocations, budget {budget}");
}
