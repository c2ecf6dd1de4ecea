//! The one error type of ha-client, and why a connection ended.
//!
//! No variant carries the access token: errors come from URLs, status codes, server
//! messages and I/O errors, none of which contain it (the token travels only in the auth
//! message and the `Authorization` header).

use std::time::Duration;

use ha_proto::ErrorInfo;

/// Why a WebSocket connection ended.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DisconnectReason {
    /// The server closed the connection (close frame or end of stream).
    #[error("closed by the server")]
    ClosedByServer,
    /// A read or write failed.
    #[error("i/o error: {0}")]
    Io(String),
    /// The server sent a message larger than `max_message_size`.
    #[error("message of {size} bytes exceeds the limit of {limit} bytes (raise max_message_size)")]
    MessageTooLarge {
        /// Size of the offending message (as far as it was read).
        size: usize,
        /// The configured limit.
        limit: usize,
    },
    /// The server sent something that is not a valid frame; the connection was reset.
    #[error("malformed frame from the server: {0}")]
    Malformed(String),
    /// No `pong` came within the heartbeat timeout.
    #[error("no pong within {0:?}")]
    HeartbeatTimeout(Duration),
    /// The client was shut down.
    #[error("client shut down")]
    Shutdown,
}

/// Everything that can go wrong in ha-client.
#[derive(Debug, Clone, thiserror::Error)]
#[non_exhaustive]
pub enum ClientError {
    /// The base URL could not be used.
    #[error("invalid url {url:?}: {reason}")]
    InvalidUrl {
        /// The URL as given.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A setting of [`ClientConfig`](crate::ClientConfig) is out of its range.
    #[error("invalid setting {setting}: {reason}")]
    InvalidConfig {
        /// Which setting.
        setting: &'static str,
        /// What is wrong with it.
        reason: String,
    },
    /// A needed environment variable is not set.
    #[error("environment variable {name} is not set")]
    MissingEnv {
        /// Its name.
        name: &'static str,
    },
    /// Home Assistant rejected the token. Never retried automatically: Home Assistant bans
    /// IP addresses after repeated failed logins.
    #[error("authentication rejected: {message}")]
    AuthInvalid {
        /// Home Assistant's message.
        message: String,
    },
    /// The connection could not be established.
    #[error("cannot connect to {url}: {reason}")]
    Connect {
        /// The endpoint.
        url: String,
        /// Why.
        reason: String,
    },
    /// The connection ended while the command was in flight; it may or may not have run.
    #[error("connection lost: {reason}")]
    ConnectionLost {
        /// Why the connection ended.
        reason: DisconnectReason,
    },
    /// No answer within the command timeout.
    #[error("{command} timed out after {after:?}")]
    Timeout {
        /// The command type.
        command: &'static str,
        /// The timeout.
        after: Duration,
    },
    /// Home Assistant answered the command with an error.
    #[error("{command} failed: {error}")]
    Command {
        /// The command type.
        command: &'static str,
        /// Code and message from Home Assistant.
        error: Box<ErrorInfo>,
    },
    /// A result or body did not have the expected shape.
    #[error("cannot decode {what}: {message}")]
    Decode {
        /// What was being decoded.
        what: &'static str,
        /// Why it failed.
        message: String,
    },
    /// The client was shut down (or its connection task ended).
    #[error("client is shut down")]
    Shutdown,
    /// A REST call got a 401: the token is not valid.
    #[error("unauthorized (401) for {path}")]
    Unauthorized {
        /// The API path.
        path: String,
    },
    /// A REST call got an error status.
    #[error("http {status} for {path}: {message}")]
    Http {
        /// The status code.
        status: u16,
        /// The API path.
        path: String,
        /// Home Assistant's message, or the body.
        message: String,
    },
    /// A REST call failed before a response arrived.
    #[error("request to {path} failed: {message}")]
    Request {
        /// The API path.
        path: String,
        /// Why.
        message: String,
    },
}

impl ClientError {
    /// Whether this is a server-side command error with the given code.
    pub fn is_code(&self, code: &str) -> bool {
        matches!(self, ClientError::Command { error, .. } if error.code.as_str() == code)
    }

    pub(crate) fn decode(what: &'static str, err: impl std::fmt::Display) -> Self {
        ClientError::Decode { what, message: err.to_string() }
    }
}
