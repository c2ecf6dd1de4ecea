//! Reader for iai-callgrind 0.16.1's `summary.json` (schema version 6), written by
//! `cargo bench --bench <instr_*> -- --save-summary=json` under `<home>/<package>/<bench>/<group>/<function>.<id>/`.
//!
//! Benchmark id convention: `<group>/<function>/<bench id>`, i.e. the `library_benchmark_group!` name is
//! the area, the benchmark function the op and the `#[bench::<id>]` name the case.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::schema::{Measurement, Metric};

/// The schema version this reader was written against.
pub const SUMMARY_VERSION: &str = "6";

/// One benchmark's callgrind totals.
#[derive(Debug, Clone, PartialEq)]
pub struct InstrResult {
    /// Benchmark id, `group/function/id`.
    pub id: String,
    /// Callgrind `Ir`.
    pub instructions: f64,
    /// Callgrind `EstimatedCycles`, when present.
    pub estimated_cycles: Option<f64>,
}

/// The new value of one metric entry: `Left` (new only) or the first of `Both` ([new, old]).
fn new_value(metric: &Value) -> Option<f64> {
    let metrics = metric.get("metrics")?;
    let number = |v: &Value| v.get("Int").and_then(Value::as_f64).or_else(|| v.get("Float").and_then(Value::as_f64));
    if let Some(left) = metrics.get("Left") {
        return number(left);
    }
    metrics.get("Both").and_then(Value::as_array).and_then(|both| both.first()).and_then(number)
}

/// Parses one `summary.json`.
pub fn parse_summary(text: &str) -> Result<InstrResult> {
    let json: Value = serde_json::from_str(text).context("summary.json is not JSON")?;
    let version = json.get("version").and_then(Value::as_str).unwrap_or("?");
    let module_path = json.get("module_path").and_then(Value::as_str).context("summary.json has no module_path")?;
    let segments: Vec<&str> = module_path.split("::").collect();
    anyhow::ensure!(segments.len() >= 3, "module_path `{module_path}` is not `<bench>::<group>::<function>`");
    let (group, function) = (segments[segments.len() - 2], segments[segments.len() - 1]);
    let case = json.get("id").and_then(Value::as_str).unwrap_or("default");
    let id = format!("{group}/{function}/{case}");

    let callgrind = json
        .get("profiles")
        .and_then(Value::as_array)
        .and_then(|profiles| {
            profiles.iter().find(|p| p.get("tool").and_then(Value::as_str) == Some("Callgrind"))
        })
        .and_then(|p| p.pointer("/summaries/total/summary/Callgrind"))
        .with_context(|| {
            format!("summary.json of {id} has no Callgrind total (schema version {version}, reader expects {SUMMARY_VERSION})")
        })?;
    let instructions = callgrind
        .get("Ir")
        .and_then(new_value)
        .with_context(|| format!("summary.json of {id} has no new `Ir` value"))?;
    let estimated_cycles = callgrind.get("EstimatedCycles").and_then(new_value);
    Ok(InstrResult { id, instructions, estimated_cycles })
}

/// What valgrind prints when the client's heap outgrows its fixed-size brk segment. glibc's malloc
/// then falls back to mmap, and what that costs depends on the address-space layout, which moves with
/// the executable's path: we measured one benchmark at 1.36 M instructions from one target directory
/// and 2.25 M from another, same binary. Such counts cannot be compared across checkouts.
const BRK_OVERFLOW: &str = "brk segment overflow";

/// Whether a callgrind log next to a `summary.json` reports a brk segment overflow.
fn brk_overflowed(summary: &Path) -> bool {
    let Some(dir) = summary.parent() else { return false };
    let Ok(entries) = std::fs::read_dir(dir) else { return false };
    entries.filter_map(|e| e.ok()).map(|e| e.path()).any(|p| {
        p.file_name().and_then(|n| n.to_str()).is_some_and(|n| n.starts_with("callgrind.") && n.ends_with(".log"))
            && std::fs::read_to_string(&p).is_ok_and(|log| log.contains(BRK_OVERFLOW))
    })
}

/// Every `summary.json` under an iai-callgrind home directory. Benchmarks whose heap overflowed
/// valgrind's brk segment are named on stderr: their counts depend on where the binary lives.
pub fn read_home(home: &Path) -> Result<Vec<InstrResult>> {
    let mut files = Vec::new();
    find_summaries(home, &mut files)?;
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            let result = parse_summary(&text).with_context(|| format!("in {}", f.display()))?;
            if brk_overflowed(f) {
                eprintln!(
                    "perf: warning: {}: valgrind's brk segment overflowed, so malloc fell back to mmap and this \
                     instruction count depends on the executable's path (target directory); keep the benchmark's \
                     setup heap small (see docs/benchmarking.md, Limits)",
                    result.id
                );
            }
            Ok(result)
        })
        .collect()
}

fn find_summaries(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        if path.is_dir() {
            find_summaries(&path, out)?;
        } else if path.file_name().is_some_and(|n| n == "summary.json") {
            out.push(path);
        }
    }
    Ok(())
}

/// Converts one target's results into `instructions` and `estimated_cycles` measurements.
pub fn to_measurements(results: &[InstrResult], target: &str) -> Vec<Measurement> {
    results
        .iter()
        .flat_map(|r| {
            let cycles = r.estimated_cycles.map(|c| Measurement::count(&r.id, Metric::EstimatedCycles, c, target));
            std::iter::once(Measurement::count(&r.id, Metric::Instructions, r.instructions, target)).chain(cycles)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(name: &str) -> String {
        std::fs::read_to_string(crate::test_manifest_dir().join("test_data/iai").join(name)).unwrap()
    }

    #[test]
    fn left_only_summary_gives_id_and_counts() {
        let text = sample("sum.small.left.summary.json");

        let result = parse_summary(&text).unwrap();

        assert_eq!(
            result,
            InstrResult { id: "synth/sum/small".into(), instructions: 130020.0, estimated_cycles: Some(130161.0) }
        );
    }

    #[test]
    fn both_summary_takes_the_new_value() {
        let text = sample("sum.small.both.summary.json");

        let result = parse_summary(&text).unwrap();

        assert_eq!(result.instructions, 133920.0);
    }

    #[test]
    fn summary_without_callgrind_profile_names_the_schema_version() {
        let text = r#"{"version":"7","module_path":"b::g::f","id":"x","profiles":[]}"#;

        let err = parse_summary(text).unwrap_err();

        assert!(format!("{err}").contains("schema version 7"), "{err}");
    }

    #[test]
    fn read_home_finds_nested_summaries() {
        let dir = tempfile::tempdir().unwrap();
        for (sub, file) in [
            ("p/instr_synth/synth/sum.small", "sum.small.left.summary.json"),
            ("p/instr_synth/synth/mix.large", "mix.large.left.summary.json"),
        ] {
            std::fs::create_dir_all(dir.path().join(sub)).unwrap();
            std::fs::write(dir.path().join(sub).join("summary.json"), sample(file)).unwrap();
        }

        let results = read_home(dir.path()).unwrap();

        let ids: Vec<&str> = results.iter().map(|r| r.id.as_str()).collect();
        assert_eq!(ids, ["synth/mix/large", "synth/sum/small"]);
    }

    #[test]
    fn brk_overflow_in_the_callgrind_log_is_detected() {
        let dir = tempfile::tempdir().unwrap();
        let (quiet, overflowed) = (dir.path().join("a"), dir.path().join("b"));
        for (sub, log) in [(&quiet, "==1== Events : Ir\n"), (&overflowed, "==1== brk segment overflow in thread #1\n")]
        {
            std::fs::create_dir_all(sub).unwrap();
            std::fs::write(sub.join("summary.json"), "{}").unwrap();
            std::fs::write(sub.join("callgrind.f.id.log"), log).unwrap();
        }

        let flags = (brk_overflowed(&quiet.join("summary.json")), brk_overflowed(&overflowed.join("summary.json")));

        assert_eq!(flags, (false, true));
    }

    #[test]
    fn to_measurements_emits_instructions_and_cycles() {
        let results = [InstrResult { id: "a/b/c".into(), instructions: 10.0, estimated_cycles: Some(12.0) }];

        let measurements = to_measurements(&results, "instr_x");

        let metrics: Vec<Metric> = measurements.iter().map(|m| m.metric).collect();
        assert_eq!(metrics, [Metric::Instructions, Metric::EstimatedCycles]);
    }
}
