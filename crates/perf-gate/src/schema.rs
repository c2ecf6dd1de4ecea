//! The gate's own versioned result schema: every tool's output is normalised into [`Measurement`]s,
//! so nothing downstream depends on criterion's, iai-callgrind's or dhat's private file layouts.

use serde::{Deserialize, Serialize};

/// Version of the result, baseline and report files written by this module's users.
pub const SCHEMA_VERSION: u32 = 1;

/// The three suites, each fed by one tool and one bench-target name prefix.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Suite {
    /// iai-callgrind instruction counts (`instr_*.rs`).
    Instr,
    /// dhat heap scenarios (`heap_*.rs`).
    Heap,
    /// criterion wall-clock benchmarks (`wall_*.rs`).
    Wall,
}

impl Suite {
    /// Every suite, in the order the runner executes them (the deterministic ones first).
    pub const ALL: [Suite; 3] = [Suite::Instr, Suite::Heap, Suite::Wall];

    /// The suite's name as used in file names and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            Suite::Wall => "wall",
            Suite::Instr => "instr",
            Suite::Heap => "heap",
        }
    }

    /// Parses [`Suite::name`].
    pub fn from_name(name: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|s| s.name() == name)
    }

    /// Which suite a bench target belongs to, by the naming convention `wall_*`, `instr_*`, `heap_*`.
    pub fn of_target(target: &str) -> Option<Suite> {
        Suite::ALL.into_iter().find(|suite| target.strip_prefix(suite.name()).is_some_and(|rest| rest.starts_with('_')))
    }
}

/// A bench target of the bench package, classified by its name prefix.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord)]
pub struct Target {
    /// Which suite.
    pub suite: Suite,
    /// The `[[bench]]` name, e.g. `instr_proto`.
    pub name: String,
}

/// A measured quantity; each has one unit and one decision rule kind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Metric {
    /// Instructions executed (callgrind `Ir`).
    Instructions,
    /// Cycles estimated by callgrind's cache model (`EstimatedCycles`).
    EstimatedCycles,
    /// Wall-clock nanoseconds per iteration (criterion).
    WallNs,
    /// Bytes allocated over the scenario (dhat `total_bytes`).
    HeapTotalBytes,
    /// Allocations over the scenario (dhat `total_blocks`).
    HeapTotalBlocks,
    /// Peak live heap bytes (dhat `max_bytes`).
    HeapMaxBytes,
}

impl Metric {
    /// Every metric, in report order.
    pub const ALL: [Metric; 6] = [
        Metric::Instructions,
        Metric::EstimatedCycles,
        Metric::WallNs,
        Metric::HeapTotalBytes,
        Metric::HeapTotalBlocks,
        Metric::HeapMaxBytes,
    ];

    /// The name used in files, perf.toml and reports.
    pub fn name(self) -> &'static str {
        match self {
            Metric::Instructions => "instructions",
            Metric::EstimatedCycles => "estimated_cycles",
            Metric::WallNs => "wall_ns",
            Metric::HeapTotalBytes => "heap_total_bytes",
            Metric::HeapTotalBlocks => "heap_total_blocks",
            Metric::HeapMaxBytes => "heap_max_bytes",
        }
    }

    /// Parses [`Metric::name`].
    pub fn from_name(name: &str) -> Option<Metric> {
        Metric::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The unit of the metric's values.
    pub fn unit(self) -> &'static str {
        match self {
            Metric::Instructions => "instructions",
            Metric::EstimatedCycles => "cycles",
            Metric::WallNs => "ns",
            Metric::HeapTotalBytes | Metric::HeapMaxBytes => "bytes",
            Metric::HeapTotalBlocks => "blocks",
        }
    }

    /// The suite that measures this metric.
    pub fn suite(self) -> Suite {
        match self {
            Metric::Instructions | Metric::EstimatedCycles => Suite::Instr,
            Metric::WallNs => Suite::Wall,
            Metric::HeapTotalBytes | Metric::HeapTotalBlocks | Metric::HeapMaxBytes => Suite::Heap,
        }
    }
}

/// A confidence interval around a value, same unit as the value.
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub struct Interval {
    /// Lower bound.
    pub lower: f64,
    /// Upper bound.
    pub upper: f64,
}

/// One normalised measurement: benchmark id `area/op/case`, metric, value and what backs it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Measurement {
    /// Benchmark id, `area/op/case`.
    pub id: String,
    /// What was measured.
    pub metric: Metric,
    /// Unit of `value` (redundant with `metric`, kept for readers of the JSON).
    pub unit: String,
    /// The measured value.
    pub value: f64,
    /// 95% confidence interval (wall clock only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<Interval>,
    /// Number of samples behind `value` (wall clock only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// The calibration benchmark's ns per iteration in the same process (wall clock only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_ns: Option<f64>,
    /// Relative spread measured at bless time under perturbed conditions (instruction metrics only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
    /// The bench target (file) that produced it, e.g. `instr_proto`.
    pub target: String,
}

impl Measurement {
    /// A measurement with only a value (counts: instructions, heap figures).
    pub fn count(id: &str, metric: Metric, value: f64, target: &str) -> Measurement {
        Measurement {
            id: id.to_owned(),
            metric,
            unit: metric.unit().to_owned(),
            value,
            ci: None,
            samples: None,
            calibration_ns: None,
            spread: None,
            target: target.to_owned(),
        }
    }
}

/// Whether `id` has the `area/op/case` shape: three non-empty segments separated by `/`.
pub fn is_valid_id(id: &str) -> bool {
    let parts: Vec<&str> = id.split('/').collect();
    parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && !p.chars().any(char::is_whitespace))
}

/// A suite (or part of one) that the run could not measure, and why; never a silent pass.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NotMeasured {
    /// The suite left out.
    pub suite: Suite,
    /// Why, and how to fix it.
    pub reason: String,
}

/// Everything one run measured: `target/perf/results.json`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct RunResults {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// All measurements, sorted by id then metric.
    pub measurements: Vec<Measurement>,
    /// Suites that could not be measured.
    pub not_measured: Vec<NotMeasured>,
}

impl RunResults {
    /// Sorts measurements by (id, metric) so files and reports are stable.
    pub fn sort(&mut self) {
        self.measurements.sort_by(|a, b| (&a.id, a.metric).cmp(&(&b.id, b.metric)));
    }
}

/// Benchmark ids measured more than once for one metric (e.g. the same calibration id in two targets),
/// as `id metric (target, target)`; ids must be unique for comparisons to mean anything.
pub fn duplicates(measurements: &[Measurement]) -> Vec<String> {
    let mut seen: std::collections::BTreeMap<(&str, Metric), Vec<&str>> = std::collections::BTreeMap::new();
    for m in measurements {
        seen.entry((&m.id, m.metric)).or_default().push(&m.target);
    }
    seen.into_iter()
        .filter(|(_, targets)| targets.len() > 1)
        .map(|((id, metric), targets)| format!("{id} {} ({})", metric.name(), targets.join(", ")))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn duplicates_name_the_id_and_both_targets() {
        let measurements = [
            Measurement::count("calibration/spin/fixed", Metric::WallNs, 1.0, "wall_a"),
            Measurement::count("calibration/spin/fixed", Metric::WallNs, 1.0, "wall_b"),
            Measurement::count("a/b/c", Metric::WallNs, 1.0, "wall_a"),
        ];

        let found = duplicates(&measurements);

        assert_eq!(found, ["calibration/spin/fixed wall_ns (wall_a, wall_b)"]);
    }

    #[test]
    fn suite_of_target_follows_the_prefix_convention() {
        let names = ["wall_proto", "instr_state", "heap_load", "walls", "proto", "instr"];

        let suites: Vec<Option<Suite>> = names.iter().map(|n| Suite::of_target(n)).collect();

        assert_eq!(suites, [Some(Suite::Wall), Some(Suite::Instr), Some(Suite::Heap), None, None, None]);
    }

    #[test]
    fn valid_id_needs_three_non_empty_segments() {
        let ids = ["proto/parse/n1000", "proto/parse", "proto//x", "a/b/c/d", "a/b c/d"];

        let valid: Vec<bool> = ids.iter().map(|id| is_valid_id(id)).collect();

        assert_eq!(valid, [true, false, false, false, false]);
    }

    #[test]
    fn metric_names_round_trip() {
        let names: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();

        let parsed: Vec<Option<Metric>> = names.iter().map(|n| Metric::from_name(n)).collect();

        assert_eq!(parsed, Metric::ALL.map(Some));
    }
}
