//! A/B measurement, shared by `cargo xtask perf --base REV`, the default gate (suites that cannot be
//! compared with their committed baselines here, and the confirmation of wall regressions flagged
//! against them) and `perf power`: instruction and heap suites run once per side (they are
//! deterministic), wall clock runs in paired, interleaved rounds with a first pass over every
//! benchmark and a confirmation pass over the flagged ones (`interleave`, `perf_gate::rules`).
//! Every row names the revision it was compared with.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use anyhow::{Context, Result};

use super::checkout::{Checkout, RunSettings};
use super::ctx::{Ctx, scope};
use super::decision::Mode;
use super::interleave::{PairedRun, Sides};
use super::pipeline::{Verdicts, emit, judge, measure, prepare_tools, wall_seconds};
use super::probe::{self, Workspace};
use super::rules::{self, PairedEvidence, Row, Screened};
use super::schema::{Measurement, Metric, Suite, Target};
use super::worktree::Worktree;
use crate::cli::{Options, usage};
use crate::git;

/// A revision checked out and ready to measure as the base of an A/B comparison.
pub(crate) struct BaseCheckout<'a> {
    _worktree: Worktree<'a>,
    /// The base's workspace.
    pub(crate) ws: Workspace,
    /// The base as a checkout to measure.
    pub(crate) checkout: Checkout<'a>,
    /// How rows name it: short hash, or the revision as given and its short hash.
    pub(crate) label: String,
}

impl<'a> BaseCheckout<'a> {
    /// Checks `commit` out in `target/perf/ab/worktree`; it builds into its own target directory,
    /// `target/perf/ab/target`: with a shared CARGO_TARGET_DIR its bench binaries would carry the
    /// same names as head's and overwrite them (both sides would then measure one tree).
    pub(crate) fn new(ctx: &'a Ctx, commit: &str, label: String) -> Result<BaseCheckout<'a>> {
        let top = git::toplevel(&ctx.sh, &ctx.ws.root).context("A/B measurement needs a git repository")?;
        let rel = ctx.ws.root.strip_prefix(&top).unwrap_or(Path::new("")).to_owned();
        let worktree = Worktree::add(&ctx.sh, &ctx.ws.root, &ctx.perf_dir().join("ab").join("worktree"), commit)?;
        let root = worktree.path.join(&rel);
        let ws = Workspace::load(&ctx.sh, &root, &ctx.config.bench.package)
            .with_context(|| format!("the base revision {label} has no bench package"))?;
        let checkout = Checkout {
            root: root.clone(),
            target_dir: Some(ctx.perf_dir().join("ab").join("target")),
            package_dir: ws.package_dir.clone(),
            ..ctx.checkout("base")
        };
        Ok(BaseCheckout { _worktree: worktree, ws, checkout, label })
    }
}

/// How an A/B measurement runs.
#[derive(Debug, Clone, Default)]
pub(crate) struct AbSettings {
    /// Short measurement (fewer rounds, criterion's quick settings for the counted suites).
    pub(crate) quick: bool,
    /// Only benchmark ids containing one of these, when any.
    pub(crate) filter: Vec<String>,
}

impl AbSettings {
    pub(crate) fn of(opts: &Options) -> AbSettings {
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
    /// What the report should say about how the rounds ran (the machine's steal).
    pub(crate) notes: Vec<String>,
}

/// Measures `targets` of `head` against `base` (whose checkout has `base_targets`): instruction and
/// heap suites once per side, wall clock in paired rounds with a confirmation pass. `reference`
/// labels every row.
pub(crate) fn measure_ab(
    ctx: &Ctx,
    opts: &AbSettings,
    base: &Checkout<'_>,
    base_targets: &[Target],
    head: &Checkout<'_>,
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
        let sides = Sides::prepare(base, head, &wall, base_targets, &opts.filter, &ctx.config.wall.calibration_prefix)?;
        let (rows, measured, note) = paired_wall(ctx, opts, &sides, None, reference)?;
        out.rows.extend(rows);
        out.head.extend(measured);
        out.notes.extend(note);
    }
    Ok(out)
}

/// The two passes of a paired A/B measurement: the first over the chosen benchmarks, then a
/// confirmation over what the first flagged; a row can fail only when both call it a regression.
struct Passes {
    first: PairedRun,
    screened: Vec<Screened>,
    confirmation: PairedRun,
}

impl Passes {
    /// Runs the first pass over `only` (every shared benchmark when `None`; a benchmark its rounds
    /// settle leaves early), screens it, and confirms what it flagged in a second pass.
    fn run(ctx: &Ctx, quick: bool, sides: &Sides<'_>, only: Option<&BTreeSet<String>>, what: &str) -> Result<Passes> {
        let paired = &ctx.config.wall.paired;
        let rounds = paired.rounds(quick);
        let settled = |id: &str, pairs: &[(f64, f64)]| rules::settled(id, pairs, &ctx.config);
        let first = sides.run(only, rounds, paired, &settled, what)?;
        let screened = rules::screen_paired(&first.pairs, &ctx.config);
        let flagged: BTreeSet<String> = screened.iter().filter(|s| s.flagged).map(|s| s.id.clone()).collect();
        let confirmation = if flagged.is_empty() {
            PairedRun::default()
        } else {
            eprintln!("perf: {} benchmark(s) flagged, re-measuring them: {}", flagged.len(), join(&flagged));
            sides.run(Some(&flagged), rounds, paired, &|_: &str, _: &[(f64, f64)]| false, "confirmation")?
        };
        write_rounds(ctx, &first, &confirmation)?;
        Ok(Passes { first, screened, confirmation })
    }

    /// One row per benchmark both sides ran, each naming `label`.
    fn rows(&self, ctx: &Ctx, label: &str) -> Vec<Row> {
        self.screened
            .iter()
            .map(|s| {
                let evidence = PairedEvidence {
                    first: &self.first.pairs[&s.id],
                    screened: s,
                    confirmation: self.confirmation.pairs.get(&s.id).map(Vec::as_slice),
                };
                rules::paired_row(&s.id, evidence, &ctx.config, label)
            })
            .collect()
    }

    /// The report's note on the machine's steal over both passes.
    fn steal_note(&self, label: &str) -> Option<String> {
        steal_note(label, &[&self.first, &self.confirmation])
    }
}

/// Paired rounds over `only` (every shared benchmark when `None`): the first pass, then a
/// confirmation pass over what it flagged. Returns the rows, head's medians and the note on the
/// machine's steal over the rounds.
fn paired_wall(
    ctx: &Ctx,
    opts: &AbSettings,
    sides: &Sides<'_>,
    only: Option<&BTreeSet<String>>,
    reference: &str,
) -> Result<(Vec<Row>, Vec<Measurement>, Option<String>)> {
    let passes = Passes::run(ctx, opts.quick, sides, only, "A/B")?;
    let label = format!("A/B vs {reference}");
    let first = &passes.first;
    let mut rows = passes.rows(ctx, &label);
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
    Ok((rows, head, passes.steal_note(&label)))
}

/// The report's note on the machine's steal over paired runs (those that ran): on a shared VM the
/// hypervisor's share of the CPUs slows whichever side runs meanwhile, so a reader weighing a wide
/// interval or an inconclusive row should know it. `None` when steal could not be read.
fn steal_note(label: &str, runs: &[&PairedRun]) -> Option<String> {
    let ran: Vec<&PairedRun> = runs.iter().copied().filter(|r| r.seconds > 0.0).collect();
    let seconds: f64 = ran.iter().map(|r| r.seconds).sum();
    let stolen: Option<f64> = ran.iter().map(|r| r.steal_cores.map(|c| c * r.seconds)).sum();
    let cores = stolen.filter(|_| seconds > 0.0)? / seconds;
    Some(format!(
        "wall: the paired rounds ({label}, {seconds:.0} s) ran with {cores:.2} cores of machine steal (CPU time \
         the hypervisor gave elsewhere: it widens the intervals, and alternating the sides keeps it from \
         favouring one)"
    ))
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
        "steal_cores": { "first_pass": first.steal_cores, "confirmation": confirmation.steal_cores },
    });
    let path = ctx.perf_dir().join("paired.json");
    std::fs::create_dir_all(ctx.perf_dir())?;
    std::fs::write(&path, super::json::to_canonical_string(&value)?)
        .with_context(|| format!("writing {}", path.display()))
}

fn join(ids: &BTreeSet<String>) -> String {
    ids.iter().map(String::as_str).collect::<Vec<_>>().join(", ")
}

/// Re-measures the wall rows that the absolute comparison called regressions, paired against the
/// revision that holds the baselines, with the same two passes as any A/B run: a row fails only
/// when the first paired pass flags it (significant among the re-measured rows) and the
/// confirmation pass confirms it. One paired pass alone let a memory-bound benchmark on a noisy VM
/// fail an unchanged tree (`synth/chase/large`, whose processes ranged 87-345 µs within one run).
/// Returns the report's note on the machine's steal.
pub(crate) fn confirm_absolute(
    ctx: &Ctx,
    opts: &Options,
    base: &BaseCheckout<'_>,
    head: &Checkout<'_>,
    targets: &[Target],
    flagged: &BTreeSet<String>,
    rows: &mut [Row],
) -> Result<Option<String>> {
    eprintln!("perf: confirming {} wall regression(s) A/B against {}: {}", flagged.len(), base.label, join(flagged));
    let wall: Vec<Target> = targets.iter().filter(|t| t.suite == Suite::Wall).cloned().collect();
    let sides =
        Sides::prepare(&base.checkout, head, &wall, &base.ws.targets, &[], &ctx.config.wall.calibration_prefix)?;
    let passes = Passes::run(ctx, opts.quick, &sides, Some(flagged), "A/B of the flagged")?;
    let label = format!("A/B vs {}", base.label);
    let mut paired: BTreeMap<String, Row> = passes.rows(ctx, &label).into_iter().map(|r| (r.id.clone(), r)).collect();
    for row in rows.iter_mut().filter(|r| r.metric == Metric::WallNs && flagged.contains(&r.id)) {
        let Some(mut confirmed) = paired.remove(&row.id) else {
            row.detail.push_str("; not confirmed A/B: the benchmark does not exist at the reference");
            continue;
        };
        confirmed.detail = format!("against the baseline {}; A/B: {}", row.detail, confirmed.detail);
        *row = confirmed;
    }
    Ok(passes.steal_note(&label))
}

/// `perf --base <rev>`: every suite A/B against a revision built in a git worktree.
pub(crate) fn run(ctx: &Ctx, opts: &Options, rev: &str) -> Result<u8> {
    git::toplevel(&ctx.sh, &ctx.ws.root).context("--base needs a git repository")?;
    let commit = git::commit_of(&ctx.sh, &ctx.ws.root, rev)
        .ok_or_else(|| usage(format!("--base `{rev}` is not a git revision")))?;
    let mut targets = scope(ctx, opts);
    let not_measured = prepare_tools(ctx, &mut targets)?;
    let short = commit.get(..7).unwrap_or(&commit);
    let label = if commit.starts_with(rev) { short.to_owned() } else { format!("{rev} ({short})") };
    let base = BaseCheckout::new(ctx, &commit, label)?;
    let head = ctx.head();
    let result =
        measure_ab(ctx, &AbSettings::of(opts), &base.checkout, &base.ws.targets, &head, &targets, &base.label)?;
    let machine = probe::this_machine(&probe::environment(&ctx.sh, &ctx.ws)?);
    let verdicts = Verdicts {
        mode: Mode::Ab(rev.to_owned()),
        rows: result.rows,
        stale: Vec::new(),
        not_measured,
        notes: result.notes,
        machine,
    };
    emit(&ctx.perf_dir(), &judge(ctx, opts, &result.head, verdicts)?)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(seconds: f64, steal_cores: Option<f64>) -> PairedRun {
        PairedRun { seconds, steal_cores, ..PairedRun::default() }
    }

    #[test]
    fn the_steal_note_weighs_each_pass_by_its_duration() {
        let (first, confirmation) = (run(300.0, Some(0.1)), run(100.0, Some(0.5)));

        let note = steal_note("A/B vs abc1234", &[&first, &confirmation]).unwrap();

        assert!(note.starts_with("wall: the paired rounds (A/B vs abc1234, 400 s) ran with 0.20 cores"), "{note}");
    }

    #[test]
    fn a_pass_that_did_not_run_leaves_the_steal_note_alone() {
        let (first, skipped) = (run(200.0, Some(0.3)), PairedRun::default());

        let note = steal_note("A/B vs abc1234", &[&first, &skipped]).unwrap();

        assert!(note.contains("200 s) ran with 0.30 cores"), "{note}");
    }

    #[test]
    fn without_a_steal_reading_there_is_no_note() {
        let note = steal_note("A/B vs abc1234", &[&run(200.0, None)]);

        assert_eq!(note, None);
    }
}
