//! `cargo xtask perf` (the default gate) and `perf --check`: each suite is compared with its committed
//! baseline where that baseline is comparable on this machine, otherwise measured A/B against the
//! revision that holds the baselines, in the same run (`ab`); wall rows flagged against a committed
//! baseline are confirmed A/B before they can fail. Which reference each row used is written on it.

use std::collections::{BTreeMap, BTreeSet};

use anyhow::Result;

use super::ab::{AbSettings, BaseCheckout, confirm_absolute, measure_ab};
use super::baseline::{self, Staleness, SuiteBaseline};
use super::checkout::RunSettings;
use super::ctx::{Ctx, scope, suites};
use super::decision::{self, Mode};
use super::fingerprint::Fingerprint;
use super::pipeline::{Verdicts, emit, judge, measure, prepare_tools, wall_seconds};
use super::probe;
use super::rules::{self, Verdict};
use super::schema::{Measurement, Metric, NotMeasured, Suite, Target};
use super::{history, record};
use crate::cli::Options;
use crate::git::{self, Reference};

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
pub(crate) fn run(ctx: &Ctx, opts: &Options) -> Result<u8> {
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
            super::checkout::filter_keeps(&opts.filter, &m.id) || m.id.starts_with(&ctx.config.wall.calibration_prefix)
        })
        .collect();
    let history_machine = record::history_machine(&machine);
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
                    &base.checkout,
                    &base.ws.targets,
                    &head,
                    &ab_targets,
                    &base.label,
                )?;
                rows.extend(ab.rows);
                current.extend(ab.head);
                notes.extend(ab.notes);
            }
            if !flagged.is_empty() {
                notes.extend(confirm_absolute(ctx, opts, &base, &head, &targets, &flagged, &mut rows)?);
            }
        }
        _ => {
            for row in rows.iter_mut().filter(|r| flagged.contains(&r.id) && r.metric == Metric::WallNs) {
                row.detail.push_str("; not confirmed A/B: no git revision holds the baselines");
            }
        }
    }
    let verdicts = Verdicts { mode: Mode::Baselines, rows, stale, not_measured, notes, machine };
    let report = judge(ctx, opts, &current, verdicts)?;
    let code = emit(&ctx.perf_dir(), &report)?;
    if opts.record {
        let point = record::run_point(ctx, history_machine, &current, &report)?;
        history::append(&ctx.history, &point)?;
        println!("recorded {} in {}", point.short_commit(), ctx.history.display());
    }
    Ok(code)
}
