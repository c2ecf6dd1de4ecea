//! The progress display: stage, benchmark n of m, elapsed time and estimated time left, one line per
//! event on stderr (CI logs show every line; terminals see the same). The estimate is pure.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use super::schema::Suite;

/// Seconds per benchmark assumed for a suite before any of its benchmarks finished.
fn default_seconds(suite: Suite, wall_seconds: f64) -> f64 {
    match suite {
        Suite::Wall => wall_seconds,
        Suite::Instr => 1.5,
        Suite::Heap => 2.0,
    }
}

/// Counts and timings of a run in progress.
#[derive(Debug)]
pub(crate) struct Progress {
    started: Instant,
    wall_seconds: f64,
    total: BTreeMap<Suite, usize>,
    done: BTreeMap<Suite, usize>,
    spent: BTreeMap<Suite, Duration>,
    last: Instant,
}

impl Progress {
    /// A run of `total` benchmarks per suite; `wall_seconds` is criterion's expected time per benchmark.
    pub(crate) fn new(total: BTreeMap<Suite, usize>, wall_seconds: f64, now: Instant) -> Progress {
        Progress { started: now, wall_seconds, total, done: BTreeMap::new(), spent: BTreeMap::new(), last: now }
    }

    /// Records one finished benchmark of `suite`, raising the total when the listing undercounted.
    /// The time since the previous event is charged to it, so process start-up and setup under
    /// valgrind count in the suite's pace.
    pub(crate) fn finished(&mut self, suite: Suite, now: Instant) {
        *self.done.entry(suite).or_default() += 1;
        *self.spent.entry(suite).or_default() += now.saturating_duration_since(self.last);
        self.last = now;
        let done = self.done[&suite];
        let total = self.total.entry(suite).or_default();
        *total = (*total).max(done);
    }

    /// Benchmarks finished and expected, over all suites.
    pub(crate) fn counts(&self) -> (usize, usize) {
        (self.done.values().sum(), self.total.values().sum())
    }

    /// Estimated time left: each suite's remaining benchmarks times its observed (or default) pace.
    pub(crate) fn remaining(&self) -> Duration {
        let seconds: f64 = self
            .total
            .iter()
            .map(|(suite, total)| {
                let done = self.done.get(suite).copied().unwrap_or(0);
                let pace = match self.spent.get(suite) {
                    Some(spent) if done > 0 => spent.as_secs_f64() / done as f64,
                    _ => default_seconds(*suite, self.wall_seconds),
                };
                total.saturating_sub(done) as f64 * pace
            })
            .sum();
        Duration::from_secs_f64(seconds)
    }

    /// One display line: `[instr 3/12 | 0:41 elapsed | ~1:05 left] what`.
    pub(crate) fn line(&self, stage: &str, what: &str, now: Instant) -> String {
        let (done, total) = self.counts();
        format!(
            "[{stage} {done}/{total} | {} elapsed | ~{} left] {what}",
            clock(now.saturating_duration_since(self.started)),
            clock(self.remaining())
        )
    }
}

/// `m:ss` (or `h:mm:ss`).
pub(crate) fn clock(d: Duration) -> String {
    let s = d.as_secs();
    if s >= 3600 {
        format!("{}:{:02}:{:02}", s / 3600, s % 3600 / 60, s % 60)
    } else {
        format!("{}:{:02}", s / 60, s % 60)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn remaining_uses_observed_pace_per_suite() {
        let t0 = Instant::now();
        let mut progress = Progress::new(BTreeMap::from([(Suite::Instr, 4), (Suite::Wall, 2)]), 5.0, t0);

        progress.finished(Suite::Instr, t0 + Duration::from_secs(2));
        progress.finished(Suite::Instr, t0 + Duration::from_secs(4));

        // instr: 2 left at 2 s each; wall: 2 left at the default 5 s each
        assert_eq!(progress.remaining(), Duration::from_secs(14));
        assert_eq!(progress.counts(), (2, 6));
    }

    #[test]
    fn line_shows_stage_counts_elapsed_and_eta() {
        let t0 = Instant::now();
        let mut progress = Progress::new(BTreeMap::from([(Suite::Heap, 2)]), 5.0, t0);
        progress.finished(Suite::Heap, t0 + Duration::from_secs(3));

        let line = progress.line("heap", "heap_load", t0 + Duration::from_secs(3));

        assert_eq!(line, "[heap 1/2 | 0:03 elapsed | ~0:03 left] heap_load");
    }

    #[test]
    fn clock_formats_minutes_and_hours() {
        let durations = [Duration::from_secs(59), Duration::from_secs(61), Duration::from_secs(3725)];

        let texts: Vec<String> = durations.iter().map(|d| clock(*d)).collect();

        assert_eq!(texts, ["0:59", "1:01", "1:02:05"]);
    }
}
