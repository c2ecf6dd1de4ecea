//! Performance history: one [`Point`] per measured commit, kept as JSON Lines. Points come from two
//! places: runs of the gate recorded with `--record` (the workflow on main appends one per push) and
//! the committed baselines themselves, rebuilt from git (every commit that changed `baselines/` is a
//! point), so a fresh clone has a trend without any server. The HTML and terminal views live in the
//! submodules; this module is pure apart from [`from_git`] and the file helpers.

pub mod html;
pub mod text;

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::baseline::SuiteBaseline;
use crate::config::Config;
use crate::rules::{self, Learned, Learning, Row, Verdict};
use crate::schema::{Measurement, Metric, SCHEMA_VERSION, Suite};

/// Where a point came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Source {
    /// The committed baselines at a commit that changed them (rebuilt from git).
    Baseline,
    /// A run of the gate recorded with `--record`.
    Run,
}

/// The machine and toolchain a point was measured on. Only points of one `class` are compared when
/// learning noise from history.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Machine {
    /// Machine class: CPU model and, when known, logical core count, e.g. `AMD EPYC 7B13 x2`.
    pub class: String,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical cores, when known (runs; baselines do not record it).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub cores: Option<u32>,
    /// First line of `rustc -vV`, e.g. `rustc 1.95.0 (...)`.
    pub rustc: String,
    /// `valgrind --version`, when the instr suite ran.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valgrind: Option<String>,
}

impl Machine {
    /// The class string of a CPU model and core count.
    pub fn class_of(cpu_model: &str, cores: Option<u32>) -> String {
        match cores {
            Some(n) => format!("{cpu_model} x{n}"),
            None => cpu_model.to_owned(),
        }
    }
}

/// A suite whose baseline was (re)blessed at this point, and why.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Bless {
    /// The suite.
    pub suite: Suite,
    /// The reason recorded in the baseline's provenance.
    pub reason: String,
}

/// A regression or improvement called at this point.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Call {
    /// Benchmark id.
    pub id: String,
    /// Metric.
    pub metric: Metric,
    /// `Regression` or `Improvement`.
    pub verdict: Verdict,
    /// Relative change against what the point was compared with.
    pub change: f64,
    /// Whether the gate failed on it.
    pub fails: bool,
}

impl Call {
    /// The regressions and improvements among a comparison's rows.
    pub fn from_rows(rows: &[Row]) -> Vec<Call> {
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
pub struct Point {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// Full commit hash measured ("unknown" outside git).
    pub commit: String,
    /// Committer date of `commit`, RFC 3339 (orders the points).
    pub commit_date: String,
    /// When the figures were measured, RFC 3339 UTC (bless date for baseline points).
    pub measured: String,
    /// First line of the commit message, for labels.
    #[serde(default)]
    pub subject: String,
    /// Where the point came from.
    pub source: Source,
    /// Machine and toolchain.
    pub machine: Machine,
    /// Suites blessed at this point (baseline points whose suite file changed in `commit`).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub blessed: Vec<Bless>,
    /// Regressions and improvements called at this point.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub calls: Vec<Call>,
    /// Every metric measured, sorted by id then metric.
    pub measurements: Vec<Measurement>,
}

impl Point {
    /// The measurement of `id` and `metric`, if this point has it.
    pub fn get(&self, id: &str, metric: Metric) -> Option<&Measurement> {
        self.measurements.iter().find(|m| m.id == id && m.metric == metric)
    }

    /// Seven characters of the commit hash.
    pub fn short_commit(&self) -> &str {
        self.commit.get(..7).unwrap_or(&self.commit)
    }
}

/// Parses a JSON Lines history. Blank lines are skipped; a bad line is an error naming its number
/// (a history is appended to by machines, so a torn line must be seen, not silently dropped).
pub fn parse(text: &str) -> Result<Vec<Point>> {
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
pub fn to_line(point: &Point) -> Result<String> {
    let mut line = serde_json::to_string(point).context("serialising a history point")?;
    line.push('\n');
    Ok(line)
}

/// Reads a history file; a missing file is an empty history.
pub fn read(path: &Path) -> Result<Vec<Point>> {
    match std::fs::read_to_string(path) {
        Ok(text) => parse(&text).with_context(|| format!("in {}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Vec::new()),
        Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
    }
}

/// Appends one point to a history file, creating it (and its directory) when needed.
pub fn append(path: &Path, point: &Point) -> Result<()> {
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
pub fn sort(points: &mut [Point]) {
    points.sort_by(|a, b| {
        (a.commit_date.as_str(), a.source, a.measured.as_str()).cmp(&(
            b.commit_date.as_str(),
            b.source,
            b.measured.as_str(),
        ))
    });
}

/// Merges recorded and rebuilt points: a (commit, source, measured) triple appears once.
pub fn merge(mut points: Vec<Point>, more: Vec<Point>) -> Vec<Point> {
    for p in more {
        if !points.iter().any(|q| q.commit == p.commit && q.source == p.source && q.measured == p.measured) {
            points.push(p);
        }
    }
    sort(&mut points);
    points
}

/// Every (benchmark id, metric) present in the history, sorted.
pub fn series_keys(points: &[Point]) -> Vec<(String, Metric)> {
    let mut keys: Vec<(String, Metric)> =
        points.iter().flat_map(|p| p.measurements.iter().map(|m| (m.id.clone(), m.metric))).collect();
    keys.sort();
    keys.dedup();
    keys
}

/// A commit of the git log that touched `baselines/`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogEntry {
    /// Full hash.
    pub commit: String,
    /// Committer date, RFC 3339.
    pub date: String,
    /// Subject line.
    pub subject: String,
}

/// Parses `git log --format=%H%x1f%cI%x1f%s` output.
pub fn parse_log(text: &str) -> Vec<LogEntry> {
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
pub fn baseline_point(
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
            calls.extend(Call::from_rows(&rules::compare(
                &b.measurements(),
                &before.measurements(),
                &[],
                config,
                &Learning::new(),
            )));
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

/// One commit that changed the baselines directory, as git showed it: the commit, the suites whose
/// file it changed, and every suite's baseline as it stood at that commit.
#[derive(Debug, Clone, PartialEq)]
pub struct BaselineCommit {
    /// Hash, date and subject.
    pub entry: LogEntry,
    /// Suites whose baseline file the commit changed.
    pub changed: Vec<Suite>,
    /// Every suite's baseline at the commit.
    pub baselines: Vec<SuiteBaseline>,
}

/// Rebuilds history from the commits that changed the baselines, oldest first: one
/// [`Source::Baseline`] point per commit, each blessed suite judged against its previous baseline
/// under `config`. Commits that removed every baseline give no point.
pub fn rebuild(commits: Vec<BaselineCommit>, config: &Config) -> Vec<Point> {
    let mut previous: BTreeMap<Suite, SuiteBaseline> = BTreeMap::new();
    let mut points = Vec::new();
    for commit in commits {
        if commit.baselines.is_empty() {
            continue;
        }
        points.push(baseline_point(&commit.entry, &commit.baselines, &commit.changed, &previous, config));
        for b in commit.baselines.into_iter().filter(|b| commit.changed.contains(&b.suite)) {
            previous.insert(b.suite, b);
        }
    }
    points
}

/// The fewest points of one machine class a tolerance is learned from.
pub const MIN_POINTS: usize = 10;

/// Learns the wall-clock tolerance of `id` from the recorded runs of machine `class`: the relative
/// change between each pair of adjacent runs (calibration-normalised when both carry a calibration
/// figure), fenced by [`rules::noise_fence`]. `None` with fewer than [`MIN_POINTS`] runs.
pub fn learn_wall_tolerance(points: &[Point], class: &str, id: &str) -> Option<Learned> {
    let series: Vec<&Measurement> = points
        .iter()
        .filter(|p| p.source == Source::Run && p.machine.class == class)
        .filter_map(|p| p.get(id, Metric::WallNs))
        .filter(|m| m.value > 0.0 && m.value.is_finite())
        .collect();
    if series.len() < MIN_POINTS {
        return None;
    }
    let changes: Vec<f64> = series
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
    Some(rules::noise_fence(&changes, series.len()))
}

/// The learned wall-clock tolerances of every benchmark in `ids` that has enough history.
pub fn learn_wall_tolerances<'a>(points: &[Point], class: &str, ids: impl IntoIterator<Item = &'a str>) -> Learning {
    ids.into_iter().filter_map(|id| learn_wall_tolerance(points, class, id).map(|l| (id.to_owned(), l))).collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::schema::Interval;

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
        let (q1, q3) = (changes[2], changes[6]); // nine changes: the quartiles fall on ranks 3 and 7
        assert_eq!(learned.points, 10);
        assert!((learned.tolerance - (q3 + 3.0 * (q3 - q1))).abs() < 1e-12, "{learned:?}");
        assert!(learned.tolerance > 0.02 && learned.tolerance < 0.04, "{learned:?}");
    }

    #[test]
    fn quiet_history_is_floored_at_one_percent() {
        let points = history_of(&[100.0; 12], "cpu");

        let learned = learn_wall_tolerance(&points, "cpu", "a/b/c").unwrap();

        assert_eq!(learned.tolerance, rules::MIN_LEARNED_TOLERANCE);
    }
}
