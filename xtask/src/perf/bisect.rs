//! `cargo xtask perf bisect` (being written).

use anyhow::Result;

/// Options of `cargo xtask perf bisect`.
#[derive(Debug, clap::Args)]
pub(crate) struct BisectArgs {
    /// A revision where the benchmark is fast.
    #[arg(long)]
    good: String,
    /// A revision where it is slow.
    #[arg(long)]
    bad: String,
    /// The benchmark id, `area/op/case`.
    #[arg(long)]
    bench: String,
    /// The metric to bisect on (default instructions: deterministic).
    #[arg(long, default_value = "instructions")]
    metric: String,
}

/// Runs the bisection; returns the exit code.
pub(crate) fn run(_ctx: &super::Ctx, _opts: &super::Options, args: &BisectArgs) -> Result<u8> {
    anyhow::bail!("perf bisect is not built yet ({} {}..{} {})", args.bench, args.good, args.bad, args.metric)
}
