//! Committed baselines: `baselines/<suite>.json`, one file per suite so blessing one suite leaves the
//! others untouched. Each holds its provenance and, per benchmark id and metric, the blessed figures.
//! Staleness (toolchain, valgrind, lockfile, bench targets) is decided here as a pure comparison.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use super::json;
use super::schema::{Interval, Measurement, Metric, SCHEMA_VERSION, Suite};

/// Where a baseline came from. Only `rustc`, `valgrind`, `cargo_lock_sha256` and `targets` decide
/// staleness; the rest tells a reviewer what was measured where and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(crate) struct Provenance {
    /// `git rev-parse HEAD` at bless time ("unknown" outside git).
    pub(crate) git_commit: String,
    /// Whether the tree had uncommitted changes (the usual case: bless, then commit).
    pub(crate) git_dirty: bool,
    /// `rustc -vV` output.
    pub(crate) rustc: String,
    /// `valgrind --version` output, when valgrind was used (instr suite).
    pub(crate) valgrind: Option<String>,
    /// sha256 of `Cargo.lock`, hex.
    pub(crate) cargo_lock_sha256: String,
    /// `model name` from /proc/cpuinfo.
    pub(crate) cpu_model: String,
    /// UTC date and time of the bless, RFC 3339.
    pub(crate) date: String,
    /// Why the baseline was (re)blessed.
    pub(crate) reason: String,
    /// Bench targets of this suite at bless time.
    pub(crate) targets: Vec<String>,
    /// Versions of the benchmarking libraries from Cargo.lock (criterion, iai-callgrind, dhat).
    pub(crate) tools: BTreeMap<String, String>,
}

/// One blessed figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Entry {
    /// The value, in `unit`.
    pub(crate) value: f64,
    /// Unit of `value`.
    pub(crate) unit: String,
    /// Bench target that measured it.
    pub(crate) target: String,
    /// 95% confidence interval (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) ci: Option<Interval>,
    /// Sample count (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) samples: Option<u64>,
    /// Calibration ns per iteration in the same process (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) calibration_ns: Option<f64>,
    /// Relative spread under perturbed conditions (instructions, cycles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) spread: Option<f64>,
}

/// `baselines/<suite>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct SuiteBaseline {
    /// [`SCHEMA_VERSION`].
    pub(crate) schema: u32,
    /// The suite.
    pub(crate) suite: Suite,
    /// Where it came from.
    pub(crate) provenance: Provenance,
    /// id -> metric name -> entry.
    pub(crate) benchmarks: BTreeMap<String, BTreeMap<String, Entry>>,
}

impl SuiteBaseline {
    /// Builds a baseline from this suite's measurements.
    pub(crate) fn from_measurements(
        suite: Suite,
        provenance: Provenance,
        measurements: &[Measurement],
    ) -> SuiteBaseline {
        let mut benchmarks: BTreeMap<String, BTreeMap<String, Entry>> = BTreeMap::new();
        for m in measurements.iter().filter(|m| m.metric.suite() == suite) {
            let entry = Entry {
                value: m.value,
                unit: m.unit.clone(),
                target: m.target.clone(),
                ci: m.ci,
                samples: m.samples,
                calibration_ns: m.calibration_ns,
                spread: m.spread,
            };
            benchmarks.entry(m.id.clone()).or_default().insert(m.metric.name().to_owned(), entry);
        }
        SuiteBaseline { schema: SCHEMA_VERSION, suite, provenance, benchmarks }
    }

    /// The blessed figures as measurements (unknown metric names are skipped).
    pub(crate) fn measurements(&self) -> Vec<Measurement> {
        let mut out = Vec::new();
        for (id, metrics) in &self.benchmarks {
            for (name, e) in metrics {
                let Some(metric) = Metric::from_name(name) else { continue };
                out.push(Measurement {
                    id: id.clone(),
                    metric,
                    unit: e.unit.clone(),
                    value: e.value,
                    ci: e.ci,
                    samples: e.samples,
                    calibration_ns: e.calibration_ns,
                    spread: e.spread,
                    target: e.target.clone(),
                });
            }
        }
        out
    }

    /// Parses a baseline file's text.
    pub(crate) fn parse(text: &str) -> Result<SuiteBaseline> {
        let baseline: SuiteBaseline = serde_json::from_str(text).context("baseline file is not valid")?;
        anyhow::ensure!(
            baseline.schema == SCHEMA_VERSION,
            "baseline schema {} is not the supported {SCHEMA_VERSION}",
            baseline.schema
        );
        Ok(baseline)
    }

    /// Canonical text (sorted keys).
    pub(crate) fn to_text(&self) -> Result<String> {
        json::to_canonical_string(self)
    }
}

/// The path of a suite's baseline file in `dir`.
pub(crate) fn path(dir: &Path, suite: Suite) -> PathBuf {
    dir.join(format!("{}.json", suite.name()))
}

/// Reads a suite's baseline; `None` when the file does not exist.
pub(crate) fn read(dir: &Path, suite: Suite) -> Result<Option<SuiteBaseline>> {
    let file = path(dir, suite);
    match std::fs::read_to_string(&file) {
        Ok(text) => SuiteBaseline::parse(&text).with_context(|| format!("in {}", file.display())).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// What the current tree and machine look like, for the staleness check.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Environment {
    /// `rustc -vV`.
    pub(crate) rustc: String,
    /// `valgrind --version`, when installed.
    pub(crate) valgrind: Option<String>,
    /// sha256 of Cargo.lock.
    pub(crate) cargo_lock_sha256: String,
    /// Bench targets per suite.
    pub(crate) targets: BTreeMap<Suite, Vec<String>>,
}

/// Why `baseline` no longer describes the current tree; empty when it is fresh.
pub(crate) fn staleness(baseline: &SuiteBaseline, env: &Environment) -> Vec<String> {
    let p = &baseline.provenance;
    let suite = baseline.suite.name();
    let mut reasons = Vec::new();
    if p.rustc.trim() != env.rustc.trim() {
        reasons.push(format!(
            "{suite}: toolchain differs: baseline `{}`, now `{}`",
            first_line(&p.rustc),
            first_line(&env.rustc)
        ));
    }
    if baseline.suite == Suite::Instr
        && let Some(now) = &env.valgrind
        && p.valgrind.as_deref().map(str::trim) != Some(now.trim())
    {
        reasons.push(format!(
            "{suite}: valgrind differs: baseline `{}`, now `{}`",
            p.valgrind.as_deref().unwrap_or("none").trim(),
            now.trim()
        ));
    }
    if p.cargo_lock_sha256 != env.cargo_lock_sha256 {
        reasons.push(format!(
            "{suite}: Cargo.lock differs: baseline sha256 {}, now {}",
            short(&p.cargo_lock_sha256),
            short(&env.cargo_lock_sha256)
        ));
    }
    let now: &[String] = env.targets.get(&baseline.suite).map_or(&[], Vec::as_slice);
    if p.targets != now {
        reasons.push(format!("{suite}: bench targets differ: baseline {:?}, now {:?}", p.targets, now));
    }
    reasons
}

fn first_line(text: &str) -> &str {
    text.lines().next().unwrap_or("").trim()
}

fn short(hash: &str) -> &str {
    hash.get(..12).unwrap_or(hash)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn env() -> Environment {
        Environment {
            rustc: "rustc 1.95.0 (59807616e 2026-04-14)\nhost: x86_64-unknown-linux-gnu\n".into(),
            valgrind: Some("valgrind-3.19.0".into()),
            cargo_lock_sha256: "ab".repeat(32),
            targets: BTreeMap::from([(Suite::Instr, vec!["instr_proto".to_owned()])]),
        }
    }

    fn baseline() -> SuiteBaseline {
        let e = env();
        let provenance = Provenance {
            rustc: e.rustc.clone(),
            valgrind: e.valgrind.clone(),
            cargo_lock_sha256: e.cargo_lock_sha256.clone(),
            targets: vec!["instr_proto".into()],
            ..Provenance::default()
        };
        let m = Measurement {
            spread: Some(0.001),
            ..Measurement::count("a/b/c", Metric::Instructions, 1000.0, "instr_proto")
        };
        SuiteBaseline::from_measurements(Suite::Instr, provenance, &[m])
    }

    #[test]
    fn fresh_baseline_has_no_staleness() {
        let (baseline, env) = (baseline(), env());

        let reasons = staleness(&baseline, &env);

        assert!(reasons.is_empty(), "{reasons:?}");
    }

    #[test]
    fn other_toolchain_is_named() {
        let mut baseline = baseline();
        baseline.provenance.rustc = "rustc 1.94.0 (xxxx 2026-01-01)\n".into();

        let reasons = staleness(&baseline, &env());

        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("toolchain differs") && reasons[0].contains("1.94.0"), "{reasons:?}");
    }

    #[test]
    fn lockfile_valgrind_and_targets_are_each_named() {
        let mut env = env();
        env.cargo_lock_sha256 = "cd".repeat(32);
        env.valgrind = Some("valgrind-3.22.0".into());
        env.targets.insert(Suite::Instr, vec!["instr_proto".into(), "instr_state".into()]);

        let reasons = staleness(&baseline(), &env);

        let joined = reasons.join("\n");
        assert!(
            joined.contains("Cargo.lock") && joined.contains("valgrind") && joined.contains("bench targets"),
            "{joined}"
        );
    }

    #[test]
    fn baseline_text_round_trips_with_sorted_keys() {
        let baseline = baseline();

        let text = baseline.to_text().unwrap();

        assert_eq!(SuiteBaseline::parse(&text).unwrap(), baseline);
        assert!(text.find("\"benchmarks\"").unwrap() < text.find("\"provenance\"").unwrap());
    }
}
