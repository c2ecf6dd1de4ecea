//! [`StateChangedEventBuf`]: a `state_changed` event detached from its frame, decoded once.
//!
//! A [`StateChangedEvent`] borrows its strings and attribute values from the frame it was read
//! from, so it cannot outlive the frame; a subscriber on another task needs an owned value. An
//! [`Event<'static>`](crate::Event) is one, but its `data` is then decoded again by whoever reads
//! it ([`Event::state_change`](crate::Event::state_change)), which had been a third of a
//! subscriber's cost per event (`docs/performance.md`). Here the frame's text is copied once, the
//! frame is decoded from that copy ([`StateChangedEventBuf::parse_frame_each`]), and its state
//! changes are kept as decoded, borrowing from the copy, which they share: nothing is decoded
//! again and no string is copied on its own. [`yoke`] keeps the copy and the events that borrow
//! from it together without unsafe code of ours.

use std::fmt;
use std::sync::Arc;

use yoke::Yoke;

use crate::error::ProtoError;
use crate::frame_items::{FrameItem, Want, walk};
use crate::raw::RawJson;
use crate::state_change::StateChangedEvent;

/// A `state_changed` event that owns its text: what [`StateChangedEvent`] holds, borrowed from
/// a copy of the frame it came in (shared with the other state changes of that frame) rather
/// than from the frame. Cloning it shares that copy, which lives until the last event of the frame
/// is dropped (a consumer that keeps one event of a large coalesced frame keeps the whole copy).
///
/// ```
/// use ha_proto::StateChangedEventBuf;
///
/// let text = r#"{"event_type":"state_changed","data":{"entity_id":"light.a","old_state":null,
///   "new_state":{"entity_id":"light.a","state":"on","attributes":{"brightness":255},
///   "last_changed":"2024-03-01T10:00:00+00:00","last_updated":"2024-03-01T10:00:00+00:00",
///   "context":{"id":"c1","parent_id":null,"user_id":null}}},"origin":"LOCAL",
///   "time_fired":"2024-03-01T10:00:00+00:00","context":{"id":"c1","parent_id":null,"user_id":null}}"#;
/// let event = StateChangedEventBuf::parse(text)?.expect("a state_changed event");
/// let new = event.get().change.new_state.as_ref().expect("added");
/// assert_eq!((event.get().change.entity_id.as_str(), &*new.state), ("light.a", "on"));
/// # Ok::<(), ha_proto::ProtoError>(())
/// ```
#[derive(Clone)]
pub struct StateChangedEventBuf {
    /// The frame's copy and its state changes.
    frame: Arc<DetachedFrame>,
    /// Which of them this is.
    index: usize,
}

/// A copy of a frame's text and the state changes decoded from it.
type DetachedFrame = Yoke<Detached<'static>, String>;

/// The copies [`StateChangedEventBuf::parse_frame_each`] makes of frames, kept for reuse: once
/// every event of a frame has been dropped, its copy's buffer and shared block take the next
/// frame's text, so a stream of frames that each consumer is done with before the next few
/// arrive costs no allocation for them. Without this, a detached `state_changed` event paid
/// three allocations (the copy, usually over the allocator's small-block caches, the shared block
/// and the event's box) and their frees: about 660 of the 9,450 instructions it cost in
/// `state/apply_state_changed_detached/n2k` (`docs/performance.md`).
///
/// At most [`FrameCopies::SLOTS`] copies are kept, none whose buffer has grown past
/// [`FrameCopies::KEPT_BYTES`]; a frame whose events are still held elsewhere when all slots are
/// in use gets a new copy, which replaces a slot's (whose events keep it alive until they are
/// dropped). One per reader of frames (ha-client keeps one per client, across reconnects).
#[derive(Default)]
pub struct FrameCopies {
    slots: Vec<Arc<DetachedFrame>>,
    /// The slot the next new copy replaces when all are in use.
    next: usize,
}

impl FrameCopies {
    /// How many copies are kept.
    pub const SLOTS: usize = 8;
    /// The largest buffer kept for reuse (a larger copy is freed with its last event).
    pub const KEPT_BYTES: usize = 64 * 1024;

    /// No copies yet.
    pub fn new() -> Self {
        FrameCopies::default()
    }

    /// A copy of `text` decoded by `decode`, in a kept slot no event holds any more, or else new.
    fn detach(&mut self, text: &str, decode: impl FnOnce(&str) -> Detached<'_>) -> Arc<DetachedFrame> {
        let free = self.slots.iter_mut().position(|slot| Arc::strong_count(slot) == 1 && Arc::get_mut(slot).is_some());
        let Some(at) = free else {
            let frame = Arc::new(DetachedFrame::attach_to_cart(text.to_owned(), decode));
            if text.len() <= Self::KEPT_BYTES {
                if self.slots.len() < Self::SLOTS {
                    self.slots.push(Arc::clone(&frame));
                } else {
                    self.slots[self.next] = Arc::clone(&frame);
                    self.next = (self.next + 1) % Self::SLOTS;
                }
            }
            return frame;
        };
        let slot = Arc::get_mut(&mut self.slots[at]).expect("a slot no event holds");
        let mut buffer = std::mem::replace(slot, DetachedFrame::attach_to_cart(String::new(), |_| Detached::EMPTY))
            .into_backing_cart();
        buffer.clear();
        buffer.push_str(text);
        *slot = DetachedFrame::attach_to_cart(buffer, decode);
        let frame = Arc::clone(&self.slots[at]);
        if frame.backing_cart().capacity() > Self::KEPT_BYTES {
            self.slots.swap_remove(at);
            self.next = 0;
        }
        frame
    }
}

impl fmt::Debug for FrameCopies {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("FrameCopies").field("slots", &self.slots.len()).finish_non_exhaustive()
    }
}

/// The state changes decoded from a copy of a frame, borrowing from it: the first one (a lone
/// event's frame needs no list), then the others.
#[derive(yoke::Yokeable)]
struct Detached<'a> {
    first: Option<Change<'a>>,
    rest: Vec<Change<'a>>,
}

/// One state change of a frame: its subscription's id, the event, and its text. The event stays
/// in the box the frame's pass decoded it into: a `StateChangedEvent` is several hundred bytes,
/// and unboxed it was copied on each of its moves into the shared frame (360 of the 9,807
/// instructions a detached event cost in `state/apply_state_changed_detached/n2k`).
struct Change<'a> {
    id: u64,
    event: Box<StateChangedEvent<'a>>,
    raw: RawJson<'a>,
}

impl<'a> Detached<'a> {
    /// No state changes.
    const EMPTY: Self = Detached { first: None, rest: Vec::new() };

    /// Keeps one more state change.
    fn push(&mut self, change: Change<'a>) {
        if self.first.is_none() {
            self.first = Some(change);
        } else {
            self.rest.push(change);
        }
    }

    /// The state change at `index`, in frame order.
    fn get(&self, index: usize) -> &Change<'a> {
        match index.checked_sub(1) {
            None => self.first.as_ref().expect("a handle's index is one of its frame's"),
            Some(i) => &self.rest[i],
        }
    }

    /// How many there are.
    fn len(&self) -> usize {
        usize::from(self.first.is_some()) + self.rest.len()
    }
}

impl StateChangedEventBuf {
    /// Decodes an `event` object (the `event` of an event message, as JSON text) into an owned
    /// event: `Ok(None)` when it is an event of another type, `Err` when it is not a valid event
    /// object or its `data` is not what Home Assistant sends (see
    /// [`StateChangedFrame::parse`](crate::StateChangedFrame::parse)). The text is copied once.
    pub fn parse(event: &str) -> Result<Option<Self>, ProtoError> {
        fn decode(text: &str) -> Result<Detached<'_>, Failed> {
            match StateChangedEvent::parse_object(text) {
                Ok(Some(event)) => {
                    let raw = RawJson::checked(text.trim_matches(crate::event_frame::JSON_WHITESPACE));
                    Ok(Detached { first: Some(Change { id: 0, event: Box::new(event), raw }), rest: Vec::new() })
                }
                Ok(None) => Err(Failed::NotOurs),
                Err(e) => Err(Failed::Invalid(e)),
            }
        }
        match DetachedFrame::try_attach_to_cart(event.to_owned(), decode) {
            Ok(frame) => Ok(Some(StateChangedEventBuf { frame: Arc::new(frame), index: 0 })),
            Err(Failed::NotOurs) => Ok(None),
            Err(Failed::Invalid(e)) => Err(e),
        }
    }

    /// Decodes a frame as [`Frame::parse_each_with`](crate::Frame::parse_each_with) does with
    /// `state_changes`, from a copy of its text (in a buffer of `copies` when one is free): each
    /// [`FrameItem::StateChanged`] is kept and handed to `detached` once the frame is read (with
    /// its subscription's id, in frame order, the events of one frame sharing the copy); every
    /// other item goes to `each` as it is read, borrowed from the copy. The result is
    /// `parse_each_with`'s: on an error, the state changes read before it are still handed over.
    pub fn parse_frame_each(
        copies: &mut FrameCopies,
        text: &str,
        mut want: impl FnMut(u64) -> Want,
        mut each: impl FnMut(FrameItem<'_>),
        mut detached: impl FnMut(u64, StateChangedEventBuf),
    ) -> Result<(), ProtoError> {
        let mut outcome = Ok(());
        let frame = copies.detach(text, |copy| {
            let mut changes = Detached::EMPTY;
            outcome = walk::<true>(copy, &mut want, &mut |item| match item {
                FrameItem::StateChanged { id, event, raw } => changes.push(Change { id, event, raw }),
                other => each(other),
            });
            changes
        });
        let count = frame.get().len();
        if count > 0 {
            for index in 0..count {
                let id = frame.get().get(index).id;
                detached(id, StateChangedEventBuf { frame: Arc::clone(&frame), index });
            }
        }
        outcome
    }

    /// The event.
    pub fn get(&self) -> &StateChangedEvent<'_> {
        &self.frame.get().get(self.index).event
    }

    /// The event object as sent (valid JSON).
    pub fn as_str(&self) -> &str {
        self.frame.get().get(self.index).raw.get()
    }
}

impl fmt::Debug for StateChangedEventBuf {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        self.get().fmt(f)
    }
}

impl PartialEq for StateChangedEventBuf {
    fn eq(&self, other: &Self) -> bool {
        self.get() == other.get()
    }
}

/// Why [`StateChangedEventBuf::parse`] gave no event.
enum Failed {
    /// Another event type.
    NotOurs,
    /// Not a valid event object.
    Invalid(ProtoError),
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_text(entity: &str, state: &str) -> String {
        format!(
            r#"{{"event_type":"state_changed","data":{{"entity_id":"{entity}","old_state":null,"new_state":{{"entity_id":"{entity}","state":"{state}","attributes":{{"friendly_name":"Lamp","brightness":255}},"last_changed":"2024-03-01T10:00:00+00:00","last_updated":"2024-03-01T10:00:00+00:00","context":{{"id":"c1","parent_id":null,"user_id":null}}}}}},"origin":"LOCAL","time_fired":"2024-03-01T10:00:00+00:00","context":{{"id":"c1","parent_id":null,"user_id":null}}}}"#
        )
    }

    fn message(entity: &str, state: &str, id: u64) -> String {
        format!(r#"{{"type":"event","event":{},"id":{id}}}"#, event_text(entity, state))
    }

    /// What `parse_frame_each` gives for `text`: the detached events with their ids, and the
    /// other items as their debug text.
    fn detach_all(text: &str, want: Want) -> (Vec<(u64, StateChangedEventBuf)>, Vec<String>) {
        let (mut detached, mut others) = (Vec::new(), Vec::new());
        StateChangedEventBuf::parse_frame_each(
            &mut FrameCopies::new(),
            text,
            |_| want,
            |item| others.push(format!("{item:?}")),
            |id, event| {
                detached.push((id, event));
            },
        )
        .expect("a valid frame");
        (detached, others)
    }

    #[test]
    fn each_state_change_of_a_frame_is_detached_with_its_id() {
        // Arrange
        let text = format!("[{},{}]", message("light.a", "on", 7), message("light.b", "off", 8));

        // Act
        let (detached, others) = detach_all(&text, Want::StateChanged);

        // Assert
        let got: Vec<_> = detached.iter().map(|(id, e)| (*id, e.get().change.entity_id.as_str())).collect();
        assert_eq!((got, others.len()), (vec![(7, "light.a"), (8, "light.b")], 0));
    }

    #[test]
    fn a_detached_event_equals_the_one_decoded_from_its_text() {
        // Arrange
        let text = message("light.kitchen", "on", 7);

        // Act
        let (detached, _) = detach_all(&text, Want::StateChanged);

        // Assert
        let parsed = StateChangedEventBuf::parse(&event_text("light.kitchen", "on")).expect("valid").expect("ours");
        assert_eq!(detached[0].1, parsed);
    }

    #[test]
    fn a_detached_event_keeps_its_own_text() {
        // Arrange
        let text = format!("[{},{}]", message("light.a", "on", 7), message("light.b", "off", 7));

        // Act
        let (detached, _) = detach_all(&text, Want::StateChanged);

        // Assert
        assert_eq!(detached[1].1.as_str(), event_text("light.b", "off"));
    }

    #[test]
    fn events_of_a_subscription_that_wants_them_as_events_go_to_each() {
        // Arrange
        let text = message("light.kitchen", "on", 7);

        // Act
        let (detached, others) = detach_all(&text, Want::Message);

        // Assert
        assert!(detached.is_empty() && others.len() == 1 && others[0].starts_with("Event"), "{others:?}");
    }

    #[test]
    fn state_changes_read_before_a_broken_frame_ends_are_still_handed_over() {
        // Arrange
        let text = format!("[{},{{", message("light.a", "on", 7));
        let mut detached = Vec::new();

        // Act
        let result = StateChangedEventBuf::parse_frame_each(
            &mut FrameCopies::new(),
            &text,
            |_| Want::StateChanged,
            |_| {},
            |id, _| detached.push(id),
        );

        // Assert
        assert!(result.is_err() && detached == [7], "{result:?} {detached:?}");
    }

    /// The events `parse_frame_each` detaches from `text`, copied into `copies`.
    fn detach_into(copies: &mut FrameCopies, text: &str) -> Vec<StateChangedEventBuf> {
        let mut detached = Vec::new();
        StateChangedEventBuf::parse_frame_each(copies, text, |_| Want::StateChanged, |_| {}, |_, e| detached.push(e))
            .expect("a valid frame");
        detached
    }

    #[test]
    fn a_frame_whose_events_are_dropped_lends_its_copy_to_the_next() {
        // Arrange
        let mut copies = FrameCopies::new();
        let first = detach_into(&mut copies, &message("light.a", "on", 7));
        let first_at = first[0].as_str().as_ptr();
        drop(first);

        // Act
        let second = detach_into(&mut copies, &message("light.b", "on", 7));

        // Assert
        assert!(
            std::ptr::eq(second[0].as_str().as_ptr(), first_at) && second[0].as_str() == event_text("light.b", "on")
        );
    }

    #[test]
    fn a_held_event_keeps_its_text_while_later_frames_are_copied() {
        // Arrange
        let mut copies = FrameCopies::new();
        let held = detach_into(&mut copies, &message("light.a", "on", 7));

        // Act
        let later: Vec<_> = (0..FrameCopies::SLOTS + 2)
            .flat_map(|i| detach_into(&mut copies, &message(&format!("light.l{i}"), "off", 7)))
            .collect();

        // Assert
        assert_eq!(held[0].as_str(), event_text("light.a", "on"));
        assert_eq!(later.last().map(StateChangedEventBuf::as_str), Some(&*event_text("light.l9", "off")));
    }

    #[test]
    fn no_more_than_the_slots_are_kept_while_every_event_is_held() {
        // Arrange
        let mut copies = FrameCopies::new();

        // Act
        let held: Vec<_> =
            (0..FrameCopies::SLOTS * 2).flat_map(|_| detach_into(&mut copies, &message("light.a", "on", 7))).collect();

        // Assert
        assert_eq!((held.len(), copies.slots.len()), (FrameCopies::SLOTS * 2, FrameCopies::SLOTS));
    }

    #[test]
    fn a_copy_larger_than_kept_bytes_is_not_kept() {
        // Arrange
        let mut copies = FrameCopies::new();
        let big = message(&format!("light.{}", "x".repeat(FrameCopies::KEPT_BYTES)), "on", 7);

        // Act
        drop(detach_into(&mut copies, &big));

        // Assert
        assert!(copies.slots.is_empty());
    }

    #[test]
    fn a_kept_copy_that_grows_past_kept_bytes_is_let_go() {
        // Arrange
        let mut copies = FrameCopies::new();
        drop(detach_into(&mut copies, &message("light.a", "on", 7)));
        let big = message(&format!("light.{}", "x".repeat(FrameCopies::KEPT_BYTES)), "on", 7);

        // Act
        let event = detach_into(&mut copies, &big);

        // Assert
        assert!(
            copies.slots.is_empty()
                && event[0].as_str() == event_text(&format!("light.{}", "x".repeat(FrameCopies::KEPT_BYTES)), "on")
        );
    }

    #[test]
    fn a_clone_shares_the_frame_and_reads_the_same_event() {
        // Arrange
        let event = StateChangedEventBuf::parse(&event_text("light.kitchen", "on")).expect("valid").expect("ours");

        // Act
        let clone = event.clone();

        // Assert
        assert!(clone == event && std::ptr::eq(clone.as_str(), event.as_str()));
    }

    #[test]
    fn an_event_can_be_sent_to_and_shared_with_another_task() {
        fn send_and_sync<T: Send + Sync>() {}

        send_and_sync::<StateChangedEventBuf>();
    }

    #[test]
    fn another_event_type_parses_to_none() {
        // Arrange
        let text = r#"{"event_type":"call_service","data":{},"origin":"LOCAL","time_fired":"2024-03-01T10:00:00+00:00","context":{"id":"c1","parent_id":null,"user_id":null}}"#;

        // Act
        let parsed = StateChangedEventBuf::parse(text);

        // Assert
        assert!(matches!(parsed, Ok(None)), "{parsed:?}");
    }

    #[test]
    fn a_state_changed_event_without_an_entity_id_is_an_error() {
        // Arrange
        let text =
            event_text("light.kitchen", "on").replace(r#""entity_id":"light.kitchen","old_state""#, r#""old_state""#);

        // Act
        let parsed = StateChangedEventBuf::parse(&text);

        // Assert
        assert!(matches!(parsed, Err(ProtoError::Malformed { .. })), "{parsed:?}");
    }

    #[test]
    fn an_escaped_string_decodes_through_serde_and_is_kept() {
        // Arrange
        let text = event_text("light.kitchen", r#"say \"hi\""#);

        // Act
        let event = StateChangedEventBuf::parse(&text).expect("valid").expect("ours");

        // Assert
        assert_eq!(&*event.get().change.new_state.as_ref().expect("a new state").state, r#"say "hi""#);
    }
}
