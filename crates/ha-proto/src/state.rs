//! Full entity states (`get_states`, `state_changed`, REST) with their context and attributes.

use std::fmt;

use serde::de::{MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;

use crate::entity_id::EntityId;
use crate::raw::same_json;
use crate::timestamp::Timestamp;

/// Who or what caused a change: `{"id": .., "parent_id": .., "user_id": ..}`.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
pub struct Context {
    /// ULID of the context.
    pub id: String,
    /// The context that caused this one, if any.
    #[serde(default)]
    pub parent_id: Option<String>,
    /// The user who caused it, if any.
    #[serde(default)]
    pub user_id: Option<String>,
}

impl Context {
    /// A context with only an id, as compressed states send it when the others are null.
    pub fn from_id(id: impl Into<String>) -> Self {
        Context { id: id.into(), parent_id: None, user_id: None }
    }
}

/// Entity attributes, kept as raw JSON per key until someone asks for a value.
///
/// Order is kept as received; equality ignores order (JSON object semantics) and compares
/// values as JSON (byte-equal first, so the common case costs no parsing).
#[derive(Clone, Default)]
pub struct Attributes(Vec<(Box<str>, Box<RawValue>)>);

impl Attributes {
    /// No attributes.
    pub fn new() -> Self {
        Attributes(Vec::new())
    }

    /// Number of keys.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no keys.
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// The raw JSON of one attribute.
    pub fn get(&self, key: &str) -> Option<&RawValue> {
        self.0.iter().find(|(k, _)| &**k == key).map(|(_, v)| &**v)
    }

    /// One attribute decoded as `T` (`None` when absent or of another type).
    pub fn get_as<'a, T: Deserialize<'a>>(&'a self, key: &str) -> Option<T> {
        self.get(key).and_then(|raw| serde_json::from_str(raw.get()).ok())
    }

    /// Sets one attribute (replacing an existing key, else appending).
    pub fn insert(&mut self, key: &str, value: Box<RawValue>) {
        match self.0.iter_mut().find(|(k, _)| &**k == key) {
            Some(slot) => slot.1 = value,
            None => self.0.push((key.into(), value)),
        }
    }

    /// Sets one attribute from any serialisable value.
    pub fn insert_value<T: Serialize + ?Sized>(&mut self, key: &str, value: &T) {
        let raw = serde_json::value::to_raw_value(value).expect("plain data serialises");
        self.insert(key, raw);
    }

    /// Removes one attribute, returning its value.
    pub fn remove(&mut self, key: &str) -> Option<Box<RawValue>> {
        let at = self.0.iter().position(|(k, _)| &**k == key)?;
        Some(self.0.remove(at).1)
    }

    /// Keys and raw values in received order.
    pub fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &RawValue)> + Clone {
        self.0.iter().map(|(k, v)| (&**k, &**v))
    }

    /// Size of the attributes as compact JSON, in bytes (the recorder drops sets over 16,384).
    pub fn json_len(&self) -> usize {
        2 + self.0.iter().map(|(k, v)| k.len() + 3 + v.get().len()).sum::<usize>() + self.0.len().saturating_sub(1)
    }
}

impl PartialEq for Attributes {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(k, v)| other.get(k).is_some_and(|w| same_json(v, w)))
    }
}

impl fmt::Debug for Attributes {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_map().entries(self.iter().map(|(k, v)| (k, v.get()))).finish()
    }
}

/// Keys and raw values in received order, moved out (no copy of a value).
impl IntoIterator for Attributes {
    type Item = (Box<str>, Box<RawValue>);
    type IntoIter = std::vec::IntoIter<(Box<str>, Box<RawValue>)>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.into_iter()
    }
}

impl FromIterator<(String, Box<RawValue>)> for Attributes {
    fn from_iter<I: IntoIterator<Item = (String, Box<RawValue>)>>(iter: I) -> Self {
        let mut attrs = Attributes::new();
        for (k, v) in iter {
            attrs.insert(&k, v);
        }
        attrs
    }
}

impl Serialize for Attributes {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(&**k, &**v)?;
        }
        map.end()
    }
}

impl<'de> Deserialize<'de> for Attributes {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Attributes;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attributes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Attributes, A::Error> {
                let mut attrs = Attributes(Vec::with_capacity(map.size_hint().unwrap_or(8)));
                while let Some(key) = map.next_key::<crate::cow::CowStr<'de>>()? {
                    let value: Box<RawValue> = map.next_value()?;
                    attrs.insert(&key.0, value);
                }
                Ok(attrs)
            }
        }
        d.deserialize_map(V)
    }
}

/// One entity's full state, as `get_states`, `state_changed` and REST carry it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct State {
    /// Which entity.
    pub entity_id: EntityId,
    /// The state text (at most 255 characters in Home Assistant).
    pub state: String,
    /// Attributes as raw JSON.
    #[serde(default)]
    pub attributes: Attributes,
    /// When `state` last changed.
    pub last_changed: Timestamp,
    /// When the state was last reported, changed or not (Home Assistant 2024.3+).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_reported: Option<Timestamp>,
    /// When `state` or `attributes` last changed.
    pub last_updated: Timestamp,
    /// What caused the last change.
    pub context: Context,
}
