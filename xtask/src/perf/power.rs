//! `cargo xtask perf power`: the gate measures its own detection power and false-alarm rate on
//! the machine at hand. It runs the synthetic bench crate (`xtask/test_data/synth`) A/B against
//! itself through the same code path as `--base` (`gate::measure_ab`), with known changes injected
//! into head's processes only: unchanged (A/A), wall-clock slowdowns of three kinds and sizes
//! (extra CPU work, extra cache misses, one system call per iteration), +1% instructions and one
//! extra allocation. It counts how often each is caught and how often anything else fails, and
//! writes `target/perf/power.json` and `power.md` (the table in docs/benchmarking.md).

use std::path::{Path, PathBuf};
use std::time::Instant;

use anyhow::{Context, Result};
use serde::Serialize;

use super::ab::{self, AbSettings};
use super::checkout::Checkout;
use super::ctx::Ctx;
use super::rules::{Row, Verdict};
use super::schema::Target;
use super::schema::{Metric, SCHEMA_VERSION, Suite};
use super::{json, probe, stats};
use crate::cli::PowerArgs;

/// A kind of injected wall-clock slowdown, each landing in its own synthetic benchmark.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, clap::ValueEnum)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Kind {
    /// More iterations of an arithmetic loop (`synth/sum/small`).
    Cpu,
    /// More dependent loads through a 4 MiB random cycle (`synth/chase/large`).
    Memory,
    /// One `getppid` system call per iteration, sized to the share of an iteration (`synth/syscall/loop`).
    Syscall,
}

impl Kind {
    fn bench_id(self) -> &'static str {
        match self {
            Kind::Cpu => "synth/sum/small",
            Kind::Memory => "synth/chase/large",
            Kind::Syscall => "synth/syscall/loop",
        }
    }

    fn describe(self) -> &'static str {
        match self {
            Kind::Cpu => "CPU-bound extra work",
            Kind::Memory => "memory-bound extra cache misses",
            Kind::Syscall => "one extra system call per iteration",
        }
    }
}

/// One experiment: what head gets, what counts as caught.
#[derive(Debug, Clone)]
struct Experiment {
    name: String,
    kind: Option<Kind>,
    size_percent: Option<f64>,
    suite: Suite,
    base_env: Vec<(String, String)>,
    head_env: Vec<(String, String)>,
    /// The row that must fail for the run to count as a detection (none for A/A).
    target: Option<(String, Metric)>,
    runs: usize,
}

/// What one experiment's runs gave.
#[derive(Debug, Clone, Serialize)]
pub(crate) struct Outcome {
    name: String,
    suite: Suite,
    #[serde(skip_serializing_if = "Option::is_none")]
    kind: Option<Kind>,
    #[serde(skip_serializing_if = "Option::is_none")]
    size_percent: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    runs: usize,
    /// Runs whose target row failed the gate.
    detected: usize,
    /// Runs in which some other row failed the gate.
    runs_with_false_alarms: usize,
    /// Failing rows other than the target, over all runs.
    false_alarm_rows: usize,
    /// Rows judged per run.
    rows_per_run: usize,
    /// Median over the runs of the target row's estimated change.
    #[serde(skip_serializing_if = "Option::is_none")]
    median_estimate: Option<f64>,
    /// Median over the runs of the smallest change the target row could have seen.
    #[serde(skip_serializing_if = "Option::is_none")]
    median_detectable: Option<f64>,
    /// Median seconds per run.
    median_seconds: f64,
}

/// `target/perf/power.json`.
#[derive(Debug, Clone, Serialize)]
struct PowerReport {
    schema: u32,
    date: String,
    machine: String,
    commit: String,
    /// The paired settings and the wall tolerance the runs were judged with.
    settings: String,
    /// Measured cost of one system call and of one unit of synthetic work, ns.
    syscall_ns: f64,
    work_unit_ns: f64,
    total_seconds: f64,
    /// The machine's steal over the whole run, in cores (`None` where `/proc/stat` cannot be read):
    /// power and false alarms measured under steal describe a noisier machine.
    #[serde(skip_serializing_if = "Option::is_none")]
    steal_cores: Option<f64>,
    experiments: Vec<Outcome>,
}

/// The synthetic crate's root in this repository.
pub(crate) fn synth_root(repo_root: &Path) -> PathBuf {
    repo_root.join("xtask").join("test_data").join("synth")
}

fn envs(pairs: &[(&str, String)]) -> Vec<(String, String)> {
    pairs.iter().map(|(k, v)| ((*k).to_owned(), v.clone())).collect()
}

/// This machine's cost of a system call and of one unit of work, from the synthetic wall
/// executable's probe mode (medians over many batches).
fn probe_costs(head: &Checkout<'_>, wall: &[Target]) -> Result<(f64, f64)> {
    let exes = head.executables(wall)?;
    let exe = exes.get("wall_synth").context("the synthetic crate has no wall_synth target")?;
    let output = std::process::Command::new(exe)
        .current_dir(&head.package_dir)
        .env("SYNTH_PROBE", "1")
        .output()
        .with_context(|| format!("probing {}", exe.display()))?;
    anyhow::ensure!(output.status.success(), "{} probe failed ({})", exe.display(), output.status);
    let text = String::from_utf8_lossy(&output.stdout);
    let figure = |name: &str| -> Result<f64> {
        text.lines()
            .find_map(|l| l.strip_prefix(name).and_then(|v| v.trim().parse::<f64>().ok()))
            .filter(|v| *v > 0.0)
            .with_context(|| format!("the probe printed no {name}: {text}"))
    };
    Ok((figure("syscall_ns")?, figure("work_unit_ns")?))
}

fn experiments(args: &PowerArgs, syscall_ns: f64, unit_ns: f64) -> Vec<Experiment> {
    let mut out = vec![Experiment {
        name: "A/A (unchanged)".to_owned(),
        kind: None,
        size_percent: None,
        suite: Suite::Wall,
        base_env: Vec::new(),
        head_env: Vec::new(),
        target: None,
        runs: args.aa_runs,
    }];
    for kind in &args.kinds {
        for size in &args.sizes {
            let p = f64::from(*size);
            let (base_env, head_env) = match kind {
                Kind::Cpu => (Vec::new(), envs(&[("SYNTH_EXTRA_WORK_PERCENT", size.to_string())])),
                Kind::Memory => (Vec::new(), envs(&[("SYNTH_EXTRA_MISSES_PERCENT", size.to_string())])),
                Kind::Syscall => {
                    // One system call is `p` percent of an iteration of `units` of work.
                    let units = ((syscall_ns * 100.0 / p) / unit_ns).round().max(1.0) as u64;
                    let base = envs(&[("SYNTH_SYSCALL_WORK", units.to_string())]);
                    let mut head = base.clone();
                    head.extend(envs(&[("SYNTH_EXTRA_SYSCALLS", "1".to_owned())]));
                    (base, head)
                }
            };
            out.push(Experiment {
                name: format!("{} +{size}%", kind.describe()),
                kind: Some(*kind),
                size_percent: Some(p),
                suite: Suite::Wall,
                base_env,
                head_env,
                target: Some((kind.bench_id().to_owned(), Metric::WallNs)),
                runs: args.runs,
            });
        }
    }
    if !args.wall_only {
        out.push(Experiment {
            name: "instructions +1%".to_owned(),
            kind: None,
            size_percent: Some(1.0),
            suite: Suite::Instr,
            base_env: Vec::new(),
            head_env: envs(&[("SYNTH_EXTRA_WORK_PERCENT", "1".to_owned())]),
            target: Some(("synth/sum/small".to_owned(), Metric::Instructions)),
            runs: args.runs,
        });
        out.push(Experiment {
            name: "one extra allocation".to_owned(),
            kind: None,
            size_percent: None,
            suite: Suite::Heap,
            base_env: Vec::new(),
            head_env: envs(&[("SYNTH_EXTRA_ALLOCS", "1".to_owned())]),
            target: Some(("synth/alloc/hundred".to_owned(), Metric::HeapTotalBlocks)),
            runs: args.runs,
        });
    }
    out
}

fn is_target(row: &Row, target: Option<&(String, Metric)>) -> bool {
    target.is_some_and(|(id, metric)| row.id == *id && row.metric == *metric)
}

/// Runs every experiment and writes power.json and power.md into `out`; `ctx` is the synthetic crate's.
pub(crate) fn run(ctx: &Ctx, args: &PowerArgs, quick: bool, out: &Path) -> Result<u8> {
    anyhow::ensure!(args.runs > 0 && args.aa_runs > 0, "--runs and --aa-runs must be at least 1");
    let started = Instant::now();
    let steal_before = crate::steal::read_steal();
    let probe_bench = ctx.checkout("head");
    let wall: Vec<Target> = ctx.ws.targets.iter().filter(|t| t.suite == Suite::Wall).cloned().collect();
    let (syscall_ns, unit_ns) = probe_costs(&probe_bench, &wall)?;
    eprintln!("power: one system call costs {syscall_ns:.0} ns here, one unit of work {unit_ns:.2} ns");
    let settings = AbSettings { quick, filter: Vec::new() };
    let mut outcomes = Vec::new();
    for experiment in experiments(args, syscall_ns, unit_ns) {
        if experiment.suite == Suite::Instr && probe::valgrind_version(&ctx.sh).is_none() {
            eprintln!("power: skipping `{}`: valgrind not found", experiment.name);
            continue;
        }
        let targets: Vec<Target> = ctx.ws.targets.iter().filter(|t| t.suite == experiment.suite).cloned().collect();
        let base = Checkout { env: experiment.base_env.clone(), ..ctx.checkout("base") };
        let head = Checkout { env: experiment.head_env.clone(), ..ctx.checkout("head") };
        let (mut detected, mut false_runs, mut false_rows, mut rows_per_run) = (0, 0, 0, 0);
        let (mut estimates, mut detectables, mut seconds) = (Vec::new(), Vec::new(), Vec::new());
        for i in 0..experiment.runs {
            let run_started = Instant::now();
            let result = ab::measure_ab(ctx, &settings, &base, &ctx.ws.targets, &head, &targets, "itself")?;
            let elapsed = run_started.elapsed().as_secs_f64();
            let judged: Vec<&Row> = result.rows.iter().filter(|r| r.verdict != Verdict::New).collect();
            rows_per_run = rows_per_run.max(judged.len());
            let target_row = judged.iter().find(|r| is_target(r, experiment.target.as_ref()));
            let caught = target_row.is_some_and(|r| r.fails);
            let others = judged.iter().filter(|r| r.fails && !is_target(r, experiment.target.as_ref())).count();
            detected += usize::from(caught);
            false_runs += usize::from(others > 0);
            false_rows += others;
            estimates.extend(target_row.and_then(|r| r.change));
            detectables.extend(target_row.and_then(|r| r.detectable).filter(|d| d.is_finite()));
            seconds.push(elapsed);
            eprintln!(
                "power: {} run {}/{}: {}{} in {elapsed:.0} s",
                experiment.name,
                i + 1,
                experiment.runs,
                match (experiment.target.is_some(), caught) {
                    (false, _) => "no injected change".to_owned(),
                    (true, true) => "caught".to_owned(),
                    (true, false) => "missed".to_owned(),
                },
                target_row
                    .and_then(|r| r.change)
                    .map(|c| format!(" (estimate {:+.2}%)", c * 100.0))
                    .unwrap_or_default()
                    + &if others > 0 { format!(", {others} other row(s) failed") } else { String::new() }
            );
        }
        outcomes.push(Outcome {
            name: experiment.name.clone(),
            suite: experiment.suite,
            kind: experiment.kind,
            size_percent: experiment.size_percent,
            target: experiment.target.as_ref().map(|(id, m)| format!("{id} {}", m.name())),
            runs: experiment.runs,
            detected,
            runs_with_false_alarms: false_runs,
            false_alarm_rows: false_rows,
            rows_per_run,
            median_estimate: stats::median(&estimates),
            median_detectable: stats::median(&detectables),
            median_seconds: stats::median(&seconds).unwrap_or(0.0),
        });
    }
    let env = probe::environment(&ctx.sh, &ctx.ws)?;
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock before 1970")?;
    // One reading of the run's length, for its figure and for the steal over the same window.
    let total_seconds = started.elapsed().as_secs_f64();
    let paired = &ctx.config.wall.paired;
    let report = PowerReport {
        schema: SCHEMA_VERSION,
        date: perf_gate::time::rfc3339_utc(now.as_secs()),
        machine: probe::this_machine(&env).describe(),
        commit: crate::git::commit_of(&ctx.sh, &ctx.ws.root, "HEAD").unwrap_or_else(|| "unknown".to_owned()),
        settings: format!(
            "{} rounds of {} s warm-up + {} s measurement per process; wall tolerance {:.1}%; FDR {}; confirmation alpha {}",
            paired.rounds(quick),
            paired.process.warm_up_s,
            paired.process.measurement_s,
            ctx.config.rule_with_source("synth/sum/small", Metric::WallNs).0.tolerance * 100.0,
            paired.false_discovery_rate,
            paired.confirm_alpha
        ),
        syscall_ns,
        work_unit_ns: unit_ns,
        total_seconds,
        steal_cores: crate::steal::steal_cores(steal_before, crate::steal::read_steal(), total_seconds),
        experiments: outcomes,
    };
    let markdown = render_markdown(&report);
    let dir = out.to_owned();
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    std::fs::write(dir.join("power.json"), json::to_canonical_string(&report)?).context("writing power.json")?;
    std::fs::write(dir.join("power.md"), &markdown).context("writing power.md")?;
    print!("{markdown}");
    println!("wrote {} and power.md", dir.join("power.json").display());
    Ok(0)
}

fn render_markdown(report: &PowerReport) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "Measured {} on {} (commit {}), {}. One system call: {:.0} ns; the whole run took {:.0} min{}.\n",
        report.date.get(..10).unwrap_or(&report.date),
        report.machine,
        report.commit.get(..7).unwrap_or(&report.commit),
        report.settings,
        report.syscall_ns,
        report.total_seconds / 60.0,
        report.steal_cores.map_or_else(String::new, |s| format!(", with {s:.2} cores of machine steal"))
    );
    out.push_str("| injected change | suite | runs | caught | runs with a false alarm | median estimate | median smallest detectable | median time per run |\n");
    out.push_str("|---|---|--:|--:|--:|--:|--:|--:|\n");
    let percent = |x: Option<f64>| x.map_or_else(|| "—".to_owned(), |x| format!("{:+.1}%", x * 100.0));
    for e in &report.experiments {
        let caught = if e.target.is_some() { format!("{}/{}", e.detected, e.runs) } else { "—".to_owned() };
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {}/{} ({} of {} rows) | {} | {} | {:.0} s |",
            e.name,
            e.suite.name(),
            e.runs,
            caught,
            e.runs_with_false_alarms,
            e.runs,
            e.false_alarm_rows,
            e.runs * e.rows_per_run.saturating_sub(usize::from(e.target.is_some())),
            percent(e.median_estimate),
            percent(e.median_detectable),
            e.median_seconds
        );
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn report(steal_cores: Option<f64>) -> PowerReport {
        PowerReport {
            schema: SCHEMA_VERSION,
            date: "2026-12-07T07:00:00Z".to_owned(),
            machine: "Intel(R) Xeon(R), 2 cores".to_owned(),
            commit: "966ba61aaaaaaaaa".to_owned(),
            settings: "10 rounds".to_owned(),
            syscall_ns: 169.0,
            work_unit_ns: 1.0,
            total_seconds: 600.0,
            steal_cores,
            experiments: Vec::new(),
        }
    }

    #[test]
    fn the_power_report_says_how_much_steal_its_runs_had() {
        let (stolen, unknown) = (render_markdown(&report(Some(0.12))), render_markdown(&report(None)));

        assert!(stolen.contains("the whole run took 10 min, with 0.12 cores of machine steal."), "{stolen}");
        assert!(unknown.contains("the whole run took 10 min.\n"), "{unknown}");
    }
}
