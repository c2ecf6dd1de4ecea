//! `cargo xtask load`: the load test of the product's promises (p99 ≤ 2 s, peak RSS ≤ 500 MB, RSS
//! slope ≤ 1 MB/min, no lost update) against a simulated Home Assistant of 16,384 entities.
//!
//! # What a run does
//! 1. Builds `ha-sim`, `hapulse` and `ha-client`'s `mirror` example in release (`--no-build` skips it).
//! 2. Ramp: for each offered rate (2,000 events/s doubling until a step falls behind, up to
//!    [`RAMP_MAX`], plus one bisection between the last good and the first bad rate) starts
//!    `ha-sim --rate R` and the client under test `hapulse loadtest probe` as separate processes on
//!    127.0.0.1, and judges the step with [`sustained`]: applied within 10% of offered, event lag
//!    under a second, nothing dropped, no reconnect, and the calls answered (none failed, p99 under
//!    a second). The probe runs the same 32 concurrent callers as
//!    the hold, so the maximum is the maximum *with* call traffic. The highest sustained rate is
//!    then confirmed over a 15 s step, stepping down by 30% until one is sustained ([`confirmations`]);
//!    that rate is the maximum. The CPU both processes used in the last step that fell behind says
//!    whether the client or the simulator was the limit ([`cpu::Limit`]).
//! 3. Hold: `ha-sim` at 80% of the maximum and `hapulse loadtest hold` with 32 concurrent
//!    `call_service` callers, for a warm-up (half the hold, 10–60 s) and then `--duration` (default 60 s; `--soak 30m`).
//!    The client process measures itself: events/s applied, call latency p50/p99/max, peak RSS
//!    (`VmHWM`), RSS slope after the warm-up (Theil–Sen), reconnects, and lost updates (its mirror against
//!    `GET /api/states` at the end, given up to 10 s to catch up with it).
//!    The xtask reads the client's and the simulator's CPU from `/proc/<pid>/stat` inside the hold's
//!    window: the client's CPU per applied change of the whole pipeline.
//! 4. CPU steps: `ha-sim` at each of `--cpu-rates` (default 1,000, 10,000 and 50,000 changes/s) and
//!    the bare client, `ha-client`'s `mirror` example in `--measure` mode, which reads its own CPU
//!    (`getrusage`) over `--cpu-seconds` after a 5 s warm-up: CPU per applied change and per
//!    frame, context switches per frame, peak RSS; the simulator's CPU over the same window.
//!    Before them, the machine's wake-up floor ([`floor`]): what a bare epoll reader pays per small
//!    message every 5 ms, the part of a frame's cost no client that wakes per frame can avoid here.
//!
//! `--cpu-base <rev>` runs none of this but A/B CPU steps ([`ab`]): the bare client of `HEAD` (or
//! `--cpu-head`) and of `rev`, both built from their commits at one path, side by side against one
//! simulator, `--cpu-pairs` times per rate.
//!
//! 5. Writes `<target dir>/perf/load.json` (the four figures `cargo xtask perf` checks, plus the
//!    details), prints each figure with its margin to the budget of `perf.toml` `[budgets.load]`,
//!    and fails when one is over.
//!
//! Every child is killed when the run ends, fails, panics or gets Ctrl-C; each step is bounded
//! in time.

mod ab;
pub(crate) mod cpu;
pub(crate) mod floor;
mod footprint;
pub(crate) mod procs;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use xshell::{Shell, cmd};

use self::procs::{Children, Driver};
use self::report::{LoadFile, Probe, budgets_from_perf_toml, sustained};
use crate::cli::LoadArgs as Args;

/// Highest rate the ramp offers (2,000 doubled nine times): far above what one client on this
/// machine applies, it only bounds the run's length should nothing ever fall behind.
pub(crate) const RAMP_MAX: f64 = 1_024_000.0;
/// First offered rate, events per second.
const RAMP_START: f64 = 2_000.0;
/// The fastest stream the hold runs after a ramp (`--rate` sets any): ha-sim, like Home Assistant,
/// cuts a client 4,096 messages behind, which at R changes/s is 4,096/R seconds of the stream, and
/// the hold judges whether the client stays connected and converges, not whether 2 shared cores
/// schedule it within 20 ms. At 64,000/s the slack is 64 ms. On the Intel VM, holds of
/// 38,400-71,680/s passed in every run; once ha-sim ran on mimalloc a ramp sustained 256,000/s for
/// 15 s and the hold at 204,800/s (20 ms of slack) was cut 6 times and never converged (16,373
/// entities stale): a resync's snapshot takes longer than the slack, so it was cut again. At
/// 64,000/s a CI hold was cut 6 times as connections started, while ha-sim serialised each 5 MB
/// snapshot afresh (45-71 ms) and counted the frame being written as pending; it now joins cached
/// entries (5-9 ms) and counts only its queue, as Home Assistant does (docs/performance.md,
/// twentieth round).
pub(crate) const HOLD_CEILING: f64 = 64_000.0;

/// The rate the hold runs at after a ramp whose confirmed maximum was `max_rate`: 80% of it, at most
/// [`HOLD_CEILING`].
pub(crate) fn hold_rate(max_rate: f64) -> f64 {
    eighty_percent(max_rate).min(HOLD_CEILING)
}

/// 80% of a rate, rounded: the hold's rate before its ceiling.
fn eighty_percent(rate: f64) -> f64 {
    (rate * 0.8).round()
}
/// How long each doubling (and the bisection) of the ramp is measured, after a 1 s warm-up.
const STEP_MEASURE: Duration = Duration::from_secs(3);
/// How long the ramp's maximum is confirmed. The short steps miss what the hold then meets: on the
/// 2-core VM, steps of 3 s called 96,000-128,000 changes/s sustained, and holds of 30 s at 80% of
/// that were cut off by ha-sim's flow control (4,096 messages queued: 40 ms of the stream, which
/// one stall of either process on a shared machine exceeds) two to seven times each.
const CONFIRM_MEASURE: Duration = Duration::from_secs(15);
/// Each confirmation that fails is followed by one at this fraction of its rate.
const CONFIRM_STEP_DOWN: f64 = 0.7;
/// Most confirmations before the run fails.
const CONFIRM_TRIES: usize = 4;
/// Warm-up of each CPU step, after the snapshot.
const CPU_WARMUP: Duration = Duration::from_secs(5);

/// The warm-up before the measured hold: half the hold, between 10 and 60 seconds (the mirror,
/// the allocator's arenas and the metrics' windows fill up first; the slope is measured after).
pub(crate) fn warmup_for(hold: Duration) -> Duration {
    (hold / 2).clamp(Duration::from_secs(10), Duration::from_secs(60))
}

fn root() -> PathBuf {
    crate::workspace::root()
}

/// `--floor-gaps`: the machine's wake-up floor at each gap, nothing else (no build, no simulator).
fn floor_only(gaps: &[Duration]) -> Result<()> {
    for &gap in gaps {
        let floor = floor::measure_at(gap, floor::MESSAGE_BYTES)?;
        println!("load: wake-up floor {}", floor.describe());
    }
    Ok(())
}

/// `--code-footprint`'s rate when no --rate is given: what a busy real installation sends, and what
/// the client keeps up with under callgrind.
const FOOTPRINT_RATE: f64 = 1000.0;

/// `--code-footprint`: the code the bare client runs per frame at `rate`, counted by callgrind.
fn code_footprint(driver: &Driver, target: &Path, rate: f64, seconds: Duration) -> Result<()> {
    let dir = target.join("perf");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    println!("load: the mirror example under callgrind at {rate} changes/s for {}s", seconds.as_secs());
    let (step, dump) = driver.footprint_step(rate, CPU_WARMUP, seconds, &dir.join("footprint.callgrind"))?;
    let footprint = dump.per_frame(step.frames);
    print!("load: {}", footprint.describe());
    let path = dir.join("footprint.json");
    std::fs::write(&path, serde_json::to_string_pretty(&footprint)? + "\n")
        .with_context(|| format!("writing {}", path.display()))?;
    println!("load: wrote {}", path.display());
    Ok(())
}

/// Runs the load test.
pub(crate) fn run(args: Args) -> Result<()> {
    if !args.floor_gaps.is_empty() {
        return floor_only(&args.floor_gaps);
    }
    // Before the build: the footprint cannot be counted without valgrind.
    if args.code_footprint && crate::perf::probe::valgrind_version(&Shell::new()?).is_none() {
        bail!(
            "--code-footprint runs the client under valgrind, which was not found: {}",
            crate::perf::probe::VALGRIND_INSTALL
        );
    }
    let root = root();
    let target = crate::workspace::target_dir();
    if !args.no_build {
        let sh = Shell::new()?;
        sh.change_dir(&root);
        cmd!(sh, "cargo build --release -p ha-sim -p hapulse -p ha-client --bins --example mirror")
            .run()
            .context("building ha-sim, hapulse and the mirror example")?;
    }
    let bins = target.join("release");
    let budgets = budgets_from_perf_toml(&root.join("perf.toml"))?;
    let children = Children::install()?;
    let driver = Driver {
        sim: bins.join("ha-sim"),
        client: bins.join("hapulse"),
        mirror: bins.join("examples").join("mirror"),
        entities: args.entities,
        batch_reads: args.cpu_batch_reads,
        _handler: children,
    };

    if let Some(rev) = &args.cpu_base {
        return ab::run(&driver, &root, &target, rev, &args, CPU_WARMUP);
    }
    if args.code_footprint {
        return code_footprint(&driver, &target, args.rate.unwrap_or(FOOTPRINT_RATE), args.cpu_seconds);
    }
    let started = std::time::Instant::now();
    let (max_rate, held, ramp) = match args.rate {
        Some(rate) => (rate / 0.8, rate.round(), Vec::new()),
        None => {
            let (max_rate, ramp) = ramp(&driver)?;
            (max_rate, hold_rate(max_rate), ramp)
        }
    };
    let hold_for = args.soak.unwrap_or(args.duration);
    let warmup = warmup_for(hold_for);
    let why = if held < eighty_percent(max_rate) {
        format!("80% of {max_rate}, capped at the hold's ceiling of {HOLD_CEILING}")
    } else {
        format!("80% of {max_rate}")
    };
    println!(
        "load: holding {held} events/s ({why}) with {} callers for {}s after a {}s warm-up",
        args.callers,
        hold_for.as_secs(),
        warmup.as_secs()
    );
    let (hold, hold_cpu) = driver.hold(held, hold_for, warmup, args.callers)?;
    let mut file = LoadFile::new(&hold, max_rate, held, hold_for, ramp).with_hold_cpu(hold_cpu);
    if !args.no_cpu {
        let floor = floor::measure_standard()?;
        println!("load: wake-up floor {}", floor.describe());
        file.wakeup_floor = Some(floor);
        for &rate in &args.cpu_rates {
            let step = driver.cpu_step(rate, CPU_WARMUP, args.cpu_seconds)?;
            println!("load: cpu {}", step.describe());
            file.cpu_steps.push(step);
        }
    }

    let perf_dir = target.join("perf");
    std::fs::create_dir_all(&perf_dir).with_context(|| format!("creating {}", perf_dir.display()))?;
    let path = perf_dir.join("load.json");
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("{}", report::render(&file, &budgets));
    println!("load: wrote {} after {:.0}s", path.display(), started.elapsed().as_secs_f64());
    let over = report::over_budget(&file, &budgets);
    if !over.is_empty() {
        bail!("load-test budgets broken: {}", over.join(", "));
    }
    Ok(())
}

/// The rates the ramp offers in turn until one is not sustained: doubling from [`RAMP_START`] up to
/// [`RAMP_MAX`].
pub(crate) fn ramp_rates() -> impl Iterator<Item = f64> {
    std::iter::successors(Some(RAMP_START), |r| Some(r * 2.0)).take_while(|r| *r <= RAMP_MAX)
}

/// Doubles the offered rate until a step is not sustained, bisects once, then confirms the
/// maximum over a longer step ([`confirmations`]).
fn ramp(driver: &Driver) -> Result<(f64, Vec<Probe>)> {
    let mut probes: Vec<Probe> = Vec::new();
    let mut good: Option<f64> = None;
    let mut bad: Option<f64> = None;
    for rate in ramp_rates() {
        let p = driver.probe(rate, STEP_MEASURE)?;
        let ok = sustained(&p);
        println!("load: ramp {:>7.0} events/s -> {}", rate, p.describe(ok));
        probes.push(p);
        if !ok {
            bad = Some(rate);
            break;
        }
        good = Some(rate);
    }
    let Some(mut best) = good else {
        bail!("the client did not sustain even {RAMP_START} events/s: {:?}", probes.last());
    };
    if let Some(bad) = bad {
        let mid = ((best + bad) / 2.0).round();
        let p = driver.probe(mid, STEP_MEASURE)?;
        let ok = sustained(&p);
        println!("load: ramp {:>7.0} events/s -> {}", mid, p.describe(ok));
        probes.push(p);
        if ok {
            best = mid;
        }
    }
    for rate in confirmations(best) {
        let p = driver.probe(rate, CONFIRM_MEASURE)?;
        let ok = sustained(&p);
        println!("load: confirm {:>7.0} events/s for {}s -> {}", rate, CONFIRM_MEASURE.as_secs(), p.describe(ok));
        probes.push(p);
        if ok {
            return Ok((rate, probes));
        }
    }
    bail!(
        "the client sustained {best} events/s for {}s but none of {:?} for {}s: {:?}",
        STEP_MEASURE.as_secs(),
        confirmations(best).collect::<Vec<_>>(),
        CONFIRM_MEASURE.as_secs(),
        probes.last()
    );
}

/// The rates the ramp confirms, in turn, until one is sustained for [`CONFIRM_MEASURE`]: the short
/// steps' maximum, then [`CONFIRM_STEP_DOWN`] of the rate before, [`CONFIRM_TRIES`] in all.
pub(crate) fn confirmations(best: f64) -> impl Iterator<Item = f64> {
    std::iter::successors(Some(best), |r| Some((r * CONFIRM_STEP_DOWN).round())).take(CONFIRM_TRIES)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_hold_runs_at_80_percent_of_the_maximum_up_to_its_ceiling() {
        let rates = [hold_rate(67_200.0), hold_rate(256_000.0)];

        assert_eq!(rates, [53_760.0, HOLD_CEILING]);
    }

    #[test]
    fn the_ramp_doubles_past_64k_up_to_its_bound() {
        let rates: Vec<f64> = ramp_rates().collect();

        assert_eq!(rates.len(), 10);
        assert_eq!((rates[0], rates[6], rates[9]), (2_000.0, 128_000.0, RAMP_MAX));
    }

    #[test]
    fn the_ramp_confirms_its_maximum_then_steps_down_by_thirty_percent() {
        let rates: Vec<f64> = confirmations(100_000.0).collect();

        assert_eq!(rates, [100_000.0, 70_000.0, 49_000.0, 34_300.0]);
    }

    #[test]
    fn warmup_is_half_the_hold_within_bounds() {
        let w: Vec<u64> = [20, 60, 1800].map(|s| warmup_for(Duration::from_secs(s)).as_secs()).to_vec();

        assert_eq!(w, [10, 30, 60]);
    }
}
