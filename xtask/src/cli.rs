//! The command line of `cargo xtask`, in one place: every subcommand's flags, their parsers and the
//! checks of which flags go together. Subcommand modules receive these values and only run.

use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::perf::schema::Suite;
use crate::perf::shard::Shard;

/// hapulse project automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
pub(crate) struct Cli {
    #[command(subcommand)]
    pub(crate) command: Command,
}

#[derive(Debug, Subcommand)]
pub(crate) enum Command {
    /// Run the performance gate: benchmarks, comparison with baselines/, verdicts and reports.
    Perf(PerfArgs),
    /// Start a real Home Assistant on 127.0.0.1 and run ha-client's conformance suite against it (`--churn`:
    /// measure the client's CPU per entity change against it instead).
    HaConformance(HaConformanceArgs),
    /// Load test against ha-sim (16,384 entities): maximum sustainable rate, then a hold; writes target/perf/load.json.
    Load(LoadArgs),
    /// Performance-validated release tags: `release tag vX.Y.Z [--push]`, `release verify vX.Y.Z`.
    Release(ReleaseArgs),
}

/// Options of `cargo xtask perf`.
#[derive(Debug, clap::Args)]
pub(crate) struct PerfArgs {
    #[command(subcommand)]
    pub(crate) command: Option<PerfSub>,
    // Boxed: keeps `main`'s command enum small.
    #[command(flatten)]
    pub(crate) opts: Box<Options>,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum PerfSub {
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
    Comment(CommentArgs),
    /// The trend over recorded runs (`--history`) and every commit that changed baselines/.
    History(HistoryArgs),
    /// Find the first commit that moved one benchmark (`git bisect run` in a separate worktree).
    Bisect(BisectArgs),
    /// Measure the gate's own detection power and false-alarm rate on the synthetic bench crate
    /// (`xtask/test_data/synth`) with known injected changes; writes target/perf/power.{json,md}.
    Power(PowerArgs),
    /// Internal: one `git bisect run` step of `perf bisect` (exit 0 good, 1 bad, 125 skip).
    #[command(hide = true)]
    BisectStep(StepArgs),
}

/// Options of `cargo xtask perf history`.
#[derive(Debug, clap::Args)]
pub(crate) struct HistoryArgs {
    /// Write the self-contained trend page (one chart per benchmark and metric) to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) html: Option<PathBuf>,
    /// Print one benchmark's points as a table with a sparkline.
    #[arg(long, value_name = "ID")]
    pub(crate) bench: Option<String>,
    /// Only this metric (instructions, wall_ns, heap_total_bytes, ...).
    #[arg(long)]
    pub(crate) metric: Option<String>,
    /// Use only the recorded history file, not the baselines' git log.
    #[arg(long)]
    pub(crate) no_git: bool,
    /// Also write the merged history (recorded runs and rebuilt baselines) as JSON Lines to this file.
    #[arg(long, value_name = "FILE")]
    pub(crate) write: Option<PathBuf>,
}

#[derive(Debug, Clone, clap::Args)]
pub(crate) struct Options {
    /// Only these suites (repeat or comma-separate): wall, instr, heap.
    #[arg(long, value_delimiter = ',', global = true, value_parser = parse_suite)]
    pub(crate) suite: Vec<Suite>,
    /// Only benchmarks whose id contains one of these substrings (repeat or comma-separate).
    #[arg(long, value_delimiter = ',', global = true)]
    pub(crate) filter: Vec<String>,
    /// Short criterion measurement (CI).
    #[arg(long, global = true)]
    pub(crate) quick: bool,
    /// Run shard i of n (bench targets dealt round-robin); merge the reports with `perf merge`.
    #[arg(long, global = true)]
    pub(crate) shard: Option<Shard>,
    /// A/B mode: build this git revision in a worktree, run base and head interleaved, compare head with base.
    #[arg(long)]
    pub(crate) base: Option<String>,
    /// Only check that baselines exist and are fresh (toolchain, valgrind, Cargo.lock, bench targets); runs nothing.
    #[arg(long)]
    pub(crate) check: bool,
    /// Check the load-test budgets from this file (default target/perf/load.json; checked anyway when it exists).
    #[arg(long, global = true, num_args = 0..=1, value_name = "FILE")]
    pub(crate) load: Option<Option<PathBuf>>,
    /// Workspace holding the bench package, perf.toml and baselines/ (default: this repository).
    #[arg(long, global = true, env = "HAPULSE_PERF_ROOT")]
    pub(crate) root: Option<PathBuf>,
    /// Baselines directory (default: <root>/baselines).
    #[arg(long, global = true)]
    pub(crate) baselines: Option<PathBuf>,
    /// History file, JSON Lines (default target/perf/history.jsonl): `--record` appends to it, the gate
    /// learns wall-clock tolerances from it, `perf history` reads it.
    #[arg(long, global = true, value_name = "FILE", env = "HAPULSE_PERF_HISTORY")]
    pub(crate) history: Option<PathBuf>,
    /// Append this run's normalised results and verdicts to the history file.
    #[arg(long)]
    pub(crate) record: bool,
    /// Extra environment for head's benchmark processes only (repeatable): measures what a variable
    /// changes, and is how `perf power` and the gate's own tests inject a known change.
    #[arg(long = "head-env", value_name = "NAME=VALUE", global = true, value_parser = parse_env_pair)]
    pub(crate) head_env: Vec<(String, String)>,
}

pub(crate) fn parse_suite(text: &str) -> Result<Suite, String> {
    Suite::from_name(text).ok_or_else(|| format!("`{text}` is not a suite (wall, instr, heap)"))
}

pub(crate) fn parse_env_pair(text: &str) -> Result<(String, String), String> {
    match text.split_once('=') {
        Some((name, value)) if !name.is_empty() => Ok((name.to_owned(), value.to_owned())),
        _ => Err(format!("`{text}` is not NAME=VALUE")),
    }
}

/// A `cargo xtask perf` invocation whose flags go together.
#[derive(Debug)]
pub(crate) enum PerfCommand {
    /// The gate: every suite against its committed baseline, or A/B where that is not comparable.
    Gate,
    /// `--check`: baselines present and comparable, nothing run.
    Check,
    /// `--base REV`: every suite A/B against that revision.
    Ab(String),
    /// `bless --reason`, with the reason trimmed.
    Bless(String),
    /// `merge` of shard reports.
    Merge(Vec<PathBuf>),
    /// `compare --against`.
    Compare {
        /// The revision, baseline file or directory.
        against: String,
        /// Reuse the last run's results.
        no_run: bool,
    },
    /// `comment`.
    Comment(CommentArgs),
    /// `history`.
    History(HistoryArgs),
    /// `bisect`.
    Bisect(BisectArgs),
    /// The hidden `bisect-step`.
    BisectStep(StepArgs),
    /// `power`.
    Power(PowerArgs),
}

impl PerfArgs {
    /// The command these flags ask for, or a usage error naming the flags that do not go together.
    pub(crate) fn validate(self) -> anyhow::Result<(PerfCommand, Options)> {
        let opts = *self.opts;
        let command = match self.command {
            None if opts.check && opts.base.is_some() => return Err(usage("--check and --base do not go together")),
            None if opts.check => PerfCommand::Check,
            None if opts.base.is_some() && opts.record => {
                return Err(usage("--record keeps gate runs against baselines/, not --base A/B runs"));
            }
            None => opts.base.clone().map_or(PerfCommand::Gate, PerfCommand::Ab),
            Some(_) if opts.record => {
                return Err(usage("--record applies to the gate run itself (`cargo xtask perf --record`)"));
            }
            Some(PerfSub::Bless { reason }) => {
                if !opts.filter.is_empty() || opts.shard.is_some() || opts.base.is_some() || opts.check {
                    return Err(usage(
                        "bless rewrites whole suites: --filter, --shard, --base and --check do not apply",
                    ));
                }
                if !opts.head_env.is_empty() {
                    return Err(usage("bless measures the tree as it is: --head-env does not apply"));
                }
                if reason.trim().is_empty() {
                    return Err(usage("bless needs a non-empty --reason"));
                }
                PerfCommand::Bless(reason.trim().to_owned())
            }
            Some(PerfSub::Merge { reports }) => PerfCommand::Merge(reports),
            Some(PerfSub::Compare { against, no_run }) => PerfCommand::Compare { against, no_run },
            Some(PerfSub::Comment(args)) => PerfCommand::Comment(args),
            Some(PerfSub::History(args)) => PerfCommand::History(args),
            Some(PerfSub::Bisect(args)) => PerfCommand::Bisect(args),
            Some(PerfSub::BisectStep(args)) => PerfCommand::BisectStep(args),
            Some(PerfSub::Power(args)) => PerfCommand::Power(args),
        };
        Ok((command, opts))
    }
}

/// A usage error: exit code 2.
#[derive(Debug)]
pub(crate) struct UsageError(String);

impl std::fmt::Display for UsageError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for UsageError {}

pub(crate) fn usage(message: impl Into<String>) -> anyhow::Error {
    anyhow::Error::new(UsageError(message.into()))
}

/// Options of `cargo xtask perf bisect`.
#[derive(Debug, clap::Args)]
pub(crate) struct BisectArgs {
    /// A revision where the benchmark is fast.
    #[arg(long)]
    pub(crate) good: String,
    /// A revision where it is slow.
    #[arg(long)]
    pub(crate) bad: String,
    /// The benchmark id, `area/op/case`.
    #[arg(long)]
    pub(crate) bench: String,
    /// The metric to bisect on (default instructions: deterministic).
    #[arg(long, default_value = "instructions")]
    pub(crate) metric: String,
}

/// Options of the hidden `perf bisect-step`, the command `git bisect run` calls at each commit
/// (with `--root` at the worktree's workspace root).
#[derive(Debug, clap::Args)]
pub(crate) struct StepArgs {
    /// The benchmark id.
    #[arg(long)]
    pub(crate) bench: String,
    /// The metric.
    #[arg(long)]
    pub(crate) metric: String,
    /// Run only this bench target (the one holding the benchmark at good and at bad).
    #[arg(long)]
    pub(crate) target: Option<String>,
    /// Values above this are bad.
    #[arg(long)]
    pub(crate) limit: f64,
    /// The JSON Lines file each step appends its record to.
    #[arg(long)]
    pub(crate) log: PathBuf,
}

/// Options of `cargo xtask perf power`.
#[derive(Debug, clap::Args)]
pub(crate) struct PowerArgs {
    /// Runs per injected change.
    #[arg(long, default_value_t = 10)]
    pub(crate) runs: usize,
    /// Runs of the unchanged crate against itself (A/A).
    #[arg(long, default_value_t = 20)]
    pub(crate) aa_runs: usize,
    /// Wall-clock slowdowns to inject, in percent (comma-separated).
    #[arg(long, value_delimiter = ',', default_value = "2,5,10")]
    pub(crate) sizes: Vec<u32>,
    /// Kinds of wall-clock slowdown (comma-separated): cpu, memory, syscall.
    #[arg(long, value_enum, value_delimiter = ',', default_value = "cpu,memory,syscall")]
    pub(crate) kinds: Vec<crate::perf::power::Kind>,
    /// Skip the instruction and heap experiments.
    #[arg(long)]
    pub(crate) wall_only: bool,
}

/// Options of `cargo xtask perf comment`.
#[derive(Debug, clap::Args)]
pub(crate) struct CommentArgs {
    /// The repository, OWNER/NAME (in a workflow: `${{ github.repository }}`).
    #[arg(long, value_parser = parse_repo)]
    pub(crate) repo: crate::github::Repo,
    /// The pull request number.
    #[arg(long)]
    pub(crate) pr: u64,
    /// The gate's markdown report (default: $CARGO_TARGET_DIR/perf/report.md, else target/perf/report.md).
    #[arg(long)]
    pub(crate) report: Option<PathBuf>,
    /// Where the full report is: the URL of the perf workflow run holding the `perf-report` artifact
    /// (default: built from GITHUB_SERVER_URL, GITHUB_REPOSITORY and GITHUB_RUN_ID when set).
    #[arg(long, env = "HAPULSE_PERF_RUN_URL")]
    pub(crate) run_url: Option<String>,
    /// The published trend page to link (the perf-history workflow publishes it with GitHub Pages).
    #[arg(long, env = "HAPULSE_PERF_HISTORY_URL")]
    pub(crate) history_url: Option<String>,
    /// The login the comment is posted as when the token cannot say who it is (`GET /user` refused with
    /// 403): Actions' GITHUB_TOKEN posts as github-actions[bot], a GitHub App as `<app-slug>[bot]`. Only
    /// a marked comment by this author (or by the login GET /user gives) is ever edited.
    #[arg(long, env = "HAPULSE_PERF_COMMENT_AUTHOR", default_value = crate::github::ACTIONS_BOT)]
    pub(crate) author: String,
    /// Delay before the first retry in milliseconds (doubles per retry; tests set it to 0).
    #[arg(long, hide = true, env = "HAPULSE_GITHUB_RETRY_BASE_MS", default_value_t = 1000)]
    pub(crate) retry_base_ms: u64,
}

pub(crate) fn parse_repo(text: &str) -> Result<crate::github::Repo, String> {
    match text.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(crate::github::Repo { owner: owner.to_owned(), name: name.to_owned() })
        }
        _ => Err(format!("`{text}` is not OWNER/NAME")),
    }
}

/// Options of `cargo xtask release`.
#[derive(Debug, clap::Args)]
pub(crate) struct ReleaseArgs {
    #[command(subcommand)]
    pub(crate) command: ReleaseSub,
}

#[derive(Debug, clap::Subcommand)]
pub(crate) enum ReleaseSub {
    /// Run the perf gate for HEAD and, when it passes, create the annotated tag VERSION (vX.Y.Z).
    Tag {
        /// The version to tag, vMAJOR.MINOR.PATCH (optionally -PRERELEASE).
        #[arg(value_parser = parse_version)]
        version: String,
        /// Push the tag to the remote once created.
        #[arg(long)]
        push: bool,
        /// The remote to push to.
        #[arg(long, default_value = "origin", requires = "push")]
        remote: String,
        /// Refuse unless HEAD is on this branch (reachable from it), e.g. origin/main: release.yml
        /// tags only commits of the default branch.
        #[arg(long, value_name = "REF")]
        only_on: Option<String>,
        /// Where the gate writes report.json (default: $CARGO_TARGET_DIR/perf/report.json, else
        /// <repository>/target/perf/report.json).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Print the perf verdict recorded in tag VERSION; fail when it has none.
    Verify {
        /// The tag to check.
        version: String,
    },
}

pub(crate) fn parse_version(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not vMAJOR.MINOR.PATCH (e.g. v1.2.3 or v1.2.3-rc.1)");
    let rest = text.strip_prefix('v').ok_or_else(bad)?;
    let (core, pre) = rest.split_once('-').map_or((rest, None), |(c, p)| (c, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit());
    let pre_ok = pre.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    if numbers.len() == 3 && numbers.iter().all(numeric) && pre_ok { Ok(text.to_owned()) } else { Err(bad()) }
}

/// Options of `cargo xtask ha-conformance`.
#[derive(Debug, clap::Args)]
pub(crate) struct HaConformanceArgs {
    /// Start Home Assistant, print `export` lines for HAPULSE_HA_URL, HAPULSE_HA_TOKEN and HAPULSE_HA_CONTROL,
    /// and keep it running until Ctrl-C instead of running the suite.
    #[arg(long)]
    pub(crate) shell: bool,
    /// Python interpreter used to create the venv (3.11 or 3.12).
    #[arg(long, env = "HAPULSE_PYTHON", default_value = "python3")]
    pub(crate) python: String,
    /// Cache home for the venv (default: $XDG_CACHE_HOME, else $HOME/.cache); the venv goes below hapulse/.
    #[arg(long, env = "HAPULSE_CACHE_DIR")]
    pub(crate) cache_dir: Option<PathBuf>,
    /// Instead of the suite: create --entities sensors over REST, update them as fast as --churners
    /// concurrent keep-alive REST clients can, and measure the CPU per entity change of ha-client's
    /// `mirror` example subscribed to them; writes target/perf/ha-churn.json (a reported figure, not a gate).
    #[arg(long, conflicts_with = "shell")]
    pub(crate) churn: bool,
    /// With --churn: sensors to create and update.
    #[arg(long, default_value_t = 2_000, requires = "churn")]
    pub(crate) entities: usize,
    /// With --churn: seconds the client measures (after --warmup).
    #[arg(long, default_value_t = 20.0, requires = "churn")]
    pub(crate) seconds: f64,
    /// With --churn: seconds between the client's snapshot and its measured window.
    #[arg(long, default_value_t = 5.0, requires = "churn")]
    pub(crate) warmup: f64,
    /// With --churn: concurrent REST clients updating the sensors, one keep-alive connection each.
    #[arg(long, default_value_t = 8, requires = "churn")]
    pub(crate) churners: usize,
    /// With --churn: do not build the `mirror` example (use the one in the target directory).
    #[arg(long, requires = "churn")]
    pub(crate) no_build: bool,
    /// With --churn: the client holds its reads back for windows this long, 1ms to 1s (ha-client's
    /// `ReadBatching`; events arrive up to that much later), or `off` to read every frame as it
    /// arrives. Absent: ha-client's default (a 10 ms window on Linux).
    #[arg(long, value_name = "WINDOW|off", requires = "churn", value_parser = parse_batch_reads)]
    pub(crate) batch_reads: Option<BatchReads>,
    /// Arguments for the test binary, after `--` (e.g. a test name filter).
    #[arg(last = true)]
    pub(crate) test_args: Vec<String>,
}

/// What a `cargo xtask ha-conformance` invocation asks for.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum HaConformanceMode {
    /// Run the conformance suite with these test-binary arguments.
    Suite(Vec<String>),
    /// `--shell`: start, print the exports, keep running until Ctrl-C.
    Shell,
    /// `--churn`: the CPU per change of the bare client against REST churn.
    Churn(ChurnConfig),
}

/// The validated flags of `ha-conformance --churn`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ChurnConfig {
    /// Sensors created and updated.
    pub(crate) entities: usize,
    /// The client's measured window.
    pub(crate) seconds: Duration,
    /// The client's warm-up after its snapshot.
    pub(crate) warmup: Duration,
    /// Concurrent REST clients.
    pub(crate) churners: usize,
    /// Build the `mirror` example in release first.
    pub(crate) build: bool,
    /// The client's read batching, when not ha-client's default.
    pub(crate) batch_reads: Option<BatchReads>,
}

/// Most sensors `--churn` creates: Home Assistant keeps every state in memory and the snapshot grows with them.
pub(crate) const CHURN_MAX_ENTITIES: usize = 100_000;

/// Most concurrent REST clients `--churn` runs (each is a thread with its own connection).
pub(crate) const CHURN_MAX_CHURNERS: usize = 256;

impl HaConformanceArgs {
    /// The mode these flags ask for, or a usage error naming the flag out of range.
    pub(crate) fn mode(&self) -> anyhow::Result<HaConformanceMode> {
        if self.shell {
            return Ok(HaConformanceMode::Shell);
        }
        if !self.churn {
            return Ok(HaConformanceMode::Suite(self.test_args.clone()));
        }
        if !self.test_args.is_empty() {
            return Err(usage("--churn runs no test binary: arguments after -- do not apply"));
        }
        if !(1..=CHURN_MAX_ENTITIES).contains(&self.entities) {
            return Err(usage(format!("--entities must be between 1 and {CHURN_MAX_ENTITIES}")));
        }
        if !(1..=CHURN_MAX_CHURNERS).contains(&self.churners) {
            return Err(usage(format!("--churners must be between 1 and {CHURN_MAX_CHURNERS}")));
        }
        // A window shorter than a second holds too few frames (and CPU microseconds) to say anything.
        let seconds = Duration::try_from_secs_f64(self.seconds)
            .ok()
            .filter(|s| *s >= Duration::from_secs(1))
            .ok_or_else(|| usage("--seconds must be at least 1"))?;
        let warmup =
            Duration::try_from_secs_f64(self.warmup).map_err(|_| usage("--warmup must be 0 or more seconds"))?;
        Ok(HaConformanceMode::Churn(ChurnConfig {
            entities: self.entities,
            seconds,
            warmup,
            churners: self.churners,
            build: !self.no_build,
            batch_reads: self.batch_reads,
        }))
    }
}

/// Arguments of `cargo xtask load`.
#[derive(Debug, clap::Args)]
pub(crate) struct LoadArgs {
    /// How long to hold 80% of the maximum sustainable rate, at most 64,000/s (after a warm-up), e.g. 20s, 60s.
    #[arg(long, default_value = "60s", value_parser = parse_duration)]
    pub(crate) duration: Duration,
    /// A soak run: hold this long instead of --duration, e.g. 30m.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) soak: Option<Duration>,
    /// Entities of the simulated installation.
    #[arg(long, default_value_t = 16_384)]
    pub(crate) entities: usize,
    /// Skip the ramp and hold this rate.
    #[arg(long)]
    pub(crate) rate: Option<f64>,
    /// Concurrent call_service callers during the hold.
    #[arg(long, default_value_t = 32)]
    pub(crate) callers: usize,
    /// Do not build the binaries (use what is in the target directory).
    #[arg(long)]
    pub(crate) no_build: bool,
    /// Rates (changes/s) of the CPU steps with the bare client, comma-separated.
    #[arg(long, value_delimiter = ',', default_value = "1000,10000,50000")]
    pub(crate) cpu_rates: Vec<f64>,
    /// How long each CPU step measures (after a 5 s warm-up).
    #[arg(long, default_value = "20s", value_parser = parse_duration)]
    pub(crate) cpu_seconds: Duration,
    /// Skip the CPU steps.
    #[arg(long)]
    pub(crate) no_cpu: bool,
    /// Instead of the load test, measure only the machine's wake-up floor (a bare epoll reader woken by
    /// an 800-byte message over loopback TCP) at each of these gaps between messages, in ms
    /// (comma-separated, 0.1 to 100), e.g. 0.5,1,2,5,10: what a wake-up costs after that long asleep.
    #[arg(long, value_name = "MS,...", value_delimiter = ',', value_parser = parse_gap_ms,
          conflicts_with_all = ["cpu_base", "soak", "rate"])]
    pub(crate) floor_gaps: Vec<Duration>,
    /// Instead of the load test, count the code the bare client runs per frame: the `mirror` example
    /// under callgrind against ha-sim at --rate (default 1000 changes/s, which the client keeps up
    /// with under valgrind) for --cpu-seconds; prints the 64-byte lines of code that ran at least
    /// once per two frames, by crate, and writes target/perf/footprint.json. Needs valgrind.
    #[arg(long, conflicts_with_all = ["cpu_base", "soak", "floor_gaps"])]
    pub(crate) code_footprint: bool,
    /// The CPU steps' client (and both clients of --cpu-base) holds its reads back for windows this
    /// long, 1ms to 1s (ha-client's `ReadBatching`: one wake-up reads what a window brought; events
    /// arrive up to that much later), or `off` to read every frame as it arrives. Absent: ha-client's
    /// default (a 10 ms window on Linux). Both revisions of --cpu-base must know `--batch-reads`
    /// (and `off` needs revisions from 2026-12-07 on).
    #[arg(long, value_name = "WINDOW|off", value_parser = parse_batch_reads)]
    pub(crate) cpu_batch_reads: Option<BatchReads>,
    /// Instead of the load test, measure the bare client's CPU per change of --cpu-head and of this
    /// revision side by side (both against one simulator at the same time), at each of --cpu-rates;
    /// writes target/perf/load-cpu-ab.json.
    #[arg(long, value_name = "REV", conflicts_with_all = ["no_cpu", "soak", "rate"])]
    pub(crate) cpu_base: Option<String>,
    /// With --cpu-base: the revision measured against it (built from the commit, like the base).
    #[arg(long, value_name = "REV", default_value = "HEAD", requires = "cpu_base")]
    pub(crate) cpu_head: String,
    /// With --cpu-base: pairs of windows per rate (the order of connecting alternates); at least 1.
    #[arg(long, default_value_t = 3, requires = "cpu_base", value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) cpu_pairs: u32,
}

/// A gap of `--floor-gaps`: milliseconds, 0.1 to 100 (the floor's gaps).
fn parse_gap_ms(text: &str) -> Result<Duration, String> {
    let gap = text
        .trim()
        .parse::<f64>()
        .ok()
        .and_then(|ms| Duration::try_from_secs_f64(ms / 1e3).ok())
        .ok_or_else(|| format!("{text:?} is not a number of milliseconds"))?;
    let gaps = crate::load::floor::GAPS;
    if !gaps.contains(&gap) {
        return Err(format!("{text} ms is outside the floor's gaps, {:?} to {:?}", gaps.start(), gaps.end()));
    }
    Ok(gap)
}

/// A read-batching window: a duration (`parse_duration`) of whole milliseconds from 1 ms to 1 s,
/// what ha-client's `ReadBatching::new` accepts.
/// `--batch-reads`, `--cpu-batch-reads`: the `mirror` example's read batching.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum BatchReads {
    /// Every frame read as it arrives.
    Off,
    /// Reads held back for windows this long.
    Window(Duration),
}

impl BatchReads {
    /// The example's `--batch-reads` argument: `off` or whole milliseconds.
    pub(crate) fn arg(self) -> String {
        match self {
            BatchReads::Off => "off".to_owned(),
            BatchReads::Window(w) => w.as_millis().to_string(),
        }
    }
}

fn parse_batch_reads(s: &str) -> Result<BatchReads, String> {
    if s == "off" { Ok(BatchReads::Off) } else { parse_batch_window(s).map(BatchReads::Window) }
}

fn parse_batch_window(s: &str) -> Result<Duration, String> {
    let window = parse_duration(s)?;
    let ok =
        (Duration::from_millis(1)..=Duration::from_secs(1)).contains(&window) && window.subsec_nanos() % 1_000_000 == 0;
    ok.then_some(window).ok_or_else(|| format!("{s:?}: a window is whole milliseconds from 1ms to 1s"))
}

/// Parses `500ms`, `20s`, `30m`, `1h`.
pub(crate) fn parse_duration(s: &str) -> Result<Duration, String> {
    let split = s
        .find(|c: char| !c.is_ascii_digit() && c != '.')
        .ok_or_else(|| format!("{s:?} needs a unit: ms, s, m or h"))?;
    let (num, unit) = s.split_at(split);
    let n: f64 = num.parse().map_err(|_| format!("invalid number in {s:?}"))?;
    let secs = match unit {
        "ms" => n / 1000.0,
        "s" => n,
        "m" => n * 60.0,
        "h" => n * 3600.0,
        _ => return Err(format!("unit of {s:?} must be ms, s, m or h")),
    };
    Duration::try_from_secs_f64(secs).map_err(|e| format!("{s:?}: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_be_v_major_minor_patch() {
        let good = ["v0.1.0", "v10.20.30", "v1.2.3-rc.1"].map(|v| parse_version(v).is_ok());
        let bad = ["1.2.3", "v1.2", "v1.2.x", "v1.2.3-", "v1.2.3 ", "v1..3"].map(|v| parse_version(v).is_err());

        assert_eq!(good, [true; 3]);
        assert_eq!(bad, [true; 6]);
    }

    #[test]
    fn flags_that_do_not_go_together_are_usage_errors() {
        let parse = |args: &[&str]| Cli::try_parse_from(args).map(|cli| cli.command);
        let cases = [
            &["cargo xtask", "perf", "--check", "--base", "main"][..],
            &["cargo xtask", "perf", "--base", "main", "--record"][..],
            &["cargo xtask", "perf", "bless", "--reason", "x", "--filter", "proto"][..],
            &["cargo xtask", "perf", "bless", "--reason", "  "][..],
        ];

        let errors: Vec<String> = cases
            .iter()
            .map(|args| match parse(args) {
                Ok(Command::Perf(perf)) => perf.validate().map(|_| ()).unwrap_err().to_string(),
                other => panic!("{args:?} did not parse as perf: {other:?}"),
            })
            .collect();

        assert_eq!(
            errors,
            [
                "--check and --base do not go together",
                "--record keeps gate runs against baselines/, not --base A/B runs",
                "bless rewrites whole suites: --filter, --shard, --base and --check do not apply",
                "bless needs a non-empty --reason",
            ]
        );
    }

    #[test]
    fn filters_repeat_and_comma_separate() {
        let args = ["cargo xtask", "perf", "--filter", "proto/parse,state/apply_frame", "--filter", "client"];

        let opts = match Cli::try_parse_from(args).map(|cli| cli.command) {
            Ok(Command::Perf(perf)) => perf.validate().map(|(_, opts)| opts).expect("valid"),
            other => panic!("did not parse as perf: {other:?}"),
        };

        assert_eq!(opts.filter, ["proto/parse", "state/apply_frame", "client"]);
    }

    fn ha_conformance_mode(args: &[&str]) -> anyhow::Result<HaConformanceMode> {
        let args = [&["cargo xtask", "ha-conformance"][..], args].concat();
        match Cli::try_parse_from(args)?.command {
            Command::HaConformance(args) => args.mode(),
            other => panic!("not ha-conformance: {other:?}"),
        }
    }

    #[test]
    fn churn_defaults_to_2000_sensors_for_20_seconds() {
        let args = ["--churn"];

        let mode = ha_conformance_mode(&args).unwrap();

        assert_eq!(
            mode,
            HaConformanceMode::Churn(ChurnConfig {
                entities: 2_000,
                seconds: Duration::from_secs(20),
                warmup: Duration::from_secs(5),
                churners: 8,
                build: true,
                batch_reads: None,
            })
        );
    }

    #[test]
    fn churn_takes_its_flags() {
        let args =
            ["--churn", "--entities", "500", "--seconds", "7.5", "--warmup", "0", "--churners", "3", "--no-build"];

        let mode = ha_conformance_mode(&args).unwrap();

        assert_eq!(
            mode,
            HaConformanceMode::Churn(ChurnConfig {
                entities: 500,
                seconds: Duration::from_millis(7_500),
                warmup: Duration::ZERO,
                churners: 3,
                build: false,
                batch_reads: None,
            })
        );
    }

    #[test]
    fn without_churn_or_shell_the_suite_runs_with_the_test_arguments() {
        let args = ["--", "restart"];

        let mode = ha_conformance_mode(&args).unwrap();

        assert_eq!(mode, HaConformanceMode::Suite(vec!["restart".to_owned()]));
    }

    #[test]
    fn churn_values_out_of_range_are_usage_errors() {
        let cases = [
            &["--churn", "--entities", "0"][..],
            &["--churn", "--entities", "100001"][..],
            &["--churn", "--churners", "0"][..],
            &["--churn", "--seconds", "0.5"][..],
            &["--churn", "--seconds=-3"][..],
            &["--churn", "--warmup=-1"][..],
            &["--churn", "--", "restart"][..],
        ];

        let errors: Vec<String> = cases.iter().map(|args| ha_conformance_mode(args).unwrap_err().to_string()).collect();

        assert_eq!(
            errors,
            [
                "--entities must be between 1 and 100000",
                "--entities must be between 1 and 100000",
                "--churners must be between 1 and 256",
                "--seconds must be at least 1",
                "--seconds must be at least 1",
                "--warmup must be 0 or more seconds",
                "--churn runs no test binary: arguments after -- do not apply",
            ]
        );
    }

    #[test]
    fn churn_flags_without_churn_or_with_shell_are_refused() {
        let cases = [&["--entities", "10"][..], &["--no-build"][..], &["--churn", "--shell"][..]];

        let refused = cases.map(|args| ha_conformance_mode(args).is_err());

        assert_eq!(refused, [true; 3]);
    }

    #[test]
    fn durations_take_the_documented_units() {
        let parsed: Vec<_> = ["20s", "30m", "500ms", "1h"].iter().map(|s| parse_duration(s).unwrap()).collect();

        assert_eq!(
            parsed,
            [20, 1800, 0, 3600]
                .map(Duration::from_secs)
                .iter()
                .enumerate()
                .map(|(i, d)| if i == 2 { Duration::from_millis(500) } else { *d })
                .collect::<Vec<_>>()
        );
    }

    #[test]
    fn duration_without_unit_is_refused() {
        assert!(parse_duration("20").is_err());
    }

    #[test]
    fn churn_takes_a_read_batching_window() {
        let mode = ha_conformance_mode(&["--churn", "--batch-reads", "50ms"]).unwrap();

        assert!(
            matches!(mode, HaConformanceMode::Churn(ChurnConfig { batch_reads: Some(BatchReads::Window(w)), .. }) if w == Duration::from_millis(50))
        );
    }

    #[test]
    fn churn_takes_read_batching_off() {
        let mode = ha_conformance_mode(&["--churn", "--batch-reads", "off"]).unwrap();

        assert!(matches!(mode, HaConformanceMode::Churn(ChurnConfig { batch_reads: Some(BatchReads::Off), .. })));
    }

    #[test]
    fn read_batching_goes_to_the_mirror_example_as_off_or_whole_milliseconds() {
        let args = [BatchReads::Off, BatchReads::Window(Duration::from_millis(50))].map(BatchReads::arg);

        assert_eq!(args, ["off", "50"]);
    }

    #[test]
    fn a_read_batching_window_outside_1ms_to_1s_or_finer_than_a_millisecond_is_refused() {
        let refused = ["0ms", "1.5s", "2.5ms"].map(|w| parse_batch_window(w).is_err());

        assert_eq!(refused, [true, true, true]);
    }

    #[test]
    fn floor_gaps_are_milliseconds_with_fractions() {
        let cli = Cli::try_parse_from(["cargo xtask", "load", "--floor-gaps", "0.5,5"]).unwrap();

        assert!(matches!(cli.command, Command::Load(args)
            if args.floor_gaps == [Duration::from_micros(500), Duration::from_millis(5)]));
    }

    #[test]
    fn the_code_footprint_is_a_mode_of_its_own() {
        let err = Cli::try_parse_from(["cargo xtask", "load", "--code-footprint", "--cpu-base", "HEAD~1"]).unwrap_err();

        assert!(err.to_string().contains("cannot be used with"), "{err}");
    }

    #[test]
    fn a_floor_gap_below_the_shortest_is_refused() {
        let err = Cli::try_parse_from(["cargo xtask", "load", "--floor-gaps", "0.01"]).unwrap_err();

        assert!(err.to_string().contains("outside the floor's gaps"), "{err}");
    }

    #[test]
    fn the_load_tests_cpu_steps_take_a_read_batching_window() {
        let cli = Cli::try_parse_from(["cargo xtask", "load", "--cpu-batch-reads", "20ms"]).unwrap();

        assert!(
            matches!(cli.command, Command::Load(args) if args.cpu_batch_reads == Some(BatchReads::Window(Duration::from_millis(20))))
        );
    }

    #[test]
    fn a_cpu_ab_needs_at_least_one_pair() {
        let parse =
            |pairs: &str| Cli::try_parse_from(["cargo xtask", "load", "--cpu-base", "HEAD~1", "--cpu-pairs", pairs]);

        let (zero, one) = (parse("0"), parse("1"));

        assert!(zero.is_err_and(|e| e.to_string().contains("--cpu-pairs")));
        assert!(one.is_ok());
    }
}
