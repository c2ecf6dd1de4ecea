//! `cargo xtask perf`: the performance gate's command, dispatched to one module per subcommand. What
//! the gate decides lives in the `perf-gate` crate (pure); this module tree runs the benchmarks and
//! the processes around them: measuring, judging and emitting (`pipeline`), the checkouts
//! (`checkout`, `worktree`), A/B rounds (`interleave`, `ab`), and the subcommands.
//! Exit codes: 0 pass, 1 tool failure or something not measured, 2 usage, 3 regression, 4 stale baselines.
//! See docs/benchmarking.md.

mod ab;
mod bisect;
mod bless;
mod checkout;
mod compare;
mod ctx;
mod gate;
mod interleave;
mod lock;
mod merge;
mod pipeline;
pub(crate) mod power;
pub(crate) mod probe;
mod progress;
mod record;
mod trend;
pub(crate) mod worktree;

pub(crate) use perf_gate::readers::{criterion, dhat, iai};
pub(crate) use perf_gate::render as report;
pub(crate) use perf_gate::{
    baseline, budgets, config, decision, fingerprint, history, json, rules, schema, shard, stats,
};

use std::process::ExitCode;

use anyhow::Result;

use self::ctx::{Ctx, default_root};
use crate::cli::{Options, PerfArgs, PerfCommand, UsageError};

/// Runs `cargo xtask perf` and returns the documented exit code.
pub(crate) fn run(args: PerfArgs) -> Result<ExitCode> {
    match args.validate().and_then(|(command, opts)| dispatch(command, &opts)) {
        Err(err) if err.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {err}");
            Ok(ExitCode::from(2))
        }
        other => other.map(ExitCode::from),
    }
}

/// A context for a command that measures, and the lock of its perf directory, held until the
/// command ends (see `lock`).
fn measuring(opts: &Options) -> Result<(Ctx, lock::PerfDirLock)> {
    let ctx = Ctx::new(opts)?;
    let held = lock::lock(&ctx.perf_dir())?;
    Ok((ctx, held))
}

fn dispatch(command: PerfCommand, opts: &Options) -> Result<u8> {
    match command {
        PerfCommand::Gate => {
            let (ctx, _held) = measuring(opts)?;
            gate::run(&ctx, opts)
        }
        PerfCommand::Check => gate::check(&Ctx::new(opts)?, opts),
        PerfCommand::Ab(rev) => {
            let (ctx, _held) = measuring(opts)?;
            ab::run(&ctx, opts, &rev)
        }
        PerfCommand::Bless(reason) => {
            let (ctx, _held) = measuring(opts)?;
            bless::run(&ctx, opts, &reason)
        }
        PerfCommand::Merge(reports) => merge::run(opts, &reports),
        PerfCommand::Compare { against, no_run } => {
            let (ctx, _held) = measuring(opts)?;
            compare::run(&ctx, opts, &against, no_run)
        }
        PerfCommand::Comment(args) => crate::github::comment(args),
        PerfCommand::History(args) => trend::run(&Ctx::new(opts)?, &args),
        PerfCommand::Bisect(args) => bisect::run(&Ctx::new(opts)?, opts, &args),
        PerfCommand::BisectStep(args) => Ok(bisect::step(opts, &args)),
        PerfCommand::Power(args) => {
            // Reports go to this workspace's target/perf (or $CARGO_TARGET_DIR/perf); the synthetic
            // crate, its own workspace, builds below it rather than in the source tree.
            let target = std::env::var_os("CARGO_TARGET_DIR")
                .filter(|d| !d.is_empty())
                .map_or_else(|| default_root().join("target"), std::path::PathBuf::from);
            let root = opts.root.clone().unwrap_or_else(|| power::synth_root(&default_root()));
            let mut ctx = Ctx::new(&Options { root: Some(root), ..opts.clone() })?;
            if std::env::var_os("CARGO_TARGET_DIR").is_none_or(|d| d.is_empty()) {
                ctx.ws.target_dir = target.join("perf").join("synth-target");
            }
            let perf_dir = target.join("perf");
            let _held = lock::lock(&perf_dir)?;
            power::run(&ctx, &args, opts.quick, &perf_dir)
        }
    }
}
