//! `cargo xtask perf bisect --good <rev> --bad <rev> --bench <id> [--metric instructions]`: finds
//! the first commit that made one benchmark worse.
//!
//! The driver checks the revisions, then works in a detached worktree of its own under
//! `<target>/perf/bisect/worktree`: it measures the benchmark at good and at bad, takes good's value
//! plus the rule's tolerance and slack from perf.toml as the limit, and runs `git bisect run` with a
//! copy of this executable as the step command (the hidden `perf bisect-step`). Each step measures
//! only that benchmark at its commit, using the commit's own perf.toml and bench package but the
//! shared target directory, appends a line to `steps.jsonl` and exits 0 good, 1 bad, or 125 skip
//! (does not build, benchmark absent). The driver then prints the first bad commit and its change.
//!
//! Invariant: the user's working tree, index, HEAD and bisect state are never touched. `refs/bisect/*`
//! and `BISECT_LOG` are per worktree (git 2.47; checked by the end-to-end test), and the worktree is
//! removed on every exit path by [`Session`]'s `Drop`, or at the next start after a killed run.

mod judge;
mod outcome;
mod session;

use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, Ordering};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use self::judge::{Probe, Request, StepRecord, Verdict};
use self::outcome::{Outcome, Point, Summary};
use self::session::Session;
use super::checkout::RunSettings;
use super::config::Config;
use super::ctx::Ctx;
use super::pipeline::{measure, prepare_tools, wall_seconds};
use super::probe::Workspace;
use super::schema::Suite;
use super::schema::Target;
use crate::cli::{BisectArgs, Options, StepArgs, usage};
use crate::git;

/// Exit code of a step that could not measure for a reason unrelated to the commit (valgrind
/// missing, log not writable): `git bisect run` stops on codes of 128 and above.
const STEP_FAILED: u8 = 128;

/// Set by the Ctrl-C handler; the children get the same signal and stop, then the driver cleans up.
static INTERRUPTED: AtomicBool = AtomicBool::new(false);

fn install_interrupt_handler() -> Result<()> {
    ctrlc::set_handler(|| {
        if INTERRUPTED.swap(true, Ordering::SeqCst) {
            std::process::exit(130);
        }
        eprintln!("perf bisect: interrupted; removing the bisect worktree (Ctrl-C again to quit at once)");
    })
    .context("installing the Ctrl-C handler")
}

fn check_interrupted() -> Result<()> {
    anyhow::ensure!(!INTERRUPTED.load(Ordering::SeqCst), "interrupted");
    Ok(())
}

/// The full hash of a revision, or a usage error naming the option.
fn resolve(sh: &Shell, option: &str, rev: &str) -> Result<String> {
    git::commit_of(sh, &sh.current_dir(), rev).ok_or_else(|| usage(format!("{option} `{rev}` is not a git revision")))
}

fn short(sh: &Shell, commit: &str) -> String {
    git::short(sh, &sh.current_dir(), commit)
}

/// Measures the benchmark in the workspace at `root` as checked out now. `Err` is a failure of the
/// tools rather than of the commit (valgrind missing, the iai-callgrind runner not installable).
fn measure_here(sh: Shell, root: &Path, request: &Request, target: Option<&str>, quick: bool) -> Result<Probe> {
    let config = match Config::load(&root.join("perf.toml")) {
        Ok(config) => config,
        Err(e) => return Ok(Probe::Broken(format!("{e:#}"))),
    };
    let ws = match Workspace::load(&sh, root, &config.bench.package) {
        Ok(ws) => ws,
        Err(e) => return Ok(Probe::Broken(format!("{e:#}"))),
    };
    let suite = request.metric.suite();
    let mut targets: Vec<Target> =
        ws.targets.iter().filter(|t| t.suite == suite && target.is_none_or(|n| n == t.name)).cloned().collect();
    if targets.is_empty() {
        return Ok(Probe::Absent(match target {
            Some(name) => format!("no bench target `{name}`"),
            None => format!("no {}_* bench target", suite.name()),
        }));
    }
    let ctx = Ctx {
        sh,
        config,
        baselines: root.join("baselines"),
        history: ws.perf_dir().join("history.jsonl"),
        ws,
        head_env: Vec::new(),
    };
    if let Some(missing) = prepare_tools(&ctx, &mut targets)?.first() {
        anyhow::bail!("{}", missing.reason);
    }
    let bench = ctx.checkout("bisect");
    if let Err(e) = bench.build(&targets) {
        return Ok(Probe::Broken(format!("{e:#}")));
    }
    // Criterion runs only the benchmark (and the calibration); the other tools measure a target whole,
    // and its other ids make a better message when the benchmark is absent.
    let filter = if suite == Suite::Wall { vec![request.id.clone()] } else { Vec::new() };
    let settings = RunSettings { quick, filter, env_padding: 0 };
    match measure(&[&bench], &targets, &settings, &[], wall_seconds(&ctx.config, quick)) {
        Ok(mut runs) => Ok(Probe::find(&runs.remove(0), request, &ctx.config.wall.calibration_prefix)),
        Err(e) => Ok(Probe::Broken(format!("{e:#}"))),
    }
}

/// A shell whose cargo builds land in `target_dir`.
fn shell_with_target(target_dir: &Path) -> Result<Shell> {
    let sh = Shell::new()?;
    sh.set_var("CARGO_TARGET_DIR", target_dir);
    Ok(sh)
}

/// The checked revisions.
#[derive(Debug)]
struct Range {
    good: String,
    bad: String,
    good_short: String,
    bad_short: String,
    /// The workspace root's path inside the repository ("" at its top).
    rel: PathBuf,
}

impl Range {
    /// Resolves `--good` and `--bad` in the repository holding the workspace; usage errors unless
    /// they are two commits with good an ancestor of bad.
    fn resolve(sh: &Shell, root: &Path, args: &BisectArgs) -> Result<Range> {
        let _dir = sh.push_dir(root);
        let top = git::toplevel(sh, root).context("perf bisect needs a git repository")?;
        // Both canonical: git prints the top level with symbolic links resolved.
        let canonical = |p: &Path| p.canonicalize().with_context(|| format!("resolving {}", p.display()));
        let here = canonical(root)?;
        let rel = here
            .strip_prefix(canonical(&top)?)
            .with_context(|| format!("{} is outside the git tree {}", here.display(), top.display()))?
            .to_owned();
        let good = resolve(sh, "--good", &args.good)?;
        let bad = resolve(sh, "--bad", &args.bad)?;
        if good == bad {
            return Err(usage(format!("--good `{}` and --bad `{}` are the same commit", args.good, args.bad)));
        }
        match git::is_ancestor(sh, &top, &good, &bad)? {
            true => {}
            false => {
                return Err(usage(format!(
                    "--good `{}` is not an ancestor of --bad `{}`: bisect needs good to come before bad",
                    args.good, args.bad
                )));
            }
        }
        let (good_short, bad_short) = (short(sh, &good), short(sh, &bad));
        Ok(Range { good, bad, good_short, bad_short, rel })
    }
}

/// Measures the requested benchmark at any commit, in the session's worktree.
#[derive(Debug)]
struct Measurer<'a> {
    session: &'a Session<'a>,
    /// The workspace root inside the worktree.
    root: PathBuf,
    request: &'a Request,
    /// Shared by the driver and the steps, so dependencies build once.
    target_dir: PathBuf,
    quick: bool,
}

impl Measurer<'_> {
    /// Checks `commit` out and measures there (only `target` when given).
    fn at(&self, commit: &str, short: &str, target: Option<&str>) -> Result<Probe> {
        check_interrupted()?;
        self.session.checkout(commit)?;
        eprintln!("perf bisect: measuring {short}");
        measure_here(shell_with_target(&self.target_dir)?, &self.root, self.request, target, self.quick)
    }

    /// The value and bench target at a commit that must have the benchmark (good, bad, or one no
    /// step measured); `which` names it in errors.
    fn value(&self, commit: &str, short: &str, target: Option<&str>, which: &str) -> Result<(f64, String)> {
        match self.at(commit, short, target)? {
            Probe::Measured { value, target } => Ok((value, target)),
            Probe::Absent(why) => Err(usage(format!(
                "benchmark `{}` ({}) does not exist at {which} {short}: {why}",
                self.request.id,
                self.request.metric.name()
            ))),
            Probe::Broken(why) => anyhow::bail!("cannot measure at {which} {short}: {why}"),
        }
    }
}

/// `perf bisect`: returns 0 with the first bad commit printed; errors exit 1 (2 for usage).
pub(crate) fn run(ctx: &Ctx, opts: &Options, args: &BisectArgs) -> Result<u8> {
    if !opts.filter.is_empty() || opts.shard.is_some() || !opts.suite.is_empty() || opts.base.is_some() || opts.check {
        return Err(usage(
            "bisect measures the one --bench: --filter, --suite, --shard, --base and --check do not apply",
        ));
    }
    let request = Request::parse(&args.bench, &args.metric).map_err(usage)?;
    let metric = request.metric;
    let sh = &ctx.sh;
    let range = Range::resolve(sh, &ctx.ws.root, args)?;
    install_interrupt_handler()?;
    let dir = ctx.perf_dir().join("bisect");
    let session = Session::start(sh, &ctx.ws.root, &dir, &range.good)?;
    let measurer = Measurer {
        session: &session,
        root: session.worktree().join(&range.rel),
        request: &request,
        target_dir: ctx.ws.target_dir.clone(),
        quick: opts.quick,
    };
    eprintln!(
        "perf bisect: {} {} between {} and {}, in {}",
        request.id,
        metric.name(),
        range.good_short,
        range.bad_short,
        session.worktree().display()
    );

    // Good and bad first: the limit comes from good, and bad must be beyond it.
    let (good_value, good_target) = measurer.value(&range.good, &range.good_short, None, "good")?;
    let (bad_value, bad_target) = match measurer.value(&range.bad, &range.bad_short, Some(&good_target), "bad") {
        // The benchmark may have moved to another bench target.
        Err(e) if e.downcast_ref::<super::UsageError>().is_some() => {
            measurer.value(&range.bad, &range.bad_short, None, "bad")?
        }
        other => other?,
    };
    let (rule, rule_source) = ctx.config.rule_with_source(&request.id, metric);
    let limit = judge::limit(&rule, good_value);
    let good = Point { short: range.good_short.clone(), value: good_value };
    let bad = Point { short: range.bad_short.clone(), value: bad_value };
    if bad_value <= limit {
        let source = format!("tolerance {:.2}% + slack {} from the {rule_source}", rule.tolerance * 100.0, rule.slack);
        anyhow::bail!("{}", outcome::no_regression(&request.id, metric, &good, &bad, limit, &source));
    }

    let step = StepCommand {
        root: &measurer.root,
        request: &request,
        target: (good_target == bad_target).then_some(good_target.as_str()),
        limit,
        log: dir.join("steps.jsonl"),
        quick: opts.quick,
    };
    let (result, records) = bisect(&session, &range, &step, &measurer.target_dir)?;
    let _dir = sh.push_dir(&ctx.ws.root);
    let first = match result {
        Outcome::Found(hash) => hash,
        Outcome::Ambiguous(hashes) => {
            let skipped: Vec<String> = records
                .iter()
                .filter(|r| r.verdict == Verdict::Skip)
                .map(|r| {
                    let why = r.reason.as_deref().and_then(|r| r.lines().next()).unwrap_or("?");
                    format!("{}: {why}", short(sh, &r.commit))
                })
                .collect();
            anyhow::bail!(
                "the first bad commit is one of {} (skipped: {})",
                hashes.iter().map(|h| short(sh, h)).collect::<Vec<_>>().join(", "),
                skipped.join("; ")
            );
        }
        Outcome::Unfinished => {
            anyhow::bail!("git bisect run stopped without naming a first bad commit (see the errors above)")
        }
    };

    // The change at the first bad commit against its parent, measuring what no step did.
    let value_of = |commit: &str| -> Result<f64> {
        let known = [(&range.good, good_value), (&range.bad, bad_value)].into_iter().find(|(c, _)| *c == commit);
        let logged = records.iter().find(|r| r.commit == commit).and_then(|r| r.value);
        match known.map(|(_, v)| v).or(logged) {
            Some(value) => Ok(value),
            None => Ok(measurer.value(commit, &short(sh, commit), Some(&bad_target), "commit")?.0),
        }
    };
    let parent_ref = format!("{first}^");
    let parent = cmd!(sh, "git rev-parse {parent_ref}").quiet().read()?;
    let summary = Summary {
        id: request.id.clone(),
        metric,
        first_bad: Point { short: short(sh, &first), value: value_of(&first)? },
        subject: git::log_entry(sh, &sh.current_dir(), &first).map(|e| e.subject).unwrap_or_default(),
        parent: Point { short: short(sh, &parent), value: value_of(&parent)? },
        good,
        bad,
        steps: records.len(),
        skipped: records.iter().filter(|r| r.verdict == Verdict::Skip).count(),
    };
    drop(session);
    print!("{}", outcome::render(&summary));
    Ok(0)
}

/// What `git bisect run` calls at each commit.
#[derive(Debug)]
struct StepCommand<'a> {
    root: &'a Path,
    request: &'a Request,
    target: Option<&'a str>,
    limit: f64,
    log: PathBuf,
    quick: bool,
}

/// Runs `git bisect start` and, unless that already decided, `git bisect run` in the worktree;
/// returns how it ended and the steps' records.
fn bisect(
    session: &Session<'_>,
    range: &Range,
    step: &StepCommand<'_>,
    target_dir: &Path,
) -> Result<(Outcome, Vec<StepRecord>)> {
    let log = &step.log;
    std::fs::write(log, "").with_context(|| format!("creating {}", log.display()))?;
    check_interrupted()?;
    // The builds may have rewritten tracked files (Cargo.lock), which would stop git's checkouts.
    session.git(&["reset", "--hard", "--quiet"])?;
    let mut result = Outcome::parse(&session.git(&["bisect", "start", &range.bad, &range.good])?);
    if result == Outcome::Unfinished {
        let (exe, root, log, limit) =
            (session.exe.to_string_lossy(), step.root.to_string_lossy(), log.to_string_lossy(), step.limit.to_string());
        let mut args = vec!["bisect", "run", &exe, "perf", "--root", &root];
        if step.quick {
            args.push("--quick");
        }
        args.extend(["bisect-step", "--bench", &step.request.id, "--metric", step.request.metric.name()]);
        if let Some(target) = step.target {
            args.extend(["--target", target]);
        }
        args.extend(["--limit", &limit, "--log", &log]);
        let mut command = session.command("git", &args);
        command.env("CARGO_TARGET_DIR", target_dir);
        let (_, text) = session::stream_stdout(&mut command)?;
        result = Outcome::parse(&text);
    }
    check_interrupted()?;
    session.bisect_reset();
    let text = std::fs::read_to_string(log).with_context(|| format!("reading {}", log.display()))?;
    Ok((result, judge::parse_log(&text)?))
}

/// `perf bisect-step`: measures one commit for `git bisect run`; never fails with exit 1 (which
/// would mean "bad"): problems of the commit skip it (125), problems of the tools stop the bisection.
pub(crate) fn step(opts: &Options, args: &StepArgs) -> u8 {
    match step_verdict(opts, args) {
        Ok(verdict) => verdict.exit_code(),
        Err(e) => {
            eprintln!("perf bisect: the step failed, stopping the bisection: {e:#}");
            STEP_FAILED
        }
    }
}

fn step_verdict(opts: &Options, args: &StepArgs) -> Result<Verdict> {
    let request = Request::parse(&args.bench, &args.metric).map_err(anyhow::Error::msg)?;
    let root = opts.root.clone().context("bisect-step needs --root")?;
    let sh = Shell::new()?;
    // `git bisect run` exports GIT_DIR; without GIT_WORK_TREE git would take the current directory
    // (maybe a subdirectory) for the top of the work tree, so these commands find the tree themselves.
    let git = |args: &[&str]| {
        let _dir = sh.push_dir(&root);
        cmd!(sh, "git {args...}").env_remove("GIT_DIR").env_remove("GIT_WORK_TREE").quiet().read()
    };
    let commit = git(&["rev-parse", "HEAD"]).context("reading the commit under test")?;
    let probe = measure_here(sh.clone(), &root, &request, args.target.as_deref(), opts.quick)?;
    let record = StepRecord::new(&commit, &probe, args.limit);
    let mut file = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(&args.log)
        .with_context(|| format!("opening {}", args.log.display()))?;
    std::io::Write::write_all(&mut file, record.to_line()?.as_bytes())
        .with_context(|| format!("writing {}", args.log.display()))?;
    let what = match (&probe, record.value) {
        (_, Some(value)) => perf_gate::units::format_value(request.metric, value),
        (Probe::Absent(why) | Probe::Broken(why), None) => why.lines().next().unwrap_or_default().to_owned(),
        (Probe::Measured { .. }, None) => String::new(),
    };
    eprintln!("perf bisect: {} {}: {what} -> {}", &commit[..commit.len().min(12)], request.id, record.verdict.name());
    // A build may have rewritten tracked files (Cargo.lock); git must be able to check out the next commit.
    git(&["reset", "--hard", "--quiet"]).context("cleaning the bisect worktree")?;
    Ok(record.verdict)
}
