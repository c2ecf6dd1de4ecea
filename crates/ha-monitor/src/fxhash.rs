//! A small, fast, non-cryptographic string hash for bounded in-memory tables (entity ids,
//! domains). Keys come from our own Home Assistant, not from an attacker choosing collisions, and
//! every table using it is bounded, so HashDoS resistance buys nothing here.

use std::hash::{BuildHasherDefault, Hasher};

/// Firefox/rustc's "Fx" multiply-rotate hash, processing 8 bytes at a time.
#[derive(Debug, Default, Clone, Copy)]
pub(crate) struct FxHasher(u64);

const SEED: u64 = 0x51_7c_c1_b7_27_22_0a_95;

impl FxHasher {
    #[inline]
    fn add(&mut self, word: u64) {
        self.0 = (self.0.rotate_left(5) ^ word).wrapping_mul(SEED);
    }
}

impl Hasher for FxHasher {
    #[inline]
    fn write(&mut self, bytes: &[u8]) {
        let mut chunks = bytes.chunks_exact(8);
        for c in &mut chunks {
            self.add(u64::from_le_bytes(c.try_into().expect("chunk of 8")));
        }
        let rest = chunks.remainder();
        if !rest.is_empty() {
            let mut buf = [0u8; 8];
            buf[..rest.len()].copy_from_slice(rest);
            self.add(u64::from_le_bytes(buf));
        }
    }

    #[inline]
    fn write_u8(&mut self, i: u8) {
        self.add(u64::from(i));
    }

    #[inline]
    fn write_u64(&mut self, i: u64) {
        self.add(i);
    }

    #[inline]
    fn finish(&self) -> u64 {
        self.0
    }
}

/// `HashMap` builder using [`FxHasher`].
pub(crate) type FxBuild = BuildHasherDefault<FxHasher>;

/// The 64-bit Fx hash of a string.
#[inline]
pub(crate) fn hash_str(s: &str) -> u64 {
    let mut h = FxHasher::default();
    h.write(s.as_bytes());
    h.write_u8(0xff);
    h.finish()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn different_short_strings_hash_differently() {
        let a = hash_str("sensor.a");

        let b = hash_str("sensor.b");

        assert_ne!(a, b);
        assert_eq!(a, hash_str("sensor.a"));
    }
}
