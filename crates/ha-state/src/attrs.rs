//! An entity's attributes: interned keys in received order, their raw JSON values side by side
//! in one text buffer, and [`AttributeValue`], the borrowed view of one value.
//!
//! One buffer for every value of an entity instead of one heap block per value: a snapshot of
//! 16,384 entities with a handful of attributes each allocates some 80,000 blocks fewer, and a
//! value is never smaller than glibc's 32-byte minimum on its own.

use std::fmt;
use std::ops::Range;

use ha_proto::raw::same_json_text;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::heap;
use crate::keys::{Key, KeyInterner};

/// The attributes of one entity. Keys are unique; `values` is the concatenation of the values
/// in key order, and each key holds the end of its value (a value starts where the previous
/// one ends).
#[derive(Clone, Default)]
pub(crate) struct Attrs {
    keys: Vec<(Key, usize)>,
    values: String,
}

impl Attrs {
    pub(crate) fn len(&self) -> usize {
        self.keys.len()
    }

    fn span(&self, at: usize) -> Range<usize> {
        let start = if at == 0 { 0 } else { self.keys[at - 1].1 };
        start..self.keys[at].1
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.keys.iter().position(|(k, _)| &**k == key)
    }

    /// The raw JSON of `key`'s value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|at| &self.values[self.span(at)])
    }

    /// Keys and raw JSON values, in received order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> {
        let mut start = 0;
        self.keys.iter().map(move |(k, end)| {
            let value = &self.values[start..*end];
            start = *end;
            (&**k, value)
        })
    }

    /// Whether the keys are exactly `keys`, in this order.
    pub(crate) fn has_keys_in_order<'k>(&self, mut keys: impl ExactSizeIterator<Item = &'k str>) -> bool {
        keys.len() == self.keys.len() && self.keys.iter().all(|(k, _)| keys.next() == Some(&**k))
    }

    /// Empties the attributes and makes room for `count` keys and `bytes` of values, keeping
    /// the buffers.
    pub(crate) fn clear_for(&mut self, count: usize, bytes: usize) {
        self.keys.clear();
        self.values.clear();
        self.keys.reserve_exact(count);
        self.values.reserve_exact(bytes);
    }

    /// Appends a key the attributes do not hold yet.
    pub(crate) fn push_new(&mut self, key: Key, value: &str) {
        self.values.reserve_exact(value.len());
        self.values.push_str(value);
        self.keys.push((key, self.values.len()));
    }

    /// Sets one attribute: replaces the value of an existing key in its place, else appends.
    pub(crate) fn set(&mut self, key: &str, value: &str, interner: &mut KeyInterner) {
        match self.position(key) {
            Some(at) => self.set_at(at, value),
            None => self.push_new(interner.intern(key), value),
        }
    }

    /// Replaces the value at position `at`; nothing moves when the new text is as long as the
    /// old one (a changed number or state of the same width).
    pub(crate) fn set_value_at(&mut self, at: usize, value: &str) {
        if &self.values[self.span(at)] != value {
            self.set_at(at, value);
        }
    }

    fn set_at(&mut self, at: usize, value: &str) {
        let span = self.span(at);
        let old_len = span.len();
        // Grown exactly, as a value of its own would be: amortised doubling would leave up to
        // half of every entity's buffer unused after a day of changes.
        self.values.reserve_exact(value.len().saturating_sub(old_len));
        self.values.replace_range(span, value);
        if value.len() != old_len {
            for (_, end) in &mut self.keys[at..] {
                *end = *end - old_len + value.len();
            }
        }
    }

    /// Removes one key and its value, when held.
    pub(crate) fn remove(&mut self, key: &str) {
        if let Some(at) = self.position(key) {
            let span = self.span(at);
            let len = span.len();
            self.values.replace_range(span, "");
            self.keys.remove(at);
            for (_, end) in &mut self.keys[at..] {
                *end -= len;
            }
        }
    }

    /// Whether both hold the same keys with the same values (order ignored, values as JSON).
    pub(crate) fn same_as<'v>(&self, mut other: impl ExactSizeIterator<Item = (&'v str, &'v str)>) -> bool {
        other.len() == self.len() && other.all(|(k, v)| self.get(k).is_some_and(|held| same_json_text(v, held)))
    }

    /// Heap of the two buffers (the keys' texts are the interner's).
    pub(crate) fn heap_bytes(&self) -> usize {
        heap::buffer::<(Key, usize)>(self.keys.capacity()) + heap::buffer::<u8>(self.values.capacity())
    }
}

/// One attribute's value as the mirror holds it: raw JSON text, borrowed from the store.
///
/// [`get`](Self::get) gives the text; [`decode`](Self::decode) parses it into any type.
/// Equality is JSON equality, as for [`ha_proto::RawJson`].
#[derive(Clone, Copy)]
pub struct AttributeValue<'a>(&'a str);

impl<'a> AttributeValue<'a> {
    pub(crate) fn new(text: &'a str) -> Self {
        AttributeValue(text)
    }

    /// The raw JSON text, e.g. `255`, `"hs"` or `[30.5,70]`.
    pub fn get(&self) -> &'a str {
        self.0
    }

    /// Decodes the value, e.g. `light.attribute("brightness")?.decode::<u8>()`.
    pub fn decode<T: Deserialize<'a>>(&self) -> Result<T, serde_json::Error> {
        serde_json::from_str(self.0)
    }

    /// An owned copy as serde_json's raw value.
    pub fn to_raw_value(&self) -> Box<RawValue> {
        owned_raw(self.0)
    }
}

/// An owned raw value of text the store holds. Every value entered the store as a parsed
/// `RawValue`, so it is valid JSON.
pub(crate) fn owned_raw(text: &str) -> Box<RawValue> {
    RawValue::from_string(text.to_owned()).expect("the store holds only values that were parsed as JSON")
}

impl fmt::Debug for AttributeValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl fmt::Display for AttributeValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl PartialEq for AttributeValue<'_> {
    fn eq(&self, other: &Self) -> bool {
        same_json_text(self.0, other.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)], interner: &mut KeyInterner) -> Attrs {
        let mut a = Attrs::default();
        for (k, v) in pairs {
            a.set(k, v, interner);
        }
        a
    }

    fn pairs(a: &Attrs) -> Vec<(String, String)> {
        a.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    #[test]
    fn a_longer_value_in_the_middle_moves_the_ones_after_it() {
        let mut keys = KeyInterner::default();
        let mut a = attrs(&[("a", "1"), ("b", "2"), ("c", "3")], &mut keys);

        a.set("b", r#""twenty""#, &mut keys);

        assert_eq!(pairs(&a), [("a", "1"), ("b", r#""twenty""#), ("c", "3")].map(|(k, v)| (k.into(), v.into())));
    }

    #[test]
    fn a_shorter_value_in_the_middle_moves_the_ones_after_it() {
        let mut keys = KeyInterner::default();
        let mut a = attrs(&[("a", "1"), ("b", "[1,2,3]"), ("c", "3")], &mut keys);

        a.set_value_at(1, "null");

        assert_eq!(pairs(&a), [("a", "1"), ("b", "null"), ("c", "3")].map(|(k, v)| (k.into(), v.into())));
    }

    #[test]
    fn removing_a_key_keeps_the_others_and_their_order() {
        let mut keys = KeyInterner::default();
        let mut a = attrs(&[("a", "1"), ("b", "22"), ("c", "333")], &mut keys);

        a.remove("b");

        assert_eq!(pairs(&a), [("a", "1"), ("c", "333")].map(|(k, v)| (k.into(), v.into())));
        assert_eq!(a.get("c"), Some("333"));
    }

    #[test]
    fn a_new_key_is_appended() {
        let mut keys = KeyInterner::default();
        let mut a = attrs(&[("a", "1")], &mut keys);

        a.set("z", "true", &mut keys);

        assert_eq!(a.get("z"), Some("true"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn values_compare_as_json() {
        let (a, b) = (AttributeValue::new("[1, 2]"), AttributeValue::new("[1,2]"));

        let equal = a == b;

        assert!(equal);
    }
}
