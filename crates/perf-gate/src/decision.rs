//! The verdict model: rows, budgets, staleness and unmeasured suites become one [`Report`] with an
//! overall [`Outcome`] and its exit code. Shard reports merge into one by the same rules.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;
use serde::{Deserialize, Serialize};

use crate::budgets::BudgetCheck;
use crate::rules::{Row, Verdict};
use crate::schema::{NotMeasured, SCHEMA_VERSION};
use crate::shard::Shard;

/// The overall result, in order of precedence.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Baselines missing or stale: exit 4 (comparisons are shown but cannot be trusted).
    Stale,
    /// A regression or an exceeded budget: exit 3.
    Regression,
    /// Something asked for could not be measured (e.g. valgrind missing): exit 1, never a silent pass.
    Incomplete,
    /// Everything measured and within tolerance: exit 0.
    Pass,
}

impl Outcome {
    /// The documented exit code.
    pub fn exit_code(self) -> u8 {
        match self {
            Outcome::Pass => 0,
            Outcome::Incomplete => 1,
            Outcome::Regression => 3,
            Outcome::Stale => 4,
        }
    }

    /// Short word for reports.
    pub fn word(self) -> &'static str {
        match self {
            Outcome::Pass => "pass",
            Outcome::Incomplete => "incomplete",
            Outcome::Regression => "fail",
            Outcome::Stale => "stale baselines",
        }
    }
}

/// What the comparison was against.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "against")]
pub enum Mode {
    /// The committed `baselines/`.
    Baselines,
    /// A/B against a base revision built in a worktree.
    Ab(String),
    /// `perf compare --against` an older baseline.
    Compare(String),
}

/// `target/perf/report.json`: the machine-readable verdict.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// What was compared against.
    pub mode: Mode,
    /// Overall outcome.
    pub outcome: Outcome,
    /// The process exit code for `outcome`.
    pub exit_code: u8,
    /// The summary line, e.g. "2 regressions, 1 improvement, 41 unchanged".
    pub summary: String,
    /// One row per benchmark and metric.
    pub rows: Vec<Row>,
    /// Absolute budgets checked.
    pub budgets: Vec<BudgetCheck>,
    /// Why the baselines are stale (empty when fresh).
    pub stale: Vec<String>,
    /// Suites that could not be measured.
    pub not_measured: Vec<NotMeasured>,
    /// The bless command to print when stale.
    pub bless_command: String,
    /// Shards this report covers, e.g. ["1/2"]; empty for an unsharded run.
    pub shards: Vec<String>,
    /// The machine that measured (CPU, cores, kernel, rustc).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<String>,
    /// The workspace that was measured.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub root: Option<String>,
    /// The commit measured (HEAD), with `+dirty` when the tree had uncommitted changes; shard
    /// reports of different commits are never merged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub commit: Option<String>,
    /// Which suites were measured A/B instead of against their committed baselines, and why.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub notes: Vec<String>,
}

/// Builds the report. Against the committed baselines, new and missing benchmarks make them stale.
pub fn decide(
    mode: Mode,
    rows: Vec<Row>,
    budgets: Vec<BudgetCheck>,
    mut stale: Vec<String>,
    not_measured: Vec<NotMeasured>,
) -> Report {
    if mode == Mode::Baselines {
        for (verdict, what) in [(Verdict::New, "new benchmark"), (Verdict::Missing, "benchmark gone")] {
            let ids: Vec<String> =
                rows.iter().filter(|r| r.verdict == verdict).map(|r| format!("{} {}", r.id, r.metric.name())).collect();
            if !ids.is_empty() {
                stale.push(format!("benchmark set differs: {what}: {}", ids.join(", ")));
            }
        }
    }
    stale.sort();
    stale.dedup();
    let mut report = Report {
        schema: SCHEMA_VERSION,
        mode,
        outcome: Outcome::Pass,
        exit_code: 0,
        summary: String::new(),
        rows,
        budgets,
        stale,
        not_measured,
        bless_command: "cargo xtask perf bless --reason \"...\"".to_owned(),
        shards: Vec::new(),
        machine: None,
        root: None,
        commit: None,
        notes: Vec::new(),
    };
    finish(&mut report);
    report
}

/// Recomputes outcome, exit code and summary from the report's contents.
fn finish(report: &mut Report) {
    report.rows.sort_by(|a, b| (&a.id, a.metric).cmp(&(&b.id, b.metric)));
    report.outcome = if !report.stale.is_empty() {
        Outcome::Stale
    } else if report.rows.iter().any(|r| r.fails) || report.budgets.iter().any(|b| !b.ok) {
        Outcome::Regression
    } else if !report.not_measured.is_empty() || report.rows.iter().any(|r| r.verdict == Verdict::NotMeasured) {
        Outcome::Incomplete
    } else {
        Outcome::Pass
    };
    report.exit_code = report.outcome.exit_code();
    report.summary = summary_line(&report.rows, &report.budgets);
}

/// "2 regressions, 1 improvement, 41 unchanged" (+ other verdicts and budgets when present).
pub fn summary_line(rows: &[Row], budgets: &[BudgetCheck]) -> String {
    let mut counts: BTreeMap<(Verdict, bool), usize> = BTreeMap::new();
    for row in rows {
        let advisory = row.verdict == Verdict::Regression && !row.fails;
        *counts.entry((row.verdict, advisory)).or_default() += 1;
    }
    let mut parts = Vec::new();
    let exceeded = budgets.iter().filter(|b| !b.ok).count();
    if exceeded > 0 {
        parts.push(format!("{exceeded} budget{} exceeded", if exceeded == 1 { "" } else { "s" }));
    }
    for ((verdict, advisory), n) in counts {
        let noun = match (verdict, advisory) {
            (Verdict::Regression, true) => plural(n, "advisory regression", "advisory regressions"),
            (Verdict::Regression, false) => plural(n, "regression", "regressions"),
            (Verdict::Improvement, _) => plural(n, "improvement", "improvements"),
            (Verdict::Calibration, _) => plural(n, "calibration", "calibrations"),
            (other, _) => other.name(),
        };
        parts.push(format!("{n} {noun}"));
    }
    if parts.is_empty() { "no benchmarks".to_owned() } else { parts.join(", ") }
}

fn plural(n: usize, one: &'static str, many: &'static str) -> &'static str {
    if n == 1 { one } else { many }
}

/// Merges shard reports: rows, budgets, staleness and unmeasured suites are unioned, the outcome
/// recomputed. Refused: reports of different modes or commits, an unsharded report, shards of
/// different counts, a shard given twice, and a set missing a shard.
pub fn merge(reports: Vec<Report>) -> Result<Report> {
    check_shard_set(&reports)?;
    let mut iter = reports.into_iter();
    let mut merged = iter.next().ok_or_else(|| anyhow::anyhow!("no reports to merge"))?;
    for report in iter {
        anyhow::ensure!(report.mode == merged.mode, "cannot merge reports of different modes");
        merged.rows.extend(report.rows);
        merged.budgets.extend(report.budgets);
        merged.stale.extend(report.stale);
        merged.not_measured.extend(report.not_measured);
        merged.shards.extend(report.shards);
        merged.notes.extend(report.notes);
    }
    merged.notes.sort();
    merged.notes.dedup();
    merged.stale.sort();
    merged.stale.dedup();
    merged.not_measured.sort_by(|a, b| a.suite.cmp(&b.suite).then(a.reason.cmp(&b.reason)));
    merged.not_measured.dedup();
    merged.shards.sort();
    finish(&mut merged);
    Ok(merged)
}

/// The reports must be exactly shards 1..=n of one run of one commit.
fn check_shard_set(reports: &[Report]) -> Result<()> {
    anyhow::ensure!(!reports.is_empty(), "no reports to merge");
    let commits: BTreeSet<&str> = reports.iter().map(|r| r.commit.as_deref().unwrap_or("unknown")).collect();
    anyhow::ensure!(
        commits.len() == 1,
        "the reports measured different revisions ({}): merge the shards of one run",
        commits.into_iter().collect::<Vec<_>>().join(", ")
    );
    let mut shards: Vec<Shard> = Vec::new();
    for (k, report) in reports.iter().enumerate() {
        anyhow::ensure!(
            report.shards.len() == 1,
            "report {} is not the report of one shard (shards {:?}): merge only `--shard i/n` reports",
            k + 1,
            report.shards
        );
        shards.push(report.shards[0].parse().map_err(|e: String| anyhow::anyhow!("report {}: {e}", k + 1))?);
    }
    let counts: BTreeSet<usize> = shards.iter().map(|s| s.count).collect();
    anyhow::ensure!(counts.len() == 1, "the reports split the run differently ({counts:?} shards)");
    let count = shards[0].count;
    let mut seen = BTreeSet::new();
    for shard in &shards {
        anyhow::ensure!(seen.insert(shard.index), "shard {shard} is given twice");
    }
    let missing: Vec<String> = (1..=count).filter(|i| !seen.contains(i)).map(|i| format!("{i}/{count}")).collect();
    anyhow::ensure!(missing.is_empty(), "shard {} is missing: merge every shard of the run", missing.join(", "));
    Ok(())
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::{Metric, Suite};

    pub(crate) fn row(id: &str, metric: Metric, verdict: Verdict, fails: bool) -> Row {
        Row {
            id: id.into(),
            metric,
            unit: metric.unit().into(),
            baseline: Some(100.0),
            current: Some(if verdict == Verdict::Regression { 103.0 } else { 100.0 }),
            change: Some(if verdict == Verdict::Regression { 0.03 } else { 0.0 }),
            change_ci: None,
            tolerance: Some(0.01),
            verdict,
            fails,
            detail: "because".into(),
            rule: "test rule".into(),
            reference: "baseline abc1234".into(),
            detectable: Some(0.01),
        }
    }

    #[test]
    fn summary_line_counts_verdicts_with_plurals() {
        let mut rows = vec![
            row("a/b/1", Metric::Instructions, Verdict::Regression, true),
            row("a/b/2", Metric::Instructions, Verdict::Regression, true),
            row("a/b/3", Metric::Instructions, Verdict::Improvement, false),
        ];
        rows.extend((0..41).map(|i| row(&format!("c/d/{i}"), Metric::Instructions, Verdict::Unchanged, false)));

        let line = summary_line(&rows, &[]);

        assert_eq!(line, "2 regressions, 1 improvement, 41 unchanged");
    }

    #[test]
    fn failing_row_gives_exit_3() {
        let rows = vec![row("a/b/c", Metric::Instructions, Verdict::Regression, true)];

        let report = decide(Mode::Baselines, rows, vec![], vec![], vec![]);

        assert_eq!((report.outcome, report.exit_code), (Outcome::Regression, 3));
    }

    #[test]
    fn new_benchmark_makes_baselines_stale_with_exit_4() {
        let rows = vec![row("a/b/c", Metric::Instructions, Verdict::New, false)];

        let report = decide(Mode::Baselines, rows, vec![], vec![], vec![]);

        assert_eq!((report.outcome, report.exit_code), (Outcome::Stale, 4));
        assert!(report.stale[0].contains("new benchmark: a/b/c instructions"), "{:?}", report.stale);
    }

    #[test]
    fn new_benchmark_in_ab_mode_is_only_informational() {
        let rows = vec![row("a/b/c", Metric::Instructions, Verdict::New, false)];

        let report = decide(Mode::Ab("main".into()), rows, vec![], vec![], vec![]);

        assert_eq!(report.outcome, Outcome::Pass);
    }

    #[test]
    fn unmeasured_suite_is_never_a_silent_pass() {
        let rows = vec![row("a/b/c", Metric::HeapTotalBlocks, Verdict::Unchanged, false)];
        let skipped = vec![NotMeasured { suite: Suite::Instr, reason: "valgrind not found".into() }];

        let report = decide(Mode::Baselines, rows, vec![], vec![], skipped);

        assert_eq!((report.outcome, report.exit_code), (Outcome::Incomplete, 1));
    }

    #[test]
    fn exceeded_budget_gives_exit_3() {
        let budget = BudgetCheck {
            subject: "load".into(),
            figure: "lost_updates".into(),
            value: 1.0,
            limit: 0.0,
            unit: "updates".into(),
            ok: false,
        };

        let report = decide(Mode::Baselines, vec![], vec![budget], vec![], vec![]);

        assert_eq!(report.exit_code, 3);
        assert_eq!(report.summary, "1 budget exceeded");
    }

    #[test]
    fn merged_shards_fail_when_one_shard_fails() {
        let mut a = decide(
            Mode::Baselines,
            vec![row("a/b/c", Metric::Instructions, Verdict::Unchanged, false)],
            vec![],
            vec![],
            vec![],
        );
        a.shards = vec!["1/2".into()];
        a.commit = Some("abc".into());
        let mut b = decide(
            Mode::Baselines,
            vec![row("d/e/f", Metric::Instructions, Verdict::Regression, true)],
            vec![],
            vec![],
            vec![],
        );
        b.shards = vec!["2/2".into()];
        b.commit = Some("abc".into());

        let merged = merge(vec![b, a]).unwrap();

        assert_eq!(
            (merged.exit_code, merged.rows.len(), merged.shards.clone()),
            (3, 2, vec!["1/2".to_owned(), "2/2".to_owned()])
        );
        assert_eq!(merged.summary, "1 regression, 1 unchanged");
    }

    fn shard_report(shard: &str, commit: &str) -> Report {
        let mut report = decide(
            Mode::Baselines,
            vec![row(&format!("a/b/{}", shard.replace('/', "of")), Metric::Instructions, Verdict::Unchanged, false)],
            vec![],
            vec![],
            vec![],
        );
        report.shards = vec![shard.to_owned()];
        report.commit = Some(commit.to_owned());
        report
    }

    #[test]
    fn merge_refuses_a_set_missing_a_shard() {
        let reports = vec![shard_report("1/3", "abc"), shard_report("3/3", "abc")];

        let err = merge(reports).unwrap_err();

        assert_eq!(format!("{err:#}"), "shard 2/3 is missing: merge every shard of the run");
    }

    #[test]
    fn merge_refuses_a_shard_given_twice() {
        let reports = vec![shard_report("1/2", "abc"), shard_report("1/2", "abc"), shard_report("2/2", "abc")];

        let err = merge(reports).unwrap_err();

        assert_eq!(format!("{err:#}"), "shard 1/2 is given twice");
    }

    #[test]
    fn merge_refuses_shards_of_different_revisions() {
        let reports = vec![shard_report("1/2", "abc"), shard_report("2/2", "def")];

        let err = merge(reports).unwrap_err();

        assert!(format!("{err:#}").contains("different revisions (abc, def)"), "{err:#}");
    }

    #[test]
    fn merge_refuses_an_unsharded_report() {
        let mut whole = shard_report("1/1", "abc");
        whole.shards.clear();

        let err = merge(vec![whole, shard_report("1/1", "abc")]).unwrap_err();

        assert!(format!("{err:#}").contains("is not the report of one shard"), "{err:#}");
    }
}
