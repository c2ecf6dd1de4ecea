//! The gate's dhat stats format and its reader. dhat allows one profiler per process, so each
//! `heap_*` bench target runs one scenario and writes `dhat::HeapStats` as one small JSON file into
//! the directory named by `$HAPULSE_PERF_DHAT_DIR`:
//! `{"id":"area/op/case","total_bytes":..,"total_blocks":..,"max_bytes":..,"max_blocks":..,"curr_bytes":..,"curr_blocks":..}`.

use std::path::Path;

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::schema::{self, Measurement, Metric};

/// Environment variable naming the directory a heap scenario writes its stats file into.
pub const DIR_ENV: &str = "HAPULSE_PERF_DHAT_DIR";

/// One heap scenario's stats, mirroring `dhat::HeapStats` plus the benchmark id.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeapStats {
    /// Benchmark id, `area/op/case`.
    pub id: String,
    /// Bytes allocated over the scenario.
    pub total_bytes: u64,
    /// Allocations over the scenario.
    pub total_blocks: u64,
    /// Peak live bytes.
    pub max_bytes: u64,
    /// Live blocks at the peak.
    pub max_blocks: u64,
    /// Live bytes when the stats were taken.
    #[serde(default)]
    pub curr_bytes: u64,
    /// Live blocks when the stats were taken.
    #[serde(default)]
    pub curr_blocks: u64,
}

/// Parses one stats file.
pub fn parse_stats(text: &str) -> Result<HeapStats> {
    let stats: HeapStats = serde_json::from_str(text.trim()).context("dhat stats file is not the gate's format")?;
    anyhow::ensure!(schema::is_valid_id(&stats.id), "dhat stats id `{}` is not `area/op/case`", stats.id);
    Ok(stats)
}

/// Every `*.json` stats file in `dir`, sorted by file name.
pub fn read_dir(dir: &Path) -> Result<Vec<HeapStats>> {
    if !dir.is_dir() {
        return Ok(Vec::new());
    }
    let mut files: Vec<_> = std::fs::read_dir(dir)
        .with_context(|| format!("listing {}", dir.display()))?
        .map(|e| e.map(|e| e.path()))
        .collect::<std::io::Result<_>>()?;
    files.retain(|p| p.extension().is_some_and(|e| e == "json"));
    files.sort();
    files
        .iter()
        .map(|f| {
            let text = std::fs::read_to_string(f).with_context(|| format!("reading {}", f.display()))?;
            parse_stats(&text).with_context(|| format!("in {}", f.display()))
        })
        .collect()
}

/// Converts stats into the three heap measurements.
pub fn to_measurements(stats: &[HeapStats], target: &str) -> Vec<Measurement> {
    stats
        .iter()
        .flat_map(|s| {
            [
                Measurement::count(&s.id, Metric::HeapTotalBytes, s.total_bytes as f64, target),
                Measurement::count(&s.id, Metric::HeapTotalBlocks, s.total_blocks as f64, target),
                Measurement::count(&s.id, Metric::HeapMaxBytes, s.max_bytes as f64, target),
            ]
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_file_written_by_a_real_scenario_parses() {
        let path = crate::test_manifest_dir().join("test_data/dhat/synth_alloc_hundred.json");
        let text = std::fs::read_to_string(path).unwrap();

        let stats = parse_stats(&text).unwrap();

        assert_eq!((stats.id.as_str(), stats.total_blocks, stats.total_bytes), ("synth/alloc/hundred", 101, 1600));
    }

    #[test]
    fn stats_with_malformed_id_are_rejected() {
        let text = r#"{"id":"load","total_bytes":1,"total_blocks":1,"max_bytes":1,"max_blocks":1}"#;

        let result = parse_stats(text);

        assert!(result.is_err());
    }

    #[test]
    fn to_measurements_emits_the_three_heap_metrics() {
        let stats = [HeapStats {
            id: "a/b/c".into(),
            total_bytes: 10,
            total_blocks: 2,
            max_bytes: 8,
            max_blocks: 1,
            curr_bytes: 0,
            curr_blocks: 0,
        }];

        let values: Vec<(Metric, f64)> =
            to_measurements(&stats, "heap_x").iter().map(|m| (m.metric, m.value)).collect();

        assert_eq!(
            values,
            [(Metric::HeapTotalBytes, 10.0), (Metric::HeapTotalBlocks, 2.0), (Metric::HeapMaxBytes, 8.0)]
        );
    }
}
