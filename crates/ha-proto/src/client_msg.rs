//! Messages a client sends: the auth message and every command of the command phase.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::error::ProtoError;

/// A secret (access token) that never shows in `Debug` or `Display`.
#[derive(Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    /// Wraps a secret.
    pub fn new(s: impl Into<String>) -> Self {
        Secret(s.into())
    }

    /// The secret itself, for the one place that must send it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

impl fmt::Display for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// The client's auth-phase message: `{"type":"auth","access_token":"..."}`.
///
/// Decoding insists on `"type":"auth"` (Home Assistant's auth schema does too).
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(tag = "type", rename = "auth")]
pub struct AuthMessage {
    /// Long-lived or OAuth access token.
    pub access_token: Secret,
}

impl<'de> Deserialize<'de> for AuthMessage {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        #[derive(Deserialize)]
        struct Wire<'a> {
            #[serde(rename = "type", borrow, deserialize_with = "crate::cow::borrow")]
            msg_type: std::borrow::Cow<'a, str>,
            access_token: Secret,
        }
        let wire = Wire::deserialize(d)?;
        if wire.msg_type != "auth" {
            // The type is not secret; the token never enters the error.
            return Err(serde::de::Error::custom(format_args!("expected type \"auth\", found {:?}", wire.msg_type)));
        }
        Ok(AuthMessage { access_token: wire.access_token })
    }
}

/// One or many ids, as service targets accept them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum OneOrMany {
    /// A single id.
    One(String),
    /// A list of ids.
    Many(Vec<String>),
}

impl OneOrMany {
    /// The ids as a list.
    pub fn to_vec(&self) -> Vec<String> {
        match self {
            OneOrMany::One(s) => vec![s.clone()],
            OneOrMany::Many(v) => v.clone(),
        }
    }
}

/// `target` of `call_service`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Target {
    /// Entity ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub entity_id: Option<OneOrMany>,
    /// Device ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device_id: Option<OneOrMany>,
    /// Area ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub area_id: Option<OneOrMany>,
    /// Floor ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub floor_id: Option<OneOrMany>,
    /// Label ids.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub label_id: Option<OneOrMany>,
}

impl Target {
    /// A target of entity ids.
    pub fn entities<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        let mut ids: Vec<String> = ids.into_iter().map(Into::into).collect();
        let entity_id = if ids.len() == 1 { OneOrMany::One(ids.remove(0)) } else { OneOrMany::Many(ids) };
        Target { entity_id: Some(entity_id), ..Target::default() }
    }
}

/// `features` of `supported_features`.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Features {
    /// `1` switches on coalescing of server messages into array frames.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub coalesce_messages: Option<u8>,
}

/// A command of the command phase (everything but `id`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
#[non_exhaustive]
pub enum Command {
    /// Every current state.
    GetStates,
    /// The core configuration.
    GetConfig,
    /// Every service with its description.
    GetServices,
    /// Call a service.
    CallService {
        /// e.g. `light`.
        domain: String,
        /// e.g. `turn_on`.
        service: String,
        /// Service data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        service_data: Option<Value>,
        /// Entities, devices or areas to act on.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        target: Option<Target>,
        /// Ask for the service's response (only for services that give one).
        #[serde(default, skip_serializing_if = "Option::is_none")]
        return_response: Option<bool>,
    },
    /// Subscribe to events of one type, or all when `event_type` is absent.
    SubscribeEvents {
        /// The event type to receive.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_type: Option<String>,
    },
    /// Cancel any subscription.
    UnsubscribeEvents {
        /// The id of the subscribing command.
        subscription: u64,
    },
    /// Compressed states of all (or the listed) entities, then their changes.
    SubscribeEntities {
        /// Only these entities.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        entity_ids: Option<Vec<String>>,
    },
    /// Subscribe to an automation trigger (admin).
    SubscribeTrigger {
        /// The trigger config.
        trigger: Value,
        /// Variables for templates in the trigger.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variables: Option<Value>,
    },
    /// Fire an event (admin).
    FireEvent {
        /// The event type.
        event_type: String,
        /// The event data.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        event_data: Option<Value>,
    },
    /// Application-level ping, answered by `pong`.
    Ping,
    /// Opt in to protocol features (coalescing).
    SupportedFeatures {
        /// The features.
        features: Features,
    },
    /// Create a long-lived access token. The result is the token itself: decode it into a
    /// [`Secret`] at once, because the raw `ServerMessage` shows it in `Debug`.
    #[serde(rename = "auth/long_lived_access_token")]
    LongLivedAccessToken {
        /// Name shown in the user's profile.
        client_name: String,
        /// Days until it expires.
        lifespan: u32,
    },
    /// Render a template; the result comes as events.
    RenderTemplate {
        /// The template text.
        template: String,
        /// Variables for the template.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        variables: Option<Value>,
        /// Seconds before giving up.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        timeout: Option<f64>,
        /// Fail on undefined variables.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        strict: Option<bool>,
        /// Report errors as events instead of results.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        report_errors: Option<bool>,
    },
}

impl Command {
    /// The `type` this command is sent as.
    pub fn type_name(&self) -> &'static str {
        match self {
            Command::GetStates => "get_states",
            Command::GetConfig => "get_config",
            Command::GetServices => "get_services",
            Command::CallService { .. } => "call_service",
            Command::SubscribeEvents { .. } => "subscribe_events",
            Command::UnsubscribeEvents { .. } => "unsubscribe_events",
            Command::SubscribeEntities { .. } => "subscribe_entities",
            Command::SubscribeTrigger { .. } => "subscribe_trigger",
            Command::FireEvent { .. } => "fire_event",
            Command::Ping => "ping",
            Command::SupportedFeatures { .. } => "supported_features",
            Command::LongLivedAccessToken { .. } => "auth/long_lived_access_token",
            Command::RenderTemplate { .. } => "render_template",
        }
    }

    /// Every `type` this crate can decode.
    pub const KNOWN_TYPES: &'static [&'static str] = &[
        "get_states",
        "get_config",
        "get_services",
        "call_service",
        "subscribe_events",
        "unsubscribe_events",
        "subscribe_entities",
        "subscribe_trigger",
        "fire_event",
        "ping",
        "supported_features",
        "auth/long_lived_access_token",
        "render_template",
    ];
}

/// A command with its id: `{"id": 5, "type": "...", ...}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClientMessage {
    /// Strictly increasing per connection.
    pub id: u64,
    /// The command.
    #[serde(flatten)]
    pub command: Command,
}

impl ClientMessage {
    /// Encodes as one JSON text frame.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("commands serialise")
    }
}

/// Why one message of a client frame could not be taken as a command (what a server answers).
#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum CommandError {
    /// No usable `id`: the message cannot be answered.
    #[error("message has no positive integer id")]
    MissingId,
    /// The `type` is not one this crate knows (Home Assistant answers `unknown_command`).
    #[error("unknown command {msg_type:?}")]
    UnknownCommand {
        /// The message id.
        id: u64,
        /// The unknown type.
        msg_type: String,
    },
    /// Known type, wrong shape (Home Assistant answers `invalid_format`).
    #[error("invalid format: {message}")]
    InvalidFormat {
        /// The message id.
        id: u64,
        /// What was wrong.
        message: String,
    },
}

#[derive(Deserialize)]
struct Envelope {
    #[serde(default)]
    id: Option<Value>,
    #[serde(rename = "type", default)]
    msg_type: Option<String>,
}

/// Decodes a client frame (one object or an array of them) into commands, one result per message.
/// Only a frame that is not JSON, or holds something other than objects, fails as a whole.
pub fn parse_client_frame(text: &str) -> Result<Vec<Result<ClientMessage, CommandError>>, ProtoError> {
    let value: Value = serde_json::from_str(text).map_err(|e| ProtoError::json("client frame", &e))?;
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    Ok(items.into_iter().map(parse_command).collect())
}

fn parse_command(value: Value) -> Result<ClientMessage, CommandError> {
    let env = Envelope::deserialize(&value).map_err(|_| CommandError::MissingId)?;
    let id = env.id.as_ref().and_then(Value::as_u64).filter(|id| *id > 0).ok_or(CommandError::MissingId)?;
    let msg_type = env.msg_type.unwrap_or_default();
    if !Command::KNOWN_TYPES.contains(&msg_type.as_str()) {
        return Err(CommandError::UnknownCommand { id, msg_type });
    }
    ClientMessage::deserialize(value).map_err(|e| CommandError::InvalidFormat { id, message: e.to_string() })
}
