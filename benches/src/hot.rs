//! The measured paths, each as the client runs it: a frame's text is parsed, the payload decoded
//! and applied. Each returns a count derived from the work, which the benchmarks black-box.

use ha_monitor::{Counter, Histogram, Millis, StdMetrics};
use ha_proto::{
    CompressedEvent, CompressedEventFrame, Event, Frame, FrameCopies, FrameItem, ServerMessage, State,
    StateChangedEventBuf, StateChangedFrame, Want,
};
use ha_state::{ChangeReport, EntityStore};

use crate::inputs::Observed;

/// Parses a `get_states` result message into states.
///
/// # Panics
/// When the text is not a successful result holding a state list.
pub fn parse_get_states(text: &str) -> Vec<State> {
    let frame = Frame::parse(text).expect("fixture frames parse");
    match frame.messages.first() {
        Some(ServerMessage::Result { outcome: Ok(result), .. }) => {
            ha_proto::parse_states(result.get()).expect("fixture states parse")
        }
        other => panic!("fixture frame is not a successful result: {other:?}"),
    }
}

/// Parses a `get_states` result message and loads it into `store` without an owned copy of any
/// state, one state at a time and in one pass over the frame
/// ([`EntityStore::decode_state_list_result`], then [`EntityStore::replace_from_snapshot`]);
/// returns the number of entities added.
///
/// # Panics
/// When the text is not a successful result holding a state list.
pub fn load_get_states(store: &mut EntityStore, text: &str) -> usize {
    match EntityStore::decode_state_list_result(text) {
        Ok(Some((_, decoded))) => store.replace_from_snapshot(decoded).added.len(),
        other => panic!("fixture frame is not a successful result holding a state list: {other:?}"),
    }
}

/// The compressed event of a frame holding one `subscribe_entities` event message, decoded the way
/// ha-client's connection task decodes a mirror's frames: in one pass with
/// [`CompressedEventFrame::parse`] (arrays and other messages take `Frame::parse` there; benchmark
/// inputs are never those).
///
/// # Panics
/// When the text is not one compressed event message (benchmark inputs always are).
fn compressed_frame(text: &str) -> CompressedEvent<'_> {
    match CompressedEventFrame::parse(text) {
        Ok(Some(frame)) => frame.event,
        other => panic!("fixture frame is not one compressed event: {other:?}"),
    }
}

/// Parses one compressed `subscribe_entities` event message the way the client decodes a mirror's
/// frames (see [`compressed_frame`]); returns its number of entries.
pub fn parse_compressed(text: &str) -> usize {
    compressed_frame(text).len()
}

/// One `subscribe_events` event message as ha-client's connection task hands it to a
/// subscriber (`conn.rs`: `on_text` decodes the frame with [`Frame::parse_each`], no mirror
/// wanting its id; `on_event` decodes the event with [`Event::parse_raw`] and detaches it from the
/// frame for the subscription's stream), then given to `f`.
///
/// # Panics
/// When the text is not one event message (benchmark inputs always are).
fn with_client_event<R>(text: &str, f: impl FnOnce(Event<'static>) -> R) -> R {
    let mut out = None;
    let mut f = Some(f);
    Frame::parse_each(
        text,
        |_| false,
        |item| match item {
            FrameItem::Event { event, .. } => out = f.take().map(|f| f(event.into_owned())),
            FrameItem::Message(ServerMessage::Event { event, .. }) => {
                let event = Event::parse_raw(&event).expect("fixture events parse").into_owned();
                out = f.take().map(|f| f(event));
            }
            other => panic!("fixture frame holds {other:?}"),
        },
    )
    .expect("fixture frames parse");
    out.expect("one event message")
}

/// Parses one `state_changed` event message down to what a mirror needs, as a
/// `subscribe_events` subscriber gets it: the client's part ([`with_client_event`]), then the
/// subscriber's: the data decoded in one pass ([`Event::state_change`], `old_state` skipped);
/// returns the new state's attribute count.
pub fn parse_state_changed(text: &str) -> usize {
    with_client_event(text, |event| {
        let change = event.state_change().expect("a state_changed event").expect("fixture data parses");
        change.new_state.map_or(0, |s| s.attributes.0.len())
    })
}

/// Parses one `state_changed` event message down to what a mirror needs in one pass from the
/// frame's text ([`StateChangedFrame::parse`], what an integration reading its own frames
/// calls); returns the new state's attribute count.
///
/// # Panics
/// When the text is not one `state_changed` event message (benchmark inputs always are).
pub fn parse_state_changed_frame(text: &str) -> usize {
    let frame = StateChangedFrame::parse(text).expect("fixture frames parse").expect("a state_changed event");
    frame.event.change.new_state.map_or(0, |s| s.attributes.0.len())
}

/// Parses the compressed snapshot message and replaces the store's content with it, as a mirror
/// does on subscribing: ha-client's connection task finds the payload of a lone event message
/// ([`ha_proto::lone_event_payload`]) and decodes it one entity at a time into the mirror
/// ([`EntityStore::replace_from_compressed_text`]); returns the store's size.
///
/// # Panics
/// When the text is not one compressed snapshot message (benchmark inputs always are).
pub fn load_compressed(store: &mut EntityStore, text: &str) -> usize {
    let (_, payload) = ha_proto::lone_event_payload(text).expect("fixture snapshot is one event message");
    store.replace_from_compressed_text(payload).expect("fixture snapshot applies");
    store.len()
}

/// Parses and applies compressed diff messages one after another, as the client's mirror does
/// (decoded like the client does, see [`compressed_frame`]), reusing `report` (cleared per message,
/// as a mirror loop does); returns the number of entities updated.
pub fn apply_compressed_messages(store: &mut EntityStore, messages: &[String], report: &mut ChangeReport) -> usize {
    let mut updated = 0;
    for text in messages {
        let diff = compressed_frame(text);
        report.clear();
        store.apply_compressed_into(&diff, report).expect("fixture diffs apply");
        updated += report.updated.len();
    }
    updated
}

/// One WebSocket text frame of a `subscribe_entities` subscription (`sub_id`) decoded and applied
/// to its mirror the way ha-client's connection task does it (`conn.rs`, `on_text`): one pass over
/// the whole frame, coalesced arrays included ([`Frame::parse_each`], asked whether an id is the
/// mirror's), each event applied as it is decoded, after a big coalesced frame's entries have
/// been prefetched ([`EntityStore::prefetch_frame`]). Every change of the frame goes into one new
/// [`ChangeReport`], which the client pushes to the mirror's change stream (here it is returned,
/// and dropped by the caller as the stream's consumer would).
///
/// # Panics
/// When the frame is malformed or a change names an entity the store does not hold (benchmark
/// inputs never are or do; the client resyncs instead).
pub fn apply_frame(store: &mut EntityStore, sub_id: u64, text: &str) -> ChangeReport {
    let mut report = ChangeReport::new();
    store.prefetch_frame(text);
    Frame::parse_each(
        text,
        |id| id == sub_id,
        |item| match item {
            FrameItem::Compressed(frame) => {
                store.apply_compressed_into(&frame.event, &mut report).expect("fixture diffs apply");
            }
            other => panic!("fixture frame holds {other:?}"),
        },
    )
    .expect("fixture frames parse");
    assert!(report.unknown.is_empty(), "a fixture change names an entity the store does not hold");
    report
}

/// [`apply_frame`] for each of `frames` in order; returns the number of entity changes applied.
pub fn apply_frames(store: &mut EntityStore, sub_id: u64, frames: &[String]) -> usize {
    frames.iter().map(|text| apply_frame(store, sub_id, text).len()).sum()
}

/// Parses and applies `state_changed` event messages one after another, reusing `report`, as a
/// mirror fed by `subscribe_events` does: the client's part ([`with_client_event`]), then the
/// subscriber's: the data decoded in one pass ([`Event::state_change`], `old_state` skipped) and
/// applied in place ([`EntityStore::apply_state_change_into`]); returns the number of entities
/// added or updated.
pub fn apply_state_changed_messages(store: &mut EntityStore, messages: &[String], report: &mut ChangeReport) -> usize {
    let mut applied = 0;
    for text in messages {
        with_client_event(text, |event| {
            let change = event.state_change().expect("a state_changed event").expect("fixture data parses");
            report.clear();
            store.apply_state_change_into(&change, report);
        });
        applied += report.updated.len() + report.added.len();
    }
    applied
}

/// Parses and applies `state_changed` event messages one after another, reusing `report`, as a
/// mirror fed by ha-client's `subscribe_state_changes` does: the client's part (`conn.rs`:
/// [`StateChangedEventBuf::parse_frame_each`] copies the frame's text, into the buffer of a frame
/// whose events were dropped when there is one ([`FrameCopies`], one per reader as the client
/// keeps), and decodes each event with its data from the copy, for the subscription's stream),
/// then the subscriber's: the change applied in place ([`EntityStore::apply_state_change_into`]);
/// returns the number of entities added or updated.
///
/// # Panics
/// When a text is not one `state_changed` event message (benchmark inputs always are).
pub fn apply_state_changed_detached(store: &mut EntityStore, messages: &[String], report: &mut ChangeReport) -> usize {
    let (mut applied, mut copies) = (0, FrameCopies::new());
    for text in messages {
        let mut detached = None;
        StateChangedEventBuf::parse_frame_each(
            &mut copies,
            text,
            |_| Want::StateChanged,
            |other| panic!("fixture frame holds {other:?}"),
            |_, event| detached = Some(event),
        )
        .expect("fixture frames parse");
        let event = detached.expect("one state_changed event message");
        report.clear();
        store.apply_state_change_into(&event.get().change, report);
        applied += report.updated.len() + report.added.len();
    }
    applied
}

/// [`apply_state_changed_detached`] for frames that may each hold several `state_changed` event
/// messages, as Home Assistant coalesces them under load (2.9 changes per frame in the churn of
/// `cargo xtask ha-conformance --churn`): each frame's events are detached in one pass from one
/// copy of it, which they share, and then applied in order; returns the number of entities added or
/// updated.
///
/// # Panics
/// When a frame holds anything but `state_changed` event messages (benchmark inputs never do).
pub fn apply_state_changed_coalesced(store: &mut EntityStore, frames: &[String], report: &mut ChangeReport) -> usize {
    let (mut applied, mut copies, mut events) = (0, FrameCopies::new(), Vec::new());
    for text in frames {
        StateChangedEventBuf::parse_frame_each(
            &mut copies,
            text,
            |_| Want::StateChanged,
            |other| panic!("fixture frame holds {other:?}"),
            |_, event| events.push(event),
        )
        .expect("fixture frames parse");
        for event in events.drain(..) {
            report.clear();
            store.apply_state_change_into(&event.get().change, report);
            applied += report.updated.len() + report.added.len();
        }
    }
    applied
}

/// Parses and applies `state_changed` event messages one after another, reusing `report`, each
/// decoded in one pass from the frame's text ([`StateChangedFrame::parse`]) and applied in place
/// ([`EntityStore::apply_state_change_into`]); returns the number of entities added or updated.
///
/// # Panics
/// When a text is not one `state_changed` event message (benchmark inputs always are).
pub fn apply_state_changed_frames(store: &mut EntityStore, messages: &[String], report: &mut ChangeReport) -> usize {
    let mut applied = 0;
    for text in messages {
        let frame = StateChangedFrame::parse(text).expect("fixture frames parse").expect("a state_changed event");
        report.clear();
        store.apply_state_change_into(&frame.event.change, report);
        applied += report.updated.len() + report.added.len();
    }
    applied
}

/// Entities of `domain` whose state is `on` (a typical dashboard query).
pub fn count_on(store: &EntityStore, domain: &str) -> usize {
    store.domain(domain).filter(|e| e.state() == "on").count()
}

/// Records each value at its own instant (one millisecond apart from `start`); returns the
/// histogram's total count.
pub fn record_histogram(histogram: &Histogram, values: &[u64], start: Millis) -> u64 {
    for (value, now) in values.iter().zip(crate::inputs::instants(start, values.len())) {
        histogram.record(*value, now);
    }
    histogram.total_count()
}

/// Increments `counter` `count` times, one millisecond apart from `start`; returns its total.
pub fn increment_counter(counter: &Counter, count: usize, start: Millis) -> u64 {
    for now in crate::inputs::instants(start, count) {
        counter.inc(now);
    }
    counter.total()
}

/// Records each change with [`StdMetrics::on_state_changed`], one millisecond apart from
/// `start`; returns how many were recorded.
pub fn record_state_changes(metrics: &StdMetrics, changes: &[Observed], start: Millis) -> usize {
    for (change, now) in changes.iter().zip(crate::inputs::instants(start, changes.len())) {
        metrics.on_state_changed(&change.entity_id, change.attributes_bytes, Some(change.lag), now);
    }
    changes.len()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::inputs;

    #[test]
    fn compressed_diffs_and_state_changed_events_give_the_same_mirror() {
        let mut compressed = inputs::compressed_diffs(ha_fixtures::SMALL, 300);
        let mut full = inputs::state_changed_events(ha_fixtures::SMALL, 300);
        let mut report = ChangeReport::new();

        let a = apply_compressed_messages(&mut compressed.store, &compressed.messages, &mut report);
        let b = apply_state_changed_messages(&mut full.store, &full.messages, &mut report);

        assert_eq!((a, b), (300, 300));
        assert_eq!(compressed.store.to_states(), full.store.to_states());
    }

    #[test]
    fn state_changed_frames_give_the_mirror_the_client_path_gives() {
        let mut by_client = inputs::state_changed_events(ha_fixtures::SMALL, 300);
        let mut by_frame = inputs::state_changed_events(ha_fixtures::SMALL, 300);
        let mut report = ChangeReport::new();

        let a = apply_state_changed_messages(&mut by_client.store, &by_client.messages, &mut report);
        let b = apply_state_changed_frames(&mut by_frame.store, &by_frame.messages, &mut report);

        assert_eq!((a, b), (300, 300));
        assert_eq!(by_frame.store.to_states(), by_client.store.to_states());
    }

    #[test]
    fn detached_state_changes_give_the_mirror_the_event_path_gives() {
        let mut by_events = inputs::state_changed_events(ha_fixtures::SMALL, 300);
        let mut detached = inputs::state_changed_events(ha_fixtures::SMALL, 300);
        let mut report = ChangeReport::new();

        let a = apply_state_changed_messages(&mut by_events.store, &by_events.messages, &mut report);
        let b = apply_state_changed_detached(&mut detached.store, &detached.messages, &mut report);

        assert_eq!((a, b), (300, 300));
        assert_eq!(detached.store.to_states(), by_events.store.to_states());
    }

    #[test]
    fn coalesced_state_changes_give_the_mirror_of_single_messages() {
        let mut single = inputs::state_changed_events(ha_fixtures::SMALL, 300);
        let mut coalesced = inputs::coalesced_state_changed(ha_fixtures::SMALL, 3, 300);
        let mut report = ChangeReport::new();

        let a = apply_state_changed_detached(&mut single.store, &single.messages, &mut report);
        let b = apply_state_changed_coalesced(&mut coalesced.store, &coalesced.messages, &mut report);

        assert_eq!((a, b, coalesced.messages.len()), (300, 300, 100));
        assert_eq!(coalesced.store.to_states(), single.store.to_states());
    }

    #[test]
    fn coalesced_frames_give_the_mirror_of_single_messages() {
        let mut single = inputs::compressed_diffs(ha_fixtures::SMALL, 200);
        let mut coalesced = inputs::coalesced_frames(ha_fixtures::SMALL, 8, 200);
        let mut report = ChangeReport::new();

        let a = apply_compressed_messages(&mut single.store, &single.messages, &mut report);
        let b = apply_frames(&mut coalesced.store, inputs::SUB_ID, &coalesced.messages);

        assert_eq!((a, b), (200, 200));
        assert_eq!(single.store, coalesced.store);
    }

    #[test]
    fn parse_get_states_gives_every_entity() {
        let text = inputs::get_states_text(50);

        let states = parse_get_states(&text);

        assert_eq!(states, inputs::install(50));
    }

    #[test]
    fn load_compressed_holds_the_install() {
        let text = inputs::snapshot_text(50);
        let mut store = EntityStore::new();

        let len = load_compressed(&mut store, &text);

        assert_eq!(len, 50);
    }

    #[test]
    fn record_state_changes_counts_per_domain() {
        let mut registry = ha_monitor::Registry::default();
        let metrics = StdMetrics::register(&mut registry);
        let changes = inputs::observed_changes(100, 10);

        let recorded = record_state_changes(&metrics, &changes, Millis(0));

        let total: u64 = metrics.state_changes.series().iter().map(|(_, c)| c.total()).sum();
        assert_eq!((recorded, total), (10, 10));
    }
}
