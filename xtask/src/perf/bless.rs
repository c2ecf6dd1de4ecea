//! `cargo xtask perf bless --reason`: measure whole suites (the instruction suite once per
//! environment perturbation, for the spread) and rewrite their baselines with provenance, the
//! machine's fingerprint and the reason.

use anyhow::{Context, Result};

use super::baseline::{self, SuiteBaseline};
use super::checkout::RunSettings;
use super::ctx::{Ctx, scope, suites};
use super::pipeline::{measure, prepare_tools, wall_seconds, write_results};
use super::schema::Suite;
use super::{decision, probe, rules};
use crate::cli::Options;

/// `perf bless --reason`: measure (instr suite once per perturbation) and rewrite the suites' baselines.
pub(crate) fn run(ctx: &Ctx, opts: &Options, reason: &str) -> Result<u8> {
    let mut targets = scope(ctx, opts);
    let not_measured = prepare_tools(ctx, &mut targets)?;
    if let Some(missing) = not_measured.first() {
        anyhow::bail!("cannot bless the {} suite: {}", missing.suite.name(), missing.reason);
    }
    let settings = RunSettings { quick: opts.quick, filter: Vec::new(), env_padding: 0 };
    let head = ctx.head();
    let paddings = ctx.config.instr.bless_env_padding.clone();
    let current = measure(&[&head], &targets, &settings, &paddings, wall_seconds(&ctx.config, opts.quick))?.remove(0);
    write_results(ctx, &current, &[])?;
    let env = probe::environment(&ctx.sh, &ctx.ws)?;
    std::fs::create_dir_all(&ctx.baselines).with_context(|| format!("creating {}", ctx.baselines.display()))?;
    for suite in suites(opts) {
        if ctx.ws.target_names(suite).is_empty() {
            continue;
        }
        let provenance = probe::provenance(&ctx.sh, &ctx.ws, &env, suite, reason)?;
        let baseline = SuiteBaseline::from_measurements(suite, provenance, &current);
        let path = baseline::path(&ctx.baselines, suite);
        // Tell the reviewer what the new figures change, before they replace the old ones.
        if let Ok(Some(previous)) = baseline::read(&ctx.baselines, suite) {
            let rows = rules::compare(
                &baseline.measurements(),
                &previous.measurements(),
                &[],
                &ctx.config,
                &rules::Learning::new(),
            );
            println!("{}: against the previous baseline: {}", suite.name(), decision::summary_line(&rows, &[]));
        }
        std::fs::write(&path, baseline.to_text()?).with_context(|| format!("writing {}", path.display()))?;
        let spread = baseline.benchmarks.values().flat_map(|m| m.values()).filter_map(|e| e.spread).fold(0.0, f64::max);
        println!(
            "blessed {}: {} benchmarks{}",
            path.display(),
            baseline.benchmarks.len(),
            if suite == Suite::Instr {
                format!(", largest spread under perturbation {:.3}%", spread * 100.0)
            } else {
                String::new()
            }
        );
    }
    println!("commit baselines/ together with the change that explains it (reason: {reason})");
    Ok(0)
}
