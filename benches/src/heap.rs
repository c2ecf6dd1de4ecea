//! The heap scenarios' output: `dhat::HeapStats` as the perf gate's small JSON file, written into
//! `$HAPULSE_PERF_DHAT_DIR` (the gate sets it; `xtask/src/perf/dhat.rs` reads it), and printed.

use std::path::PathBuf;

/// Environment variable naming the directory the stats file goes into.
pub const DIR_ENV: &str = "HAPULSE_PERF_DHAT_DIR";

/// The figures of `dhat::HeapStats` (which cannot be built outside dhat).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Figures {
    /// Bytes allocated over the scenario.
    pub total_bytes: u64,
    /// Allocations over the scenario.
    pub total_blocks: u64,
    /// Peak live bytes.
    pub max_bytes: usize,
    /// Live blocks at the peak.
    pub max_blocks: usize,
    /// Live bytes at the end.
    pub curr_bytes: usize,
    /// Live blocks at the end.
    pub curr_blocks: usize,
}

impl From<&dhat::HeapStats> for Figures {
    fn from(s: &dhat::HeapStats) -> Self {
        Figures {
            total_bytes: s.total_bytes,
            total_blocks: s.total_blocks,
            max_bytes: s.max_bytes,
            max_blocks: s.max_blocks,
            curr_bytes: s.curr_bytes,
            curr_blocks: s.curr_blocks,
        }
    }
}

/// The gate's stats format for one scenario: `{"id", "total_bytes", "total_blocks", "max_bytes",
/// "max_blocks", "curr_bytes", "curr_blocks"}`.
pub fn stats_json(id: &str, stats: &Figures) -> String {
    serde_json::json!({
        "id": id,
        "total_bytes": stats.total_bytes,
        "total_blocks": stats.total_blocks,
        "max_bytes": stats.max_bytes,
        "max_blocks": stats.max_blocks,
        "curr_bytes": stats.curr_bytes,
        "curr_blocks": stats.curr_blocks,
    })
    .to_string()
}

/// Prints the stats and, when `$HAPULSE_PERF_DHAT_DIR` is set, writes them to
/// `<dir>/<id with / as _>.json`; returns the file written.
///
/// # Panics
/// When the directory or file cannot be written: a heap scenario without its stats file must
/// fail loudly, never pass silently.
pub fn report(id: &str, stats: &dhat::HeapStats) -> Option<PathBuf> {
    let json = stats_json(id, &Figures::from(stats));
    println!(
        "{id}: total {} bytes in {} blocks, peak {} bytes in {} blocks",
        stats.total_bytes, stats.total_blocks, stats.max_bytes, stats.max_blocks
    );
    let dir = PathBuf::from(std::env::var_os(DIR_ENV)?);
    std::fs::create_dir_all(&dir).unwrap_or_else(|e| panic!("cannot create {}: {e}", dir.display()));
    let file = dir.join(format!("{}.json", id.replace('/', "_")));
    std::fs::write(&file, json + "\n").unwrap_or_else(|e| panic!("cannot write {}: {e}", file.display()));
    Some(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stats_json_has_every_field_the_gate_reads() {
        let stats =
            Figures { total_blocks: 1, total_bytes: 2, curr_blocks: 3, curr_bytes: 4, max_blocks: 5, max_bytes: 6 };

        let json: serde_json::Value = serde_json::from_str(&stats_json("state/load/n1", &stats)).unwrap();

        assert_eq!(
            json,
            serde_json::json!({"id": "state/load/n1", "total_bytes": 2, "total_blocks": 1, "max_bytes": 6,
                "max_blocks": 5, "curr_bytes": 4, "curr_blocks": 3})
        );
    }
}
