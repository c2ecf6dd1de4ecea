//! The one error type of ha-proto: every malformed input ends here, with a position.

use crate::entity_id::InvalidEntityId;

/// Why a frame, message or value could not be decoded.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ProtoError {
    /// The input is not valid JSON or does not have the shape of the expected message.
    /// `line` and `column` are 1-based; for single-line frames (what Home Assistant sends)
    /// `column` is the byte offset plus one.
    #[error("malformed {what} at line {line} column {column}: {message}")]
    Malformed {
        /// What was being decoded, e.g. "server frame".
        what: &'static str,
        /// 1-based line of the offending byte.
        line: usize,
        /// 1-based column of the offending byte.
        column: usize,
        /// What was wrong, as reported by the JSON decoder.
        message: String,
    },
    /// A message of a frame decoded as JSON but not as the message its `type` names.
    #[error("message {index} of the frame (type {msg_type:?}): {message}")]
    InvalidMessage {
        /// 0-based position of the message inside an array frame (0 for a single object).
        index: usize,
        /// The `type` field of the message.
        msg_type: String,
        /// The message's `id` when it could be read (a non-negative integer), so that a client
        /// can tell which command or subscription the bad message belonged to.
        id: Option<u64>,
        /// What was wrong.
        message: String,
    },
    /// An entity id broke Home Assistant's rules.
    #[error(transparent)]
    InvalidEntityId(#[from] InvalidEntityId),
}

impl ProtoError {
    pub(crate) fn json(what: &'static str, err: &serde_json::Error) -> Self {
        ProtoError::Malformed { what, line: err.line(), column: err.column(), message: reason(err) }
    }
}

/// serde_json's message without the " at line L column C" it appends, for errors whose
/// position would mislead (it is relative to a slice, not to the frame).
pub(crate) fn reason(err: &serde_json::Error) -> String {
    let full = err.to_string();
    match (err.line(), full.rfind(" at line ")) {
        (1.., Some(cut)) => full[..cut].to_owned(),
        _ => full,
    }
}
