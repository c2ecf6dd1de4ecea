//! Monotonic time as plain data: every time-dependent function takes `now: Millis`.

use std::time::{Duration, Instant};

/// Milliseconds on a monotonic clock, counted from an origin the caller chooses (usually process start).
///
/// The core never reads a clock; callers pass `now` in, so tests can use any sequence of instants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Default)]
pub struct Millis(pub u64);

impl Millis {
    /// The time `elapsed` after `origin`, e.g. `Millis::since(start, Instant::now())`.
    pub fn since(origin: Instant, now: Instant) -> Self {
        Self::from_duration(now.saturating_duration_since(origin))
    }

    /// Converts a duration measured from the origin.
    pub fn from_duration(d: Duration) -> Self {
        Self(u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
    }

    /// The time `d` later.
    #[must_use]
    pub fn plus(self, d: Duration) -> Self {
        Self(self.0.saturating_add(Self::from_duration(d).0))
    }

    /// Time elapsed since `earlier`, zero when `earlier` is later.
    pub fn duration_since(self, earlier: Millis) -> Duration {
        Duration::from_millis(self.0.saturating_sub(earlier.0))
    }
}
