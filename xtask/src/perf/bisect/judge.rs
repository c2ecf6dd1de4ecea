//! The pure side of `perf bisect`'s decision: what is asked (one benchmark and metric), the limit
//! that separates good commits from bad ones, each step's verdict, and the JSON Lines record a step
//! leaves for the driver.

use serde::{Deserialize, Serialize};

use super::super::config::Rule;
use super::super::schema::{self, Measurement, Metric};

/// The benchmark and metric to bisect on, validated.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Request {
    /// Benchmark id, `area/op/case`.
    pub(crate) id: String,
    /// The metric judged.
    pub(crate) metric: Metric,
}

impl Request {
    /// Validates `--bench` and `--metric`; the error is a usage message.
    pub(crate) fn parse(bench: &str, metric: &str) -> Result<Request, String> {
        let metric = Metric::from_name(metric).ok_or_else(|| {
            let known: Vec<&str> = Metric::ALL.iter().map(|m| m.name()).collect();
            format!("unknown metric `{metric}` (one of {})", known.join(", "))
        })?;
        if !schema::is_valid_id(bench) {
            return Err(format!("--bench `{bench}` is not a benchmark id of the form area/op/case"));
        }
        Ok(Request { id: bench.to_owned(), metric })
    }
}

/// The largest value still called good: the good value plus the rule's relative tolerance and its
/// absolute slack, as the gate allows them (there is no bless-time spread to widen it here).
pub(crate) fn limit(rule: &Rule, good: f64) -> f64 {
    good + rule.tolerance * good.abs() + rule.slack
}

/// Relative change from `before` to `after` (0.1 = 10% more).
pub(crate) fn change(before: f64, after: f64) -> f64 {
    if before == 0.0 { if after == 0.0 { 0.0 } else { f64::INFINITY } } else { after / before - 1.0 }
}

/// What measuring one commit gave.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Probe {
    /// The benchmark's value and the bench target that produced it.
    Measured {
        /// The value in the metric's unit.
        value: f64,
        /// The bench target, e.g. `instr_proto`.
        target: String,
    },
    /// The benchmark, its bench target or the bench package does not exist at this commit.
    Absent(String),
    /// It exists but the workspace, the bench build or its run failed at this commit.
    Broken(String),
}

impl Probe {
    /// The requested benchmark among one run's measurements; when it is absent, the reason names
    /// the other benchmarks of its metric (calibration ones, starting with `calibration_prefix`, aside).
    pub(crate) fn find(measured: &[Measurement], request: &Request, calibration_prefix: &str) -> Probe {
        if let Some(m) = measured.iter().find(|m| m.id == request.id && m.metric == request.metric) {
            return Probe::Measured { value: m.value, target: m.target.clone() };
        }
        let mut ids: Vec<&str> = measured
            .iter()
            .filter(|m| m.metric == request.metric && !m.id.starts_with(calibration_prefix))
            .map(|m| m.id.as_str())
            .collect();
        ids.sort_unstable();
        ids.dedup();
        Probe::Absent(if ids.is_empty() {
            format!("no benchmark by that id measures {}", request.metric.name())
        } else {
            format!("no benchmark `{}` among {}", request.id, ids.join(", "))
        })
    }
}

/// A step's answer to `git bisect run`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Verdict {
    /// At or below the limit.
    Good,
    /// Above the limit.
    Bad,
    /// Not measurable here (does not build, benchmark absent): git tries a neighbour.
    Skip,
}

impl Verdict {
    /// The verdict of a probe against the limit.
    pub(crate) fn of(probe: &Probe, limit: f64) -> Verdict {
        match probe {
            Probe::Measured { value, .. } if *value > limit => Verdict::Bad,
            Probe::Measured { .. } => Verdict::Good,
            Probe::Absent(_) | Probe::Broken(_) => Verdict::Skip,
        }
    }

    /// The exit code `git bisect run` understands: 0 good, 1 bad, 125 skip.
    pub(crate) fn exit_code(self) -> u8 {
        match self {
            Verdict::Good => 0,
            Verdict::Bad => 1,
            Verdict::Skip => 125,
        }
    }

    /// The verdict's name in progress lines.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Good => "good",
            Verdict::Bad => "bad",
            Verdict::Skip => "skip",
        }
    }
}

/// One step's line in the bisect log.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct StepRecord {
    /// The commit measured (full hash).
    pub(crate) commit: String,
    /// What the step told git.
    pub(crate) verdict: Verdict,
    /// The measured value, when there was one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) value: Option<f64>,
    /// Why the commit was skipped.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reason: Option<String>,
}

impl StepRecord {
    /// The record of `probe` at `commit`, judged against `limit`.
    pub(crate) fn new(commit: &str, probe: &Probe, limit: f64) -> StepRecord {
        let (value, reason) = match probe {
            Probe::Measured { value, .. } => (Some(*value), None),
            Probe::Absent(why) | Probe::Broken(why) => (None, Some(why.clone())),
        };
        StepRecord { commit: commit.to_owned(), verdict: Verdict::of(probe, limit), value, reason }
    }

    /// One JSON line, newline included.
    pub(crate) fn to_line(&self) -> serde_json::Result<String> {
        Ok(format!("{}\n", serde_json::to_string(self)?))
    }
}

/// Parses the bisect log (JSON Lines; blank lines ignored).
pub(crate) fn parse_log(text: &str) -> anyhow::Result<Vec<StepRecord>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(n, line)| {
            serde_json::from_str(line)
                .map_err(|e| anyhow::anyhow!("bisect log line {} is not a step record: {e}", n + 1))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn request() -> Request {
        Request { id: "synth/sum/small".to_owned(), metric: Metric::Instructions }
    }

    #[test]
    fn request_accepts_an_id_and_a_known_metric() {
        let (bench, metric) = ("synth/sum/small", "heap_total_bytes");

        let parsed = Request::parse(bench, metric);

        assert_eq!(parsed, Ok(Request { id: bench.to_owned(), metric: Metric::HeapTotalBytes }));
    }

    #[test]
    fn request_rejects_an_unknown_metric_naming_the_known_ones() {
        let (bench, metric) = ("synth/sum/small", "cycles");

        let parsed = Request::parse(bench, metric);

        let message = parsed.unwrap_err();
        assert!(message.starts_with("unknown metric `cycles` (one of instructions, "), "{message}");
    }

    #[test]
    fn request_rejects_an_id_without_three_segments() {
        let (bench, metric) = ("synth/sum", "instructions");

        let parsed = Request::parse(bench, metric);

        assert_eq!(parsed, Err("--bench `synth/sum` is not a benchmark id of the form area/op/case".to_owned()));
    }

    #[test]
    fn limit_adds_tolerance_and_slack_to_the_good_value() {
        let rule = Rule { tolerance: 0.01, spread_factor: 3.0, slack: 64.0, enforce: true };

        let limit = limit(&rule, 10_000.0);

        assert_eq!(limit, 10_164.0);
    }

    #[test]
    fn change_is_relative_and_infinite_from_zero() {
        let pairs = [(200.0, 250.0), (200.0, 150.0), (0.0, 0.0), (0.0, 3.0)];

        let changes: Vec<f64> = pairs.iter().map(|(b, a)| change(*b, *a)).collect();

        assert_eq!(changes, [0.25, -0.25, 0.0, f64::INFINITY]);
    }

    #[test]
    fn verdict_is_bad_only_strictly_above_the_limit() {
        let probe = |value| Probe::Measured { value, target: "instr_synth".to_owned() };

        let verdicts = [Verdict::of(&probe(101.0), 101.0), Verdict::of(&probe(101.5), 101.0)];

        assert_eq!(verdicts, [Verdict::Good, Verdict::Bad]);
    }

    #[test]
    fn good_and_bad_exit_0_and_1_for_git_bisect_run() {
        let verdicts = [Verdict::Good, Verdict::Bad];

        let codes: Vec<u8> = verdicts.iter().map(|v| v.exit_code()).collect();

        assert_eq!(codes, [0, 1]);
    }

    #[test]
    fn absent_or_broken_commits_are_skipped_with_exit_125() {
        let probes = [Probe::Absent("no bench target".to_owned()), Probe::Broken("does not build".to_owned())];

        let codes: Vec<u8> = probes.iter().map(|p| Verdict::of(p, 1.0).exit_code()).collect();

        assert_eq!(codes, [125, 125]);
    }

    #[test]
    fn find_picks_the_requested_id_and_metric() {
        let measured = [
            Measurement::count("synth/sum/small", Metric::EstimatedCycles, 9.0, "instr_synth"),
            Measurement::count("synth/sum/small", Metric::Instructions, 7.0, "instr_synth"),
        ];

        let probe = Probe::find(&measured, &request(), "calibration/");

        assert_eq!(probe, Probe::Measured { value: 7.0, target: "instr_synth".to_owned() });
    }

    #[test]
    fn find_names_the_other_ids_when_the_benchmark_is_absent() {
        let measured = [
            Measurement::count("synth/sum/other", Metric::Instructions, 7.0, "instr_synth"),
            Measurement::count("calibration/spin/fixed", Metric::Instructions, 7.0, "instr_synth"),
            Measurement::count("synth/mix/large", Metric::Instructions, 7.0, "instr_synth"),
        ];

        let probe = Probe::find(&measured, &request(), "calibration/");

        assert_eq!(
            probe,
            Probe::Absent("no benchmark `synth/sum/small` among synth/mix/large, synth/sum/other".to_owned())
        );
    }

    #[test]
    fn step_records_round_trip_through_the_log() {
        let records = [
            StepRecord::new("abc", &Probe::Measured { value: 5.0, target: "t".to_owned() }, 4.0),
            StepRecord::new("def", &Probe::Broken("does not build".to_owned()), 4.0),
        ];
        let text: String = records.iter().map(|r| r.to_line().unwrap()).collect();

        let parsed = parse_log(&format!("{text}\n")).unwrap();

        assert_eq!(parsed, records);
        assert_eq!((parsed[0].verdict, parsed[1].verdict), (Verdict::Bad, Verdict::Skip));
    }

    #[test]
    fn a_garbled_log_line_is_an_error_naming_the_line() {
        let text = "{\"commit\":\"abc\",\"verdict\":\"good\",\"value\":1.0}\nnot json\n";

        let parsed = parse_log(text);

        assert!(parsed.unwrap_err().to_string().starts_with("bisect log line 2 "));
    }
}
