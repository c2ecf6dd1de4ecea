//! Unknown fields of known server messages: [`Frame::parse`] tolerates and drops them (forward
//! compatibility); [`Frame::unknown_fields`] lists them, so drift from Home Assistant shows.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::value::RawValue;

use crate::cow::CowStr;
use crate::error::ProtoError;
use crate::raw::RawJson;
use crate::server_msg::Frame;

/// A field that a known message type does not define.
#[derive(Debug, Clone, PartialEq)]
pub struct UnknownField<'a> {
    /// 0-based position of the message inside the frame (0 for a single object).
    pub index: usize,
    /// The message's `type`.
    pub msg_type: Cow<'a, str>,
    /// The field's key, or `error.<key>` for a key inside a failed result's `error`.
    pub path: String,
    /// Its value, raw.
    pub value: RawJson<'a>,
}

const ERROR_FIELDS: &[&str] = &["code", "message", "translation_key", "translation_domain", "translation_placeholders"];

/// The envelope fields each known type uses; `None` for types kept whole as `Unknown`.
fn known_fields(msg_type: &str) -> Option<&'static [&'static str]> {
    Some(match msg_type {
        "auth_required" | "auth_ok" => &["type", "ha_version"],
        "auth_invalid" => &["type", "message"],
        "result" => &["id", "type", "success", "result", "error"],
        "event" => &["id", "type", "event"],
        "pong" => &["id", "type"],
        _ => return None,
    })
}

impl<'a> Frame<'a> {
    /// Lists the fields of known messages in `text` that [`Frame::parse`] does not decode
    /// (and that re-encoding would therefore drop). Messages of unknown types are not
    /// listed: they are kept whole. Elements that are not objects are skipped (`parse`
    /// reports them). Meant for conformance checks, not for the hot path.
    pub fn unknown_fields(text: &'a str) -> Result<Vec<UnknownField<'a>>, ProtoError> {
        let json = |e: serde_json::Error| ProtoError::json("server frame", &e);
        let whole: &'a RawValue = serde_json::from_str(text).map_err(json)?;
        let elements: Vec<&'a RawValue> =
            if whole.get().starts_with('[') { serde_json::from_str(whole.get()).map_err(json)? } else { vec![whole] };
        let mut out = Vec::new();
        for (index, element) in elements.into_iter().enumerate() {
            let Ok(Fields(fields)) = serde_json::from_str::<Fields<'a>>(element.get()) else { continue };
            let Some(msg_type) = fields.iter().find(|(k, _)| k == "type").and_then(|(_, v)| text_of(v)) else {
                continue;
            };
            let Some(known) = known_fields(&msg_type) else { continue };
            for (key, value) in &fields {
                if key == "error" && msg_type == "result" {
                    let Ok(Fields(inner)) = serde_json::from_str::<Fields<'a>>(value.get()) else { continue };
                    for (inner_key, inner_value) in inner.into_iter().filter(|(k, _)| !ERROR_FIELDS.contains(&&**k)) {
                        let path = format!("error.{inner_key}");
                        out.push(UnknownField {
                            index,
                            msg_type: msg_type.clone(),
                            path,
                            value: RawJson::borrowed(inner_value),
                        });
                    }
                } else if !known.contains(&&**key) {
                    let path = key.to_string();
                    out.push(UnknownField { index, msg_type: msg_type.clone(), path, value: RawJson::borrowed(value) });
                }
            }
        }
        Ok(out)
    }
}

fn text_of<'a>(raw: &&'a RawValue) -> Option<Cow<'a, str>> {
    serde_json::from_str::<CowStr<'a>>(raw.get()).ok().map(|c| c.0)
}

/// An object's fields in order, values raw.
struct Fields<'a>(Vec<(Cow<'a, str>, &'a RawValue)>);

impl<'de: 'a, 'a> Deserialize<'de> for Fields<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Fields<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(CowStr(key)) = map.next_key::<CowStr<'de>>()? {
                    out.push((key, map.next_value::<&'de RawValue>()?));
                }
                Ok(Fields(out))
            }
        }
        d.deserialize_map(V)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lists_unknown_envelope_and_error_fields() {
        let text = r#"{"id":6,"type":"result","success":false,"error":{"code":"not_found","message":"x","hint":"h"},"trace_id":"a1"}"#;

        let fields = Frame::unknown_fields(text).unwrap();

        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, ["error.hint", "trace_id"]);
        assert_eq!(fields[1].value.get(), r#""a1""#);
    }

    #[test]
    fn names_the_message_index_inside_a_coalesced_frame() {
        let text = r#"[{"id":1,"type":"pong"},{"id":2,"type":"pong","late":true}]"#;

        let fields = Frame::unknown_fields(text).unwrap();

        assert_eq!(fields.len(), 1);
        assert_eq!((fields[0].index, fields[0].msg_type.as_ref(), fields[0].path.as_str()), (1, "pong", "late"));
    }

    #[test]
    fn an_empty_key_is_an_unknown_field_with_an_empty_path() {
        let text = r#"{"id":2,"type":"pong","":"x"}"#;

        let fields = Frame::unknown_fields(text).unwrap();

        let paths: Vec<&str> = fields.iter().map(|f| f.path.as_str()).collect();
        assert_eq!(paths, [""]);
    }

    #[test]
    fn surrounding_whitespace_does_not_hide_an_array_frame() {
        let text = " \n [{\"id\":1,\"type\":\"pong\",\"late\":true}] \n";

        let fields = Frame::unknown_fields(text).unwrap();

        assert_eq!(fields.len(), 1);
    }

    #[test]
    fn messages_of_unknown_types_are_not_listed() {
        let text = r#"{"id":42,"type":"stream_keepalive","interval":30}"#;

        let fields = Frame::unknown_fields(text).unwrap();

        assert!(fields.is_empty(), "{fields:?}");
    }

    #[test]
    fn known_messages_without_extras_list_nothing() {
        let text = r#"[{"type":"auth_ok","ha_version":"2024.3.3"},{"id":7,"type":"event","event":{"r":["a.b"]}}]"#;

        let fields = Frame::unknown_fields(text).unwrap();

        assert!(fields.is_empty(), "{fields:?}");
    }
}
