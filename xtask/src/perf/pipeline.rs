//! The gate's pipeline, each stage written once and used by every subcommand: what is in scope and
//! can run (`prepare_tools`), measuring (`measure`), judging (`judge`: budgets, decision, the run's
//! identity) and emitting the reports (`emit`).

use std::collections::BTreeMap;
use std::path::Path;
use std::time::Instant;

use anyhow::{Context, Result};

use super::checkout::{Checkout, RunSettings};
use super::config::Config;
use super::ctx::Ctx;
use super::decision::{self, Mode, Report};
use super::fingerprint::Fingerprint;
use super::progress::{self, Progress};
use super::rules::Row;
use super::schema::{self, Measurement, NotMeasured, RunResults, SCHEMA_VERSION, Suite, Target};
use super::{budgets, json, probe, report, stats};
use crate::cli::Options;
use crate::git;

/// Checks valgrind and the iai-callgrind runner; drops instr targets (and says why) when valgrind is absent.
pub(crate) fn prepare_tools(ctx: &Ctx, targets: &mut Vec<Target>) -> Result<Vec<NotMeasured>> {
    if !targets.iter().any(|t| t.suite == Suite::Instr) {
        return Ok(Vec::new());
    }
    if probe::valgrind_version(&ctx.sh).is_none() {
        targets.retain(|t| t.suite != Suite::Instr);
        let reason = format!("valgrind not found: {}; instruction counts were not measured", probe::VALGRIND_INSTALL);
        eprintln!("perf: {reason}");
        return Ok(vec![NotMeasured { suite: Suite::Instr, reason }]);
    }
    let version = ctx
        .ws
        .tools
        .get("iai-callgrind")
        .context("instr_* bench targets exist but iai-callgrind is not a dependency")?;
    probe::ensure_iai_runner(&ctx.sh, version)?;
    Ok(Vec::new())
}

/// The measuring stage: builds `targets` in every checkout and runs them (instr ones once per entry
/// of `paddings`, each run keeping the first run's values and recording the relative spread);
/// returns each checkout's measurements. Checkouts take turns per target (A/B of the counted suites).
pub(crate) fn measure(
    checkouts: &[&Checkout<'_>],
    targets: &[Target],
    settings: &RunSettings,
    paddings: &[usize],
    wall_seconds: f64,
) -> Result<Vec<Vec<Measurement>>> {
    let started = Instant::now();
    eprintln!("perf: building {} bench target(s)", targets.len());
    for checkout in checkouts {
        checkout.build(targets)?;
    }
    let mut totals: BTreeMap<Suite, usize> = BTreeMap::new();
    for target in targets {
        let runs = if target.suite == Suite::Instr { paddings.len().max(1) } else { 1 };
        *totals.entry(target.suite).or_default() += checkouts[0].count(target)? * runs * checkouts.len();
    }
    eprintln!("perf: built and listed in {}", progress::clock(started.elapsed()));
    let mut progress = Progress::new(totals, wall_seconds, Instant::now());
    let mut results = vec![Vec::new(); checkouts.len()];
    for target in targets {
        let runs: Vec<usize> =
            if target.suite == Suite::Instr && !paddings.is_empty() { paddings.to_vec() } else { vec![0] };
        for (k, checkout) in checkouts.iter().enumerate() {
            let mut first: Vec<Measurement> = Vec::new();
            let mut repeats: Vec<Vec<Measurement>> = Vec::new();
            for padding in &runs {
                let run =
                    checkout.run(target, &RunSettings { env_padding: *padding, ..settings.clone() }, &mut progress)?;
                if first.is_empty() { first = run } else { repeats.push(run) }
            }
            if !repeats.is_empty() {
                for m in &mut first {
                    let mut values = vec![m.value];
                    values.extend(
                        repeats
                            .iter()
                            .filter_map(|r| r.iter().find(|x| x.id == m.id && x.metric == m.metric))
                            .map(|x| x.value),
                    );
                    m.spread = Some(stats::relative_spread(&values));
                }
            }
            results[k].extend(first);
        }
    }
    eprintln!("perf: measured in {}", progress::clock(started.elapsed()));
    for (checkout, measured) in checkouts.iter().zip(&results) {
        let duplicates = schema::duplicates(measured);
        anyhow::ensure!(
            duplicates.is_empty(),
            "benchmark ids must be unique across bench targets ({}): {}",
            checkout.label,
            duplicates.join("; ")
        );
    }
    Ok(results)
}

pub(crate) fn wall_seconds(config: &Config, quick: bool) -> f64 {
    let s = if quick { config.wall.quick } else { config.wall.full };
    s.warm_up_s + s.measurement_s + 0.5
}

pub(crate) fn write_results(ctx: &Ctx, measurements: &[Measurement], not_measured: &[NotMeasured]) -> Result<()> {
    let mut results =
        RunResults { schema: SCHEMA_VERSION, measurements: measurements.to_vec(), not_measured: not_measured.to_vec() };
    results.sort();
    let path = ctx.perf_dir().join("results.json");
    std::fs::create_dir_all(ctx.perf_dir())?;
    std::fs::write(&path, json::to_canonical_string(&results)?).with_context(|| format!("writing {}", path.display()))
}

/// Budget checks: heap scenarios always, load figures when the file exists or `--load` asks.
pub(crate) fn budget_checks(ctx: &Ctx, opts: &Options, current: &[Measurement]) -> Result<Vec<budgets::BudgetCheck>> {
    let mut checks = budgets::heap(current, &ctx.config.budgets);
    let default_path = ctx.perf_dir().join("load.json");
    let (path, required) = match &opts.load {
        Some(Some(path)) => (path.clone(), true),
        Some(None) => (default_path, true),
        None => (default_path, false),
    };
    match std::fs::read_to_string(&path) {
        Ok(text) => {
            let figures = budgets::parse_load(&text).with_context(|| format!("in {}", path.display()))?;
            checks.extend(budgets::load(&figures, &ctx.config.budgets.load));
        }
        Err(e) if e.kind() == std::io::ErrorKind::NotFound && !required => {}
        Err(e) => return Err(e).with_context(|| format!("reading load-test figures {}", path.display())),
    }
    Ok(checks)
}

/// Writes report.json and report.md, prints the table, appends to `$GITHUB_STEP_SUMMARY`.
pub(crate) fn emit(perf_dir: &Path, report: &Report) -> Result<u8> {
    std::fs::create_dir_all(perf_dir).with_context(|| format!("creating {}", perf_dir.display()))?;
    let markdown = report::render_markdown(report);
    std::fs::write(perf_dir.join("report.json"), json::to_canonical_string(report)?).context("writing report.json")?;
    std::fs::write(perf_dir.join("report.md"), &markdown).context("writing report.md")?;
    print!("{}", report::render_terminal(report));
    println!("reports: {} and report.md", perf_dir.join("report.json").display());
    if let Some(summary) = std::env::var_os("GITHUB_STEP_SUMMARY").filter(|s| !s.is_empty()) {
        use std::io::Write as _;
        let mut file = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&summary)
            .with_context(|| format!("opening $GITHUB_STEP_SUMMARY {}", Path::new(&summary).display()))?;
        writeln!(file, "## Performance gate\n\n{markdown}").context("appending to $GITHUB_STEP_SUMMARY")?;
    }
    Ok(report.exit_code)
}

/// What a comparison concluded, before budgets and the decision.
#[derive(Debug)]
pub(crate) struct Verdicts {
    /// What the rows were compared with.
    pub(crate) mode: Mode,
    /// One row per benchmark and metric.
    pub(crate) rows: Vec<Row>,
    /// Why the baselines are stale.
    pub(crate) stale: Vec<String>,
    /// Suites that could not run.
    pub(crate) not_measured: Vec<NotMeasured>,
    /// Which suites were measured A/B instead of against their baselines, and why.
    pub(crate) notes: Vec<String>,
    /// The machine that measured.
    pub(crate) machine: Fingerprint,
}

/// The judging stage: writes results.json, checks the budgets, decides, and stamps the report with
/// the machine, the workspace and the commit it measured.
pub(crate) fn judge(ctx: &Ctx, opts: &Options, current: &[Measurement], verdicts: Verdicts) -> Result<Report> {
    // A typo in --filter must not read as a pass: nothing judged is not "nothing regressed".
    if !opts.filter.is_empty() && verdicts.rows.is_empty() && verdicts.not_measured.is_empty() {
        let filter = opts.filter.join(",");
        return Err(crate::cli::usage(format!(
            "--filter {filter:?} matched no benchmark of the suites run (it keeps ids containing one of its \
             comma-separated parts, e.g. `state/apply_frame` for state/apply_frame/c8)"
        )));
    }
    write_results(ctx, current, &verdicts.not_measured)?;
    let budgets = budget_checks(ctx, opts, current)?;
    let mut report = decision::decide(verdicts.mode, verdicts.rows, budgets, verdicts.stale, verdicts.not_measured);
    report.shards = opts.shard.iter().map(ToString::to_string).collect();
    report.notes = verdicts.notes;
    report.machine = Some(verdicts.machine.describe());
    report.root = Some(ctx.ws.root.display().to_string());
    report.commit = git::head_state(&ctx.sh, &ctx.ws.root);
    Ok(report)
}
