//! The one error type of ha-proto: every malformed input ends here, with a position.

use crate::entity_id::InvalidEntityId;

/// Why a frame, message or value could not be decoded.
#[derive(Debug, Clone, thiserror::Error)]
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
        /// What was wrong.
        message: String,
    },
    /// An entity id broke Home Assistant's rules.
    #[error(transparent)]
    InvalidEntityId(#[from] InvalidEntityId),
}

impl ProtoError {
    pub(crate) fn json(what: &'static str, err: &serde_json::Error) -> Self {
        // serde_json's Display appends " at line L column C"; keep only the reason.
        let full = err.to_string();
        let message = match full.rfind(" at line ") {
            Some(cut) => full[..cut].to_owned(),
            None => full,
        };
        ProtoError::Malformed { what, line: err.line(), column: err.column(), message }
    }
}
