//! `cargo xtask perf merge`: one verdict from the report.json files of a sharded run.

use std::path::PathBuf;

use anyhow::{Context, Result};

use super::ctx::default_root;
use super::decision::{self, Report};
use super::pipeline::emit;
use crate::cli::Options;

/// `perf merge`: one verdict from the shards' report.json files.
pub(crate) fn run(opts: &Options, paths: &[PathBuf]) -> Result<u8> {
    let reports = paths
        .iter()
        .map(|p| {
            let text = std::fs::read_to_string(p).with_context(|| format!("reading {}", p.display()))?;
            serde_json::from_str::<Report>(&text).with_context(|| format!("{} is not a perf report", p.display()))
        })
        .collect::<Result<Vec<_>>>()?;
    let merged = decision::merge(reports)?;
    let root = opts.root.clone().unwrap_or_else(default_root);
    let target_dir = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    emit(&target_dir.join("perf"), &merged)
}
