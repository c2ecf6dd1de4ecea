//! Committed baselines: `baselines/<suite>.json`, one file per suite so blessing one suite leaves the
//! others untouched. Each holds its provenance and, per benchmark id and metric, the blessed figures.
//! Staleness (toolchain, valgrind, lockfile, bench targets) is decided here as a pure comparison.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::fingerprint::Fingerprint;
use crate::json;
use crate::schema::{Interval, Measurement, Metric, SCHEMA_VERSION, Suite};

/// Where a baseline came from. Only `rustc`, `valgrind`, `cargo_lock_sha256` and `targets` decide
/// staleness; the rest tells a reviewer what was measured where and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Provenance {
    /// `git rev-parse HEAD` at bless time ("unknown" outside git).
    pub git_commit: String,
    /// Whether the tree had uncommitted changes (the usual case: bless, then commit).
    pub git_dirty: bool,
    /// `rustc -vV` output.
    pub rustc: String,
    /// `valgrind --version` output, when valgrind was used (instr suite).
    pub valgrind: Option<String>,
    /// sha256 of `Cargo.lock`, hex.
    pub cargo_lock_sha256: String,
    /// `model name` from /proc/cpuinfo.
    pub cpu_model: String,
    /// The machine and toolchain that measured it; absent in baselines blessed before 2026-12-05,
    /// which therefore never count as measured on this machine.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub machine: Option<Fingerprint>,
    /// UTC date and time of the bless, RFC 3339.
    pub date: String,
    /// Why the baseline was (re)blessed.
    pub reason: String,
    /// Bench targets of this suite at bless time.
    pub targets: Vec<String>,
    /// Versions of the benchmarking libraries from Cargo.lock (criterion, iai-callgrind, dhat).
    pub tools: BTreeMap<String, String>,
}

/// One blessed figure.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Entry {
    /// The value, in `unit`.
    pub value: f64,
    /// Unit of `value`.
    pub unit: String,
    /// Bench target that measured it.
    pub target: String,
    /// 95% confidence interval (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ci: Option<Interval>,
    /// Sample count (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub samples: Option<u64>,
    /// Calibration ns per iteration in the same process (wall clock).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub calibration_ns: Option<f64>,
    /// Relative spread under perturbed conditions (instructions, cycles).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub spread: Option<f64>,
}

/// `baselines/<suite>.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SuiteBaseline {
    /// [`SCHEMA_VERSION`].
    pub schema: u32,
    /// The suite.
    pub suite: Suite,
    /// Where it came from.
    pub provenance: Provenance,
    /// id -> metric name -> entry.
    pub benchmarks: BTreeMap<String, BTreeMap<String, Entry>>,
}

impl SuiteBaseline {
    /// Builds a baseline from this suite's measurements.
    pub fn from_measurements(suite: Suite, provenance: Provenance, measurements: &[Measurement]) -> SuiteBaseline {
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
    pub fn measurements(&self) -> Vec<Measurement> {
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
    pub fn parse(text: &str) -> Result<SuiteBaseline> {
        let baseline: SuiteBaseline = serde_json::from_str(text).context("baseline file is not valid")?;
        anyhow::ensure!(
            baseline.schema == SCHEMA_VERSION,
            "baseline schema {} is not the supported {SCHEMA_VERSION}",
            baseline.schema
        );
        Ok(baseline)
    }

    /// Canonical text (sorted keys).
    pub fn to_text(&self) -> Result<String> {
        json::to_canonical_string(self)
    }
}

/// The path of a suite's baseline file in `dir`.
pub fn path(dir: &Path, suite: Suite) -> PathBuf {
    dir.join(format!("{}.json", suite.name()))
}

/// Reads a suite's baseline; `None` when the file does not exist.
pub fn read(dir: &Path, suite: Suite) -> Result<Option<SuiteBaseline>> {
    let file = path(dir, suite);
    match std::fs::read_to_string(&file) {
        Ok(text) => SuiteBaseline::parse(&text).with_context(|| format!("in {}", file.display())).map(Some),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(e).with_context(|| format!("reading {}", file.display())),
    }
}

/// What the current tree and machine look like, for the staleness check.
#[derive(Debug, Clone, PartialEq)]
pub struct Environment {
    /// `rustc -vV`.
    pub rustc: String,
    /// `valgrind --version`, when installed.
    pub valgrind: Option<String>,
    /// sha256 of Cargo.lock.
    pub cargo_lock_sha256: String,
    /// Bench targets per suite.
    pub targets: BTreeMap<Suite, Vec<String>>,
}

/// Why a baseline's figures cannot be compared with today's as they are.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Staleness {
    /// The toolchain, valgrind, `Cargo.lock` or (wall clock) the machine differ: the suite is measured
    /// A/B against the revision that holds the baselines instead, in the same run.
    pub environment: Vec<String>,
    /// The bench targets differ: only a bless resolves that (exit 4).
    pub set: Vec<String>,
}

/// Why `baseline` no longer describes the current tree and machine `now`; empty when it is fresh.
pub fn staleness(baseline: &SuiteBaseline, env: &Environment, now: &Fingerprint) -> Staleness {
    let p = &baseline.provenance;
    let suite = baseline.suite.name();
    let mut out = Staleness::default();
    if p.rustc.trim() != env.rustc.trim() {
        out.environment.push(format!(
            "{suite}: toolchain differs: baseline `{}`, now `{}`",
            first_line(&p.rustc),
            first_line(&env.rustc)
        ));
    }
    if baseline.suite == Suite::Instr
        && let Some(current) = &env.valgrind
        && p.valgrind.as_deref().map(str::trim) != Some(current.trim())
    {
        out.environment.push(format!(
            "{suite}: valgrind differs: baseline `{}`, now `{}`",
            p.valgrind.as_deref().unwrap_or("none").trim(),
            current.trim()
        ));
    }
    if p.cargo_lock_sha256 != env.cargo_lock_sha256 {
        out.environment.push(format!(
            "{suite}: Cargo.lock differs: baseline sha256 {}, now {}",
            short(&p.cargo_lock_sha256),
            short(&env.cargo_lock_sha256)
        ));
    }
    if baseline.suite == Suite::Wall {
        match &p.machine {
            Some(machine) => out
                .environment
                .extend(machine.machine_differences(now).into_iter().map(|d| format!("{suite}: machine differs: {d}"))),
            None => out.environment.push(format!("{suite}: the baseline records no machine fingerprint")),
        }
    }
    let targets: &[String] = env.targets.get(&baseline.suite).map_or(&[], Vec::as_slice);
    if p.targets != targets {
        out.set.push(format!("{suite}: bench targets differ: baseline {:?}, now {:?}", p.targets, targets));
    }
    out
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

    fn machine() -> Fingerprint {
        crate::fingerprint::epyc()
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

        let reasons = staleness(&baseline, &env, &machine());

        assert_eq!(reasons, Staleness::default());
    }

    #[test]
    fn other_toolchain_is_named() {
        let mut baseline = baseline();
        baseline.provenance.rustc = "rustc 1.94.0 (xxxx 2026-01-01)\n".into();

        let reasons = staleness(&baseline, &env(), &machine()).environment;

        assert_eq!(reasons.len(), 1);
        assert!(reasons[0].contains("toolchain differs") && reasons[0].contains("1.94.0"), "{reasons:?}");
    }

    #[test]
    fn lockfile_valgrind_and_targets_are_each_named() {
        let mut env = env();
        env.cargo_lock_sha256 = "cd".repeat(32);
        env.valgrind = Some("valgrind-3.22.0".into());
        env.targets.insert(Suite::Instr, vec!["instr_proto".into(), "instr_state".into()]);

        let reasons = staleness(&baseline(), &env, &machine());

        let joined = reasons.environment.join("\n");
        assert!(joined.contains("Cargo.lock") && joined.contains("valgrind"), "{joined}");
        assert_eq!(reasons.set.len(), 1);
        assert!(reasons.set[0].contains("bench targets"), "{:?}", reasons.set);
    }

    #[test]
    fn wall_baseline_from_another_cpu_names_the_machine_difference() {
        let mut baseline = baseline();
        baseline.suite = Suite::Wall;
        baseline.provenance.targets = vec![];
        baseline.provenance.machine = Some(Fingerprint { cpu_model: "Intel(R) Xeon(R)".into(), ..machine() });

        let reasons = staleness(&baseline, &env(), &machine());

        assert_eq!(reasons.environment, ["wall: machine differs: CPU: baseline `Intel(R) Xeon(R)`, now `AMD EPYC`"]);
    }

    #[test]
    fn wall_baseline_without_fingerprint_is_never_taken_for_this_machine() {
        let mut baseline = baseline();
        baseline.suite = Suite::Wall;
        baseline.provenance.targets = vec![];

        let reasons = staleness(&baseline, &env(), &machine());

        assert_eq!(reasons.environment, ["wall: the baseline records no machine fingerprint"]);
    }

    #[test]
    fn baseline_text_round_trips_with_sorted_keys() {
        let baseline = baseline();

        let text = baseline.to_text().unwrap();

        assert_eq!(SuiteBaseline::parse(&text).unwrap(), baseline);
        assert!(text.find("\"benchmarks\"").unwrap() < text.find("\"provenance\"").unwrap());
    }
}
