//! A fast hasher for the store's maps, keyed by entity ids, domains and attribute keys.
//!
//! Why not the standard SipHash: every compressed diff costs one map lookup by entity id, and
//! SipHash doubled the cost of that lookup (measurements in the crate's `README.md`).
//! Why not HashDoS resistance: the keys come from the Home Assistant server the user chose to
//! connect to, which can already make the client do anything it likes.

use std::hash::{BuildHasherDefault, Hasher};

/// The map type used throughout the store.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, BuildHasherDefault<FastHasher>>;
/// The set type used throughout the store.
pub(crate) type FastSet<K> = std::collections::HashSet<K, BuildHasherDefault<FastHasher>>;

// Odd 64-bit constants with well-spread bits (the fractional part of the golden ratio and of pi).
const K1: u64 = 0x9e37_79b9_7f4a_7c15;
const K2: u64 = 0x243f_6a88_85a3_08d3;

/// Word-at-a-time multiply-and-rotate hashing with a folded 128-bit multiply at the end, so
/// both the low bits (bucket index) and the high bits (hashbrown's control byte) are mixed.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FastHasher(u64);

impl FastHasher {
    #[inline]
    fn mix(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(23) ^ word).wrapping_mul(K1);
    }
}

impl Hasher for FastHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for chunk in &mut chunks {
            let mut word = [0u8; 8];
            word.copy_from_slice(chunk);
            self.mix(u64::from_le_bytes(word));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut word = [0u8; 8];
            word[..rest.len()].copy_from_slice(rest);
            // The length keeps "a" and "a\0" apart.
            self.mix(u64::from_le_bytes(word) ^ ((rest.len() as u64) << 59));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.mix(u64::from(i));
    }

    #[inline]
    fn write_usize(&mut self, i: usize) {
        self.mix(i as u64);
    }

    #[inline]
    fn finish(&self) -> u64 {
        let wide = u128::from(self.0) * u128::from(K2);
        (wide as u64) ^ ((wide >> 64) as u64)
    }
}

#[cfg(test)]
mod tests {
    use std::hash::{BuildHasher, BuildHasherDefault};

    use super::*;

    fn hash(text: &str) -> u64 {
        BuildHasherDefault::<FastHasher>::default().hash_one(text)
    }

    #[test]
    fn similar_ids_spread_over_low_bits() {
        let ids: Vec<String> = (0..4096).map(|i| format!("sensor.power_{i}")).collect();

        let buckets: FastSet<u64> = ids.iter().map(|id| hash(id) & 0xfff).collect();

        // 4096 keys into 4096 buckets: a uniform hash fills about 63 % of them.
        assert!(buckets.len() > 2400, "only {} of 4096 buckets used", buckets.len());
    }

    #[test]
    fn trailing_zero_bytes_change_the_hash() {
        let (a, b) = (hash("light.a"), hash("light.a\0"));

        assert_ne!(a, b);
    }
}
