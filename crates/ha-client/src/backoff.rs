//! Reconnect delays: exponential backoff with full jitter (a uniformly random delay between
//! zero and the exponential ceiling), so many clients restarting together spread out.

use std::time::Duration;

use rand::Rng;

/// Exponential backoff with full jitter.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BackoffPolicy {
    /// Ceiling of the first retry (default 0.5 s).
    pub base: Duration,
    /// Largest ceiling (default 30 s).
    pub cap: Duration,
    /// Growth of the ceiling per failed attempt (default 2).
    pub factor: f64,
}

impl Default for BackoffPolicy {
    fn default() -> Self {
        BackoffPolicy { base: Duration::from_millis(500), cap: Duration::from_secs(30), factor: 2.0 }
    }
}

impl BackoffPolicy {
    /// The ceiling for retry number `attempt` (0 for the first retry): `min(cap, base × factor^attempt)`.
    pub fn ceiling(&self, attempt: u32) -> Duration {
        let exp = self.factor.max(1.0).powi(attempt.min(64) as i32);
        let secs = (self.base.as_secs_f64() * exp).min(self.cap.as_secs_f64());
        Duration::try_from_secs_f64(secs).unwrap_or(self.cap)
    }

    /// The delay before retry number `attempt`: uniform in `[0, ceiling(attempt)]`.
    pub fn delay(&self, attempt: u32, rng: &mut impl Rng) -> Duration {
        let ceiling = self.ceiling(attempt);
        if ceiling.is_zero() {
            return Duration::ZERO;
        }
        ceiling.mul_f64(rng.random_range(0.0..=1.0))
    }
}

#[cfg(test)]
mod tests {
    use rand::SeedableRng;
    use rand::rngs::StdRng;

    use super::*;

    #[test]
    fn ceiling_doubles_from_base() {
        let p = BackoffPolicy::default();

        let ceilings: Vec<_> = (0..4).map(|a| p.ceiling(a)).collect();

        assert_eq!(ceilings, [500, 1000, 2000, 4000].map(Duration::from_millis));
    }

    #[test]
    fn ceiling_stops_at_cap() {
        let p = BackoffPolicy::default();

        let late = p.ceiling(40);

        assert_eq!(late, Duration::from_secs(30));
    }

    #[test]
    fn huge_attempt_numbers_do_not_overflow() {
        let p = BackoffPolicy::default();

        let ceiling = p.ceiling(u32::MAX);

        assert_eq!(ceiling, p.cap);
    }

    #[test]
    fn delays_stay_within_zero_and_ceiling() {
        let p = BackoffPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);

        let delays: Vec<_> = (0..1000).map(|i| (i % 10, p.delay(i % 10, &mut rng))).collect();

        assert!(delays.iter().all(|(a, d)| *d <= p.ceiling(*a)));
    }

    #[test]
    fn delays_are_jittered_not_constant() {
        let p = BackoffPolicy::default();
        let mut rng = StdRng::seed_from_u64(7);

        let delays: std::collections::HashSet<_> = (0..50).map(|_| p.delay(3, &mut rng)).collect();

        assert!(delays.len() > 40, "only {} distinct delays", delays.len());
    }
}
