//! Estimates of heap footprint for [`EntityStore::approx_heap_bytes`](crate::EntityStore::approx_heap_bytes).
//!
//! Each allocation is charged what a typical general-purpose allocator (glibc malloc) uses for
//! it: the request plus an 8-byte header, rounded up to 16 bytes, at least 32. Small strings
//! therefore cost more than their length, which is what makes interning worth measuring.

use std::mem::size_of;

/// Footprint of one allocation of `bytes` bytes (0 = no allocation).
pub(crate) const fn block(bytes: usize) -> usize {
    if bytes == 0 {
        return 0;
    }
    let with_header = (bytes + 8 + 15) & !15;
    if with_header < 32 { 32 } else { with_header }
}

/// Footprint of a `Vec<T>` or `String`'s buffer with capacity `cap`.
pub(crate) const fn buffer<T>(cap: usize) -> usize {
    block(cap * size_of::<T>())
}

/// Footprint of a `HashMap`/`HashSet` of `T` entries with the given capacity: hashbrown keeps
/// about 8 buckets per 7 entries, each bucket one `T` plus one control byte.
pub(crate) const fn hash_table<T>(cap: usize) -> usize {
    if cap == 0 {
        return 0;
    }
    let buckets = (cap * 8 / 7).next_power_of_two();
    block(buckets * (size_of::<T>() + 1) + 16)
}

/// Footprint of an `Arc<str>`: two counters and the text.
pub(crate) fn arc_str(text: &str) -> usize {
    block(16 + text.len())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tiny_allocations_cost_the_allocator_minimum() {
        assert_eq!(block(1), 32);
        assert_eq!(block(24), 32);
        assert_eq!(block(25), 48);
        assert_eq!(block(0), 0);
    }
}
