//! `cargo xtask perf compare --against`: today's tree (or the last run's results) against an
//! earlier baseline: a git revision's `baselines/`, a baseline file or a directory of them.
//! Informational about provenance, but regressions still exit 3.

use std::path::Path;

use anyhow::{Context, Result};

use super::baseline::{self, SuiteBaseline};
use super::checkout::RunSettings;
use super::ctx::{Ctx, scope, suites};
use super::decision::Mode;
use super::pipeline::{Verdicts, emit, judge, measure, prepare_tools, wall_seconds};
use super::schema::{Measurement, RunResults, Suite};
use super::{probe, rules};
use crate::cli::Options;
use crate::git;

/// Reads the reference of `perf compare --against`: a baseline file, a directory of them, or a git revision.
fn reference_of(ctx: &Ctx, opts: &Options, against: &str) -> Result<Vec<SuiteBaseline>> {
    let path = Path::new(against);
    let parse = |text: &str, what: &str| SuiteBaseline::parse(text).with_context(|| format!("in {what}"));
    if path.is_file() {
        return Ok(vec![parse(&std::fs::read_to_string(path)?, against)?]);
    }
    let mut out = Vec::new();
    if path.is_dir() {
        for suite in suites(opts) {
            if let Some(b) = baseline::read(path, suite)? {
                out.push(b);
            }
        }
        return Ok(out);
    }
    let top = git::toplevel(&ctx.sh, &ctx.ws.root).context("not in a git repository")?;
    let rel = git::relative_to_top(&top, &ctx.baselines)?;
    let wanted = suites(opts);
    for (suite, found) in git::baselines_at(&ctx.sh, &top, &rel, against) {
        if wanted.contains(&suite) {
            out.push(found?);
        }
    }
    anyhow::ensure!(
        !out.is_empty(),
        "no baselines found at `{against}` (neither a file, a directory nor a git revision holding them)"
    );
    Ok(out)
}

/// `perf compare --against`: today's tree (or the last run) against an earlier baseline; informational
/// about provenance, but regressions still exit 3.
pub(crate) fn run(ctx: &Ctx, opts: &Options, against: &str, no_run: bool) -> Result<u8> {
    let reference = reference_of(ctx, opts, against)?;
    let (all, not_measured) = if no_run {
        let path = ctx.perf_dir().join("results.json");
        let text = std::fs::read_to_string(&path)
            .with_context(|| format!("reading {} (run `cargo xtask perf` first)", path.display()))?;
        let results: RunResults = serde_json::from_str(&text).with_context(|| format!("in {}", path.display()))?;
        (results.measurements, results.not_measured)
    } else {
        let mut targets = scope(ctx, opts);
        let not_measured = prepare_tools(ctx, &mut targets)?;
        let settings = RunSettings { quick: opts.quick, filter: opts.filter.clone(), env_padding: 0 };
        let head = ctx.head();
        let current = measure(&[&head], &targets, &settings, &[], wall_seconds(&ctx.config, opts.quick))?.remove(0);
        (current, not_measured)
    };
    let env = probe::environment(&ctx.sh, &ctx.ws)?;
    let machine = probe::this_machine(&env);
    for b in &reference {
        let staleness = baseline::staleness(b, &env, &machine);
        for note in staleness.environment.iter().chain(&staleness.set) {
            eprintln!("perf: note: {note} (compare shows the change anyway)");
        }
    }
    // Only the suites the reference holds are compared (a single baseline file holds one suite).
    let suites_held: Vec<Suite> = reference.iter().map(|b| b.suite).collect();
    let current: Vec<Measurement> = all.iter().filter(|m| suites_held.contains(&m.metric.suite())).cloned().collect();
    let measured: Vec<&str> = current.iter().map(|m| m.target.as_str()).collect();
    let reference: Vec<Measurement> = reference
        .iter()
        .flat_map(SuiteBaseline::measurements)
        .filter(|m| measured.contains(&m.target.as_str()) || not_measured.iter().any(|n| n.suite == m.metric.suite()))
        .collect();
    let mut rows = rules::compare(&current, &reference, &not_measured, &ctx.config, &rules::Learning::new());
    for row in &mut rows {
        row.reference = format!("compare vs {against}");
    }
    let verdicts = Verdicts {
        mode: Mode::Compare(against.to_owned()),
        rows,
        stale: Vec::new(),
        not_measured,
        notes: Vec::new(),
        machine,
    };
    emit(&ctx.perf_dir(), &judge(ctx, opts, &all, verdicts)?)
}
