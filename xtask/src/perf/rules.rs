//! The decision rules: a pure comparison of current measurements with reference ones (committed
//! baselines, an A/B base run, or an older baseline), one [`Row`] per benchmark and metric.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use super::config::Config;
use super::schema::{Measurement, Metric, NotMeasured};

/// z value of a two-sided 95% interval.
const Z95: f64 = 1.96;

/// What the gate concluded for one benchmark and metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Verdict {
    /// Worse beyond the tolerance.
    Regression,
    /// Better beyond the tolerance.
    Improvement,
    /// Wall clock moved beyond its tolerance while the same benchmark's instruction count did not.
    NoiseSuspect,
    /// Within the tolerance.
    Unchanged,
    /// Measured now, absent from the reference.
    New,
    /// In the reference, not measured now although its suite ran.
    Missing,
    /// Its suite could not run (e.g. valgrind missing).
    NotMeasured,
    /// A calibration benchmark: shown for the machine's speed, never judged.
    Calibration,
}

impl Verdict {
    /// Human name used in reports.
    pub(crate) fn name(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::NoiseSuspect => "noise-suspect",
            Verdict::Unchanged => "unchanged",
            Verdict::New => "new",
            Verdict::Missing => "missing",
            Verdict::NotMeasured => "not measured",
            Verdict::Calibration => "calibration",
        }
    }
}

/// One benchmark and metric, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Row {
    /// Benchmark id.
    pub(crate) id: String,
    /// Metric.
    pub(crate) metric: Metric,
    /// Unit of `baseline` and `current`.
    pub(crate) unit: String,
    /// Reference value.
    pub(crate) baseline: Option<f64>,
    /// Current value.
    pub(crate) current: Option<f64>,
    /// Relative change (current / baseline - 1; calibration-normalised for wall clock).
    pub(crate) change: Option<f64>,
    /// 95% interval of the relative change (wall clock).
    pub(crate) change_ci: Option<(f64, f64)>,
    /// The relative tolerance applied (including spread and slack).
    pub(crate) tolerance: Option<f64>,
    /// The verdict.
    pub(crate) verdict: Verdict,
    /// Whether this row fails the gate.
    pub(crate) fails: bool,
    /// Why, in words.
    pub(crate) detail: String,
    /// Which rule set the tolerance: built-in default, perf.toml, an override, or learned from history.
    #[serde(default)]
    pub(crate) rule: String,
}

/// Compares `current` with `reference`. Reference entries of suites listed in `not_measured` become
/// "not measured" rows; other reference entries absent now become "missing".
pub(crate) fn compare(
    current: &[Measurement],
    reference: &[Measurement],
    not_measured: &[NotMeasured],
    config: &Config,
) -> Vec<Row> {
    let key = |m: &Measurement| (m.id.clone(), m.metric);
    let now: BTreeMap<_, &Measurement> = current.iter().map(|m| (key(m), m)).collect();
    let before: BTreeMap<_, &Measurement> = reference.iter().map(|m| (key(m), m)).collect();
    let keys: BTreeSet<_> = now.keys().chain(before.keys()).cloned().collect();
    let skipped: BTreeSet<_> = not_measured.iter().map(|n| n.suite).collect();

    let mut rows: Vec<Row> = keys
        .into_iter()
        .map(|(id, metric)| {
            let (cur, base) = (now.get(&(id.clone(), metric)).copied(), before.get(&(id.clone(), metric)).copied());
            let mut row = Row {
                id: id.clone(),
                metric,
                unit: metric.unit().to_owned(),
                baseline: base.map(|b| b.value),
                current: cur.map(|c| c.value),
                change: None,
                change_ci: None,
                tolerance: None,
                verdict: Verdict::Unchanged,
                fails: false,
                detail: String::new(),
                rule: String::new(),
            };
            match (cur, base) {
                (Some(c), Some(b)) => judge(&mut row, c, b, config),
                (Some(_), None) => {
                    row.verdict = Verdict::New;
                    row.detail = "not in the reference".to_owned();
                }
                (None, Some(_)) if skipped.contains(&metric.suite()) => {
                    row.verdict = Verdict::NotMeasured;
                    row.detail = format!("the {} suite did not run", metric.suite().name());
                }
                (None, _) => {
                    row.verdict = Verdict::Missing;
                    row.detail = "in the reference, not measured now".to_owned();
                }
            }
            row
        })
        .collect();
    mark_noise_suspects(&mut rows);
    rows
}

fn judge(row: &mut Row, cur: &Measurement, base: &Measurement, config: &Config) {
    let (rule, source) = config.rule_with_source(&cur.id, cur.metric);
    row.rule = source;
    if cur.metric == Metric::WallNs {
        if cur.id.starts_with(config.wall.calibration_prefix.as_str()) {
            row.verdict = Verdict::Calibration;
            row.change = Some(cur.value / base.value - 1.0);
            row.detail = "machine speed relative to the reference (not judged)".to_owned();
            return;
        }
        judge_wall(row, cur, base, rule.tolerance);
    } else {
        let spread = base.spread.unwrap_or(0.0).max(cur.spread.unwrap_or(0.0));
        let relative = rule.tolerance.max(rule.spread_factor * spread);
        let allowed = relative * base.value + rule.slack;
        let delta = cur.value - base.value;
        row.change =
            Some(if base.value == 0.0 { if delta == 0.0 { 0.0 } else { f64::INFINITY } } else { delta / base.value });
        row.tolerance = Some(if base.value == 0.0 { relative } else { allowed / base.value });
        row.verdict = if delta > allowed {
            Verdict::Regression
        } else if delta < -allowed {
            Verdict::Improvement
        } else {
            Verdict::Unchanged
        };
        row.detail = format!(
            "allowed ±{allowed:.0} {} (max(tolerance {:.2}%, {}×spread {:.3}%) + slack {})",
            cur.metric.unit(),
            rule.tolerance * 100.0,
            rule.spread_factor,
            spread * 100.0,
            rule.slack
        );
    }
    row.fails = row.verdict == Verdict::Regression && rule.enforce;
    if row.verdict == Verdict::Regression && !rule.enforce {
        row.detail.push_str("; advisory metric (enforce = false)");
    }
    row.detail.push_str("; rule: ");
    row.detail.push_str(&row.rule);
}

/// Relative standard error implied by a 95% interval.
fn relative_se(m: &Measurement) -> f64 {
    match m.ci {
        Some(ci) if m.value > 0.0 => ((ci.upper - ci.lower) / (2.0 * Z95) / m.value).max(0.0),
        _ => 0.0,
    }
}

fn judge_wall(row: &mut Row, cur: &Measurement, base: &Measurement, tolerance: f64) {
    let raw = cur.value / base.value;
    let (ratio, normalised) = match (cur.calibration_ns, base.calibration_ns) {
        (Some(c), Some(b)) if c > 0.0 && b > 0.0 => (raw / (c / b), true),
        _ => (raw, false),
    };
    let se = (relative_se(cur).powi(2) + relative_se(base).powi(2)).sqrt();
    let (lo, hi) = (ratio * (-Z95 * se).exp(), ratio * (Z95 * se).exp());
    row.change = Some(ratio - 1.0);
    row.change_ci = Some((lo - 1.0, hi - 1.0));
    row.tolerance = Some(tolerance);
    row.verdict = if lo > 1.0 + tolerance {
        Verdict::Regression
    } else if hi < 1.0 - tolerance {
        Verdict::Improvement
    } else {
        Verdict::Unchanged
    };
    row.detail = format!(
        "change {:+.1}% (95% CI {:+.1}%..{:+.1}%), tolerance ±{:.0}%, {}",
        (ratio - 1.0) * 100.0,
        (lo - 1.0) * 100.0,
        (hi - 1.0) * 100.0,
        tolerance * 100.0,
        if normalised {
            "normalised by the calibration benchmark"
        } else {
            "not normalised (no calibration benchmark)"
        }
    );
}

/// The operation of a benchmark id, `area/op` (its case dropped).
fn operation(id: &str) -> &str {
    id.rsplit_once('/').map_or(id, |(op, _)| op)
}

/// Wall-clock moves of benchmarks whose instruction count stayed within tolerance are noise-suspect:
/// the code did not do more work, the machine did. The instruction twin is the row with the same id,
/// or, when there is none, the instruction rows of the same operation (`area/op`, other cases: the
/// instruction suite runs smaller inputs under valgrind), all of which must be unchanged. Memory-bound
/// benchmarks need the second form most: a neighbour's cache pressure slows them while the
/// calibration spin, which touches no memory, stays put.
fn mark_noise_suspects(rows: &mut [Row]) {
    let instruction_rows: Vec<(String, Verdict, f64)> = rows
        .iter()
        .filter(|r| r.metric == Metric::Instructions)
        .map(|r| (r.id.clone(), r.verdict, r.change.unwrap_or(0.0)))
        .collect();
    let twin = |id: &str| -> Option<(String, f64)> {
        if let Some((_, verdict, change)) = instruction_rows.iter().find(|(i, _, _)| i == id) {
            return (*verdict == Verdict::Unchanged).then(|| (id.to_owned(), *change));
        }
        let same_op: Vec<&(String, Verdict, f64)> =
            instruction_rows.iter().filter(|(i, _, _)| operation(i) == operation(id)).collect();
        if same_op.is_empty() || same_op.iter().any(|(_, v, _)| *v != Verdict::Unchanged) {
            return None;
        }
        let (i, _, change) = same_op.iter().max_by(|a, b| a.2.abs().total_cmp(&b.2.abs()))?;
        Some((i.clone(), *change))
    };
    for row in rows.iter_mut().filter(|r| r.metric == Metric::WallNs) {
        if !matches!(row.verdict, Verdict::Regression | Verdict::Improvement) {
            continue;
        }
        if let Some((instr_id, instr)) = twin(&row.id) {
            let whose = if instr_id == row.id { String::new() } else { format!(" (of {instr_id})") };
            row.detail = format!(
                "{}; wall clock said {} but instructions{whose} moved only {:+.2}%: not failing",
                row.detail,
                row.verdict.name(),
                instr * 100.0
            );
            row.verdict = Verdict::NoiseSuspect;
            row.fails = false;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::perf::schema::{Interval, Suite};

    fn instr(id: &str, value: f64, spread: Option<f64>) -> Measurement {
        Measurement { spread, ..Measurement::count(id, Metric::Instructions, value, "instr_x") }
    }

    fn wall(id: &str, ns: f64, half: f64, calibration: f64) -> Measurement {
        Measurement {
            ci: Some(Interval { lower: ns - half, upper: ns + half }),
            samples: Some(10),
            calibration_ns: Some(calibration),
            ..Measurement::count(id, Metric::WallNs, ns, "wall_x")
        }
    }

    fn verdicts(rows: &[Row]) -> Vec<(String, Metric, Verdict, bool)> {
        rows.iter().map(|r| (r.id.clone(), r.metric, r.verdict, r.fails)).collect()
    }

    #[test]
    fn instructions_three_percent_up_is_a_failing_regression() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.0))], [instr("a/b/c", 103_000.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!(verdicts(&rows), [("a/b/c".into(), Metric::Instructions, Verdict::Regression, true)]);
    }

    #[test]
    fn instructions_within_one_percent_are_unchanged() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.0))], [instr("a/b/c", 100_900.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
    }

    #[test]
    fn instruction_tolerance_widens_to_three_times_the_blessed_spread() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.01))], [instr("a/b/c", 102_500.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
        assert!((rows[0].tolerance.unwrap() - 0.03).abs() < 1e-12);
    }

    #[test]
    fn instructions_down_beyond_tolerance_are_an_improvement() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.0))], [instr("a/b/c", 95_000.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Improvement, false));
    }

    #[test]
    fn one_extra_heap_block_is_a_regression() {
        let base = [Measurement::count("h/x/y", Metric::HeapTotalBlocks, 101.0, "heap_x")];
        let cur = [Measurement::count("h/x/y", Metric::HeapTotalBlocks, 102.0, "heap_x")];

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Regression, true));
    }

    #[test]
    fn heap_bytes_within_slack_are_unchanged() {
        let base = [Measurement::count("h/x/y", Metric::HeapTotalBytes, 1600.0, "heap_x")];
        let cur = [Measurement::count("h/x/y", Metric::HeapTotalBytes, 1616.0, "heap_x")];

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
    }

    #[test]
    fn wall_regression_needs_the_whole_interval_beyond_tolerance() {
        let base = [wall("a/b/c", 100.0, 1.0, 50.0)];
        let (clear, straddling) = ([wall("a/b/c", 130.0, 1.0, 50.0)], [wall("a/b/c", 112.0, 5.0, 50.0)]);

        let (clear_rows, straddling_rows) =
            (compare(&clear, &base, &[], &Config::default()), compare(&straddling, &base, &[], &Config::default()));

        assert_eq!((clear_rows[0].verdict, clear_rows[0].fails), (Verdict::Regression, true));
        assert_eq!(straddling_rows[0].verdict, Verdict::Unchanged);
    }

    #[test]
    fn wall_is_normalised_by_calibration() {
        let base = [wall("a/b/c", 100.0, 1.0, 50.0)];
        let cur = [wall("a/b/c", 150.0, 1.0, 75.0)];

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
        assert!(rows[0].change.unwrap().abs() < 1e-12);
    }

    #[test]
    fn wall_move_with_steady_instructions_is_noise_suspect_and_passes() {
        let base = [wall("a/b/c", 100.0, 1.0, 50.0), instr("a/b/c", 1000.0, Some(0.0))];
        let cur = [wall("a/b/c", 160.0, 1.0, 50.0), instr("a/b/c", 1000.0, None)];

        let rows = compare(&cur, &base, &[], &Config::default());

        let wall_row = rows.iter().find(|r| r.metric == Metric::WallNs).unwrap();
        assert_eq!((wall_row.verdict, wall_row.fails), (Verdict::NoiseSuspect, false));
    }

    #[test]
    fn wall_improvement_with_steady_instructions_is_noise_suspect() {
        let base = [wall("a/b/c", 100.0, 1.0, 50.0), instr("a/b/c", 1000.0, Some(0.0))];
        let cur = [wall("a/b/c", 60.0, 1.0, 50.0), instr("a/b/c", 1000.0, None)];

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!(rows.iter().find(|r| r.metric == Metric::WallNs).unwrap().verdict, Verdict::NoiseSuspect);
    }

    #[test]
    fn wall_move_with_steady_instructions_of_the_same_operation_is_noise_suspect() {
        let base = [wall("a/b/n100k", 100.0, 1.0, 50.0), instr("a/b/n2k", 1000.0, Some(0.0))];
        let cur = [wall("a/b/n100k", 130.0, 1.0, 50.0), instr("a/b/n2k", 1001.0, None)];

        let rows = compare(&cur, &base, &[], &Config::default());

        let wall_row = rows.iter().find(|r| r.metric == Metric::WallNs).unwrap();
        assert_eq!((wall_row.verdict, wall_row.fails), (Verdict::NoiseSuspect, false));
        assert!(wall_row.detail.contains("instructions (of a/b/n2k) moved only +0.10%"), "{}", wall_row.detail);
    }

    #[test]
    fn wall_regression_stands_when_an_instruction_case_of_the_operation_regressed() {
        let base = [
            wall("a/b/n100k", 100.0, 1.0, 50.0),
            instr("a/b/n1k", 1000.0, Some(0.0)),
            instr("a/b/n2k", 2000.0, Some(0.0)),
        ];
        let cur = [wall("a/b/n100k", 130.0, 1.0, 50.0), instr("a/b/n1k", 1000.0, None), instr("a/b/n2k", 2100.0, None)];

        let rows = compare(&cur, &base, &[], &Config::default());

        let wall_row = rows.iter().find(|r| r.metric == Metric::WallNs).unwrap();
        assert_eq!((wall_row.verdict, wall_row.fails), (Verdict::Regression, true));
    }

    #[test]
    fn wall_regression_of_another_operation_is_not_excused() {
        let base = [wall("a/b/n100k", 100.0, 1.0, 50.0), instr("a/c/n2k", 1000.0, Some(0.0))];
        let cur = [wall("a/b/n100k", 130.0, 1.0, 50.0), instr("a/c/n2k", 1000.0, None)];

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!(rows.iter().find(|r| r.metric == Metric::WallNs).unwrap().verdict, Verdict::Regression);
    }

    #[test]
    fn calibration_benchmark_is_never_judged() {
        let base = [wall("calibration/spin/fixed", 50.0, 1.0, 50.0)];
        let cur = [wall("calibration/spin/fixed", 90.0, 1.0, 90.0)];

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Calibration, false));
    }

    #[test]
    fn set_differences_and_skipped_suites_are_named() {
        let base = [instr("a/b/gone", 1.0, None), Measurement::count("h/x/y", Metric::HeapMaxBytes, 1.0, "heap_x")];
        let cur = [instr("a/b/new", 1.0, None)];
        let skipped = [NotMeasured { suite: Suite::Heap, reason: "test".into() }];

        let rows = compare(&cur, &base, &skipped, &Config::default());

        let got: Vec<(&str, Verdict)> = rows.iter().map(|r| (r.id.as_str(), r.verdict)).collect();
        assert_eq!(got, [("a/b/gone", Verdict::Missing), ("a/b/new", Verdict::New), ("h/x/y", Verdict::NotMeasured)]);
    }

    #[test]
    fn advisory_metric_regression_does_not_fail() {
        let base = [Measurement::count("a/b/c", Metric::EstimatedCycles, 100.0, "instr_x")];
        let cur = [Measurement::count("a/b/c", Metric::EstimatedCycles, 200.0, "instr_x")];

        let rows = compare(&cur, &base, &[], &Config::default());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Regression, false));
    }
}
