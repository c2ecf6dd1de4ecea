//! `RawJson`: JSON kept raw (unparsed) and borrowed from the frame until someone asks for it.

use std::borrow::Cow;
use std::fmt;
use std::ops::Deref;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Raw JSON text that borrows from the frame when it can.
///
/// Equality is JSON equality: byte-equal texts (what Home Assistant's compact encoder gives
/// for equal values) compare without parsing; only differing texts are parsed and compared.
#[derive(Clone)]
pub struct RawJson<'a>(Cow<'a, RawValue>);

impl<'a> RawJson<'a> {
    /// Borrows raw JSON.
    pub fn borrowed(raw: &'a RawValue) -> Self {
        RawJson(Cow::Borrowed(raw))
    }

    /// The JSON `null`.
    pub fn null() -> RawJson<'static> {
        RawJson::from_text("null").expect("null is valid JSON")
    }

    /// Checks and wraps a JSON text.
    pub fn from_text(text: &str) -> Result<RawJson<'static>, serde_json::Error> {
        RawValue::from_string(text.to_owned()).map(|b| RawJson(Cow::Owned(b)))
    }

    /// Raw JSON of any serialisable value.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> RawJson<'static> {
        RawJson(Cow::Owned(serde_json::value::to_raw_value(value).expect("plain data serialises into memory")))
    }

    /// Detaches from the frame.
    pub fn into_owned(self) -> RawJson<'static> {
        RawJson(Cow::Owned(self.0.into_owned()))
    }

    /// The owned boxed value.
    pub fn into_boxed(self) -> Box<RawValue> {
        self.0.into_owned()
    }

    /// Decodes into `T`.
    pub fn decode<T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0.get())
    }

    /// The raw value with the frame's lifetime, when it is borrowed (as `Frame::parse` gives it).
    pub(crate) fn as_borrowed(&self) -> Option<&'a RawValue> {
        match &self.0 {
            Cow::Borrowed(raw) => Some(raw),
            Cow::Owned(_) => None,
        }
    }

    /// Whether this is the JSON `null`.
    pub fn is_null(&self) -> bool {
        self.0.get() == "null"
    }
}

impl From<Box<RawValue>> for RawJson<'static> {
    fn from(b: Box<RawValue>) -> Self {
        RawJson(Cow::Owned(b))
    }
}

impl Deref for RawJson<'_> {
    type Target = RawValue;
    fn deref(&self) -> &RawValue {
        &self.0
    }
}

impl PartialEq for RawJson<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_json(self, other)
    }
}

impl fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

impl fmt::Display for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0.get())
    }
}

impl Serialize for RawJson<'_> {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        self.0.serialize(s)
    }
}

/// Borrows from the input; use `Frame::parse` / `serde_json::from_str` (not `from_reader`).
impl<'de: 'a, 'a> Deserialize<'de> for RawJson<'a> {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        <&'de RawValue>::deserialize(d).map(RawJson::borrowed)
    }
}

/// Whether two raw JSON texts mean the same value (byte equality first).
pub fn same_json(a: &RawValue, b: &RawValue) -> bool {
    same_json_text(a.get(), b.get())
}

/// Whether two JSON texts mean the same value (byte equality first; texts that are not JSON are
/// equal only byte for byte).
pub fn same_json_text(a: &str, b: &str) -> bool {
    if a == b {
        return true;
    }
    match (serde_json::from_str::<serde_json::Value>(a), serde_json::from_str::<serde_json::Value>(b)) {
        (Ok(x), Ok(y)) => x == y,
        _ => false,
    }
}
