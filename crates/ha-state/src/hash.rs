//! The store's maps (domains, attribute keys) and its id index (`index.rs`, keyed by entity id)
//! hash with `foldhash`'s fixed-seed hasher.
//!
//! Why not the standard SipHash: every compressed diff costs one map lookup by entity id, and
//! SipHash doubled the cost of that lookup. Why foldhash rather than the hand-written hasher this
//! module held before: it was measured no slower on the mirror's and the monitor's lookups (the
//! crate's `README.md`), and it is maintained elsewhere. Why a fixed seed: instruction counts repeat
//! run to run, and HashDoS resistance buys nothing, since the keys come from the Home Assistant
//! server the user chose to connect to, which can already make the client do anything it likes.

/// The map type used throughout the store.
pub(crate) type FastMap<K, V> = std::collections::HashMap<K, V, foldhash::fast::FixedState>;
/// The set type used throughout the store.
pub(crate) type FastSet<K> = std::collections::HashSet<K, foldhash::fast::FixedState>;

#[cfg(test)]
mod tests {
    use std::hash::BuildHasher;

    use super::*;

    fn hash(text: &str) -> u64 {
        foldhash::fast::FixedState::default().hash_one(text)
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
