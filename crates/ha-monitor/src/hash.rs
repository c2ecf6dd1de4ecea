//! The hash of the monitor's bounded in-memory tables (the registry's label values, the top-K
//! summaries' keys): `foldhash`'s fixed-seed hasher, the one the mirror (ha-state) uses too.
//! Keys come from our own Home Assistant, not from an attacker choosing collisions, and every
//! table using it is bounded, so HashDoS resistance buys nothing here; a fixed seed keeps
//! instruction counts repeatable. It replaced a hand-written Fx hash after measuring no slower
//! (`crates/ha-state/README.md`).

use std::hash::BuildHasher;

/// `HashMap` builder of the monitor's tables.
pub(crate) type HashBuild = foldhash::fast::FixedState;

/// The 64-bit hash of a string (what the top-K summaries identify keys by).
#[inline]
pub(crate) fn hash_str(s: &str) -> u64 {
    HashBuild::default().hash_one(s)
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
