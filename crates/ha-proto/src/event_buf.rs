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
    frame: Arc<Yoke<Detached<'static>, Box<str>>>,
    /// Which of them this is.
    index: usize,
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
        match Yoke::<Detached<'static>, Box<str>>::try_attach_to_cart(event.into(), decode) {
            Ok(frame) => Ok(Some(StateChangedEventBuf { frame: Arc::new(frame), index: 0 })),
            Err(Failed::NotOurs) => Ok(None),
            Err(Failed::Invalid(e)) => Err(e),
        }
    }

    /// Decodes a frame as [`Frame::parse_each_with`](crate::Frame::parse_each_with) does with
    /// `state_changes`, from a copy of its text: each [`FrameItem::StateChanged`] is kept and
    /// handed to `detached` once the frame is read (with its subscription's id, in frame order,
    /// the events of one frame sharing the copy); every other item goes to `each` as it is read,
    /// borrowed from the copy. The result is `parse_each_with`'s: on an error, the state changes
    /// read before it are still handed over.
    pub fn parse_frame_each(
        text: &str,
        mut want: impl FnMut(u64) -> Want,
        mut each: impl FnMut(FrameItem<'_>),
        mut detached: impl FnMut(u64, StateChangedEventBuf),
    ) -> Result<(), ProtoError> {
        let mut outcome = Ok(());
        let frame = Yoke::<Detached<'static>, Box<str>>::attach_to_cart(text.into(), |copy: &str| {
            let mut changes = Detached { first: None, rest: Vec::new() };
            outcome = walk::<true>(copy, &mut want, &mut |item| match item {
                FrameItem::StateChanged { id, event, raw } => changes.push(Change { id, event, raw }),
                other => each(other),
            });
            changes
        });
        let count = frame.get().len();
        if count > 0 {
            let frame = Arc::new(frame);
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
        let result =
            StateChangedEventBuf::parse_frame_each(&text, |_| Want::StateChanged, |_| {}, |id, _| detached.push(id));

        // Assert
        assert!(result.is_err() && detached == [7], "{result:?} {detached:?}");
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
