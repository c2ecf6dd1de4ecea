//! Messages the server sends, and the frame parser: a frame is one object or an array of
//! objects (coalescing), and each message's payload stays raw and borrowed.

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;

use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::error::ProtoError;
use crate::raw::RawJson;

/// An error `code` of a failed result. Unknown codes are kept as data.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum ErrorCode {
    /// `id_reuse`: the id was not greater than the previous one.
    IdReuse,
    /// `invalid_format`: the command failed schema validation.
    InvalidFormat,
    /// `not_allowed`.
    NotAllowed,
    /// `not_found`: unknown service, subscription or entity.
    NotFound,
    /// `not_supported`.
    NotSupported,
    /// `home_assistant_error`: the command failed.
    HomeAssistantError,
    /// `service_validation_error`.
    ServiceValidationError,
    /// `unknown_command`.
    UnknownCommand,
    /// `unknown_error`.
    UnknownError,
    /// `unauthorized`: needs admin.
    Unauthorized,
    /// `timeout`.
    Timeout,
    /// `template_error`.
    TemplateError,
    /// Any code this crate does not know yet.
    Other(String),
}

impl ErrorCode {
    /// The wire text of the code.
    pub fn as_str(&self) -> &str {
        match self {
            ErrorCode::IdReuse => "id_reuse",
            ErrorCode::InvalidFormat => "invalid_format",
            ErrorCode::NotAllowed => "not_allowed",
            ErrorCode::NotFound => "not_found",
            ErrorCode::NotSupported => "not_supported",
            ErrorCode::HomeAssistantError => "home_assistant_error",
            ErrorCode::ServiceValidationError => "service_validation_error",
            ErrorCode::UnknownCommand => "unknown_command",
            ErrorCode::UnknownError => "unknown_error",
            ErrorCode::Unauthorized => "unauthorized",
            ErrorCode::Timeout => "timeout",
            ErrorCode::TemplateError => "template_error",
            ErrorCode::Other(s) => s,
        }
    }
}

impl From<&str> for ErrorCode {
    fn from(s: &str) -> Self {
        match s {
            "id_reuse" => ErrorCode::IdReuse,
            "invalid_format" => ErrorCode::InvalidFormat,
            "not_allowed" => ErrorCode::NotAllowed,
            "not_found" => ErrorCode::NotFound,
            "not_supported" => ErrorCode::NotSupported,
            "home_assistant_error" => ErrorCode::HomeAssistantError,
            "service_validation_error" => ErrorCode::ServiceValidationError,
            "unknown_command" => ErrorCode::UnknownCommand,
            "unknown_error" => ErrorCode::UnknownError,
            "unauthorized" => ErrorCode::Unauthorized,
            "timeout" => ErrorCode::Timeout,
            "template_error" => ErrorCode::TemplateError,
            other => ErrorCode::Other(other.to_owned()),
        }
    }
}

impl fmt::Display for ErrorCode {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl Serialize for ErrorCode {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(self.as_str())
    }
}

impl<'de> Deserialize<'de> for ErrorCode {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        Ok(ErrorCode::from(&*crate::cow::borrow(d)?))
    }
}

/// `error` of a failed result.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorInfo {
    /// Machine-readable code.
    pub code: ErrorCode,
    /// Human-readable message.
    #[serde(default)]
    pub message: String,
    /// Translation key (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation_key: Option<String>,
    /// Translation domain (optional).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub translation_domain: Option<String>,
    /// Translation placeholders (optional). Home Assistant means them as strings; any other
    /// value is kept as its JSON text rather than failing the whole result.
    #[serde(default, deserialize_with = "lenient_placeholders", skip_serializing_if = "Option::is_none")]
    pub translation_placeholders: Option<BTreeMap<String, String>>,
}

fn lenient_placeholders<'de, D: Deserializer<'de>>(d: D) -> Result<Option<BTreeMap<String, String>>, D::Error> {
    // Error results are rare, so a small `Value` per placeholder costs nothing that matters,
    // and unlike `&RawValue` it decodes from any deserializer.
    let Some(raw) = Option::<BTreeMap<String, serde_json::Value>>::deserialize(d)? else {
        return Ok(None);
    };
    let text = |v: serde_json::Value| match v {
        serde_json::Value::String(s) => s,
        other => other.to_string(),
    };
    Ok(Some(raw.into_iter().map(|(k, v)| (k, text(v))).collect()))
}

impl ErrorInfo {
    /// An error with a code and message only.
    pub fn new(code: ErrorCode, message: impl Into<String>) -> Self {
        ErrorInfo {
            code,
            message: message.into(),
            translation_key: None,
            translation_domain: None,
            translation_placeholders: None,
        }
    }
}

impl fmt::Display for ErrorInfo {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.code, self.message)
    }
}

/// One message from the server. Payloads (`result`, `event`) stay raw and borrow from the frame.
#[derive(Debug, Clone, PartialEq)]
#[non_exhaustive]
pub enum ServerMessage<'a> {
    /// `auth_required`: the server's first message.
    AuthRequired {
        /// Home Assistant's version.
        ha_version: Cow<'a, str>,
    },
    /// `auth_ok`: authenticated.
    AuthOk {
        /// Home Assistant's version.
        ha_version: Cow<'a, str>,
    },
    /// `auth_invalid`: rejected; the server closes next. Never retry automatically.
    AuthInvalid {
        /// Why.
        message: Cow<'a, str>,
    },
    /// `result`: the answer to a command.
    Result {
        /// The command's id.
        id: u64,
        /// `result` on success (raw JSON, often `null`), `error` on failure.
        outcome: Result<RawJson<'a>, ErrorInfo>,
    },
    /// `event`: an event of the subscription `id`.
    Event {
        /// The subscribing command's id.
        id: u64,
        /// The `event` object, raw; its shape depends on the subscription.
        event: RawJson<'a>,
    },
    /// `pong`: the answer to `ping`.
    Pong {
        /// The ping's id.
        id: u64,
    },
    /// A message type this crate does not know: kept whole, never an error.
    Unknown {
        /// Its `type`.
        msg_type: Cow<'a, str>,
        /// Its `id`, if it has one.
        id: Option<u64>,
        /// The whole message.
        raw: RawJson<'a>,
    },
}

impl ServerMessage<'_> {
    /// A success result.
    pub fn success(id: u64, result: RawJson<'_>) -> ServerMessage<'_> {
        ServerMessage::Result { id, outcome: Ok(result) }
    }

    /// A failed result.
    pub fn error(id: u64, code: ErrorCode, message: impl Into<String>) -> ServerMessage<'static> {
        ServerMessage::Result { id, outcome: Err(ErrorInfo::new(code, message)) }
    }

    /// The message's id, when it has one.
    pub fn id(&self) -> Option<u64> {
        match self {
            ServerMessage::Result { id, .. } | ServerMessage::Event { id, .. } | ServerMessage::Pong { id } => {
                Some(*id)
            }
            ServerMessage::Unknown { id, .. } => *id,
            _ => None,
        }
    }

    /// Encodes as JSON text.
    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("server messages serialise")
    }

    /// Detaches from the frame.
    pub fn into_owned(self) -> ServerMessage<'static> {
        let own = |c: Cow<'_, str>| Cow::Owned(c.into_owned());
        match self {
            ServerMessage::AuthRequired { ha_version } => ServerMessage::AuthRequired { ha_version: own(ha_version) },
            ServerMessage::AuthOk { ha_version } => ServerMessage::AuthOk { ha_version: own(ha_version) },
            ServerMessage::AuthInvalid { message } => ServerMessage::AuthInvalid { message: own(message) },
            ServerMessage::Result { id, outcome } => {
                ServerMessage::Result { id, outcome: outcome.map(RawJson::into_owned) }
            }
            ServerMessage::Event { id, event } => ServerMessage::Event { id, event: event.into_owned() },
            ServerMessage::Pong { id } => ServerMessage::Pong { id },
            ServerMessage::Unknown { msg_type, id, raw } => {
                ServerMessage::Unknown { msg_type: own(msg_type), id, raw: raw.into_owned() }
            }
        }
    }
}

impl Serialize for ServerMessage<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ServerMessage::Unknown { raw, .. } => raw.serialize(s),
            ServerMessage::AuthRequired { ha_version } | ServerMessage::AuthOk { ha_version } => {
                let mut m = s.serialize_map(Some(2))?;
                let t = if matches!(self, ServerMessage::AuthOk { .. }) { "auth_ok" } else { "auth_required" };
                m.serialize_entry("type", t)?;
                m.serialize_entry("ha_version", ha_version)?;
                m.end()
            }
            ServerMessage::AuthInvalid { message } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("type", "auth_invalid")?;
                m.serialize_entry("message", message)?;
                m.end()
            }
            ServerMessage::Result { id, outcome } => {
                let mut m = s.serialize_map(Some(4))?;
                m.serialize_entry("id", id)?;
                m.serialize_entry("type", "result")?;
                match outcome {
                    Ok(result) => {
                        m.serialize_entry("success", &true)?;
                        m.serialize_entry("result", result)?;
                    }
                    Err(error) => {
                        m.serialize_entry("success", &false)?;
                        m.serialize_entry("error", error)?;
                    }
                }
                m.end()
            }
            ServerMessage::Event { id, event } => {
                let mut m = s.serialize_map(Some(3))?;
                m.serialize_entry("id", id)?;
                m.serialize_entry("type", "event")?;
                m.serialize_entry("event", event)?;
                m.end()
            }
            ServerMessage::Pong { id } => {
                let mut m = s.serialize_map(Some(2))?;
                m.serialize_entry("id", id)?;
                m.serialize_entry("type", "pong")?;
                m.end()
            }
        }
    }
}

/// The messages of one frame, and the messages that could not be decoded (each error names
/// its position in the frame). One bad message never loses the others.
#[derive(Debug, Clone, Default)]
pub struct Frame<'a> {
    /// Decoded messages, in frame order.
    pub messages: Vec<ServerMessage<'a>>,
    /// Messages that were JSON objects but not valid messages.
    pub errors: Vec<ProtoError>,
    /// Whether the frame was an array (a coalesced frame).
    pub coalesced: bool,
}

impl<'a> Frame<'a> {
    /// Parses a text frame. Fails as a whole only when the text is not JSON or is neither an
    /// object nor an array of objects.
    ///
    /// A successful result in Home Assistant's compact envelope
    /// (`{"id":N,"type":"result","success":true,"result":...}`, how a `get_states` of thousands
    /// of states arrives) is read by the scanner, its result checked and kept raw; every other
    /// frame by serde.
    pub fn parse(text: &'a str) -> Result<Self, ProtoError> {
        if let Some((id, result)) = crate::scan::success_message(text) {
            let outcome = Ok(result);
            return Ok(Frame { messages: vec![ServerMessage::Result { id, outcome }], ..Frame::default() });
        }
        let mut frame = Frame::default();
        let mut de = serde_json::Deserializer::from_str(text);
        FrameSeed(&mut frame, text).deserialize(&mut de).map_err(|e| ProtoError::json("server frame", &e))?;
        de.end().map_err(|e| ProtoError::json("server frame", &e))?;
        Ok(frame)
    }

    /// Encodes messages as one frame: an object for one message, an array for several.
    pub fn encode(messages: &[ServerMessage<'_>]) -> String {
        match messages {
            [one] => one.to_json(),
            many => serde_json::to_string(many).expect("server messages serialise"),
        }
    }
}

const KNOWN: &[&str] = &["\"auth_required\"", "\"auth_ok\"", "\"auth_invalid\"", "\"result\"", "\"event\"", "\"pong\""];

/// Every field value is taken as borrowed raw JSON first, so a wrongly typed field is an
/// error for that message only, not for the frame.
#[derive(Default)]
pub(crate) struct RawFields<'a> {
    msg_type: Option<&'a RawValue>,
    id: Option<&'a RawValue>,
    success: Option<&'a RawValue>,
    result: Option<&'a RawValue>,
    error: Option<&'a RawValue>,
    event: Option<&'a RawValue>,
    ha_version: Option<&'a RawValue>,
    message: Option<&'a RawValue>,
}

impl RawFields<'_> {
    /// The message's `id` when it is a non-negative integer: which command or subscription a
    /// message that failed to decode belonged to.
    pub(crate) fn readable_id(&self) -> Option<u64> {
        self.id.and_then(|raw| raw.get().parse::<u64>().ok())
    }
}

struct FrameSeed<'f, 'a>(&'f mut Frame<'a>, &'a str);

impl<'de> DeserializeSeed<'de> for FrameSeed<'_, 'de> {
    type Value = ();
    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for FrameSeed<'_, 'de> {
    type Value = ();
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a message object or an array of message objects")
    }
    fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<(), A::Error> {
        let fields = read_fields(map)?;
        // Only an unknown type needs the whole message kept; take it from the text then.
        let known = fields.msg_type.is_some_and(|t| KNOWN.contains(&t.get()));
        let whole = if known { None } else { serde_json::from_str::<&RawValue>(self.1.trim()).ok() };
        push(self.0, 0, fields, whole);
        Ok(())
    }
    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        self.0.coalesced = true;
        let mut index = 0;
        while let Some(raw) = seq.next_element::<&'de RawValue>()? {
            match serde_json::from_str::<MessageFields<'de>>(raw.get()) {
                Ok(MessageFields(fields)) => push(self.0, index, fields, Some(raw)),
                Err(e) => self.0.errors.push(ProtoError::InvalidMessage {
                    index,
                    msg_type: String::new(),
                    id: None,
                    message: format!("not a message object: {}", crate::error::reason(&e)),
                }),
            }
            index += 1;
        }
        Ok(())
    }
}

/// One message object's fields, kept raw (an element of an array frame).
pub(crate) struct MessageFields<'a>(pub(crate) RawFields<'a>);

impl<'de> Deserialize<'de> for MessageFields<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = MessageFields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a message object")
            }
            fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<Self::Value, A::Error> {
                read_fields(map).map(MessageFields)
            }
        }
        d.deserialize_map(V)
    }
}

fn read_fields<'de, A: MapAccess<'de>>(mut map: A) -> Result<RawFields<'de>, A::Error> {
    let mut f = RawFields::default();
    while let Some(crate::cow::CowStr(key)) = map.next_key::<crate::cow::CowStr<'de>>()? {
        let slot = match &*key {
            "type" => &mut f.msg_type,
            "id" => &mut f.id,
            "success" => &mut f.success,
            "result" => &mut f.result,
            "error" => &mut f.error,
            "event" => &mut f.event,
            "ha_version" => &mut f.ha_version,
            "message" => &mut f.message,
            _ => {
                // Unknown fields are tolerated (forward compatible).
                map.next_value::<serde::de::IgnoredAny>()?;
                continue;
            }
        };
        *slot = Some(map.next_value::<&'de RawValue>()?);
    }
    Ok(f)
}

fn push<'a>(frame: &mut Frame<'a>, index: usize, f: RawFields<'a>, whole: Option<&'a RawValue>) {
    match decode_message(&f, whole) {
        Ok(msg) => frame.messages.push(msg),
        Err((msg_type, message)) => {
            frame.errors.push(ProtoError::InvalidMessage { index, msg_type, id: f.readable_id(), message });
        }
    }
}

fn text<'a>(raw: Option<&'a RawValue>, field: &str) -> Result<Cow<'a, str>, String> {
    let raw = raw.ok_or_else(|| format!("missing field `{field}`"))?;
    serde_json::from_str::<crate::cow::CowStr<'a>>(raw.get())
        .map(|c| c.0)
        .map_err(|_| format!("field `{field}` is not a string"))
}

/// The message the fields make, or its `type` and what is wrong with it.
pub(crate) fn decode_message<'a>(
    f: &RawFields<'a>,
    whole: Option<&'a RawValue>,
) -> Result<ServerMessage<'a>, (String, String)> {
    let msg_type = text(f.msg_type, "type").map_err(|m| (String::new(), m))?;
    let fail = |m: String| (msg_type.to_string(), m);
    let id = match f.id {
        None => None,
        Some(raw) => Some(
            raw.get()
                .parse::<u64>()
                .map_err(|_| fail(format!("field `id` is not a non-negative integer: {}", raw.get())))?,
        ),
    };
    let need_id = || id.ok_or_else(|| fail("missing field `id`".to_owned()));
    Ok(match &*msg_type {
        "auth_required" => ServerMessage::AuthRequired { ha_version: text(f.ha_version, "ha_version").map_err(fail)? },
        "auth_ok" => ServerMessage::AuthOk { ha_version: text(f.ha_version, "ha_version").map_err(fail)? },
        "auth_invalid" => ServerMessage::AuthInvalid { message: text(f.message, "message").unwrap_or_default() },
        "pong" => ServerMessage::Pong { id: need_id()? },
        "event" => {
            let event = f.event.ok_or_else(|| fail("missing field `event`".to_owned()))?;
            ServerMessage::Event { id: need_id()?, event: RawJson::borrowed(event) }
        }
        "result" => {
            let id = need_id()?;
            let success = match f.success.map(RawValue::get) {
                Some("true") => true,
                Some("false") => false,
                _ => return Err(fail("field `success` is missing or not a boolean".to_owned())),
            };
            let outcome = if success {
                Ok(match f.result {
                    Some(r) => RawJson::borrowed(r),
                    None => RawJson::null(),
                })
            } else {
                let raw = f.error.ok_or_else(|| fail("failed result without `error`".to_owned()))?;
                Err(serde_json::from_str::<ErrorInfo>(raw.get())
                    .map_err(|e| fail(format!("invalid `error`: {}", crate::error::reason(&e))))?)
            };
            ServerMessage::Result { id, outcome }
        }
        _ => {
            let raw = match whole {
                Some(raw) => RawJson::borrowed(raw),
                None => RawJson::from_value(&UnknownEcho(f)),
            };
            ServerMessage::Unknown { msg_type: Cow::Owned(msg_type.to_string()), id, raw }
        }
    })
}

/// Rebuilds an unknown single-object message from the fields we kept (used only when the
/// frame was one object, whose text we do not hold as a whole).
struct UnknownEcho<'r, 'a>(&'r RawFields<'a>);

impl Serialize for UnknownEcho<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let f = self.0;
        let mut m = s.serialize_map(None)?;
        for (k, v) in [
            ("id", f.id),
            ("type", f.msg_type),
            ("success", f.success),
            ("result", f.result),
            ("error", f.error),
            ("event", f.event),
            ("ha_version", f.ha_version),
            ("message", f.message),
        ] {
            if let Some(v) = v {
                m.serialize_entry(k, v)?;
            }
        }
        m.end()
    }
}
