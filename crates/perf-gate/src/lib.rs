//! The decision core of a benchmark gate, as a library: read what criterion (wall clock),
//! iai-callgrind (instruction counts) and dhat (heap) wrote, compare it with a reference (committed
//! baselines with provenance and machine fingerprints, or a base revision measured A/B), decide
//! regressions under reviewed rules (`perf.toml`) with paired statistics for wall clock, and render
//! the verdict as a terminal table, Markdown or JSON with a documented exit code. It also models the
//! gate's history (JSON Lines) with its text and HTML/SVG views.
//!
//! The crate is pure: no processes, no git, no network, no clock. It reads and writes only the
//! files its caller names, and takes the time as a value. Running benchmarks, asking git, talking
//! to GitHub belong to the caller (hapulse's `cargo xtask perf`).
//!
//! Errors are `anyhow::Error` chains: every caller so far prints them whole, and each step adds the
//! file or field it was reading as context.
//!
//! # Example: from tool output to an exit code
//!
//! ```
//! use perf_gate::config::Config;
//! use perf_gate::decision::{Mode, decide};
//! use perf_gate::render::render_markdown;
//! use perf_gate::rules::{Learning, compare};
//! use perf_gate::schema::{Measurement, Metric};
//!
//! // What a run measured (normally read with `readers::iai::read_home` and friends) ...
//! let current = [Measurement::count("proto/parse/n1k", Metric::Instructions, 101_000.0, "instr_proto")];
//! // ... and what the reference holds (a committed baseline, or the base side of an A/B run).
//! let reference = [Measurement::count("proto/parse/n1k", Metric::Instructions, 100_000.0, "instr_proto")];
//!
//! let rows = compare(&current, &reference, &[], &Config::default(), &Learning::new());
//! let report = decide(Mode::Baselines, rows, vec![], vec![], vec![]);
//!
//! assert_eq!(report.exit_code, 3); // +1% instructions is beyond the default 0.5% tolerance
//! assert!(render_markdown(&report).starts_with("1 regression\n"));
//! ```

pub mod baseline;
pub mod budgets;
pub mod config;
pub mod decision;
pub mod fingerprint;
pub mod history;
pub mod json;
pub mod paired;
pub mod readers;
pub mod render;
pub mod rules;
pub mod schema;
pub mod shard;
pub mod stats;
pub mod time;
pub mod units;

/// This package's directory: cargo's run-time `CARGO_MANIFEST_DIR` (the checkout being tested),
/// else the compile-time one. Cargo reuses a test binary built from another checkout of the same
/// sources that shares the `CARGO_TARGET_DIR` (as `.ci/run`'s cache does), and the compile-time
/// path names that other checkout, which may be gone.
#[cfg(test)]
pub(crate) fn test_manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::path::PathBuf::from)
}
