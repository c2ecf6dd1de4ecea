//! An entity's attributes: an interned key list ([`Shape`]) and one text buffer holding where
//! each value ends and the raw JSON values side by side; and [`AttributeValue`], the borrowed
//! view of one value.
//!
//! One buffer for every value of an entity instead of one heap block per value: a snapshot of
//! 16,384 entities with a handful of attributes each allocates some 80,000 blocks fewer, and a
//! value is never smaller than glibc's 32-byte minimum on its own. The key list is shared by
//! every entity with the same keys (`shapes.rs`), and the values' lengths are written at the head
//! of the buffer, so an entity's attributes take one heap block, not a buffer and a key list.

use std::fmt;
use std::ops::Range;

use ha_proto::raw::same_json_text;
use serde::Deserialize;
use serde_json::value::RawValue;

use crate::heap;
use crate::keys::Key;
use crate::shapes::{Shape, Shapes};

/// Bytes at the head of the buffer per key: its value's length, seven bits per byte so that the
/// head is ASCII and the buffer stays a `String` (a value of up to 32 GiB). Lengths, not ends: a
/// value that changes length rewrites its own length only.
const LEN_BYTES: usize = 5;

/// The head bytes of a value's length.
fn encode_len(len: usize) -> [u8; LEN_BYTES] {
    assert!(len >> (7 * LEN_BYTES) == 0, "an attribute value of {len} bytes, more than 32 GiB");
    std::array::from_fn(|i| ((len >> (7 * i)) & 0x7f) as u8)
}

/// The length [`encode_len`] wrote into `head`.
fn decode_len(head: &[u8]) -> usize {
    head.iter().rev().fold(0, |len, &b| (len << 7) | usize::from(b))
}

/// [`encode_len`] as text (ASCII, so always valid UTF-8).
fn len_text(len: &[u8; LEN_BYTES]) -> &str {
    std::str::from_utf8(len).expect("seven-bit bytes are ASCII")
}

/// Values shorter than this (nearly all) take their head from [`SHORT_HEADS`].
const SHORT: usize = 128;

/// The heads of the lengths below [`SHORT`], one after another, as text checked once at compile
/// time: [`len_text`]'s UTF-8 check per value cost the snapshot load 3.6% of its instructions.
const SHORT_HEADS: &str = {
    const BYTES: [u8; SHORT * LEN_BYTES] = {
        let mut bytes = [0; SHORT * LEN_BYTES];
        let mut len = 0;
        while len < SHORT {
            bytes[len * LEN_BYTES] = len as u8;
            len += 1;
        }
        bytes
    };
    match std::str::from_utf8(&BYTES) {
        Ok(text) => text,
        Err(_) => panic!("seven-bit bytes are ASCII"),
    }
};

/// The head of a value of `len` bytes, as text.
fn head_text(len: usize, spare: &mut [u8; LEN_BYTES]) -> &str {
    if len < SHORT {
        return &SHORT_HEADS[len * LEN_BYTES..][..LEN_BYTES];
    }
    *spare = encode_len(len);
    len_text(spare)
}

/// The attributes of one entity: the keys are `shape`'s (unique, in received order; `None` when
/// there are none); `buf` holds [`LEN_BYTES`] bytes per key, its value's length, then the values
/// in the same order.
#[derive(Clone, Default)]
pub(crate) struct Attrs {
    shape: Option<Shape>,
    buf: String,
}

impl Attrs {
    fn keys(&self) -> &[Key] {
        self.shape.as_deref().unwrap_or_default()
    }

    pub(crate) fn len(&self) -> usize {
        self.keys().len()
    }

    fn head_len(&self) -> usize {
        self.len() * LEN_BYTES
    }

    /// The length of the value at position `at`.
    fn value_len(&self, at: usize) -> usize {
        decode_len(&self.buf.as_bytes()[at * LEN_BYTES..(at + 1) * LEN_BYTES])
    }

    fn set_value_len(&mut self, at: usize, len: usize) {
        self.buf.replace_range(at * LEN_BYTES..(at + 1) * LEN_BYTES, head_text(len, &mut [0; LEN_BYTES]));
    }

    /// Where the value at position `at` lies in the buffer.
    fn span(&self, at: usize) -> Range<usize> {
        let start = self.head_len() + (0..at).map(|i| self.value_len(i)).sum::<usize>();
        start..start + self.value_len(at)
    }

    fn position(&self, key: &str) -> Option<usize> {
        self.keys().iter().position(|k| **k == *key)
    }

    /// The raw JSON of `key`'s value.
    pub(crate) fn get(&self, key: &str) -> Option<&str> {
        self.position(key).map(|at| &self.buf[self.span(at)])
    }

    /// Keys and raw JSON values, in received order.
    pub(crate) fn iter(&self) -> impl ExactSizeIterator<Item = (&str, &str)> + Clone {
        let values = &self.buf[self.head_len()..];
        let mut start = 0;
        self.keys().iter().enumerate().map(move |(at, k)| {
            let end = start + self.value_len(at);
            let value = &values[start..end];
            start = end;
            (&**k, value)
        })
    }

    /// Whether the keys are exactly `keys`, in this order.
    pub(crate) fn has_keys_in_order<'k>(&self, mut keys: impl ExactSizeIterator<Item = &'k str>) -> bool {
        keys.len() == self.len() && self.keys().iter().all(|k| keys.next() == Some(&**k))
    }

    /// Replaces every attribute with `pairs` in their order, keeping the buffer. A repeated key
    /// (legal JSON) takes its last value in its first place, as in Home Assistant.
    pub(crate) fn replace<'p>(
        &mut self,
        pairs: impl ExactSizeIterator<Item = (&'p str, &'p str)> + Clone,
        shapes: &mut Shapes,
    ) {
        let bytes: usize = pairs.clone().map(|(_, v)| v.len()).sum();
        self.buf.clear();
        self.buf.reserve_exact(pairs.len() * LEN_BYTES + bytes);
        self.shape = None;
        if pairs.len() == 0 {
            return;
        }
        let Some(shape) = shapes.intern(pairs.clone().map(|(k, _)| k)) else {
            for (k, v) in pairs {
                self.set(k, v, shapes);
            }
            return;
        };
        let mut spare = [0; LEN_BYTES];
        for (_, v) in pairs.clone() {
            self.buf.push_str(head_text(v.len(), &mut spare));
        }
        for (_, v) in pairs {
            self.buf.push_str(v);
        }
        self.shape = Some(shape);
    }

    /// Sets one attribute: replaces the value of an existing key in its place, else appends.
    pub(crate) fn set(&mut self, key: &str, value: &str, shapes: &mut Shapes) {
        if let Some(at) = self.position(key) {
            self.set_value_at(at, value);
            return;
        }
        let shape = shapes.with(self.keys(), key);
        // Grown exactly, as a value of its own would be: amortised doubling would leave up to
        // half of every entity's buffer unused after a day of changes.
        self.buf.reserve_exact(LEN_BYTES + value.len());
        self.buf.insert_str(self.head_len(), head_text(value.len(), &mut [0; LEN_BYTES]));
        self.buf.push_str(value);
        self.shape = Some(shape);
    }

    /// Replaces the value at position `at`; nothing moves when the new text is as long as the
    /// old one (a changed number or state of the same width).
    pub(crate) fn set_value_at(&mut self, at: usize, value: &str) {
        self.set_value_from(at, self.span(at).start, value);
    }

    /// [`set_value_at`](Self::set_value_at) for a value known to start at `start`.
    fn set_value_from(&mut self, at: usize, start: usize, value: &str) {
        let old_len = self.value_len(at);
        if same_text(&self.buf.as_bytes()[start..start + old_len], value.as_bytes()) {
            return;
        }
        self.buf.reserve_exact(value.len().saturating_sub(old_len));
        self.buf.replace_range(start..start + old_len, value);
        if value.len() != old_len {
            self.set_value_len(at, value.len());
        }
    }

    /// Sets the values of every key in order (as many as there are keys): only a value whose
    /// text changed is copied.
    pub(crate) fn set_values_in_order<'v>(&mut self, values: impl Iterator<Item = &'v str>) {
        // One walk: each value starts where the one before it now ends.
        let mut start = self.head_len();
        for (at, value) in values.enumerate() {
            self.set_value_from(at, start, value);
            start += value.len();
        }
    }

    /// Removes one key and its value, when held.
    pub(crate) fn remove(&mut self, key: &str, shapes: &mut Shapes) {
        let Some(at) = self.position(key) else { return };
        let span = self.span(at);
        self.buf.replace_range(span, "");
        self.buf.replace_range(at * LEN_BYTES..(at + 1) * LEN_BYTES, "");
        self.shape = (self.len() > 1).then(|| shapes.without(self.keys(), at));
    }

    /// Whether both hold the same keys with the same values (order ignored, values as JSON).
    pub(crate) fn same_as<'v>(&self, other: impl ExactSizeIterator<Item = (&'v str, &'v str)> + Clone) -> bool {
        if other.len() != self.len() {
            return false;
        }
        // Usually the same keys in the same order: one walk over both.
        if self.has_keys_in_order(other.clone().map(|(k, _)| k)) {
            return self.iter().zip(other).all(|((_, held), (_, v))| same_json_text(v, held));
        }
        other.into_iter().all(|(k, v)| self.get(k).is_some_and(|held| same_json_text(v, held)))
    }

    /// Heap of the buffer (the key list is the store's [`Shapes`]').
    /// Starts loading the values' buffer into the caches ([`crate::prefetch`]).
    pub(crate) fn prefetch(&self) {
        crate::prefetch::text(&self.buf);
    }

    pub(crate) fn heap_bytes(&self) -> usize {
        heap::buffer::<u8>(self.buf.capacity())
    }
}

/// Whether `a` and `b` hold the same bytes. An attribute's value is mostly a short text (`"W"`,
/// `23.5`, `"measurement"`), compared here in at most two overlapping loads per side instead of a
/// call to `memcmp`, which cost an update some 50 instructions per value (callgrind, 2026-12-06).
#[inline]
fn same_text(a: &[u8], b: &[u8]) -> bool {
    let n = a.len();
    if n != b.len() {
        return false;
    }
    let word32 = |x: &[u8], at: usize| u32::from_le_bytes(*x[at..].first_chunk().expect("four bytes"));
    let word64 = |x: &[u8], at: usize| u64::from_le_bytes(*x[at..].first_chunk().expect("eight bytes"));
    match n {
        0 => true,
        // The first, middle and last bytes are every byte of a text this short.
        1..=3 => a[0] == b[0] && a[n / 2] == b[n / 2] && a[n - 1] == b[n - 1],
        4..=7 => word32(a, 0) == word32(b, 0) && word32(a, n - 4) == word32(b, n - 4),
        8..=16 => word64(a, 0) == word64(b, 0) && word64(a, n - 8) == word64(b, n - 8),
        _ => a == b,
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

    #[test]
    fn a_head_from_the_table_is_the_encoded_length() {
        // arrange: lengths on both sides of the table's end
        let lens = 0..(SHORT * 3);

        // act
        let heads: Vec<String> = lens.clone().map(|len| head_text(len, &mut [0; LEN_BYTES]).to_owned()).collect();

        // assert
        let encoded: Vec<String> = lens.map(|len| len_text(&encode_len(len)).to_owned()).collect();
        assert_eq!(heads, encoded);
    }

    fn attrs(pairs: &[(&str, &str)], shapes: &mut Shapes) -> Attrs {
        let mut a = Attrs::default();
        a.replace(pairs.iter().copied(), shapes);
        a
    }

    fn pairs(a: &Attrs) -> Vec<(String, String)> {
        a.iter().map(|(k, v)| (k.to_owned(), v.to_owned())).collect()
    }

    fn owned(pairs: &[(&str, &str)]) -> Vec<(String, String)> {
        pairs.iter().map(|(k, v)| ((*k).into(), (*v).into())).collect()
    }

    #[test]
    fn a_longer_value_in_the_middle_moves_the_ones_after_it() {
        let mut shapes = Shapes::default();
        let mut a = attrs(&[("a", "1"), ("b", "2"), ("c", "3")], &mut shapes);

        a.set("b", r#""twenty""#, &mut shapes);

        assert_eq!(pairs(&a), owned(&[("a", "1"), ("b", r#""twenty""#), ("c", "3")]));
    }

    #[test]
    fn a_shorter_value_in_the_middle_moves_the_ones_after_it() {
        let mut shapes = Shapes::default();
        let mut a = attrs(&[("a", "1"), ("b", "[1,2,3]"), ("c", "3")], &mut shapes);

        a.set_value_at(1, "null");

        assert_eq!(pairs(&a), owned(&[("a", "1"), ("b", "null"), ("c", "3")]));
    }

    #[test]
    fn values_set_in_order_change_only_where_they_differ() {
        let mut shapes = Shapes::default();
        let mut a = attrs(&[("a", "1"), ("b", "[1,2,3]"), ("c", "3"), ("d", "true")], &mut shapes);

        a.set_values_in_order(["10", "[]", "3", "false"].into_iter());

        assert_eq!(pairs(&a), owned(&[("a", "10"), ("b", "[]"), ("c", "3"), ("d", "false")]));
    }

    #[test]
    fn removing_a_key_keeps_the_others_and_their_order() {
        let mut shapes = Shapes::default();
        let mut a = attrs(&[("a", "1"), ("b", "22"), ("c", "333")], &mut shapes);

        a.remove("b", &mut shapes);

        assert_eq!(pairs(&a), owned(&[("a", "1"), ("c", "333")]));
        assert_eq!(a.get("c"), Some("333"));
    }

    #[test]
    fn a_new_key_is_appended() {
        let mut shapes = Shapes::default();
        let mut a = attrs(&[("a", "1")], &mut shapes);

        a.set("z", "true", &mut shapes);

        assert_eq!(a.get("z"), Some("true"));
        assert_eq!(a.len(), 2);
    }

    #[test]
    fn a_repeated_key_keeps_its_first_place_and_its_last_value() {
        let mut shapes = Shapes::default();

        let a = attrs(&[("a", "1"), ("b", "2"), ("a", "3")], &mut shapes);

        assert_eq!(pairs(&a), owned(&[("a", "3"), ("b", "2")]));
    }

    #[test]
    fn values_of_any_json_text_are_kept_whole() {
        let mut shapes = Shapes::default();
        let values = [("s", r#""a,b:}{""#), ("o", r#"{"x": [1, "y"]}"#), ("e", r#""\u001f""#), ("n", "-1.5e3")];

        let a = attrs(&values, &mut shapes);

        assert_eq!(pairs(&a), owned(&values));
    }

    #[test]
    fn removing_the_last_key_leaves_no_attribute() {
        let mut shapes = Shapes::default();
        let mut a = attrs(&[("a", "1")], &mut shapes);

        a.remove("a", &mut shapes);

        assert_eq!((a.len(), a.iter().count(), a.get("a")), (0, 0, None));
    }

    #[test]
    fn lengths_past_one_head_byte_read_back() {
        let mut shapes = Shapes::default();
        let long = format!("\"{}\"", "x".repeat(70_000));
        let mut a = attrs(&[("a", &long), ("b", "1")], &mut shapes);

        a.set_value_at(0, "2");

        assert_eq!(pairs(&a), owned(&[("a", "2"), ("b", "1")]));
        assert_eq!(decode_len(&encode_len(70_002)), 70_002);
    }

    #[test]
    fn entities_with_the_same_keys_share_their_key_list() {
        let mut shapes = Shapes::default();

        let (a, b) = (attrs(&[("a", "1"), ("b", "2")], &mut shapes), attrs(&[("a", "3"), ("b", "4")], &mut shapes));

        assert!(std::sync::Arc::ptr_eq(a.shape.as_ref().unwrap(), b.shape.as_ref().unwrap()));
    }

    #[test]
    fn same_as_ignores_order_and_compares_values_as_json() {
        let mut shapes = Shapes::default();
        let a = attrs(&[("a", "[1,2]"), ("b", "2")], &mut shapes);

        let same = (
            a.same_as([("b", "2"), ("a", "[1, 2]")].into_iter()),
            a.same_as([("a", "[1,2]"), ("b", "3")].into_iter()),
            a.same_as([("a", "[1,2]")].into_iter()),
        );

        assert_eq!(same, (true, false, false));
    }

    proptest::proptest! {
        #[test]
        fn same_text_is_byte_equality(a in proptest::collection::vec(0_u8..4, 0..40), flip in 0_usize..40) {
            let mut b = a.clone();
            if let Some(byte) = b.get_mut(flip) {
                *byte ^= 1;
            }

            let (same, different) = (same_text(&a, &a.clone()), same_text(&a, &b));

            proptest::prop_assert!(same);
            proptest::prop_assert_eq!(different, a == b);
        }
    }

    #[test]
    fn texts_of_different_lengths_differ() {
        let different = same_text(b"12.5", b"12.50");

        assert!(!different);
    }

    #[test]
    fn values_compare_as_json() {
        let (a, b) = (AttributeValue::new("[1, 2]"), AttributeValue::new("[1,2]"));

        let equal = a == b;

        assert!(equal);
    }
}
