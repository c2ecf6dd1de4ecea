//! [`StateChangedEventBuf`]: a `state_changed` event detached from its frame, decoded once.
//!
//! A [`StateChangedEvent`] borrows its strings and attribute values from the frame it was read
//! from, so it cannot outlive the frame; a subscriber on another task needs an owned value. An
//! [`Event<'static>`](crate::Event) is one, but its `data` is then decoded again by whoever reads
//! it ([`Event::state_change`](crate::Event::state_change)), which had been a third of a
//! subscriber's cost per event (`docs/performance.md`). Here the event object's text is copied
//! once into a box, and the event decoded in the frame's pass is moved onto that copy: each
//! borrowed string is re-pointed at the same bytes of the box, nothing is decoded again.
//! [`yoke`] keeps the box and the event that borrows from it together without unsafe code of ours.

use std::borrow::Cow;
use std::fmt;

use yoke::Yoke;

use crate::compressed::AttrPatch;
use crate::error::ProtoError;
use crate::state_change::{ContextView, StateChange, StateChangedEvent, StateView};

/// A `state_changed` event that owns its text: what [`StateChangedEvent`] holds, borrowed from
/// the event object's own copy rather than from a frame.
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
pub struct StateChangedEventBuf(Box<Yoke<StateChangedEvent<'static>, Box<str>>>);

impl StateChangedEventBuf {
    /// Decodes an `event` object (the `event` of an event message, as JSON text) into an owned
    /// event: `Ok(None)` when it is an event of another type, `Err` when it is not a valid event
    /// object or its `data` is not what Home Assistant sends (see
    /// [`StateChangedFrame::parse`](crate::StateChangedFrame::parse)). The text is copied once.
    pub fn parse(event: &str) -> Result<Option<Self>, ProtoError> {
        let cart: Box<str> = event.into();
        fn decode(text: &str) -> Result<StateChangedEvent<'_>, Failed> {
            match StateChangedEvent::parse_object(text) {
                Ok(Some(event)) => Ok(event),
                Ok(None) => Err(Failed::NotOurs),
                Err(e) => Err(Failed::Invalid(e)),
            }
        }
        match Yoke::<StateChangedEvent<'static>, Box<str>>::try_attach_to_cart(cart, decode) {
            Ok(yoke) => Ok(Some(StateChangedEventBuf(Box::new(yoke)))),
            Err(Failed::NotOurs) => Ok(None),
            Err(Failed::Invalid(e)) => Err(e),
        }
    }

    /// Detaches `event`, decoded from `text` (the event object's text; every string `event`
    /// borrows from it is then borrowed from a copy of it, and any other string is copied).
    pub fn detach(text: &str, event: Box<StateChangedEvent<'_>>) -> Self {
        let cart: Box<str> = text.into();
        let from = text.as_ptr() as usize;
        StateChangedEventBuf(Box::new(Yoke::attach_to_cart(cart, |to: &str| event.moved(&mut Mover { from, to }))))
    }

    /// The event.
    pub fn get(&self) -> &StateChangedEvent<'_> {
        self.0.get()
    }

    /// The event object as sent (valid JSON).
    pub fn as_str(&self) -> &str {
        self.0.backing_cart()
    }
}

impl Clone for StateChangedEventBuf {
    fn clone(&self) -> Self {
        StateChangedEventBuf::detach(self.as_str(), Box::new(self.get().clone()))
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

/// Re-points strings borrowed from one text (starting at address `from`) at the same bytes of
/// its copy `to`.
struct Mover<'b> {
    from: usize,
    to: &'b str,
}

impl<'b> Mover<'b> {
    /// `text` borrowed from the copy when it was borrowed from the original, else owned.
    fn str(&mut self, text: &str) -> Cow<'b, str> {
        let start = (text.as_ptr() as usize).wrapping_sub(self.from);
        match start.checked_add(text.len()).and_then(|end| self.to.get(start..end)) {
            Some(moved) => Cow::Borrowed(moved),
            None => Cow::Owned(text.to_owned()),
        }
    }

    /// A `Cow` moved: a borrowed text re-pointed, an owned one kept.
    fn cow(&mut self, text: Cow<'_, str>) -> Cow<'b, str> {
        match text {
            Cow::Borrowed(t) => self.str(t),
            Cow::Owned(t) => Cow::Owned(t),
        }
    }
}

impl StateChangedEvent<'_> {
    /// The same event, its borrowed strings re-pointed by `mover`.
    fn moved<'b>(self: Box<Self>, mover: &mut Mover<'b>) -> StateChangedEvent<'b> {
        let StateChangedEvent { change, origin, time_fired, context } = *self;
        StateChangedEvent {
            change: StateChange {
                entity_id: change.entity_id.moved(|t| mover.cow(t)),
                new_state: change.new_state.map(|s| s.moved(mover)),
            },
            origin: origin.map(|o| mover.cow(o)),
            time_fired,
            context: context.moved(mover),
        }
    }
}

impl StateView<'_> {
    /// [`StateChangedEvent::moved`] for a state.
    fn moved<'b>(self, mover: &mut Mover<'b>) -> StateView<'b> {
        StateView {
            entity_id: self.entity_id.moved(|t| mover.cow(t)),
            state: mover.cow(self.state),
            // Collected into the same heap block: the pairs are the same size.
            attributes: AttrPatch(
                self.attributes.0.into_iter().map(|(k, v)| (mover.cow(k), v.moved(|t| mover.str(t)))).collect(),
            ),
            last_changed: self.last_changed,
            last_reported: self.last_reported,
            last_updated: self.last_updated,
            context: self.context.moved(mover),
        }
    }
}

impl ContextView<'_> {
    /// [`StateChangedEvent::moved`] for a context.
    fn moved<'b>(self, mover: &mut Mover<'b>) -> ContextView<'b> {
        ContextView {
            id: mover.cow(self.id),
            parent_id: self.parent_id.map(|t| mover.cow(t)),
            user_id: self.user_id.map(|t| mover.cow(t)),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event_text(entity: &str, state: &str) -> String {
        format!(
            r#"{{"event_type":"state_changed","data":{{"entity_id":"{entity}","old_state":null,"new_state":{{"entity_id":"{entity}","state":"{state}","attributes":{{"friendly_name":"Lamp","brightness":255}},"last_changed":"2024-03-01T10:00:00+00:00","last_updated":"2024-03-01T10:00:00+00:00","context":{{"id":"c1","parent_id":null,"user_id":null}}}}}},"origin":"LOCAL","time_fired":"2024-03-01T10:00:00+00:00","context":{{"id":"c1","parent_id":null,"user_id":null}}}}"#
        )
    }

    /// Whether every text `event` borrows lies within `text`.
    fn borrows_only_from(event: &StateChangedEvent<'_>, text: &str) -> bool {
        let range = text.as_bytes().as_ptr_range();
        let within = |t: &str| range.contains(&t.as_ptr()) && t.len() <= text.len();
        let new = event.change.new_state.as_ref().expect("a new state");
        let borrowed = |c: &Cow<'_, str>| matches!(c, Cow::Borrowed(t) if within(t));
        borrowed(&new.state)
            && new.attributes.0.iter().all(|(k, v)| borrowed(k) && within(v.get()))
            && borrowed(&event.context.id)
            && within(event.change.entity_id.as_str())
    }

    #[test]
    fn a_detached_event_equals_the_one_decoded_from_the_frame() {
        // Arrange
        let text = event_text("light.kitchen", "on");
        let decoded = StateChangedEvent::parse_object(&text).expect("valid").expect("ours");

        // Act
        let detached = StateChangedEventBuf::detach(&text, Box::new(decoded.clone()));

        // Assert
        assert_eq!(detached.get(), &decoded);
    }

    #[test]
    fn a_detached_event_borrows_from_its_own_copy_of_the_text() {
        // Arrange
        let text = event_text("light.kitchen", "on");
        let decoded = StateChangedEvent::parse_object(&text).expect("valid").expect("ours");

        // Act
        let detached = StateChangedEventBuf::detach(&text, Box::new(decoded));

        // Assert
        assert!(borrows_only_from(detached.get(), detached.as_str()));
    }

    #[test]
    fn a_text_borrowed_from_elsewhere_is_copied() {
        // Arrange
        let text = event_text("light.kitchen", "on");
        let mut decoded = StateChangedEvent::parse_object(&text).expect("valid").expect("ours");
        let elsewhere = String::from("off");
        decoded.change.new_state.as_mut().expect("a new state").state = Cow::Borrowed(&elsewhere);

        // Act
        let detached = StateChangedEventBuf::detach(&text, Box::new(decoded));

        // Assert
        let state = &detached.get().change.new_state.as_ref().expect("a new state").state;
        assert!(matches!(state, Cow::Owned(s) if s == "off"), "{state:?}");
    }

    #[test]
    fn a_clone_borrows_from_its_own_text() {
        // Arrange
        let event = StateChangedEventBuf::parse(&event_text("light.kitchen", "on")).expect("valid").expect("ours");

        // Act
        let clone = event.clone();

        // Assert
        assert!(clone == event && borrows_only_from(clone.get(), clone.as_str()));
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
