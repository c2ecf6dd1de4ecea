//! The gate's verdict flows: `cargo xtask perf` (each suite against its committed baseline where
//! that baseline is comparable here, otherwise measured A/B against the revision that holds the
//! baselines, in the same run) and `cargo xtask perf --base REV` (every suite A/B).
//!
//! A/B measurement is shared by both and by `perf power`: instruction and heap suites run once per
//! side (they are deterministic), wall clock runs in paired, interleaved rounds with a first pass
//! over every benchmark and a confirmation pass over the flagged ones (`interleave`, `rules`).
//! Which reference each row used is written on the row.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

use super::baseline::{self, Staleness, SuiteBaseline};
use super::decision::{self, Mode};
use super::fingerprint::Fingerprint;
use super::git::{self, Reference};
use super::interleave::{PairedRun, Sides};
use super::probe::{self, Workspace};
use super::rules::{self, PairedEvidence, Row, Screened, Verdict};
use super::runner::{Bench, RunSettings};
use super::schema::Target;
use super::schema::{Measurement, Metric, NotMeasured, Suite};
use super::shard::Shard;
use super::worktree::Worktree;
use super::{Ctx, Options, budget_checks, emit, history, measure, prepare_tools, scope, suites, usage, wall_seconds};
use super::{run_point, write_results};

/// A revision checked out and ready to measure as the base of an A/B comparison.
struct BaseCheckout<'a> {
    _worktree: Worktree<'a>,
    ws: Workspace,
    bench: Bench<'a>,
    label: String,
}

impl<'a> BaseCheckout<'a> {
    /// Checks `commit` out in `target/perf/ab/worktree`; it builds into its own target directory,
    /// `target/perf/ab/target`: with a shared CARGO_TARGET_DIR its bench binaries would carry the
    /// same names as head's and overwrite them (both sides would then measure one tree).
    fn new(ctx: &'a Ctx, commit: &str, label: String) -> Result<BaseCheckout<'a>> {
        let top = git::toplevel(&ctx.sh, &ctx.ws.root).context("A/B measurement needs a git repository")?;
        let rel = ctx.ws.root.strip_prefix(&top).unwrap_or(Path::new("")).to_owned();
        let worktree = Worktree::add(&ctx.sh, &ctx.ws.root, &ctx.perf_dir().join("ab").join("worktree"), commit)?;
        let root = worktree.path.join(&rel);
        let ws = Workspace::load(&ctx.sh, &root, &ctx.config.bench.package)
            .with_context(|| format!("the base revision {label} has no bench package"))?;
        let bench = Bench {
            root: root.clone(),
            target_dir: Some(ctx.perf_dir().join("ab").join("target")),
            package_dir: ws.package_dir.clone(),
            ..ctx.bench("base")
        };
        Ok(BaseCheckout { _worktree: worktree, ws, bench, label })
    }
}

/// How an A/B measurement runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct AbSettings {
    /// Short measurement (fewer rounds, criterion's quick settings for the counted suites).
    pub(crate) quick: bool,
    /// Only benchmark ids containing this.
    pub(crate) filter: Option<String>,
}

impl AbSettings {
    fn of(opts: &Options) -> AbSettings {
        AbSettings { quick: opts.quick, filter: opts.filter.clone() }
    }
}

/// What an A/B measurement produced.
#[derive(Debug, Default)]
pub(crate) struct AbResult {
    /// One row per benchmark and metric, each naming the reference.
    pub(crate) rows: Vec<Row>,
    /// Head's figures (wall clock: the median over the rounds), for results.json and history.
    pub(crate) head: Vec<Measurement>,
}

/// Measures `targets` of `head` against `base` (whose checkout has `base_targets`): instruction and
/// heap suites once per side, wall clock in paired rounds with a confirmation pass. `reference`
/// labels every row.
pub(crate) fn measure_ab(
    ctx: &Ctx,
    opts: &AbSettings,
    base: &Bench<'_>,
    base_targets: &[Target],
    head: &Bench<'_>,
    targets: &[Target],
    reference: &str,
) -> Result<AbResult> {
    let (wall, counted): (Vec<Target>, Vec<Target>) = targets.iter().cloned().partition(|t| t.suite == Suite::Wall);
    let (shared, head_only): (Vec<Target>, Vec<Target>) = counted.into_iter().partition(|t| base_targets.contains(t));
    for t in head_only.iter().chain(wall.iter().filter(|t| !base_targets.contains(t))) {
        eprintln!("perf: bench target {} does not exist at {reference}: its benchmarks show as new", t.name);
    }
    let settings = RunSettings { quick: opts.quick, filter: opts.filter.clone(), env_padding: 0 };
    let seconds = wall_seconds(&ctx.config, opts.quick);
    let mut out = AbResult::default();
    if !shared.is_empty() {
        let mut results = measure(&[base, head], &shared, &settings, &[], seconds)?;
        let head_ms = results.remove(1);
        let base_ms = results.remove(0);
        out.rows.extend(rules::compare(&head_ms, &base_ms, &[], &ctx.config, &rules::Learning::new()));
        out.head.extend(head_ms);
    }
    if !head_only.is_empty() {
        let head_ms = measure(&[head], &head_only, &settings, &[], seconds)?.remove(0);
        out.rows.extend(rules::compare(&head_ms, &[], &[], &ctx.config, &rules::Learning::new()));
        out.head.extend(head_ms);
    }
    for row in &mut out.rows {
        row.reference = format!("A/B vs {reference}");
    }
    if !wall.is_empty() {
        let sides = Sides::prepare(
            base,
            head,
            &wall,
            base_targets,
            opts.filter.as_deref(),
            &ctx.config.wall.calibration_prefix,
        )?;
        let (rows, measured) = paired_wall(ctx, opts, &sides, None, reference)?;
        out.rows.extend(rows);
        out.head.extend(measured);
    }
    Ok(out)
}

/// Paired rounds over `only` (every shared benchmark when `None`): the first pass, then a
/// confirmation pass over what it flagged. Returns the rows and head's medians.
fn paired_wall(
    ctx: &Ctx,
    opts: &AbSettings,
    sides: &Sides<'_>,
    only: Option<&BTreeSet<String>>,
    reference: &str,
) -> Result<(Vec<Row>, Vec<Measurement>)> {
    let paired = &ctx.config.wall.paired;
    let rounds = paired.rounds(opts.quick);
    let settled = |id: &str, pairs: &[(f64, f64)]| rules::settled(id, pairs, &ctx.config);
    let first = sides.run(only, rounds, paired, &settled, "A/B")?;
    let screened = rules::screen_paired(&first.pairs, &ctx.config);
    let flagged: BTreeSet<String> = screened.iter().filter(|s| s.flagged).map(|s| s.id.clone()).collect();
    let confirmation = if flagged.is_empty() {
        PairedRun::default()
    } else {
        eprintln!("perf: {} benchmark(s) flagged, re-measuring them: {}", flagged.len(), join(&flagged));
        sides.run(Some(&flagged), rounds, paired, &|_: &str, _: &[(f64, f64)]| false, "confirmation")?
    };
    write_rounds(ctx, &first, &confirmation)?;
    let label = format!("A/B vs {reference}");
    let mut rows: Vec<Row> = screened
        .iter()
        .map(|s| {
            let evidence = PairedEvidence {
                first: &first.pairs[&s.id],
                screened: s,
                confirmation: confirmation.pairs.get(&s.id).map(Vec::as_slice),
            };
            rules::paired_row(&s.id, evidence, &ctx.config, &label)
        })
        .collect();
    rows.extend(first.head_only.iter().map(|(id, r)| rules::one_sided_row(id, r, true, &label)));
    rows.extend(first.base_only.iter().map(|(id, r)| rules::one_sided_row(id, r, false, &label)));
    let head = rows
        .iter()
        .filter_map(|r| {
            let target = first.targets.get(&r.id)?;
            let value = r.current?;
            Some(Measurement {
                samples: Some(first.rounds as u64),
                ..Measurement::count(&r.id, Metric::WallNs, value, target)
            })
        })
        .collect();
    Ok((rows, head))
}

/// Writes every round's figures to `target/perf/paired.json`, for anyone who wants to check a verdict.
fn write_rounds(ctx: &Ctx, first: &PairedRun, confirmation: &PairedRun) -> Result<()> {
    let rounds = |run: &PairedRun| -> serde_json::Value {
        run.pairs
            .iter()
            .map(|(id, pairs)| (id.clone(), serde_json::json!(pairs.iter().map(|(b, h)| [b, h]).collect::<Vec<_>>())))
            .collect::<serde_json::Map<_, _>>()
            .into()
    };
    let value = serde_json::json!({
        "note": "median ns per iteration of each process, as [base, head] per round; rounds alternate base-first and head-first",
        "first_pass": rounds(first),
        "confirmation": rounds(confirmation),
    });
    let path = ctx.perf_dir().join("paired.json");
    std::fs::create_dir_all(ctx.perf_dir())?;
    std::fs::write(&path, super::json::to_canonical_string(&value)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn join(ids: &BTreeSet<String>) -> String {
    ids.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// One suite's committed baseline, as read, with why it cannot be compared as it is.
struct Loaded {
    suite: Suite,
    baseline: Option<SuiteBaseline>,
    staleness: Staleness,
}

/// Reads the baselines of the suites that have targets (or a file).
fn load_baselines(
    ctx: &Ctx,
    env: &baseline::Environment,
    machine: &Fingerprint,
    suites: &[Suite],
) -> Result<Vec<Loaded>> {
    let mut out = Vec::new();
    for suite in suites {
        if ctx.ws.target_names(*suite).is_empty() && !baseline::path(&ctx.baselines, *suite).exists() {
            continue;
        }
        let baseline = baseline::read(&ctx.baselines, *suite)?;
        let staleness = match &baseline {
            Some(b) => baseline::staleness(b, env, machine),
            None => Staleness {
                set: vec![format!(
                    "{}: baseline file {} is missing",
                    suite.name(),
                    baseline::path(&ctx.baselines, *suite).display()
                )],
                ..Staleness::default()
            },
        };
        out.push(Loaded { suite: *suite, baseline, staleness });
    }
    Ok(out)
}

/// How one suite of a gate run is judged.
#[derive(Debug, Clone, PartialEq)]
enum Plan {
    /// Against its committed baseline.
    Absolute,
    /// A/B against the reference revision, for these reasons.
    Ab(Vec<String>),
    /// Stale: only a bless helps (exit 4); compared with what the baseline holds, for information.
    Stale(Vec<String>),
}

fn plan(loaded: &Loaded, reference: Option<&Reference>, not_measured: &[NotMeasured]) -> Plan {
    if not_measured.iter().any(|n| n.suite == loaded.suite) {
        return Plan::Absolute;
    }
    let s = &loaded.staleness;
    if !s.set.is_empty() {
        return Plan::Stale(s.set.iter().chain(&s.environment).cloned().collect());
    }
    match (s.environment.is_empty(), reference) {
        (true, _) => Plan::Absolute,
        (false, Some(_)) => Plan::Ab(s.environment.clone()),
        (false, None) => Plan::Stale(
            s.environment.iter().map(|r| format!("{r} (and no git revision to measure A/B against)")).collect(),
        ),
    }
}

/// What a committed baseline row says it was compared with.
fn baseline_label(b: &SuiteBaseline) -> String {
    let p = &b.provenance;
    let commit = p.git_commit.get(..7).unwrap_or(&p.git_commit);
    if b.suite == Suite::Wall { format!("baseline {commit}, this machine") } else { format!("baseline {commit}") }
}

/// `perf --check`: baselines present and comparable, without running anything.
pub(crate) fn check(ctx: &Ctx, opts: &Options) -> Result<u8> {
    let env = probe::environment(&ctx.sh, &ctx.ws)?;
    let machine = probe::this_machine(&env);
    let reference = git::baselines_reference(&ctx.sh, &ctx.ws.root, &ctx.baselines)?;
    println!("perf: workspace {}", ctx.ws.root.display());
    let mut stale = Vec::new();
    for loaded in load_baselines(ctx, &env, &machine, &suites(opts))? {
        match plan(&loaded, reference.as_ref(), &[]) {
            Plan::Absolute => {}
            Plan::Ab(reasons) => {
                let r = reference.as_ref().map_or("?", Reference::short);
                println!("{}: measured A/B against {r} ({})", loaded.suite.name(), reasons.join("; "));
            }
            Plan::Stale(reasons) => stale.extend(reasons),
        }
    }
    if stale.is_empty() {
        println!("perf: baselines in {} are fresh", ctx.baselines.display());
        return Ok(0);
    }
    for reason in &stale {
        println!("stale: {reason}");
    }
    println!("run `cargo xtask perf bless --reason ...` and commit");
    Ok(decision::Outcome::Stale.exit_code())
}

/// `perf`: every suite against its committed baseline where comparable here, the others A/B
/// against the revision that holds the baselines; wall-clock rows that the absolute comparison
/// flags are confirmed A/B before they can fail.
pub(crate) fn gate(ctx: &Ctx, opts: &Options) -> Result<u8> {
    let mut targets = scope(ctx, opts);
    let not_measured = prepare_tools(ctx, &mut targets)?;
    let env = probe::environment(&ctx.sh, &ctx.ws)?;
    let machine = probe::this_machine(&env);
    let reference = git::baselines_reference(&ctx.sh, &ctx.ws.root, &ctx.baselines)?;
    let loaded = load_baselines(ctx, &env, &machine, &suites(opts))?;
    let plans: BTreeMap<Suite, Plan> =
        loaded.iter().map(|l| (l.suite, plan(l, reference.as_ref(), &not_measured))).collect();
    let mut stale = Vec::new();
    let mut notes = Vec::new();
    for (suite, plan) in &plans {
        match plan {
            Plan::Stale(reasons) => stale.extend(reasons.iter().cloned()),
            Plan::Ab(reasons) => notes.push(format!(
                "{}: measured A/B against {} ({}), because {}",
                suite.name(),
                reference.as_ref().map_or("?", Reference::short),
                reference.as_ref().map_or("", |r| r.why.as_str()),
                reasons.join("; ")
            )),
            Plan::Absolute => {}
        }
    }
    let is_ab = |t: &Target| matches!(plans.get(&t.suite), Some(Plan::Ab(_)));
    let (ab_targets, abs_targets): (Vec<Target>, Vec<Target>) = targets.iter().cloned().partition(is_ab);

    // Against the committed baselines.
    let settings = RunSettings { quick: opts.quick, filter: opts.filter.clone(), env_padding: 0 };
    let head = ctx.head();
    let mut current = measure(&[&head], &abs_targets, &settings, &[], wall_seconds(&ctx.config, opts.quick))?.remove(0);
    let in_scope: Vec<&str> = abs_targets.iter().map(|t| t.name.as_str()).collect();
    let labels: BTreeMap<Suite, String> =
        loaded.iter().filter_map(|l| l.baseline.as_ref().map(|b| (l.suite, baseline_label(b)))).collect();
    let reference_ms: Vec<Measurement> = loaded
        .iter()
        .filter(|l| !matches!(plans.get(&l.suite), Some(Plan::Ab(_))))
        .filter_map(|l| l.baseline.as_ref())
        .flat_map(SuiteBaseline::measurements)
        .filter(|m| in_scope.contains(&m.target.as_str()) || not_measured.iter().any(|n| n.suite == m.metric.suite()))
        .filter(|m| {
            opts.filter.as_deref().is_none_or(|f| m.id.contains(f))
                || m.id.starts_with(&ctx.config.wall.calibration_prefix)
        })
        .collect();
    let history_machine = history_machine(&machine);
    let past = history::read(&ctx.history)?;
    let wall_ids = current
        .iter()
        .filter(|m| m.metric == Metric::WallNs && !m.id.starts_with(&ctx.config.wall.calibration_prefix))
        .map(|m| m.id.as_str());
    let learning = history::learn_wall_tolerances(&past, &history_machine.class, wall_ids);
    if !learning.is_empty() {
        eprintln!(
            "perf: {} wall-clock tolerance(s) learned from {} ({})",
            learning.len(),
            ctx.history.display(),
            history_machine.class
        );
    }
    let mut rows = rules::compare(&current, &reference_ms, &not_measured, &ctx.config, &learning);
    for row in &mut rows {
        row.reference = labels.get(&row.metric.suite()).cloned().unwrap_or_default();
    }

    // A/B against the revision that holds the baselines: suites that cannot be compared as they
    // are, and the confirmation of wall rows the absolute comparison flagged.
    let wall_absolute = plans.get(&Suite::Wall) == Some(&Plan::Absolute);
    let flagged: BTreeSet<String> = rows
        .iter()
        .filter(|r| wall_absolute && r.metric == Metric::WallNs && r.verdict == Verdict::Regression)
        .map(|r| r.id.clone())
        .collect();
    match &reference {
        Some(r) if !ab_targets.is_empty() || !flagged.is_empty() => {
            let base = BaseCheckout::new(ctx, &r.commit, r.short().to_owned())?;
            if !ab_targets.is_empty() {
                let ab = measure_ab(
                    ctx,
                    &AbSettings::of(opts),
                    &base.bench,
                    &base.ws.targets,
                    &head,
                    &ab_targets,
                    &base.label,
                )?;
                rows.extend(ab.rows);
                current.extend(ab.head);
            }
            if !flagged.is_empty() {
                confirm_absolute(ctx, opts, &base, &head, &targets, &flagged, &mut rows)?;
            }
        }
        _ => {
            for row in rows.iter_mut().filter(|r| flagged.contains(&r.id) && r.metric == Metric::WallNs) {
                row.detail.push_str("; not confirmed A/B: no git revision holds the baselines");
            }
        }
    }
    write_results(ctx, &current, &not_measured)?;
    let budgets = budget_checks(ctx, opts, &current)?;
    let mut report = decision::decide(Mode::Baselines, rows, budgets, stale, not_measured);
    report.shards = opts.shard.iter().map(Shard::to_string).collect();
    report.machine = Some(machine.describe());
    report.root = Some(ctx.ws.root.display().to_string());
    report.commit = git::head_state(&ctx.sh, &ctx.ws.root);
    report.notes = notes;
    let code = emit(&ctx.perf_dir(), &report)?;
    if opts.record {
        let point = run_point(ctx, history_machine, &current, &report)?;
        history::append(&ctx.history, &point)?;
        println!("recorded {} in {}", point.short_commit(), ctx.history.display());
    }
    Ok(code)
}

/// Re-measures the wall rows that the absolute comparison called regressions, paired against the
/// revision that holds the baselines: the row fails only when that run confirms the slowdown.
fn confirm_absolute(
    ctx: &Ctx,
    opts: &Options,
    base: &BaseCheckout<'_>,
    head: &Bench<'_>,
    targets: &[Target],
    flagged: &BTreeSet<String>,
    rows: &mut [Row],
) -> Result<()> {
    eprintln!("perf: confirming {} wall regression(s) A/B against {}: {}", flagged.len(), base.label, join(flagged));
    let wall: Vec<Target> = targets.iter().filter(|t| t.suite == Suite::Wall).cloned().collect();
    let sides = Sides::prepare(&base.bench, head, &wall, &base.ws.targets, None, &ctx.config.wall.calibration_prefix)?;
    let paired = &ctx.config.wall.paired;
    let never = |_: &str, _: &[(f64, f64)]| false;
    let run = sides.run(Some(flagged), paired.rounds(opts.quick), paired, &never, "confirmation")?;
    let label = format!("A/B vs {}", base.label);
    for row in rows.iter_mut().filter(|r| r.metric == Metric::WallNs && flagged.contains(&r.id)) {
        let Some(pairs) = run.pairs.get(&row.id) else {
            row.detail.push_str("; not confirmed A/B: the benchmark does not exist at the reference");
            continue;
        };
        let screened = rules::screen_paired(&BTreeMap::from([(row.id.clone(), pairs.clone())]), &ctx.config).remove(0);
        let screened = Screened { flagged: true, ..screened };
        let evidence = PairedEvidence { first: pairs, screened: &screened, confirmation: Some(pairs) };
        let absolute = format!("against the baseline {}", row.detail);
        let mut confirmed = rules::paired_row(&row.id, evidence, &ctx.config, &label);
        confirmed.detail = format!("{absolute}; confirmation A/B: {}", confirmed.detail);
        *row = confirmed;
    }
    Ok(())
}

/// `perf --base <rev>`: every suite A/B against a revision built in a git worktree.
pub(crate) fn ab(ctx: &Ctx, opts: &Options, rev: &str) -> Result<u8> {
    git::toplevel(&ctx.sh, &ctx.ws.root).context("--base needs a git repository")?;
    let commit = git::commit_of(&ctx.sh, &ctx.ws.root, rev)
        .ok_or_else(|| usage(format!("--base `{rev}` is not a git revision")))?;
    let mut targets = scope(ctx, opts);
    let not_measured = prepare_tools(ctx, &mut targets)?;
    let base = BaseCheckout::new(ctx, &commit, format!("{rev} ({})", commit.get(..7).unwrap_or(&commit)))?;
    let head = ctx.head();
    let result = measure_ab(ctx, &AbSettings::of(opts), &base.bench, &base.ws.targets, &head, &targets, &base.label)?;
    write_results(ctx, &result.head, &not_measured)?;
    let rows = result.rows;
    let budgets = budget_checks(ctx, opts, &result.head)?;
    let mut report = decision::decide(Mode::Ab(rev.to_owned()), rows, budgets, Vec::new(), not_measured);
    report.shards = opts.shard.iter().map(Shard::to_string).collect();
    let env = probe::environment(&ctx.sh, &ctx.ws)?;
    report.machine = Some(probe::this_machine(&env).describe());
    report.root = Some(ctx.ws.root.display().to_string());
    report.commit = git::head_state(&ctx.sh, &ctx.ws.root);
    emit(&ctx.perf_dir(), &report)
}

/// This machine as the history records it.
fn history_machine(machine: &Fingerprint) -> history::Machine {
    let cores = Some(machine.logical_cores).filter(|n| *n > 0);
    history::Machine {
        class: history::Machine::class_of(&machine.cpu_model, cores),
        cpu_model: machine.cpu_model.clone(),
        cores,
        rustc: machine.rustc.clone(),
        valgrind: machine.valgrind.clone(),
    }
}
