//! The calibration workload: a fixed, deterministic, allocation-free spin whose wall time tracks
//! the machine's speed at the moment (the gate divides each wall figure of a process by it).

use std::hint::black_box;

/// Iterations of one calibration run (about 20 µs on the development machine).
pub const ITERATIONS: u64 = 20_000;

/// A linear congruential mix, `iterations` times; the result depends on every step.
pub fn spin(iterations: u64) -> u64 {
    let mut acc = 0x9e37_79b9_7f4a_7c15_u64;
    for i in 0..black_box(iterations) {
        acc = acc.wrapping_mul(6_364_136_223_846_793_005).wrapping_add(i) ^ (acc >> 29);
    }
    acc
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn spin_depends_on_the_iteration_count() {
        let (a, b) = (spin(10), spin(11));

        assert_ne!(a, b);
    }
}
