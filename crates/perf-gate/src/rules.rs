//! The decision rules: a pure comparison of current measurements with reference ones (committed
//! baselines, an A/B base run, or an older baseline), one [`Row`] per benchmark and metric.

use std::collections::{BTreeMap, BTreeSet};

use serde::{Deserialize, Serialize};

use crate::config::{Config, Rule};
use crate::paired::{self, Estimate};
use crate::schema::{Measurement, Metric, NotMeasured};
use crate::stats;

/// z value of a two-sided 95% interval.
const Z95: f64 = 1.96;

/// What the gate concluded for one benchmark and metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Verdict {
    /// Worse beyond the tolerance.
    Regression,
    /// Better beyond the tolerance.
    Improvement,
    /// Within the tolerance.
    Unchanged,
    /// The run could not tell: its interval of the change is too wide to rule out a slowdown of the
    /// decisive size (paired A/B wall clock). Never counted as unchanged, never failing.
    Inconclusive,
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
    pub fn name(self) -> &'static str {
        match self {
            Verdict::Regression => "regression",
            Verdict::Improvement => "improvement",
            Verdict::Unchanged => "unchanged",
            Verdict::Inconclusive => "inconclusive",
            Verdict::New => "new",
            Verdict::Missing => "missing",
            Verdict::NotMeasured => "not measured",
            Verdict::Calibration => "calibration",
        }
    }
}

/// One benchmark and metric, compared.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Row {
    /// Benchmark id.
    pub id: String,
    /// Metric.
    pub metric: Metric,
    /// Unit of `baseline` and `current`.
    pub unit: String,
    /// Reference value.
    pub baseline: Option<f64>,
    /// Current value.
    pub current: Option<f64>,
    /// Relative change (current / baseline - 1; calibration-normalised for wall clock).
    pub change: Option<f64>,
    /// 95% interval of the relative change (wall clock).
    pub change_ci: Option<(f64, f64)>,
    /// The relative tolerance applied (including spread and slack).
    pub tolerance: Option<f64>,
    /// The verdict.
    pub verdict: Verdict,
    /// Whether this row fails the gate.
    pub fails: bool,
    /// Why, in words.
    pub detail: String,
    /// Which rule set the tolerance: built-in default, perf.toml, an override, or learned from history.
    #[serde(default)]
    pub rule: String,
    /// What the row was compared with: the committed baseline (and where it was measured) or the
    /// revision measured A/B in the same run.
    #[serde(default)]
    pub reference: String,
    /// The smallest slowdown this comparison would have called a regression (relative).
    #[serde(default)]
    pub detectable: Option<f64>,
}

/// Compares `current` with `reference`. Reference entries of suites listed in `not_measured` become
/// "not measured" rows; other reference entries absent now become "missing".
pub fn compare(
    current: &[Measurement],
    reference: &[Measurement],
    not_measured: &[NotMeasured],
    config: &Config,
    learning: &Learning,
) -> Vec<Row> {
    let key = |m: &Measurement| (m.id.clone(), m.metric);
    let now: BTreeMap<_, &Measurement> = current.iter().map(|m| (key(m), m)).collect();
    let before: BTreeMap<_, &Measurement> = reference.iter().map(|m| (key(m), m)).collect();
    let keys: BTreeSet<_> = now.keys().chain(before.keys()).cloned().collect();
    let skipped: BTreeSet<_> = not_measured.iter().map(|n| n.suite).collect();

    let rows: Vec<Row> = keys
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
                reference: String::new(),
                detectable: None,
            };
            match (cur, base) {
                (Some(c), Some(b)) => judge(&mut row, c, b, config, learning),
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
    rows
}

fn judge(row: &mut Row, cur: &Measurement, base: &Measurement, config: &Config, learning: &Learning) {
    let (rule, source) = resolve(config, learning, &cur.id, cur.metric);
    row.rule = source;
    if cur.metric == Metric::WallNs {
        if cur.id.starts_with(config.wall.calibration_prefix.as_str()) {
            row.verdict = Verdict::Calibration;
            row.change = Some(cur.value / base.value - 1.0);
            row.detail = "machine speed relative to the reference (not judged)".to_owned();
            return;
        }
        judge_wall(row, cur, base, rule.tolerance, config.wall.paired.decisive);
    } else {
        let spread = base.spread.unwrap_or(0.0).max(cur.spread.unwrap_or(0.0));
        let relative = rule.tolerance.max(rule.spread_factor * spread);
        let allowed = relative * base.value + rule.slack;
        let delta = cur.value - base.value;
        row.change =
            Some(if base.value == 0.0 { if delta == 0.0 { 0.0 } else { f64::INFINITY } } else { delta / base.value });
        row.tolerance = Some(if base.value == 0.0 { relative } else { allowed / base.value });
        row.detectable = row.tolerance;
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

fn judge_wall(row: &mut Row, cur: &Measurement, base: &Measurement, tolerance: f64, decisive: f64) {
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
    // The whole interval must clear the tolerance: the smallest change that does is the tolerance
    // plus the interval's lower half-width.
    row.detectable = Some((1.0 + tolerance) * (ratio / lo) - 1.0);
    row.verdict = if lo > 1.0 + tolerance {
        Verdict::Regression
    } else if hi < 1.0 - tolerance {
        Verdict::Improvement
    } else if hi < 1.0 + decisive {
        Verdict::Unchanged
    } else {
        Verdict::Inconclusive
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

/// How a wall-clock tolerance was decided for one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Learned {
    /// The tolerance: Q3 + 3 x IQR of the absolute adjacent relative changes (never below `floor`).
    pub tolerance: f64,
    /// How many points it was learned from.
    pub points: usize,
    /// Q3 of the absolute adjacent changes.
    pub q3: f64,
    /// Interquartile range of the absolute adjacent changes.
    pub iqr: f64,
}

/// Tolerances learned from history, by benchmark id: a value beside the config, never inside it.
pub type Learning = BTreeMap<String, Learned>;

/// Lower bound of a learned tolerance: a perfectly quiet history must not make 0.1% a regression.
pub const MIN_LEARNED_TOLERANCE: f64 = 0.01;

/// Quartile of sorted values by linear interpolation between closest ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// The noise fence of a benchmark from its absolute adjacent run-to-run changes (relative): Q3 + 3 x
/// IQR, never below [`MIN_LEARNED_TOLERANCE`] (rustc-perf's rule). `points` is how many runs the
/// changes came from.
pub fn noise_fence(changes: &[f64], points: usize) -> Learned {
    let mut sorted = changes.to_vec();
    sorted.sort_by(f64::total_cmp);
    if sorted.is_empty() {
        return Learned { tolerance: MIN_LEARNED_TOLERANCE, points, q3: 0.0, iqr: 0.0 };
    }
    let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));
    let iqr = q3 - q1;
    Learned { tolerance: (q3 + 3.0 * iqr).max(MIN_LEARNED_TOLERANCE), points, q3, iqr }
}

/// The rule for one benchmark and metric: the metric's rule from `config`, then the tolerance
/// learned from history (wall clock), then `config`'s overrides, with which one set the tolerance.
pub fn resolve(config: &Config, learning: &Learning, id: &str, metric: Metric) -> (Rule, String) {
    let (mut rule, mut source) = config.metric_rule(metric);
    if let Some(learned) = learning.get(id).filter(|_| metric == Metric::WallNs) {
        rule.tolerance = learned.tolerance;
        source = format!(
            "learned from {} runs of history (Q3 {:.1}% + 3 x IQR {:.1}%)",
            learned.points,
            learned.q3 * 100.0,
            learned.iqr * 100.0
        );
    }
    config.apply_overrides(id, metric, rule, source)
}

/// A benchmark's paired A/B rounds after the first pass over every benchmark.
#[derive(Debug, Clone, PartialEq)]
pub struct Screened {
    /// Benchmark id.
    pub id: String,
    /// The estimate of the change and its interval (`None` without usable rounds).
    pub estimate: Option<Estimate>,
    /// One-sided p-value that the change exceeds the tolerance.
    pub p_regression: f64,
    /// Flagged by Benjamini–Hochberg over all benchmarks: re-measured before it can fail.
    pub flagged: bool,
}

/// Log head/base ratios of rounds (rounds with a non-positive figure are dropped).
fn log_ratios(pairs: &[(f64, f64)]) -> Vec<f64> {
    pairs.iter().filter(|(b, h)| *b > 0.0 && *h > 0.0).map(|(b, h)| (h / b).ln()).collect()
}

/// The first pass over a paired run: an estimate and a one-sided p-value per benchmark (H0: the
/// slowdown is at most the benchmark's wall tolerance), and Benjamini–Hochberg over all of them at
/// the configured false discovery rate.
pub fn screen_paired(pairs: &BTreeMap<String, Vec<(f64, f64)>>, config: &Config) -> Vec<Screened> {
    let paired = &config.wall.paired;
    let mut screened: Vec<Screened> = pairs
        .iter()
        .map(|(id, rounds)| {
            let logs = log_ratios(rounds);
            let threshold = config.rule_with_source(id, Metric::WallNs).0.tolerance.ln_1p();
            Screened {
                id: id.clone(),
                estimate: paired::hodges_lehmann(&logs, paired.confidence),
                p_regression: if logs.is_empty() { 1.0 } else { paired::p_above(&logs, threshold) },
                flagged: false,
            }
        })
        .collect();
    let p: Vec<f64> = screened.iter().map(|s| s.p_regression).collect();
    for (s, flagged) in screened.iter_mut().zip(paired::benjamini_hochberg(&p, paired.false_discovery_rate)) {
        s.flagged = flagged;
    }
    screened
}

/// Whether a benchmark's rounds so far decide it, so it may leave the remaining rounds: every round
/// put head below base x (1 + tolerance). Stopping such a benchmark early can only make a regression
/// call less likely (a futility stop), so the false-alarm rate does not grow.
pub fn settled(id: &str, pairs: &[(f64, f64)], config: &Config) -> bool {
    let threshold = config.rule_with_source(id, Metric::WallNs).0.tolerance.ln_1p();
    let logs = log_ratios(pairs);
    logs.len() == pairs.len() && logs.iter().all(|d| *d < threshold)
}

/// How a paired row came about, for its detail.
#[derive(Debug, Clone, Copy)]
pub struct PairedEvidence<'a> {
    /// The first pass's rounds.
    pub first: &'a [(f64, f64)],
    /// The first pass's judgement.
    pub screened: &'a Screened,
    /// The confirmation pass's rounds, for a flagged benchmark.
    pub confirmation: Option<&'a [(f64, f64)]>,
}

fn percent(x: f64) -> String {
    if x.is_finite() {
        format!("{:+.1}%", x * 100.0)
    } else if x > 0.0 {
        "+inf".into()
    } else {
        "-inf".into()
    }
}

/// The row of one benchmark measured A/B in rounds: a regression only when the first pass flagged
/// it AND the confirmation pass shows the slowdown beyond the tolerance again (one-sided p below
/// `confirm_alpha`); an improvement when the interval lies wholly below minus the tolerance;
/// unchanged when the interval rules out a slowdown of `decisive`; otherwise inconclusive.
pub fn paired_row(id: &str, evidence: PairedEvidence<'_>, config: &Config, reference: &str) -> Row {
    let paired = &config.wall.paired;
    let (rule, source) = config.rule_with_source(id, Metric::WallNs);
    let threshold = rule.tolerance.ln_1p();
    let median_of = |pick: fn(&(f64, f64)) -> f64, rounds: &[(f64, f64)]| {
        stats::median(&rounds.iter().map(pick).collect::<Vec<_>>())
    };
    // The figures shown are the confirmation's when there is one: the first pass's estimate of a
    // flagged benchmark is biased upwards by the selection itself.
    let (rounds, estimate) = match evidence.confirmation {
        Some(c) => (c, paired::hodges_lehmann(&log_ratios(c), paired.confidence)),
        None => (evidence.first, evidence.screened.estimate),
    };
    let mut row = Row {
        id: id.to_owned(),
        metric: Metric::WallNs,
        unit: Metric::WallNs.unit().to_owned(),
        baseline: median_of(|p| p.0, rounds),
        current: median_of(|p| p.1, rounds),
        change: estimate.map(|e| e.change()),
        change_ci: estimate.map(|e| e.ci()),
        tolerance: Some(rule.tolerance),
        verdict: Verdict::Inconclusive,
        fails: false,
        detail: String::new(),
        rule: source,
        reference: reference.to_owned(),
        detectable: estimate.map(|e| (threshold + (e.log_change - e.log_ci.0)).exp_m1()),
    };
    let Some(estimate) = estimate else {
        row.detail = "no usable rounds".to_owned();
        return row;
    };
    let (lo, hi) = estimate.log_ci;
    let confirmed_p = evidence.confirmation.map(|c| paired::p_above(&log_ratios(c), threshold));
    row.verdict = match confirmed_p {
        Some(p) if p < paired.confirm_alpha => Verdict::Regression,
        _ if hi < -threshold => Verdict::Improvement,
        // Beyond the tolerance in this interval, but not significant among all benchmarks, or not
        // confirmed: neither a regression nor unchanged.
        _ if lo > threshold => Verdict::Inconclusive,
        _ if hi < paired.decisive.ln_1p() => Verdict::Unchanged,
        _ => Verdict::Inconclusive,
    };
    row.fails = row.verdict == Verdict::Regression && rule.enforce;
    let (first_change, first_p) =
        (evidence.screened.estimate.map_or(f64::NAN, |e| e.change()), evidence.screened.p_regression);
    let mut detail = format!(
        "{} rounds: change {} ({:.0}% CI {}..{}), tolerance +{:.0}%",
        rounds.len(),
        percent(estimate.change()),
        paired.confidence * 100.0,
        percent(lo.exp_m1()),
        percent(hi.exp_m1()),
        rule.tolerance * 100.0
    );
    match confirmed_p {
        Some(p) => detail.push_str(&format!(
            "; flagged in the first pass ({} over {} rounds, p = {first_p:.4}), {} by the confirmation pass (p = {p:.4})",
            percent(first_change),
            evidence.first.len(),
            if p < paired.confirm_alpha { "confirmed" } else { "not confirmed" }
        )),
        None => detail.push_str(&format!("; p = {first_p:.4} for a slowdown beyond the tolerance")),
    }
    if let Some(d) = row.detectable {
        detail.push_str(&format!("; could have seen {} or more", percent(d)));
    }
    if row.verdict == Verdict::Inconclusive {
        detail.push_str(&format!("; interval too wide to rule out {}", percent(paired.decisive)));
    }
    if row.verdict == Verdict::Regression && !rule.enforce {
        detail.push_str("; advisory (enforce = false)");
    }
    row.detail = format!("{detail}; rule: {}", row.rule);
    row
}

/// Rows for benchmarks measured on one side of a paired run only (`New` on head, `Missing` on base).
pub fn one_sided_row(id: &str, rounds: &[f64], on_head: bool, reference: &str) -> Row {
    Row {
        id: id.to_owned(),
        metric: Metric::WallNs,
        unit: Metric::WallNs.unit().to_owned(),
        baseline: if on_head { None } else { stats::median(rounds) },
        current: if on_head { stats::median(rounds) } else { None },
        change: None,
        change_ci: None,
        tolerance: None,
        verdict: if on_head { Verdict::New } else { Verdict::Missing },
        fails: false,
        detail: if on_head { "not in the reference revision".into() } else { "only in the reference revision".into() },
        rule: String::new(),
        reference: reference.to_owned(),
        detectable: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::schema::{Interval, Suite};

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
    fn instructions_one_percent_up_is_a_failing_regression() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.0))], [instr("a/b/c", 101_000.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!(verdicts(&rows), [("a/b/c".into(), Metric::Instructions, Verdict::Regression, true)]);
    }

    #[test]
    fn instructions_within_half_a_percent_are_unchanged() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.0))], [instr("a/b/c", 100_400.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
    }

    #[test]
    fn instruction_tolerance_widens_to_three_times_the_blessed_spread() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.01))], [instr("a/b/c", 102_500.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
        assert!((rows[0].tolerance.unwrap() - 0.03).abs() < 1e-12);
    }

    #[test]
    fn instructions_down_beyond_tolerance_are_an_improvement() {
        let (base, cur) = ([instr("a/b/c", 100_000.0, Some(0.0))], [instr("a/b/c", 95_000.0, None)]);

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Improvement, false));
    }

    #[test]
    fn one_extra_heap_block_is_a_regression() {
        let base = [Measurement::count("h/x/y", Metric::HeapTotalBlocks, 101.0, "heap_x")];
        let cur = [Measurement::count("h/x/y", Metric::HeapTotalBlocks, 102.0, "heap_x")];

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Regression, true));
    }

    #[test]
    fn heap_bytes_within_slack_are_unchanged() {
        let base = [Measurement::count("h/x/y", Metric::HeapTotalBytes, 1600.0, "heap_x")];
        let cur = [Measurement::count("h/x/y", Metric::HeapTotalBytes, 1616.0, "heap_x")];

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
    }

    #[test]
    fn wall_regression_needs_the_whole_interval_beyond_tolerance() {
        let base = [wall("a/b/c", 100.0, 1.0, 50.0)];
        let (clear, straddling) = ([wall("a/b/c", 130.0, 1.0, 50.0)], [wall("a/b/c", 104.0, 5.0, 50.0)]);

        let (clear_rows, straddling_rows) = (
            compare(&clear, &base, &[], &Config::default(), &Learning::new()),
            compare(&straddling, &base, &[], &Config::default(), &Learning::new()),
        );

        assert_eq!((clear_rows[0].verdict, clear_rows[0].fails), (Verdict::Regression, true));
        assert_eq!(straddling_rows[0].verdict, Verdict::Unchanged);
    }

    #[test]
    fn wall_is_normalised_by_calibration() {
        let base = [wall("a/b/c", 100.0, 1.0, 50.0)];
        let cur = [wall("a/b/c", 150.0, 1.0, 75.0)];

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!(rows[0].verdict, Verdict::Unchanged);
        assert!(rows[0].change.unwrap().abs() < 1e-12);
    }

    #[test]
    fn wall_regression_stands_when_instructions_are_steady() {
        // A system call in a hot loop costs kernel time that no instruction count sees.
        let base = [wall("a/b/c", 100.0, 1.0, 50.0), instr("a/b/c", 1000.0, Some(0.0))];
        let cur = [wall("a/b/c", 160.0, 1.0, 50.0), instr("a/b/c", 1000.0, None)];

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        let wall_row = rows.iter().find(|r| r.metric == Metric::WallNs).unwrap();
        assert_eq!((wall_row.verdict, wall_row.fails), (Verdict::Regression, true));
    }

    #[test]
    fn calibration_benchmark_is_never_judged() {
        let base = [wall("calibration/spin/fixed", 50.0, 1.0, 50.0)];
        let cur = [wall("calibration/spin/fixed", 90.0, 1.0, 90.0)];

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Calibration, false));
    }

    #[test]
    fn set_differences_and_skipped_suites_are_named() {
        let base = [instr("a/b/gone", 1.0, None), Measurement::count("h/x/y", Metric::HeapMaxBytes, 1.0, "heap_x")];
        let cur = [instr("a/b/new", 1.0, None)];
        let skipped = [NotMeasured { suite: Suite::Heap, reason: "test".into() }];

        let rows = compare(&cur, &base, &skipped, &Config::default(), &Learning::new());

        let got: Vec<(&str, Verdict)> = rows.iter().map(|r| (r.id.as_str(), r.verdict)).collect();
        assert_eq!(got, [("a/b/gone", Verdict::Missing), ("a/b/new", Verdict::New), ("h/x/y", Verdict::NotMeasured)]);
    }

    #[test]
    fn advisory_metric_regression_does_not_fail() {
        let base = [Measurement::count("a/b/c", Metric::EstimatedCycles, 100.0, "instr_x")];
        let cur = [Measurement::count("a/b/c", Metric::EstimatedCycles, 200.0, "instr_x")];

        let rows = compare(&cur, &base, &[], &Config::default(), &Learning::new());

        assert_eq!((rows[0].verdict, rows[0].fails), (Verdict::Regression, false));
    }

    /// Rounds of (base, head) whose ratio is 1 + change, wobbling by `jitter` alternately.
    fn rounds(change: f64, jitter: f64, n: usize) -> Vec<(f64, f64)> {
        (0..n)
            .map(|i| {
                let wobble = jitter * ((i % 5) as f64 - 2.0) / 2.0;
                (1000.0, 1000.0 * (1.0 + change) * (1.0 + wobble))
            })
            .collect()
    }

    fn judged(first: Vec<(f64, f64)>, confirmation: Option<Vec<(f64, f64)>>) -> Row {
        let config = Config::default();
        let pairs = BTreeMap::from([("a/b/c".to_owned(), first.clone())]);
        let screened = screen_paired(&pairs, &config).remove(0);
        let evidence = PairedEvidence { first: &first, screened: &screened, confirmation: confirmation.as_deref() };
        paired_row("a/b/c", evidence, &config, "A/B against abc1234")
    }

    #[test]
    fn paired_slowdown_flagged_and_confirmed_is_a_failing_regression() {
        let (first, again) = (rounds(0.08, 0.01, 10), rounds(0.08, 0.01, 10));

        let row = judged(first, Some(again));

        assert_eq!((row.verdict, row.fails), (Verdict::Regression, true), "{}", row.detail);
        assert!(row.detail.contains("confirmed by the confirmation pass"), "{}", row.detail);
    }

    #[test]
    fn paired_slowdown_that_the_confirmation_does_not_repeat_does_not_fail() {
        let (first, again) = (rounds(0.08, 0.01, 10), rounds(0.0, 0.01, 10));

        let row = judged(first, Some(again));

        assert_eq!((row.verdict, row.fails), (Verdict::Unchanged, false), "{}", row.detail);
        assert!(row.detail.contains("not confirmed"), "{}", row.detail);
    }

    #[test]
    fn steady_paired_rounds_are_unchanged_and_say_what_they_could_have_seen() {
        let first = rounds(0.0, 0.01, 10);

        let row = judged(first, None);

        assert_eq!(row.verdict, Verdict::Unchanged, "{}", row.detail);
        let detectable = row.detectable.unwrap();
        assert!(detectable > 0.0 && detectable < 0.06, "{detectable}");
        assert_eq!(row.reference, "A/B against abc1234");
    }

    #[test]
    fn noisy_paired_rounds_are_inconclusive_never_unchanged() {
        let first = rounds(0.0, 0.3, 10);

        let row = judged(first, None);

        assert_eq!((row.verdict, row.fails), (Verdict::Inconclusive, false), "{}", row.detail);
    }

    #[test]
    fn paired_speed_up_beyond_the_tolerance_is_an_improvement() {
        let first = rounds(-0.2, 0.01, 10);

        let row = judged(first, None);

        assert_eq!(row.verdict, Verdict::Improvement, "{}", row.detail);
    }

    #[test]
    fn screen_flags_only_the_slowed_benchmark_among_steady_ones() {
        let mut pairs: BTreeMap<String, Vec<(f64, f64)>> =
            (0..19).map(|i| (format!("a/steady/n{i}"), rounds(0.0, 0.02, 10))).collect();
        pairs.insert("a/slow/n1".to_owned(), rounds(0.10, 0.02, 10));

        let screened = screen_paired(&pairs, &Config::default());

        let flagged: Vec<&str> = screened.iter().filter(|s| s.flagged).map(|s| s.id.as_str()).collect();
        assert_eq!(flagged, ["a/slow/n1"]);
    }

    #[test]
    fn rounds_all_below_the_tolerance_settle_and_one_above_keeps_measuring() {
        let steady = rounds(0.0, 0.02, 6);
        let mut one_high = steady.clone();
        one_high[3].1 *= 1.05;

        let decided = (settled("a/b/c", &steady, &Config::default()), settled("a/b/c", &one_high, &Config::default()));

        assert_eq!(decided, (true, false));
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        let sorted = [1.0, 2.0, 3.0, 4.0];

        let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));

        assert_eq!((q1, q3), (1.75, 3.25));
    }
    #[test]
    fn learned_wall_tolerance_replaces_the_metric_default_but_not_an_override() {
        let config = Config::parse("[[overrides]]\nid = \"client/*\"\ntolerance = 0.5\n").unwrap();
        let learned = Learned { tolerance: 0.04, points: 12, q3: 0.01, iqr: 0.01 };
        let learning =
            Learning::from([("proto/parse/n1".to_owned(), learned.clone()), ("client/call/one".to_owned(), learned)]);

        let (plain, plain_source) = resolve(&config, &learning, "proto/parse/n1", Metric::WallNs);
        let (overridden, overridden_source) = resolve(&config, &learning, "client/call/one", Metric::WallNs);

        assert_eq!((plain.tolerance, overridden.tolerance), (0.04, 0.5));
        assert!(plain_source.starts_with("learned from 12 runs"), "{plain_source}");
        assert_eq!(overridden_source, "perf.toml override `client/*`");
    }
}
