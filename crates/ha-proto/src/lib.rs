//! Home Assistant's WebSocket and REST wire protocol as Rust types.
//!
//! - [`Frame::parse`] decodes a server frame (one object or a coalesced array) into
//!   [`ServerMessage`]s whose payloads stay raw JSON borrowed from the frame.
//! - [`CompressedEvent`] decodes `subscribe_entities` events without building a value tree;
//!   [`CompressedEventFrame::parse`] decodes a frame holding one such event in a single pass,
//!   and [`Frame::parse_each`] every message of a frame, coalesced arrays included, with the
//!   events of the subscriptions a caller names decoded in the same pass (the mirror's hot path).
//! - [`Event`] and [`StateChangedData`] decode `subscribe_events` payloads on demand;
//!   [`StateChangedFrame::parse`] decodes a frame holding one `state_changed` event in a single
//!   pass into a borrowed [`StateChange`] (what a mirror needs, `old_state` skipped).
//! - [`parse_state_views_each`] decodes a state list (`get_states`, `GET /api/states`) one state at
//!   a time, and [`parse_state_list_result_each`] the frame holding a `get_states` answer in one
//!   pass (the list checked as it is decoded, not checked whole first as [`Frame::parse`] would).
//! - [`ClientMessage`] / [`Command`] encode every command; [`parse_client_frame`] decodes them
//!   (what a server does).
//! - Unknown message types become [`ServerMessage::Unknown`] (kept whole), unknown error codes
//!   [`ErrorCode::Other`]; unknown fields are skipped, and [`Frame::unknown_fields`] lists them.
//!
//! Bad input never panics: it becomes a [`ProtoError`] that says where.
//!
//! ```
//! use ha_proto::{CompressedEvent, Frame, ServerMessage};
//!
//! let text = r#"[{"id":7,"type":"event","event":{"c":{"light.a":{"+":{"s":"off","lc":1683832800.5}}}}},
//!               {"id":8,"type":"result","success":true,"result":null}]"#;
//! let frame = Frame::parse(text)?;
//! assert_eq!(frame.messages.len(), 2);
//! let ServerMessage::Event { id: 7, event } = &frame.messages[0] else { panic!() };
//! let diff = CompressedEvent::parse(event.get())?;
//! assert_eq!(diff.changed[0].0.as_str(), "light.a");
//! # Ok::<(), ha_proto::ProtoError>(())
//! ```

mod client_msg;
mod compressed;
mod cow;
mod entity_id;
mod error;
mod event;
mod event_buf;
mod event_frame;
mod frame_items;
mod hints;
pub mod raw;
pub mod rest;
mod scan;
mod server_msg;
mod snapshot;
mod state;
mod state_change;
pub mod timestamp;
mod unknown_fields;

pub use client_msg::{
    AuthMessage, ClientMessage, Command, CommandError, Features, OneOrMany, Secret, Target, parse_client_frame,
};
pub use compressed::{
    AttrPatch, CompressedEvent, CompressedState, ContextPatch, DiffAdditions, DiffRemovals, EntityKey, StateDiff,
};
pub use entity_id::{EntityId, InvalidEntityId, validate as validate_entity_id};
pub use error::ProtoError;
pub use event::{Event, STATE_CHANGED, StateChangedData, TriggerEvent};
pub use event_buf::{FrameCopies, StateChangedEventBuf};
pub use event_frame::CompressedEventFrame;
pub use frame_items::{FrameItem, Want};
pub use hints::changed_id_hints;
pub use server_msg::{ErrorCode, ErrorInfo, Frame, ServerMessage};
pub use snapshot::{SnapshotRest, lone_event_payload, parse_snapshot_each};
pub use state::{Attributes, Context, State};
pub use state_change::{ContextView, StateChange, StateChangedEvent, StateChangedFrame, StateView};
pub use timestamp::{InvalidTimestamp, Timestamp};
pub use unknown_fields::UnknownField;

impl<'a> CompressedEvent<'a> {
    /// Decodes the `event` object of a `subscribe_entities` event.
    pub fn parse(json: &'a str) -> Result<Self, ProtoError> {
        if let Some((event, len)) = scan::compressed_event_prefix(json)
            && json[len..].trim_start_matches(event_frame::JSON_WHITESPACE).is_empty()
        {
            return Ok(event);
        }
        serde_json::from_str(json).map_err(|e| ProtoError::json("compressed state event", &e))
    }
}

/// Decodes a `get_states` result (or `GET /api/states` body).
pub fn parse_states(json: &str) -> Result<Vec<State>, ProtoError> {
    serde_json::from_str(json).map_err(|e| ProtoError::json("state list", &e))
}

/// Decodes a `get_states` result (or `GET /api/states` body) borrowing from `json`: no copy of
/// any text or attribute value, for callers that load the states into a mirror while the frame
/// is alive (`ha_state::EntityStore::replace_from_state_views`).
///
/// Read by the scanner when every state is in Home Assistant's compact shape, else by serde
/// (which then words any error).
pub fn parse_state_views(json: &str) -> Result<Vec<StateView<'_>>, ProtoError> {
    if let Some(views) = scan::state_views(json) {
        return Ok(views);
    }
    serde_json::from_str(json).map_err(|e| ProtoError::json("state list", &e))
}

/// Decodes a frame holding the answer to `get_states` (one successful result message whose
/// `result` is a list) one state at a time, as [`parse_state_views_each`] does for a list alone,
/// in one pass over the frame: [`Frame::parse`] would check the whole list once to keep it raw,
/// and decoding it would read it again (some 8 MB for 16,384 states).
///
/// - `Ok(Some(id))`: the frame was one successful result holding a list, and every state of it
///   was handed to `each`; `id` is the command's.
/// - `Ok(None)`: the frame is something else (an event, an error result, a result that is not a
///   list, a coalesced array); nothing was handed over. Decode it with [`Frame::parse`].
/// - `Err`: the frame is not JSON, or its list is not a state list; as with
///   [`parse_state_views_each`], states before the fault may have been handed over.
///
/// Home Assistant's envelope (`{"id":N,"type":"result","success":true,"result":[...]}`) is read
/// by the scanner; any other spelling of the same message is read by [`Frame::parse`] and serde,
/// with the same states and errors.
pub fn parse_state_list_result_each<'a>(
    frame: &'a str,
    mut each: impl FnMut(&StateView<'a>),
) -> Result<Option<u64>, ProtoError> {
    let mut handed = 0;
    if let Some(id) = scan::success_state_list_each(frame, &mut |view| {
        handed += 1;
        each(view);
    }) {
        return Ok(Some(id));
    }
    let parsed = Frame::parse(frame)?;
    let id = match parsed.messages.as_slice() {
        [ServerMessage::Result { id, outcome: Ok(result) }]
            if !parsed.coalesced && parsed.errors.is_empty() && result.get().starts_with('[') =>
        {
            *id
        }
        // The scanner hands states over only after the envelope of a successful result holding a
        // list; a frame that starts so and is still not one (a repeated key) is refused whole.
        _ if handed > 0 => return Err(not_one_state_list_result()),
        _ => return Ok(None),
    };
    /// The message again, for its list borrowed from the frame (`Frame::parse` may have kept it
    /// in a box of its own). Other members are skipped, as `Frame::parse` skipped them.
    #[derive(serde::Deserialize)]
    struct ListResult<'a> {
        #[serde(borrow)]
        result: Vec<StateView<'a>>,
    }
    let list: ListResult<'a> = serde_json::from_str(frame).map_err(|e| ProtoError::json("state list result", &e))?;
    list.result.iter().skip(handed).for_each(each);
    Ok(Some(id))
}

/// What [`parse_state_list_result_each`] says of a frame it began to decode as a successful
/// result holding a state list that turned out not to be one.
fn not_one_state_list_result() -> ProtoError {
    ProtoError::Malformed {
        what: "state list result",
        line: 1,
        column: 1,
        message: "the frame is not one successful result holding a list".to_owned(),
    }
}

/// [`parse_state_views`] one state at a time: each state is lent to `each` as soon as it is read
/// and gone before the next, so a list of 16,384 states never exists decoded as a whole, and the
/// scanner reads every state's attributes into one reused list (no allocation per state).
///
/// The states handed over, and any error, are those of [`parse_state_views`]: a list the scanner
/// does not read to its end is decoded by serde, which hands over the states the scanner had not.
/// When the list turns out not to be valid, the states before the fault may have been handed over
/// already: decode into something that can be dropped (as `ha_state::EntityStore::decode_state_list`
/// does).
pub fn parse_state_views_each<'a>(json: &'a str, mut each: impl FnMut(&StateView<'a>)) -> Result<(), ProtoError> {
    let mut handed = 0;
    let scanned = scan::state_views_each(json, &mut |view| {
        handed += 1;
        each(view);
    });
    if scanned.is_some() {
        return Ok(());
    }
    let views: Vec<StateView<'a>> = serde_json::from_str(json).map_err(|e| ProtoError::json("state list", &e))?;
    views.iter().skip(handed).for_each(each);
    Ok(())
}
