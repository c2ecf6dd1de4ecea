//! `cargo xtask perf`: the performance gate. criterion (wall clock), iai-callgrind (instruction
//! counts) and dhat (heap) results are normalised into the gate's own schema, compared with the
//! committed `baselines/` (or an A/B base revision) under the reviewed rules in `perf.toml`, and
//! reported as a terminal table, `target/perf/report.{json,md}` and the GitHub step summary.
//! Exit codes: 0 pass, 1 tool failure or something not measured, 2 usage, 3 regression, 4 stale baselines.
//! See docs/benchmarking.md.

mod bisect;
pub(crate) use perf_gate::readers::{criterion, dhat, iai};
pub(crate) use perf_gate::render as report;
pub(crate) use perf_gate::{
    baseline, budgets, config, decision, fingerprint, history, json, rules, schema, shard, stats,
};
mod gate;
mod git;
mod interleave;
mod power;
mod probe;
mod progress;
mod runner;
mod worktree;

pub(crate) use config::LoadBudgets;

/// Reads `perf.toml` (defaults when absent), for other subcommands that share its settings.
pub(crate) fn read_config(path: &std::path::Path) -> anyhow::Result<config::Config> {
    config::Config::load(path)
}

/// Parses `perf.toml` text.
#[cfg(test)]
pub(crate) fn parse_config(text: &str) -> anyhow::Result<config::Config> {
    config::Config::parse(text)
}

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use self::baseline::SuiteBaseline;
use self::config::Config;
use self::decision::{Mode, Report};
use self::probe::Workspace;
use self::progress::Progress;
use self::runner::{Bench, RunSettings};
use self::schema::Target;
use self::schema::{Measurement, NotMeasured, RunResults, SCHEMA_VERSION, Suite};
use self::shard::Shard;

/// Options of `cargo xtask perf`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Option<Sub>,
    // Boxed: keeps `main`'s command enum small.
    #[command(flatten)]
    opts: Box<Options>,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Re-measure and rewrite baselines/ with provenance and the reason (commit the result).
    Bless {
        /// Why the baselines change, recorded in their provenance.
        #[arg(long)]
        reason: String,
    },
    /// Merge the report.json files of `--shard` runs into one report and verdict.
    Merge {
        /// report.json files, one per shard.
        #[arg(required = true)]
        reports: Vec<PathBuf>,
    },
    /// Show today's tree against an earlier baseline: a git revision or a baseline file/directory.
    Compare {
        /// Git revision (its baselines/ are read with git show) or path to a baseline file or directory.
        #[arg(long)]
        against: String,
        /// Reuse target/perf/results.json of the last run instead of measuring again.
        #[arg(long)]
        no_run: bool,
    },
    /// Post report.md as the pull request's one sticky comment (GitHub API; see src/github.rs).
    Comment(crate::github::CommentArgs),
    /// The trend over recorded runs (`--history`) and every commit that changed baselines/.
    History(HistoryArgs),
    /// Find the first commit that moved one benchmark (`git bisect run` in a separate worktree).
    Bisect(bisect::BisectArgs),
    /// Measure the gate's own detection power and false-alarm rate on the synthetic bench crate
    /// (`xtask/test_data/synth`) with known injected changes; writes target/perf/power.{json,md}.
    Power(power::PowerArgs),
    /// Internal: one `git bisect run` step of `perf bisect` (exit 0 good, 1 bad, 125 skip).
    #[command(hide = true)]
    BisectStep(bisect::StepArgs),
}

/// Options of `cargo xtask perf history`.
#[derive(Debug, clap::Args)]
struct HistoryArgs {
    /// Write the self-contained trend page (one chart per benchmark and metric) to this file.
    #[arg(long, value_name = "FILE")]
    html: Option<PathBuf>,
    /// Print one benchmark's points as a table with a sparkline.
    #[arg(long, value_name = "ID")]
    bench: Option<String>,
    /// Only this metric (instructions, wall_ns, heap_total_bytes, ...).
    #[arg(long)]
    metric: Option<String>,
    /// Use only the recorded history file, not the baselines' git log.
    #[arg(long)]
    no_git: bool,
    /// Also write the merged history (recorded runs and rebuilt baselines) as JSON Lines to this file.
    #[arg(long, value_name = "FILE")]
    write: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
struct Options {
    /// Only these suites (repeat or comma-separate): wall, instr, heap.
    #[arg(long, value_delimiter = ',', global = true, value_parser = parse_suite)]
    suite: Vec<Suite>,
    /// Only benchmarks whose id contains this substring.
    #[arg(long, global = true)]
    filter: Option<String>,
    /// Short criterion measurement (CI).
    #[arg(long, global = true)]
    quick: bool,
    /// Run shard i of n (bench targets dealt round-robin); merge the reports with `perf merge`.
    #[arg(long, global = true)]
    shard: Option<Shard>,
    /// A/B mode: build this git revision in a worktree, run base and head interleaved, compare head with base.
    #[arg(long)]
    base: Option<String>,
    /// Only check that baselines exist and are fresh (toolchain, valgrind, Cargo.lock, bench targets); runs nothing.
    #[arg(long)]
    check: bool,
    /// Check the load-test budgets from this file (default target/perf/load.json; checked anyway when it exists).
    #[arg(long, global = true, num_args = 0..=1, value_name = "FILE")]
    load: Option<Option<PathBuf>>,
    /// Workspace holding the bench package, perf.toml and baselines/ (default: this repository).
    #[arg(long, global = true, env = "HAPULSE_PERF_ROOT")]
    root: Option<PathBuf>,
    /// Baselines directory (default: <root>/baselines).
    #[arg(long, global = true)]
    baselines: Option<PathBuf>,
    /// History file, JSON Lines (default target/perf/history.jsonl): `--record` appends to it, the gate
    /// learns wall-clock tolerances from it, `perf history` reads it.
    #[arg(long, global = true, value_name = "FILE", env = "HAPULSE_PERF_HISTORY")]
    history: Option<PathBuf>,
    /// Append this run's normalised results and verdicts to the history file.
    #[arg(long)]
    record: bool,
    /// Extra environment for head's benchmark processes only (repeatable): measures what a variable
    /// changes, and is how `perf power` and the gate's own tests inject a known change.
    #[arg(long = "head-env", value_name = "NAME=VALUE", global = true, value_parser = parse_env_pair)]
    head_env: Vec<(String, String)>,
}

fn parse_suite(text: &str) -> Result<Suite, String> {
    Suite::from_name(text).ok_or_else(|| format!("`{text}` is not a suite (wall, instr, heap)"))
}

fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// A usage error: exit code 2.
#[derive(Debug)]
struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// Runs `cargo xtask perf` and returns the documented exit code.
pub(crate) fn run(args: Args) -> Result<ExitCode> {
    match dispatch(args) {
        Err(err) if err.downcast_ref::<UsageError>().is_some() => {
            eprintln!("error: {err}");
            Ok(ExitCode::from(2))
        }
        other => other.map(ExitCode::from),
    }
}

fn dispatch(args: Args) -> Result<u8> {
    let opts = *args.opts;
    match args.command {
        None if opts.check => {
            if opts.base.is_some() {
                return Err(usage("--check and --base do not go together"));
            }
            gate::check(&Ctx::new(&opts)?, &opts)
        }
        None => {
            let ctx = Ctx::new(&opts)?;
            match &opts.base {
                Some(_) if opts.record => {
                    Err(usage("--record keeps gate runs against baselines/, not --base A/B runs"))
                }
                Some(rev) => gate::ab(&ctx, &opts, rev),
                None => gate::gate(&ctx, &opts),
            }
        }
        Some(_) if opts.record => Err(usage("--record applies to the gate run itself (`cargo xtask perf --record`)")),
        Some(Sub::Bless { reason }) => {
            if opts.filter.is_some() || opts.shard.is_some() || opts.base.is_some() || opts.check {
                return Err(usage("bless rewrites whole suites: --filter, --shard, --base and --check do not apply"));
            }
            if !opts.head_env.is_empty() {
                return Err(usage("bless measures the tree as it is: --head-env does not apply"));
            }
            if reason.trim().is_empty() {
                return Err(usage("bless needs a non-empty --reason"));
            }
            bless(&Ctx::new(&opts)?, &opts, reason.trim())
        }
        Some(Sub::Merge { reports }) => merge(&opts, &reports),
        Some(Sub::Compare { against, no_run }) => compare(&Ctx::new(&opts)?, &opts, &against, no_run),
        Some(Sub::Comment(args)) => crate::github::comment(args),
        Some(Sub::History(args)) => history_cmd(&Ctx::new(&opts)?, &args),
        Some(Sub::Bisect(args)) => bisect::run(&Ctx::new(&opts)?, &opts, &args),
        Some(Sub::BisectStep(args)) => Ok(bisect::step(&opts, &args)),
        Some(Sub::Power(args)) => {
            let root = opts.root.clone().unwrap_or_else(|| power::synth_root(&default_root()));
            let ctx = Ctx::new(&Options { root: Some(root), ..opts.clone() })?;
            power::run(&ctx, &args, opts.quick)
        }
    }
}

/// Everything a subcommand needs about the workspace.
#[derive(Debug)]
struct Ctx {
    sh: Shell,
    config: Config,
    ws: Workspace,
    baselines: PathBuf,
    history: PathBuf,
    head_env: Vec<(String, String)>,
}

fn default_root() -> PathBuf {
    crate::workspace::root()
}

impl Ctx {
    fn new(opts: &Options) -> Result<Ctx> {
        let root = opts.root.clone().unwrap_or_else(default_root);
        let root = std::path::absolute(&root).with_context(|| format!("resolving {}", root.display()))?;
        let sh = Shell::new()?;
        let config = Config::load(&root.join("perf.toml"))?;
        let ws = Workspace::load(&sh, &root, &config.bench.package)?;
        for name in &ws.ignored {
            eprintln!(
                "perf: warning: bench target `{name}` follows no naming convention (wall_*, instr_*, heap_*) and is not run"
            );
        }
        let baselines = opts.baselines.clone().unwrap_or_else(|| root.join("baselines"));
        let history = opts.history.clone().unwrap_or_else(|| ws.perf_dir().join("history.jsonl"));
        Ok(Ctx { sh, config, ws, baselines, history, head_env: opts.head_env.clone() })
    }

    fn perf_dir(&self) -> PathBuf {
        self.ws.perf_dir()
    }

    fn bench(&self, label: &str) -> Bench<'_> {
        Bench {
            sh: &self.sh,
            root: self.ws.root.clone(),
            package: self.config.bench.package.clone(),
            raw_dir: self.perf_dir().join("raw").join(label),
            label: label.to_owned(),
            config: &self.config,
            target_dir: None,
            package_dir: self.ws.package_dir.clone(),
            env: Vec::new(),
        }
    }

    /// The tree being judged, with `--head-env` applied.
    fn head(&self) -> Bench<'_> {
        Bench { env: self.head_env.clone(), ..self.bench("head") }
    }
}

fn suites(opts: &Options) -> Vec<Suite> {
    Suite::ALL.into_iter().filter(|s| opts.suite.is_empty() || opts.suite.contains(s)).collect()
}

fn scope(ctx: &Ctx, opts: &Options) -> Vec<Target> {
    let suites = suites(opts);
    let targets: Vec<Target> = ctx.ws.targets.iter().filter(|t| suites.contains(&t.suite)).cloned().collect();
    opts.shard.map_or(targets.clone(), |s| s.select(&targets))
}

/// Checks valgrind and the iai-callgrind runner; drops instr targets (and says why) when valgrind is absent.
fn prepare_tools(ctx: &Ctx, targets: &mut Vec<Target>) -> Result<Vec<NotMeasured>> {
    if !targets.iter().any(|t| t.suite == Suite::Instr) {
        return Ok(Vec::new());
    }
    if probe::valgrind_version(&ctx.sh).is_none() {
        targets.retain(|t| t.suite != Suite::Instr);
        let reason = "valgrind not found: install it (Debian/Ubuntu: `sudo apt-get install valgrind`, Fedora: \
                      `sudo dnf install valgrind`); instruction counts were not measured"
            .to_owned();
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

/// Runs `targets` (instr ones once per entry of `paddings`, each run keeping the first run's values
/// and recording the relative spread); `others` are benches to interleave with (A/B mode).
fn measure(
    benches: &[&Bench<'_>],
    targets: &[Target],
    settings: &RunSettings,
    paddings: &[usize],
    wall_seconds: f64,
) -> Result<Vec<Vec<Measurement>>> {
    let started = Instant::now();
    eprintln!("perf: building {} bench target(s)", targets.len());
    for bench in benches {
        bench.build(targets)?;
    }
    let mut totals: BTreeMap<Suite, usize> = BTreeMap::new();
    for target in targets {
        let runs = if target.suite == Suite::Instr { paddings.len().max(1) } else { 1 };
        *totals.entry(target.suite).or_default() += benches[0].count(target)? * runs * benches.len();
    }
    eprintln!("perf: built and listed in {}", progress::clock(started.elapsed()));
    let mut progress = Progress::new(totals, wall_seconds, Instant::now());
    let mut results = vec![Vec::new(); benches.len()];
    for target in targets {
        let runs: Vec<usize> =
            if target.suite == Suite::Instr && !paddings.is_empty() { paddings.to_vec() } else { vec![0] };
        for (k, bench) in benches.iter().enumerate() {
            let mut first: Vec<Measurement> = Vec::new();
            let mut repeats: Vec<Vec<Measurement>> = Vec::new();
            for padding in &runs {
                let run =
                    bench.run(target, &RunSettings { env_padding: *padding, ..settings.clone() }, &mut progress)?;
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
    for (bench, measured) in benches.iter().zip(&results) {
        let duplicates = schema::duplicates(measured);
        anyhow::ensure!(
            duplicates.is_empty(),
            "benchmark ids must be unique across bench targets ({}): {}",
            bench.label,
            duplicates.join("; ")
        );
    }
    Ok(results)
}

fn wall_seconds(config: &Config, quick: bool) -> f64 {
    let s = if quick { config.wall.quick } else { config.wall.full };
    s.warm_up_s + s.measurement_s + 0.5
}

fn write_results(ctx: &Ctx, measurements: &[Measurement], not_measured: &[NotMeasured]) -> Result<()> {
    let mut results =
        RunResults { schema: SCHEMA_VERSION, measurements: measurements.to_vec(), not_measured: not_measured.to_vec() };
    results.sort();
    let path = ctx.perf_dir().join("results.json");
    std::fs::create_dir_all(ctx.perf_dir())?;
    std::fs::write(&path, json::to_canonical_string(&results)?).with_context(|| format!("writing {}", path.display()))
}

/// Budget checks: heap scenarios always, load figures when the file exists or `--load` asks.
fn budget_checks(ctx: &Ctx, opts: &Options, current: &[Measurement]) -> Result<Vec<budgets::BudgetCheck>> {
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
fn emit(perf_dir: &Path, report: &Report) -> Result<u8> {
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

/// The history point of a gate run: HEAD's commit, this machine, every measurement and the calls.
fn run_point(ctx: &Ctx, machine: history::Machine, current: &[Measurement], report: &Report) -> Result<history::Point> {
    let sh = &ctx.sh;
    let _dir = sh.push_dir(&ctx.ws.root);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock before 1970")?;
    let measured = perf_gate::time::rfc3339_utc(now.as_secs());
    let head = cmd!(sh, "git show -s --format=%H%x1f%cI%x1f%s HEAD").quiet().ignore_stderr().read().ok();
    let entry = head.as_deref().map(history::parse_log).and_then(|mut log| log.pop());
    let (commit, commit_date, subject) = entry
        .map_or_else(|| ("unknown".to_owned(), measured.clone(), String::new()), |e| (e.commit, e.date, e.subject));
    let mut measurements = current.to_vec();
    measurements.sort_by(|a, b| (&a.id, a.metric).cmp(&(&b.id, b.metric)));
    Ok(history::Point {
        schema: SCHEMA_VERSION,
        commit,
        commit_date,
        measured,
        subject,
        source: history::Source::Run,
        machine,
        blessed: Vec::new(),
        calls: history::Call::from_rows(&report.rows),
        measurements,
    })
}

/// `perf history`: merge the recorded runs with the baselines' git log, then print or render.
fn history_cmd(ctx: &Ctx, args: &HistoryArgs) -> Result<u8> {
    let metric = match &args.metric {
        Some(name) => Some(schema::Metric::from_name(name).ok_or_else(|| {
            let known: Vec<&str> = schema::Metric::ALL.iter().map(|m| m.name()).collect();
            usage(format!("unknown metric `{name}` (one of {})", known.join(", ")))
        })?),
        None => None,
    };
    let recorded = history::read(&ctx.history)?;
    let rebuilt = if args.no_git {
        Vec::new()
    } else {
        history::rebuild(git::baseline_commits(&ctx.sh, &ctx.ws.root, &ctx.baselines)?, &ctx.config)
    };
    let (n_recorded, n_rebuilt) = (recorded.len(), rebuilt.len());
    let points = history::merge(recorded, rebuilt);
    eprintln!(
        "perf history: {} point(s): {n_recorded} recorded in {}, {n_rebuilt} rebuilt from the git log of {}",
        points.len(),
        ctx.history.display(),
        ctx.baselines.display()
    );
    if let Some(path) = &args.write {
        let text: String = points.iter().map(history::to_line).collect::<Result<_>>()?;
        std::fs::write(path, text).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    if let Some(path) = &args.html {
        let page = history::html::render(&points, "hapulse performance history")?;
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
        }
        std::fs::write(path, page).with_context(|| format!("writing {}", path.display()))?;
        println!("wrote {}", path.display());
    }
    match &args.bench {
        Some(id) => {
            let table = history::text::bench_table(&points, id, metric).map_err(|e| usage(format!("{e:#}")))?;
            print!("{table}");
        }
        None if args.html.is_none() && args.write.is_none() => print!("{}", history::text::overview(&points, metric)),
        None => {}
    }
    Ok(0)
}

/// `perf bless --reason`: measure (instr suite once per perturbation) and rewrite the suites' baselines.
fn bless(ctx: &Ctx, opts: &Options, reason: &str) -> Result<u8> {
    let mut targets = scope(ctx, opts);
    let not_measured = prepare_tools(ctx, &mut targets)?;
    if let Some(missing) = not_measured.first() {
        anyhow::bail!("cannot bless the {} suite: {}", missing.suite.name(), missing.reason);
    }
    let settings = RunSettings { quick: opts.quick, filter: None, env_padding: 0 };
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

/// `perf merge`: one verdict from the shards' report.json files.
fn merge(opts: &Options, paths: &[PathBuf]) -> Result<u8> {
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
    let sh = &ctx.sh;
    let _dir = sh.push_dir(&ctx.ws.root);
    let top =
        PathBuf::from(cmd!(sh, "git rev-parse --show-toplevel").quiet().read().context("not in a git repository")?);
    let dir = std::path::absolute(&ctx.baselines)?;
    let rel = dir.strip_prefix(&top).with_context(|| format!("{} is outside the git tree", dir.display()))?;
    for suite in suites(opts) {
        let spec = format!("{against}:{}", rel.join(format!("{}.json", suite.name())).display());
        if let Ok(text) = cmd!(sh, "git show {spec}").quiet().ignore_stderr().read() {
            out.push(parse(&text, &spec)?);
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
fn compare(ctx: &Ctx, opts: &Options, against: &str, no_run: bool) -> Result<u8> {
    let reference = reference_of(ctx, opts, against)?;
    let (current, not_measured) = if no_run {
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
        write_results(ctx, &current, &not_measured)?;
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
    let current: Vec<Measurement> = current.into_iter().filter(|m| suites_held.contains(&m.metric.suite())).collect();
    let measured: Vec<&str> = current.iter().map(|m| m.target.as_str()).collect();
    let reference: Vec<Measurement> = reference
        .iter()
        .flat_map(SuiteBaseline::measurements)
        .filter(|m| measured.contains(&m.target.as_str()) || not_measured.iter().any(|n| n.suite == m.metric.suite()))
        .collect();
    let rows = rules::compare(&current, &reference, &not_measured, &ctx.config, &rules::Learning::new());
    let budgets = budget_checks(ctx, opts, &current)?;
    let mut rows = rows;
    for row in &mut rows {
        row.reference = format!("compare vs {against}");
    }
    let mut report = decision::decide(Mode::Compare(against.to_owned()), rows, budgets, Vec::new(), not_measured);
    report.root = Some(ctx.ws.root.display().to_string());
    emit(&ctx.perf_dir(), &report)
}
