//! `RawJson`: JSON kept raw (unparsed) and borrowed from the frame until someone asks for it.

use std::fmt;

use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

/// Raw JSON text that borrows from the frame when it can.
///
/// It holds one valid JSON value without surrounding whitespace, as a [`RawValue`] does. Every
/// way in checks the text: serde_json's reader, or the crate's scanner, which vouches only for
/// values it checked in full (`scan::value_len`) and leaves every other text to serde_json. The
/// scanner's values are kept as checked text, since a borrowed [`RawValue`] can only come out of
/// a serde_json reader (without unsafe code), and running one per attribute value was a fifth of
/// a snapshot's decoding (`docs/performance.md`).
///
/// Equality is JSON equality: byte-equal texts (what Home Assistant's compact encoder gives
/// for equal values) compare without parsing; only differing texts are parsed and compared.
#[derive(Clone)]
pub struct RawJson<'a>(Repr<'a>);

/// Where the text is: a value of serde_json's (written out as it is when serialised, boxed as it
/// is), or text the scanner checked. Four variants of two words each keep `RawJson` three words
/// long, as `Cow<RawValue>` was (attribute lists hold one per value).
#[derive(Clone)]
enum Repr<'a> {
    Value(&'a RawValue),
    Checked(&'a str),
    OwnedValue(Box<RawValue>),
    OwnedChecked(Box<str>),
}

impl<'a> RawJson<'a> {
    /// Borrows raw JSON.
    pub fn borrowed(raw: &'a RawValue) -> Self {
        RawJson(Repr::Value(raw))
    }

    /// Borrows a text the scanner checked to be one JSON value without surrounding whitespace.
    pub(crate) fn checked(text: &'a str) -> Self {
        RawJson(Repr::Checked(text))
    }

    /// The JSON text.
    pub fn get(&self) -> &str {
        match &self.0 {
            Repr::Value(raw) => raw.get(),
            Repr::Checked(text) => text,
            Repr::OwnedValue(raw) => raw.get(),
            Repr::OwnedChecked(text) => text,
        }
    }

    /// The JSON `null`.
    pub fn null() -> RawJson<'static> {
        RawJson(Repr::Checked("null"))
    }

    /// Checks and wraps a JSON text.
    pub fn from_text(text: &str) -> Result<RawJson<'static>, serde_json::Error> {
        RawValue::from_string(text.to_owned()).map(RawJson::from)
    }

    /// Raw JSON of any serialisable value.
    pub fn from_value<T: Serialize + ?Sized>(value: &T) -> RawJson<'static> {
        RawJson::from(serde_json::value::to_raw_value(value).expect("plain data serialises into memory"))
    }

    /// Detaches from the frame.
    pub fn into_owned(self) -> RawJson<'static> {
        RawJson(match self.0 {
            Repr::Value(raw) => Repr::OwnedValue(raw.to_owned()),
            Repr::Checked(text) => Repr::OwnedChecked(text.into()),
            Repr::OwnedValue(raw) => Repr::OwnedValue(raw),
            Repr::OwnedChecked(text) => Repr::OwnedChecked(text),
        })
    }

    /// The owned boxed value.
    pub fn into_boxed(self) -> Box<RawValue> {
        match self.0 {
            Repr::Value(raw) => raw.to_owned(),
            Repr::OwnedValue(raw) => raw,
            // serde_json checks the text once more: a `RawValue` is made only that way. The
            // text is one JSON value by construction, so this cannot fail.
            Repr::Checked(text) => RawValue::from_string(text.to_owned()).expect("the scanner checked this JSON value"),
            Repr::OwnedChecked(text) => {
                RawValue::from_string(text.into_string()).expect("the scanner checked this JSON value")
            }
        }
    }

    /// Decodes into `T`.
    pub fn decode<T: Deserialize<'a>>(&'a self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.get())
    }

    /// The raw text with the frame's lifetime, when it is borrowed (as `Frame::parse` gives it).
    pub(crate) fn as_borrowed(&self) -> Option<&'a str> {
        match &self.0 {
            Repr::Value(raw) => Some(raw.get()),
            Repr::Checked(text) => Some(text),
            Repr::OwnedValue(_) | Repr::OwnedChecked(_) => None,
        }
    }

    /// Whether this is the JSON `null`.
    pub fn is_null(&self) -> bool {
        self.get() == "null"
    }
}

impl From<Box<RawValue>> for RawJson<'static> {
    fn from(b: Box<RawValue>) -> Self {
        RawJson(Repr::OwnedValue(b))
    }
}

impl PartialEq for RawJson<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_json_text(self.get(), other.get())
    }
}

impl fmt::Debug for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl fmt::Display for RawJson<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.get())
    }
}

impl Serialize for RawJson<'_> {
    /// Written out as it is. serde_json does that only for its own [`RawValue`], so a value the
    /// scanner checked goes through a borrowed one, made by a serde_json reader (one more check
    /// of the text; no copy).
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match &self.0 {
            Repr::Value(raw) => raw.serialize(s),
            Repr::OwnedValue(raw) => raw.serialize(s),
            Repr::Checked(_) | Repr::OwnedChecked(_) => {
                let raw: &RawValue = serde_json::from_str(self.get()).map_err(serde::ser::Error::custom)?;
                raw.serialize(s)
            }
        }
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_raw_value_is_three_words_as_a_cow_of_raw_value_was() {
        let sizes = (size_of::<RawJson<'_>>(), size_of::<std::borrow::Cow<'_, RawValue>>());

        assert_eq!(sizes, (3 * size_of::<usize>(), 3 * size_of::<usize>()));
    }

    #[test]
    fn checked_text_serialises_as_it_is() {
        let raw = RawJson::checked(r#"{"a":[1,2.50]}"#);

        let text = serde_json::to_string(&raw).expect("serialises");

        assert_eq!(text, r#"{"a":[1,2.50]}"#);
    }

    #[test]
    fn checked_text_boxes_into_the_same_raw_value() {
        let raw = RawJson::checked(r#"[true,"x"]"#).into_owned();

        let boxed = raw.into_boxed();

        assert_eq!(boxed.get(), r#"[true,"x"]"#);
    }
}
