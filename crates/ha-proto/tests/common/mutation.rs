//! Byte-level mutations of JSON text for the property tests (shared by `no_panic` and
//! `event_frame`): flips, truncations, insertions biased towards JSON punctuation, duplicated
//! slices and deletions, with positions scaled to the text's length when applied.

use proptest::prelude::*;
use proptest::sample::Index;

/// One edit of a byte string; positions are scaled to its length when applied.
#[derive(Debug, Clone)]
pub(crate) enum Mutation {
    /// XOR one byte.
    Flip(Index, u8),
    /// Keep only a prefix.
    Truncate(Index),
    /// Insert bytes (biased towards JSON punctuation).
    Insert(Index, Vec<u8>),
    /// Copy a slice of the text to another place.
    Duplicate(Index, Index, Index),
    /// Remove one byte.
    Delete(Index),
}

pub(crate) fn json_byte() -> impl Strategy<Value = u8> {
    prop_oneof![
        3 => prop::sample::select(b"{}[]\",:0123456789.eE+-tfnrul\\ \n\xc3\xa9_".to_vec()),
        1 => any::<u8>(),
    ]
}

pub(crate) fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        3 => (any::<Index>(), 1..=255u8).prop_map(|(i, x)| Mutation::Flip(i, x)),
        1 => any::<Index>().prop_map(Mutation::Truncate),
        3 => (any::<Index>(), prop::collection::vec(json_byte(), 1..6)).prop_map(|(i, b)| Mutation::Insert(i, b)),
        1 => (any::<Index>(), any::<Index>(), any::<Index>()).prop_map(|(a, b, c)| Mutation::Duplicate(a, b, c)),
        2 => any::<Index>().prop_map(Mutation::Delete),
    ]
}

pub(crate) fn apply(mut bytes: Vec<u8>, mutations: &[Mutation]) -> Vec<u8> {
    for m in mutations {
        let len = bytes.len();
        match m {
            _ if len == 0 => {}
            Mutation::Flip(i, x) => bytes[i.index(len)] ^= x,
            Mutation::Truncate(i) => bytes.truncate(i.index(len)),
            Mutation::Insert(i, b) => {
                let at = i.index(len + 1);
                bytes.splice(at..at, b.iter().copied());
            }
            Mutation::Duplicate(a, b, c) => {
                let (x, y) = (a.index(len), b.index(len));
                let piece = bytes[x.min(y)..x.max(y)].to_vec();
                let at = c.index(len + 1);
                bytes.splice(at..at, piece);
            }
            Mutation::Delete(i) => {
                bytes.remove(i.index(len));
            }
        }
    }
    bytes
}
