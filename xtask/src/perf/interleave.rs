//! Paired, interleaved A/B wall-clock measurement (I/O edge). The base and head criterion
//! executables of each wall target alternate in short rounds, in separate processes, base first in
//! even rounds and head first in odd ones (ABBA), so both sides see the same machine state; each
//! round gives one median ns per iteration per benchmark and side, and the verdicts come from the
//! per-round head/base ratios (`rules::screen_paired`, `paired.rs`).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;
use std::time::Instant;

use anyhow::{Context, Result};

use super::checkout::Checkout;
use super::config::PairedConfig;
use super::progress;
use super::schema::Suite;
use super::schema::Target;

/// Decides whether a benchmark's rounds so far settle it: `(id, (base, head) per round)`.
pub(crate) type Settled<'a> = dyn Fn(&str, &[(f64, f64)]) -> bool + 'a;

/// What a paired run measured.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PairedRun {
    /// Per benchmark in both sides: each round's (base, head) ns per iteration.
    pub(crate) pairs: BTreeMap<String, Vec<(f64, f64)>>,
    /// Benchmarks only head has: each round's median ns.
    pub(crate) head_only: BTreeMap<String, Vec<f64>>,
    /// Benchmarks only base has: each round's median ns.
    pub(crate) base_only: BTreeMap<String, Vec<f64>>,
    /// The bench target of each benchmark.
    pub(crate) targets: BTreeMap<String, String>,
    /// Rounds run.
    pub(crate) rounds: usize,
    /// Seconds the rounds took.
    pub(crate) seconds: f64,
    /// The machine's CPUs taken by the hypervisor over the rounds, in cores (`None` where
    /// `/proc/stat` cannot be read): steal slows whichever side runs while it lasts, so it widens
    /// the rounds' ratios and makes a verdict more often inconclusive, never one-sided.
    pub(crate) steal_cores: Option<f64>,
}

impl PairedRun {
    /// `; machine steal 0.12 cores` for a log line or a note, or nothing when steal was not read.
    pub(crate) fn steal_note(&self) -> String {
        self.steal_cores.map_or_else(String::new, |s| format!("; {}", crate::steal::describe(s)))
    }
}

/// One wall target on both sides: its executables and the benchmark ids each side runs.
#[derive(Debug)]
struct TargetPair {
    name: String,
    base: Option<(PathBuf, Vec<String>)>,
    head: Option<(PathBuf, Vec<String>)>,
}

/// Base and head, built and listed, ready to run rounds.
#[derive(Debug)]
pub(crate) struct Sides<'a> {
    base: &'a Checkout<'a>,
    head: &'a Checkout<'a>,
    targets: Vec<TargetPair>,
}

impl<'a> Sides<'a> {
    /// Builds the wall targets of both sides and lists their benchmarks: calibration benchmarks
    /// (whose ids start with `calibration_prefix`) are left out, as are ids `filter` does not keep.
    /// A target missing from the base (a new one) runs on head only.
    pub(crate) fn prepare(
        base: &'a Checkout<'a>,
        head: &'a Checkout<'a>,
        targets: &[Target],
        base_has: &[Target],
        filter: &[String],
        calibration_prefix: &str,
    ) -> Result<Sides<'a>> {
        let wall: Vec<Target> = targets.iter().filter(|t| t.suite == Suite::Wall).cloned().collect();
        let in_base: Vec<Target> = wall.iter().filter(|t| base_has.contains(t)).cloned().collect();
        eprintln!("perf: building {} wall target(s) for base and head", wall.len());
        let base_exe = base.executables(&in_base)?;
        let head_exe = head.executables(&wall)?;
        let keep = |ids: Vec<String>| -> Vec<String> {
            ids.into_iter()
                .filter(|id| !id.starts_with(calibration_prefix))
                .filter(|id| super::checkout::filter_keeps(filter, id))
                .collect()
        };
        let mut pairs = Vec::new();
        for t in &wall {
            let side = |bench: &Checkout<'_>, exe: Option<&PathBuf>| -> Result<Option<(PathBuf, Vec<String>)>> {
                match exe {
                    Some(exe) => Ok(Some((exe.clone(), keep(bench.list_wall(exe)?)))),
                    None => Ok(None),
                }
            };
            pairs.push(TargetPair {
                name: t.name.clone(),
                base: side(base, base_exe.get(&t.name))?,
                head: side(head, head_exe.get(&t.name))?,
            });
        }
        Ok(Sides { base, head, targets: pairs })
    }

    /// Runs up to `rounds` interleaved rounds of the benchmarks in `only` (every listed one when
    /// `None`). From `settings.min_rounds` on, a benchmark that `settled` says is decided leaves the
    /// rounds (futility stopping: it can only make a regression call less likely, never more), and
    /// benchmarks of one side only stop there too. `what` names the pass in progress lines.
    pub(crate) fn run(
        &self,
        only: Option<&BTreeSet<String>>,
        rounds: usize,
        settings: &PairedConfig,
        settled: &Settled<'_>,
        what: &str,
    ) -> Result<PairedRun> {
        let started = Instant::now();
        let steal_before = crate::steal::read_steal();
        let mut run = PairedRun { rounds, ..PairedRun::default() };
        let mut active: BTreeSet<String> = self
            .targets
            .iter()
            .flat_map(|t| t.base.iter().chain(&t.head).flat_map(|(_, ids)| ids.iter().cloned()))
            .filter(|id| only.is_none_or(|o| o.contains(id)))
            .collect();
        let mut seconds: BTreeMap<String, f64> = BTreeMap::new();
        let home = self.head.raw_dir.join("paired");
        for round in 0..rounds {
            if active.is_empty() {
                break;
            }
            let chosen =
                |ids: &[String]| -> Vec<String> { ids.iter().filter(|id| active.contains(*id)).cloned().collect() };
            for target in &self.targets {
                let target_started = Instant::now();
                let base = target.base.as_ref().map(|(exe, ids)| (exe, chosen(ids))).filter(|(_, ids)| !ids.is_empty());
                let head = target.head.as_ref().map(|(exe, ids)| (exe, chosen(ids))).filter(|(_, ids)| !ids.is_empty());
                // ABBA: base first in even rounds, head first in odd ones.
                let mut measured: [BTreeMap<String, f64>; 2] = [BTreeMap::new(), BTreeMap::new()];
                let order: [usize; 2] = if round % 2 == 0 { [0, 1] } else { [1, 0] };
                for side in order {
                    let (bench, picked) = if side == 0 { (self.base, &base) } else { (self.head, &head) };
                    if let Some((exe, ids)) = picked {
                        measured[side] = bench
                            .run_wall_once(exe, ids, &settings.process, settings.statistic, &home.join(&bench.label))
                            .with_context(|| format!("{what}, round {}, {} {}", round + 1, bench.label, target.name))?;
                    }
                }
                let [base_ns, head_ns] = measured;
                for (id, b) in &base_ns {
                    run.targets.insert(id.clone(), target.name.clone());
                    match head_ns.get(id) {
                        Some(h) => run.pairs.entry(id.clone()).or_default().push((*b, *h)),
                        None => run.base_only.entry(id.clone()).or_default().push(*b),
                    }
                }
                for (id, h) in head_ns.iter().filter(|(id, _)| !base_ns.contains_key(*id)) {
                    run.targets.insert(id.clone(), target.name.clone());
                    run.head_only.entry(id.clone()).or_default().push(*h);
                }
                *seconds.entry(target.name.clone()).or_default() += target_started.elapsed().as_secs_f64();
            }
            if round + 1 >= settings.min_rounds {
                active.retain(|id| run.pairs.get(id).is_some_and(|pairs| !settled(id, pairs)));
            }
            let elapsed = started.elapsed();
            eprintln!(
                "[{what} round {}/{rounds} | {} elapsed] {} first; {} benchmark(s) still undecided",
                round + 1,
                progress::clock(elapsed),
                if round % 2 == 0 { "base" } else { "head" },
                active.len()
            );
        }
        run.seconds = started.elapsed().as_secs_f64();
        run.steal_cores = crate::steal::steal_cores(steal_before, crate::steal::read_steal(), run.seconds);
        let per_target: Vec<String> = seconds.iter().map(|(t, s)| format!("{t} {s:.0} s")).collect();
        eprintln!("perf: {what} took {:.0} s ({}){}", run.seconds, per_target.join(", "), run.steal_note());
        Ok(run)
    }
}
