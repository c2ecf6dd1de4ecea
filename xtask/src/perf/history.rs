//! Performance history: one [`Point`] per measured commit, kept as JSON Lines. Points come from two
//! places: runs of the gate recorded with `--record` (the workflow on main appends one per push) and
//! the committed baselines themselves, rebuilt from git (every commit that changed `baselines/` is a
//! point), so a fresh clone has a trend without any server. The HTML and terminal views live in the
//! submodules; this module is pure apart from [`from_git`] and the file helpers.

pub(crate) mod html;
pub(crate) mod text;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};
use xshell::{Shell, cmd};

use super::baseline::SuiteBaseline;
use super::config::Config;
use super::rules::{self, Row, Verdict};
use super::schema::{Measurement, Metric, SCHEMA_VERSION, Suite};

/// Where a point came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Source {
    /// The committed baselines at a commit that changed them (rebuilt from git).
    Baseline,
    /// A run of the gate recorded with `--record`.
    Run,
}

/// The machine and toolchain a point was measured on. Only points of one `class` are compared when
/// learning noise from history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Machine {
    /// Machine class: CPU model and, when known, logical core count, e.g. `AMD EPYC 7B13 x2`.
    pub(crate) class: String,
    /// `model name` from /proc/cpuinfo.
    pub(crate) cpu_model: String,
    /// Logical cores, when known (runs; baselines do not record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) cores: Option<u32>,
    /// First line of `rustc -vV`, e.g. `rustc 1.95.0 (...)`.
    pub(crate) rustc: String,
    /// `valgrind --version`, when the instr suite ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) valgrind: Option<String>,
}

impl Machine {
    /// The class string of a CPU model and core count.
    pub(crate) fn class_of(cpu_model: &str, cores: Option<u32>) -> String {
        match cores {
            Some(n) => format!("{cpu_model} x{n}"),
            None => cpu_model.to_owned(),
        }
    }
}

/// A suite whose baseline was (re)blessed at this point, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub(crate) struct Bless {
    /// The suite.
    pub(crate) suite: Suite,
    /// The reason recorded in the baseline's provenance.
    pub(crate) reason: String,
}

/// A regression or improvement called at this point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Call {
    /// Benchmark id.
    pub(crate) id: String,
    /// Metric.
    pub(crate) metric: Metric,
    /// `Regression` or `Improvement`.
    pub(crate) verdict: Verdict,
    /// Relative change against what the point was compared with.
    pub(crate) change: f64,
    /// Whether the gate failed on it.
    pub(crate) fails: bool,
}

impl Call {
    /// The regressions and improvements among a comparison's rows.
    pub(crate) fn from_rows(rows: &[Row]) -> Vec<Call> {
        rows.iter()
            .filter(|r| matches!(r.verdict, Verdict::Regression | Verdict::Improvement))
            .map(|r| Call {
                id: r.id.clone(),
                metric: r.metric,
                verdict: r.verdict,
                change: r.change.unwrap_or(0.0),
                fails: r.fails,
            })
            .collect()
    }
}

/// One line of the history file.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Point {
    /// [`SCHEMA_VERSION`].
    pub(crate) schema: u32,
    /// Full commit hash measured ("unknown" outside git).
    pub(crate) commit: String,
    /// Committer date of `commit`, RFC 3339 (orders the points).
    pub(crate) commit_date: String,
    /// When the figures were measured, RFC 3339 UTC (bless date for baseline points).
    pub(crate) measured: String,
    /// First line of the commit message, for labels.
    #[serde(default)]
    pub(crate) subject: String,
    /// Where the point came from.
    pub(crate) source: Source,
    /// Machine and toolchain.
    pub(crate) machine: Machine,
    /// Suites blessed at this point (baseline points whose suite file changed in `commit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) blessed: Vec<Bless>,
    /// Regressions and improvements called at this point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) calls: Vec<Call>,
    /// Every metric measured, sorted by id then metric.
    pub(crate) measurements: Vec<Measurement>,
}

impl Point {
    /// The measurement of `id` and `metric`, if this point has it.
    pub(crate) fn get(&self, id: &str, metric: Metric) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.id == id && m.metric == metric)
    }

    /// Seven characters of the commit hash.
    pub(crate) fn short_commit(&self) -> &str {
        self.commit.get(..7).unwrap_or(&self.commit)
    }
}

/// Parses a JSON Lines history. Blank lines are skipped; a bad line is an error naming its number
/// (a history is appended to by machines, so a torn line must be seen, not silently dropped).
pub(crate) fn parse(text: &str) -> Result<Vec<Point>> {
    text.lines()
        .enumerate()
        .filter(|(_, line)| !line.trim().is_empty())
        .map(|(i, line)| {
            let point: Point = serde_json::from_str(line).with_context(|| format!("history line {}", i + 1))?;
            anyhow::ensure!(
                point.schema <= SCHEMA_VERSION,
                "history line {}: schema {} is newer than this xtask understands ({SCHEMA_VERSION})",
                i + 1,
                point.schema
            );
            Ok(point)
        })
        .collect()
}

/// One point as a single JSON line (with the trailing newline).
pub(crate) fn to_line(point: &Point) -> Result<String> {
    let mut line = serde_json::to_string(point).context("serialising a history point")?;
    line.push('\n');
    Ok(line)
}

/// Reads a history file; a missing file is an empty history.
pub(crate) fn read(path: &Path) -> Result<Vec<Point>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).with_context(|| format!("in {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Appends one point to a history file, creating it (and its directory) when needed.
pub(crate) fn append(path: &Path, point: &Point) -> Result<()> {
    use std::io::Write as _;
    if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    let line = to_line(point)?;
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(path)
        .with_context(|| format!("opening {}", path.display()))?;
    file.write_all(line.as_bytes()).with_context(|| format!("appending to {}", path.display()))
}

/// Orders points oldest first: by commit date, baselines before runs of the same commit, then by
/// measurement date. Stable, so equal points keep their file order.
pub(crate) fn sort(points: &mut [Point]) {
    points.sort_by(|a, b| {
        (a.commit_date.as_str(), a.source, a.measured.as_str()).cmp(&(
            b.commit_date.as_str(),
            b.source,
            b.measured.as_str(),
        ))
    });
}

/// Merges recorded and rebuilt points: a (commit, source, measured) triple appears once.
pub(crate) fn merge(mut points: Vec<Point>, more: Vec<Point>) -> Vec<Point> {
    for p in more {
        if !points.iter().any(|q| q.commit == p.commit && q.source == p.source && q.measured == p.measured) {
            points.push(p);
        }
    }
    sort(&mut points);
    points
}

/// Every (benchmark id, metric) present in the history, sorted.
pub(crate) fn series_keys(points: &[Point]) -> Vec<(String, Metric)> {
    let mut keys: Vec<(String, Metric)> =
        points.iter().flat_map(|p| p.measurements.iter().map(|m| (m.id.clone(), m.metric))).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A commit of the git log that touched `baselines/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogEntry {
    /// Full hash.
    pub(crate) commit: String,
    /// Committer date, RFC 3339.
    pub(crate) date: String,
    /// Subject line.
    pub(crate) subject: String,
}

/// Parses `git log --format=%H%x1f%cI%x1f%s` output.
pub(crate) fn parse_log(text: &str) -> Vec<LogEntry> {
    text.lines()
        .filter_map(|line| {
            let mut parts = line.splitn(3, '\u{1f}');
            let (commit, date, subject) = (parts.next()?, parts.next()?, parts.next().unwrap_or(""));
            (commit.len() >= 7).then(|| LogEntry {
                commit: commit.to_owned(),
                date: date.to_owned(),
                subject: subject.to_owned(),
            })
        })
        .collect()
}

/// The baseline point of one commit: the suites' baselines as they stand at `entry.commit`
/// (`baselines`), those whose file changed in that commit (`changed`) marked as blessed with their
/// reasons, and the regressions and improvements of each blessed suite against its previous
/// baseline (`previous`), judged by today's rules.
pub(crate) fn baseline_point(
    entry: &LogEntry,
    baselines: &[SuiteBaseline],
    changed: &[Suite],
    previous: &BTreeMap<Suite, SuiteBaseline>,
    config: &Config,
) -> Point {
    let mut measurements: Vec<Measurement> = baselines.iter().flat_map(SuiteBaseline::measurements).collect();
    measurements.sort_by(|a, b| (&a.id, a.metric).cmp(&(&b.id, b.metric)));
    let mut blessed = Vec::new();
    let mut calls = Vec::new();
    for b in baselines.iter().filter(|b| changed.contains(&b.suite)) {
        blessed.push(Bless { suite: b.suite, reason: b.provenance.reason.clone() });
        if let Some(before) = previous.get(&b.suite) {
            calls.extend(Call::from_rows(&rules::compare(&b.measurements(), &before.measurements(), &[], config)));
        }
    }
    let provenance = baselines.iter().find(|b| changed.contains(&b.suite)).or(baselines.first()).map(|b| &b.provenance);
    let machine = provenance
        .map(|p| Machine {
            class: Machine::class_of(&p.cpu_model, None),
            cpu_model: p.cpu_model.clone(),
            cores: None,
            rustc: p.rustc.lines().next().unwrap_or_default().to_owned(),
            valgrind: baselines.iter().find_map(|b| b.provenance.valgrind.clone()),
        })
        .unwrap_or_default();
    Point {
        schema: SCHEMA_VERSION,
        commit: entry.commit.clone(),
        commit_date: entry.date.clone(),
        measured: provenance.map(|p| p.date.clone()).unwrap_or_else(|| entry.date.clone()),
        subject: entry.subject.clone(),
        source: Source::Baseline,
        machine,
        blessed,
        calls,
        measurements,
    }
}

/// Rebuilds history from git alone: one [`Source::Baseline`] point per commit that changed a file
/// of `baselines_dir` (a path inside the repository at `repo`), oldest first.
pub(crate) fn from_git(sh: &Shell, repo: &Path, baselines_dir: &Path, config: &Config) -> Result<Vec<Point>> {
    let _dir = sh.push_dir(repo);
    let top = std::path::PathBuf::from(
        cmd!(sh, "git rev-parse --show-toplevel").quiet().read().context("history from git needs a git repository")?,
    );
    let dir = std::path::absolute(baselines_dir)?;
    let rel = dir
        .strip_prefix(&top)
        .with_context(|| format!("{} is outside the git repository {}", dir.display(), top.display()))?
        .to_owned();
    let _top = sh.push_dir(&top);
    let log = cmd!(sh, "git log --reverse --format=%H%x1f%cI%x1f%s -- {rel}")
        .quiet()
        .read()
        .context("reading the git log of the baselines")?;
    let mut previous: BTreeMap<Suite, SuiteBaseline> = BTreeMap::new();
    let mut points = Vec::new();
    for entry in parse_log(&log) {
        let commit = &entry.commit;
        let names = cmd!(sh, "git diff-tree --no-commit-id --name-only -r --root {commit} -- {rel}")
            .quiet()
            .read()
            .with_context(|| format!("listing the files {commit} changed"))?;
        let changed: Vec<Suite> = Suite::ALL
            .into_iter()
            .filter(|s| names.lines().any(|n| Path::new(n) == rel.join(format!("{}.json", s.name()))))
            .collect();
        let mut baselines = Vec::new();
        for suite in Suite::ALL {
            let spec = format!("{commit}:{}", rel.join(format!("{}.json", suite.name())).display());
            let Ok(text) = cmd!(sh, "git show {spec}").quiet().ignore_stderr().read() else { continue };
            match SuiteBaseline::parse(&text) {
                Ok(b) => baselines.push(b),
                Err(e) => eprintln!("perf history: skipping {spec}: {e:#}"),
            }
        }
        if baselines.is_empty() {
            continue; // the commit removed the baselines
        }
        points.push(baseline_point(&entry, &baselines, &changed, &previous, config));
        for b in baselines.into_iter().filter(|b| changed.contains(&b.suite)) {
            previous.insert(b.suite, b);
        }
    }
    Ok(points)
}

/// How a wall-clock tolerance was decided for one benchmark.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Learned {
    /// The tolerance: Q3 + 3 x IQR of the absolute adjacent relative changes (never below `floor`).
    pub(crate) tolerance: f64,
    /// How many points it was learned from.
    pub(crate) points: usize,
    /// Q3 of the absolute adjacent changes.
    pub(crate) q3: f64,
    /// Interquartile range of the absolute adjacent changes.
    pub(crate) iqr: f64,
}

/// The fewest points of one machine class a tolerance is learned from.
pub(crate) const MIN_POINTS: usize = 10;

/// Lower bound of a learned tolerance: a perfectly quiet history must not make 0.1% a regression.
pub(crate) const MIN_LEARNED_TOLERANCE: f64 = 0.01;

/// Quartile of sorted values by linear interpolation between closest ranks.
fn quantile(sorted: &[f64], q: f64) -> f64 {
    let pos = q * (sorted.len() - 1) as f64;
    let (lo, hi) = (pos.floor() as usize, pos.ceil() as usize);
    sorted[lo] + (sorted[hi] - sorted[lo]) * (pos - lo as f64)
}

/// Learns the wall-clock tolerance of `id` from the recorded runs of machine `class`: the relative
/// change between each pair of adjacent runs (calibration-normalised when both carry a calibration
/// figure) is fenced at Q3 + 3 x IQR. `None` with fewer than [`MIN_POINTS`] runs.
pub(crate) fn learn_wall_tolerance(points: &[Point], class: &str, id: &str) -> Option<Learned> {
    let series: Vec<&Measurement> = points
        .iter()
        .filter(|p| p.source == Source::Run && p.machine.class == class)
        .filter_map(|p| p.get(id, Metric::WallNs))
        .filter(|m| m.value > 0.0 && m.value.is_finite())
        .collect();
    if series.len() < MIN_POINTS {
        return None;
    }
    let mut changes: Vec<f64> = series
        .windows(2)
        .map(|w| {
            let raw = w[1].value / w[0].value;
            let ratio = match (w[1].calibration_ns, w[0].calibration_ns) {
                (Some(c), Some(b)) if c > 0.0 && b > 0.0 => raw / (c / b),
                _ => raw,
            };
            (ratio - 1.0).abs()
        })
        .collect();
    changes.sort_by(f64::total_cmp);
    let (q1, q3) = (quantile(&changes, 0.25), quantile(&changes, 0.75));
    let iqr = q3 - q1;
    Some(Learned { tolerance: (q3 + 3.0 * iqr).max(MIN_LEARNED_TOLERANCE), points: series.len(), q3, iqr })
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::perf::schema::Interval;

    /// A run point of machine `class` with one wall figure per (id, ns).
    pub(crate) fn run_point(commit: &str, date: &str, class: &str, walls: &[(&str, f64)]) -> Point {
        Point {
            schema: SCHEMA_VERSION,
            commit: commit.to_owned(),
            commit_date: date.to_owned(),
            measured: date.to_owned(),
            subject: format!("commit {commit}"),
            source: Source::Run,
            machine: Machine { class: class.to_owned(), cpu_model: class.to_owned(), ..Machine::default() },
            blessed: Vec::new(),
            calls: Vec::new(),
            measurements: walls
                .iter()
                .map(|(id, ns)| Measurement {
                    ci: Some(Interval { lower: ns * 0.98, upper: ns * 1.02 }),
                    samples: Some(10),
                    ..Measurement::count(id, Metric::WallNs, *ns, "wall_x")
                })
                .collect(),
        }
    }

    /// A failing wall-clock regression of `id` by `change`, as the gate calls it.
    pub(crate) fn failing_wall_regression(id: &str, change: f64) -> Call {
        Call { id: id.to_owned(), metric: Metric::WallNs, verdict: Verdict::Regression, change, fails: true }
    }

    #[test]
    fn history_lines_round_trip() {
        let points = vec![
            run_point("a".repeat(40).as_str(), "2026-01-01T00:00:00Z", "cpu", &[("a/b/c", 10.0)]),
            run_point("b".repeat(40).as_str(), "2026-01-02T00:00:00Z", "cpu", &[("a/b/c", 11.0)]),
        ];
        let text: String = points.iter().map(|p| to_line(p).unwrap()).collect();

        let parsed = parse(&text).unwrap();

        assert_eq!(parsed, points);
    }

    #[test]
    fn torn_line_is_an_error_naming_the_line() {
        let good = to_line(&run_point("abcdefg", "2026-01-01T00:00:00Z", "cpu", &[("a/b/c", 10.0)])).unwrap();
        let text = format!("{good}\n{{\"schema\":1,\"commit\":\"ab");

        let err = parse(&text).unwrap_err();

        assert!(format!("{err:#}").contains("history line 3"), "{err:#}");
    }

    #[test]
    fn newer_schema_is_refused() {
        let mut point = run_point("abcdefg", "2026-01-01T00:00:00Z", "cpu", &[]);
        point.schema = SCHEMA_VERSION + 1;

        let err = parse(&to_line(&point).unwrap()).unwrap_err();

        assert!(format!("{err:#}").contains("newer"), "{err:#}");
    }

    #[test]
    fn append_creates_the_file_and_adds_one_line_per_point() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sub/history.jsonl");
        let point = run_point("abcdefg", "2026-01-01T00:00:00Z", "cpu", &[("a/b/c", 1.0)]);

        append(&path, &point).unwrap();
        append(&path, &point).unwrap();

        assert_eq!(read(&path).unwrap(), vec![point.clone(), point]);
    }

    #[test]
    fn missing_history_file_is_empty() {
        let dir = tempfile::tempdir().unwrap();

        let points = read(&dir.path().join("none.jsonl")).unwrap();

        assert!(points.is_empty());
    }

    #[test]
    fn merge_orders_by_commit_date_and_drops_duplicates() {
        let early = run_point("1111111", "2026-01-01T00:00:00Z", "cpu", &[]);
        let late = run_point("2222222", "2026-01-03T00:00:00Z", "cpu", &[]);
        let middle = run_point("3333333", "2026-01-02T00:00:00Z", "cpu", &[]);

        let merged = merge(vec![late.clone(), early.clone()], vec![middle.clone(), early.clone()]);

        let commits: Vec<&str> = merged.iter().map(|p| p.commit.as_str()).collect();
        assert_eq!(commits, ["1111111", "3333333", "2222222"]);
    }

    #[test]
    fn git_log_lines_split_on_unit_separators() {
        let text = "0123456789abcdef\u{1f}2026-01-01T00:00:00+00:00\u{1f}perf: faster | really\nbroken\n";

        let log = parse_log(text);

        assert_eq!(
            log,
            [LogEntry {
                commit: "0123456789abcdef".into(),
                date: "2026-01-01T00:00:00+00:00".into(),
                subject: "perf: faster | really".into()
            }]
        );
    }

    fn history_of(values: &[f64], class: &str) -> Vec<Point> {
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                run_point(&format!("{i:07}"), &format!("2026-01-{:02}T00:00:00Z", i + 1), class, &[("a/b/c", *v)])
            })
            .collect()
    }

    #[test]
    fn learned_tolerance_needs_ten_points_of_the_machine_class() {
        let mut points = history_of(&[100.0; 9], "cpu");
        points.extend(history_of(&[100.0; 5], "other"));

        let learned = learn_wall_tolerance(&points, "cpu", "a/b/c");

        assert_eq!(learned, None);
    }

    #[test]
    fn learned_tolerance_is_q3_plus_three_iqr_of_adjacent_changes() {
        // Adjacent changes alternate +2% / about -1.96%, with one +4% step: |changes| sorted are
        // eight values near 0.02 and one 0.04.
        let values = [100.0, 102.0, 100.0, 102.0, 100.0, 102.0, 100.0, 102.0, 100.0, 104.0];
        let points = history_of(&values, "cpu");

        let learned = learn_wall_tolerance(&points, "cpu", "a/b/c").unwrap();

        let mut changes: Vec<f64> = values.windows(2).map(|w| (w[1] / w[0] - 1.0f64).abs()).collect();
        changes.sort_by(f64::total_cmp);
        let (q1, q3) = (quantile(&changes, 0.25), quantile(&changes, 0.75));
        assert_eq!(learned.points, 10);
        assert!((learned.tolerance - (q3 + 3.0 * (q3 - q1))).abs() < 1e-12, "{learned:?}");
        assert!(learned.tolerance > 0.02 && learned.tolerance < 0.04, "{learned:?}");
    }

    #[test]
    fn quiet_history_is_floored_at_one_percent() {
        let points = history_of(&[100.0; 12], "cpu");

        let learned = learn_wall_tolerance(&points, "cpu", "a/b/c").unwrap();

        assert_eq!(learned.tolerance, MIN_LEARNED_TOLERANCE);
    }

    #[test]
    fn quantile_interpolates_between_ranks() {
        let sorted = [1.0, 2.0, 3.0, 4.0];

        let (q1, q3) = (quantile(&sorted, 0.25), quantile(&sorted, 0.75));

        assert_eq!((q1, q3), (1.75, 3.25));
    }
}

#[cfg(test)]
mod git_tests {
    use super::*;
    use crate::perf::baseline::Provenance;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes `baselines/<suite>.json` holding one benchmark with `value`, blessed for `reason`.
    fn bless(repo: &Path, suite: Suite, metric: Metric, value: f64, reason: &str) {
        let provenance =
            Provenance { reason: reason.to_owned(), cpu_model: "Test CPU".into(), ..Provenance::default() };
        let m = Measurement::count("area/op/case", metric, value, &format!("{}_x", suite.name()));
        let baseline = SuiteBaseline::from_measurements(suite, provenance, &[m]);
        std::fs::create_dir_all(repo.join("baselines")).unwrap();
        std::fs::write(repo.join(format!("baselines/{}.json", suite.name())), baseline.to_text().unwrap()).unwrap();
    }

    fn commit(repo: &Path, message: &str, date: &str) -> String {
        git(repo, &["add", "-A"]);
        git(repo, &["-c", "commit.gpgsign=false", "commit", "-q", "-m", message, "--date", date]);
        git(repo, &["rev-parse", "HEAD"])
    }

    /// A repository with three commits that change baselines/ and one that does not.
    fn repo() -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q", "-b", "main"]);
        bless(repo, Suite::Instr, Metric::Instructions, 1000.0, "first baseline");
        let first = commit(repo, "first baseline", "2026-01-01T00:00:00Z");
        std::fs::write(repo.join("README"), "unrelated").unwrap();
        commit(repo, "docs only", "2026-01-02T00:00:00Z");
        bless(repo, Suite::Instr, Metric::Instructions, 1200.0, "parser does more work");
        bless(repo, Suite::Heap, Metric::HeapTotalBlocks, 10.0, "heap suite added");
        let second = commit(repo, "slower parser", "2026-01-03T00:00:00Z");
        bless(repo, Suite::Instr, Metric::Instructions, 900.0, "single-pass decode");
        let third = commit(repo, "faster parser", "2026-01-04T00:00:00Z");
        (dir, vec![first, second, third])
    }

    #[test]
    fn every_commit_that_changed_baselines_is_one_point_oldest_first() {
        let (dir, commits) = repo();

        let points =
            from_git(&Shell::new().unwrap(), dir.path(), &dir.path().join("baselines"), &Config::default()).unwrap();

        let got: Vec<&str> = points.iter().map(|p| p.commit.as_str()).collect();
        assert_eq!(got, commits.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn points_carry_every_suite_standing_at_their_commit() {
        let (dir, _) = repo();

        let points =
            from_git(&Shell::new().unwrap(), dir.path(), &dir.path().join("baselines"), &Config::default()).unwrap();

        let values: Vec<Vec<(Metric, f64)>> =
            points.iter().map(|p| p.measurements.iter().map(|m| (m.metric, m.value)).collect()).collect();
        assert_eq!(
            values,
            [
                vec![(Metric::Instructions, 1000.0)],
                vec![(Metric::Instructions, 1200.0), (Metric::HeapTotalBlocks, 10.0)],
                vec![(Metric::Instructions, 900.0), (Metric::HeapTotalBlocks, 10.0)],
            ]
        );
    }

    #[test]
    fn blessed_suites_carry_their_reasons_and_the_calls_against_the_previous_baseline() {
        let (dir, _) = repo();

        let points =
            from_git(&Shell::new().unwrap(), dir.path(), &dir.path().join("baselines"), &Config::default()).unwrap();

        let blessed: Vec<Vec<(Suite, &str)>> =
            points.iter().map(|p| p.blessed.iter().map(|b| (b.suite, b.reason.as_str())).collect()).collect();
        assert_eq!(
            blessed,
            [
                vec![(Suite::Instr, "first baseline")],
                vec![(Suite::Instr, "parser does more work"), (Suite::Heap, "heap suite added")],
                vec![(Suite::Instr, "single-pass decode")],
            ]
        );
        let calls: Vec<Vec<(Verdict, i64)>> = points
            .iter()
            .map(|p| p.calls.iter().map(|c| (c.verdict, (c.change * 100.0).round() as i64)).collect())
            .collect();
        assert_eq!(calls, [vec![], vec![(Verdict::Regression, 20)], vec![(Verdict::Improvement, -25)]]);
    }

    #[test]
    fn baselines_outside_the_repository_are_an_error() {
        let (dir, _) = repo();
        let elsewhere = tempfile::tempdir().unwrap();

        let err = from_git(&Shell::new().unwrap(), dir.path(), elsewhere.path(), &Config::default()).unwrap_err();

        assert!(format!("{err:#}").contains("outside the git repository"), "{err:#}");
    }
}
