//! `cargo xtask perf`: the performance gate (not built yet; see issue 5).

use std::process::ExitCode;

/// Options of `cargo xtask perf`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {}

pub(crate) fn run(_args: Args) -> anyhow::Result<ExitCode> {
    anyhow::bail!("the performance gate is not built yet (issue 5)")
}
