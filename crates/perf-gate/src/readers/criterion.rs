//! Reader for criterion 0.8's private output (`<home>/<dir>/new/{benchmark,sample,estimates}.json`).
//! These files change without notice, so every field is read defensively and the numbers are copied
//! into the gate's own schema; they are never committed.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;

use crate::schema::{Interval, Measurement, Metric};
use crate::stats;

/// One criterion benchmark's wall-clock result, in ns per iteration.
#[derive(Debug, Clone, PartialEq)]
pub struct WallResult {
    /// Criterion's `full_id`, which the gate uses as benchmark id.
    pub id: String,
    /// ns per iteration.
    pub ns: f64,
    /// 95% confidence interval, ns per iteration.
    pub ci: Interval,
    /// Number of samples.
    pub samples: u64,
    /// Median ns per iteration over the samples (robust to a sample hit by an interrupt).
    pub median_ns: f64,
    /// Fastest sample's ns per iteration: the least disturbed stretch of the process.
    pub min_ns: f64,
}

/// The id from `benchmark.json`: `full_id`, else `group_id/function_id/value_str` without empty parts.
pub fn parse_benchmark_id(text: &str) -> Result<String> {
    let json: Value = serde_json::from_str(text).context("benchmark.json is not JSON")?;
    if let Some(full) = json.get("full_id").and_then(Value::as_str) {
        return Ok(full.to_owned());
    }
    let parts: Vec<&str> =
        ["group_id", "function_id", "value_str"].iter().filter_map(|k| json.get(*k).and_then(Value::as_str)).collect();
    anyhow::ensure!(!parts.is_empty(), "benchmark.json has neither full_id nor group_id");
    Ok(parts.join("/"))
}

/// Per-iteration times from `sample.json` (`times[i] / iters[i]`), summarised with our own statistics,
/// and their median and minimum.
pub fn parse_samples(text: &str) -> Result<(stats::Summary, f64, f64)> {
    let json: Value = serde_json::from_str(text).context("sample.json is not JSON")?;
    let numbers = |key: &str| -> Result<Vec<f64>> {
        json.get(key)
            .and_then(Value::as_array)
            .with_context(|| format!("sample.json has no `{key}` array"))?
            .iter()
            .map(|v| v.as_f64().with_context(|| format!("sample.json `{key}` holds a non-number")))
            .collect()
    };
    let (iters, times) = (numbers("iters")?, numbers("times")?);
    anyhow::ensure!(iters.len() == times.len(), "sample.json `iters` and `times` differ in length");
    anyhow::ensure!(iters.iter().all(|i| *i > 0.0), "sample.json has a sample of zero iterations");
    let per_iter: Vec<f64> = times.iter().zip(&iters).map(|(t, i)| t / i).collect();
    let summary = stats::summarise(&per_iter).context("sample.json holds no usable samples")?;
    let min = per_iter.iter().copied().fold(f64::INFINITY, f64::min);
    Ok((summary, stats::median(&per_iter).unwrap_or(summary.mean), min))
}

/// The typical estimate from `estimates.json`: `slope` when present, else `mean`, with its interval.
pub fn parse_estimates(text: &str) -> Result<(f64, Interval)> {
    let json: Value = serde_json::from_str(text).context("estimates.json is not JSON")?;
    let estimate = json
        .get("slope")
        .filter(|v| !v.is_null())
        .or_else(|| json.get("mean"))
        .context("estimates.json has neither slope nor mean")?;
    let point = estimate.get("point_estimate").and_then(Value::as_f64).context("estimate without point_estimate")?;
    let ci = estimate.get("confidence_interval");
    let bound = |k: &str| ci.and_then(|c| c.get(k)).and_then(Value::as_f64).unwrap_or(point);
    Ok((point, Interval { lower: bound("lower_bound"), upper: bound("upper_bound") }))
}

/// Reads one benchmark directory (the one holding `new/`); samples are preferred over estimates.
pub fn read_benchmark(dir: &Path) -> Result<WallResult> {
    let new = dir.join("new");
    let read = |name: &str| std::fs::read_to_string(new.join(name));
    let id = parse_benchmark_id(&read("benchmark.json").with_context(|| format!("reading {}", new.display()))?)
        .with_context(|| format!("in {}", new.display()))?;
    match read("sample.json").map_err(anyhow::Error::from).and_then(|t| parse_samples(&t)) {
        Ok((summary, median_ns, min_ns)) => {
            Ok(WallResult { id, ns: summary.mean, ci: summary.ci, samples: summary.n, median_ns, min_ns })
        }
        Err(sample_err) => {
            let text = read("estimates.json").with_context(|| {
                format!("{} has neither usable sample.json ({sample_err}) nor estimates.json", new.display())
            })?;
            let (ns, ci) = parse_estimates(&text).with_context(|| format!("in {}", new.display()))?;
            Ok(WallResult { id, ns, ci, samples: 0, median_ns: ns, min_ns: ci.lower })
        }
    }
}

/// Every benchmark under a criterion home directory (each directory holding `new/benchmark.json`).
pub fn read_home(home: &Path) -> Result<Vec<WallResult>> {
    let mut dirs = Vec::new();
    find_benchmark_dirs(home, &mut dirs)?;
    dirs.sort();
    dirs.iter().map(|d| read_benchmark(d)).collect()
}

fn find_benchmark_dirs(dir: &Path, out: &mut Vec<PathBuf>) -> Result<()> {
    if !dir.is_dir() {
        return Ok(());
    }
    if dir.join("new").join("benchmark.json").is_file() {
        out.push(dir.to_owned());
        return Ok(());
    }
    for entry in std::fs::read_dir(dir).with_context(|| format!("listing {}", dir.display()))? {
        let path = entry?.path();
        // criterion's own HTML report directory holds no results.
        if path.is_dir() && path.file_name().is_none_or(|n| n != "report") {
            find_benchmark_dirs(&path, out)?;
        }
    }
    Ok(())
}

/// Converts one target's results into measurements, attaching the calibration benchmark's figure
/// (id starting with `calibration_prefix`) measured in the same process.
pub fn to_measurements(results: &[WallResult], target: &str, calibration_prefix: &str) -> Vec<Measurement> {
    let calibration = results.iter().find(|r| r.id.starts_with(calibration_prefix)).map(|r| r.ns);
    results
        .iter()
        .map(|r| Measurement {
            ci: Some(r.ci),
            samples: Some(r.samples),
            calibration_ns: calibration,
            ..Measurement::count(&r.id, Metric::WallNs, r.ns, target)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample_dir(name: &str) -> PathBuf {
        crate::test_manifest_dir().join("test_data/criterion").join(name)
    }

    fn read(name: &str, file: &str) -> String {
        std::fs::read_to_string(sample_dir(name).join(file)).unwrap()
    }

    #[test]
    fn benchmark_id_is_criterion_full_id() {
        let text = read("synth_sum_small", "benchmark.json");

        let id = parse_benchmark_id(&text).unwrap();

        assert_eq!(id, "synth/sum/small");
    }

    #[test]
    fn benchmark_id_falls_back_to_group_function_value() {
        let text = r#"{"group_id":"proto/parse","function_id":null,"value_str":"n1000"}"#;

        let id = parse_benchmark_id(text).unwrap();

        assert_eq!(id, "proto/parse/n1000");
    }

    #[test]
    fn samples_give_per_iteration_mean_close_to_criterion_estimate() {
        let (samples, estimates) = (read("synth_sum_small", "sample.json"), read("synth_sum_small", "estimates.json"));

        let ((summary, median, min), (typical, _)) =
            (parse_samples(&samples).unwrap(), parse_estimates(&estimates).unwrap());

        assert_eq!(summary.n, 10);
        assert!((summary.mean - typical).abs() / typical < 0.01, "{} vs {typical}", summary.mean);
        assert!(summary.ci.lower < summary.mean && summary.mean < summary.ci.upper);
        assert!((median - typical).abs() / typical < 0.05, "{median} vs {typical}");
        assert!(min <= median, "{min} vs {median}");
    }

    #[test]
    fn estimates_use_mean_when_slope_is_null() {
        let text = r#"{"mean":{"confidence_interval":{"confidence_level":0.95,"lower_bound":9.0,"upper_bound":11.0},
            "point_estimate":10.0,"standard_error":0.5},"slope":null}"#;

        let (point, ci) = parse_estimates(text).unwrap();

        assert_eq!((point, ci), (10.0, Interval { lower: 9.0, upper: 11.0 }));
    }

    #[test]
    fn samples_with_mismatched_lengths_are_rejected() {
        let text = r#"{"sampling_mode":"Linear","iters":[1.0,2.0],"times":[5.0]}"#;

        let result = parse_samples(text);

        assert!(result.is_err());
    }

    #[test]
    fn read_benchmark_falls_back_to_estimates_without_samples() {
        let dir = tempfile::tempdir().unwrap();
        let new = dir.path().join("x").join("new");
        std::fs::create_dir_all(&new).unwrap();
        std::fs::write(new.join("benchmark.json"), read("synth_sum_small", "benchmark.json")).unwrap();
        std::fs::write(new.join("estimates.json"), read("synth_sum_small", "estimates.json")).unwrap();

        let result = read_benchmark(&dir.path().join("x")).unwrap();

        assert_eq!((result.id.as_str(), result.samples), ("synth/sum/small", 0));
        assert!((result.ns - 31407.73).abs() < 0.01);
    }

    #[test]
    fn to_measurements_attaches_the_calibration_of_the_same_process() {
        let results = vec![
            WallResult {
                id: "calibration/spin/fixed".into(),
                ns: 50.0,
                ci: Interval { lower: 49.0, upper: 51.0 },
                samples: 10,
                median_ns: 50.0,
                min_ns: 49.0,
            },
            WallResult {
                id: "a/b/c".into(),
                ns: 100.0,
                ci: Interval { lower: 99.0, upper: 101.0 },
                samples: 10,
                median_ns: 100.0,
                min_ns: 99.0,
            },
        ];

        let measurements = to_measurements(&results, "wall_x", "calibration/");

        assert!(measurements.iter().all(|m| m.calibration_ns == Some(50.0) && m.target == "wall_x"));
    }
}
