//! Borrowing string decoding: serde's own `Cow<str>` impl always copies, so the hot path
//! (entity ids, attribute keys, envelope keys) decodes through these helpers instead.

use std::borrow::Cow;
use std::fmt;

use serde::de::{Deserialize, Deserializer, Visitor};

/// A string that borrows from the input when it holds no escapes, and is copied otherwise.
pub(crate) struct CowStr<'a>(pub(crate) Cow<'a, str>);

impl<'de: 'a, 'a> Deserialize<'de> for CowStr<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CowStr<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Borrowed(v)))
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v.to_owned())))
            }
            fn visit_string<E: serde::de::Error>(self, v: String) -> Result<Self::Value, E> {
                Ok(CowStr(Cow::Owned(v)))
            }
        }
        d.deserialize_str(V)
    }
}

/// `#[serde(deserialize_with = "crate::cow::borrow")]` for `Cow<'a, str>` fields.
pub(crate) fn borrow<'de, D: Deserializer<'de>>(d: D) -> Result<Cow<'de, str>, D::Error> {
    CowStr::deserialize(d).map(|c| c.0)
}

/// The same for `Option<Cow<'a, str>>` fields (serde's `borrow` attribute does not reach
/// inside an `Option`).
pub(crate) fn borrow_option<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    Option::<CowStr<'de>>::deserialize(d).map(|o| o.map(|c| c.0))
}

/// The same for `Vec<Cow<'a, str>>` fields.
pub(crate) fn borrow_vec<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<Cow<'de, str>>, D::Error> {
    Vec::<CowStr<'de>>::deserialize(d).map(|v| v.into_iter().map(|c| c.0).collect())
}
