//! `cargo xtask load --cpu-base <rev>`: the bare client's CPU per change of two revisions (`HEAD`, or
//! `--cpu-head`, and `rev`), measured side by side.
//!
//! The CPU steps' figures move by tens of percent with what else the shared machine runs, so two
//! runs taken minutes apart cannot show a change of a few percent. Here both clients (each
//! revision's `mirror` example in `--measure` mode) run at the same time against one simulator, each
//! on its own connection, so both see the same frames and the same neighbours; which one connects
//! first alternates from pair to pair. Each pair gives a ratio, head over base; the summary is the
//! median ratio and its range over the pairs. Nothing is judged: it is the measurement a change to
//! the client's hot path quotes.

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{Context, Result, bail};
use serde::{Deserialize, Serialize};
use xshell::{Shell, cmd};

use super::cpu::CpuStep;
use super::procs::Driver;
use crate::cli::LoadArgs as Args;
use crate::git;
use crate::perf::worktree::Worktree;

/// One pair: both clients over the same window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Pair {
    /// Whether this tree's client connected first.
    pub(crate) head_first: bool,
    /// This tree's client.
    pub(crate) head: CpuStep,
    /// The base revision's client.
    pub(crate) base: CpuStep,
}

impl Pair {
    /// Head's CPU per change over base's; `None` when either applied nothing.
    pub(crate) fn ratio(&self) -> Option<f64> {
        let (head, base) = (self.head.cpu_us_per_change?, self.base.cpu_us_per_change?);
        (base > 0.0).then(|| head / base)
    }
}

/// The pairs of one rate.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Rate {
    /// Offered changes per second.
    pub(crate) offered: f64,
    /// In the order measured.
    pub(crate) pairs: Vec<Pair>,
}

/// Median and range of some values.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct Spread {
    pub(crate) median: f64,
    pub(crate) min: f64,
    pub(crate) max: f64,
}

impl Spread {
    /// `None` for no values (or one that is not finite).
    pub(crate) fn of(values: impl IntoIterator<Item = f64>) -> Option<Spread> {
        let v: Vec<f64> = values.into_iter().collect();
        let median = perf_gate::stats::median(&v)?;
        let min = v.iter().copied().fold(f64::INFINITY, f64::min);
        let max = v.iter().copied().fold(f64::NEG_INFINITY, f64::max);
        Some(Spread { median, min, max })
    }
}

impl std::fmt::Display for Spread {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{:.2} ({:.2}–{:.2})", self.median, self.min, self.max)
    }
}

impl Rate {
    /// One line: each side's CPU per change and the ratio, as median (range) over the pairs.
    pub(crate) fn describe(&self, base: &str) -> String {
        let side = |f: fn(&Pair) -> Option<f64>| Spread::of(self.pairs.iter().filter_map(f));
        let show = |s: Option<Spread>| s.map_or_else(|| "-".to_owned(), |s| s.to_string());
        let ratio = Spread::of(self.pairs.iter().filter_map(Pair::ratio));
        let change = ratio.map_or_else(String::new, |r| format!(", {:+.1}%", (r.median - 1.0) * 100.0));
        format!(
            "{:>6.0} changes/s: head {} µs CPU per change, {base} {}; head/{base} {}{change} over {} pairs",
            self.offered,
            show(side(|p| p.head.cpu_us_per_change)),
            show(side(|p| p.base.cpu_us_per_change)),
            show(ratio),
            self.pairs.len(),
        )
    }
}

/// What `--cpu-base` writes to `<target dir>/perf/load-cpu-ab.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct AbFile {
    /// The head revision as given, and its commit.
    pub(crate) head: String,
    pub(crate) head_commit: String,
    /// The base revision as given, and its commit.
    pub(crate) base: String,
    pub(crate) base_commit: String,
    /// Seconds each client measured per pair (after its warm-up).
    pub(crate) seconds: f64,
    pub(crate) rates: Vec<Rate>,
}

/// Whether head connects first in pair `i` (alternating, head first in the first pair).
pub(crate) fn head_first(i: usize) -> bool {
    i.is_multiple_of(2)
}

/// Which side of the A/B a build is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Side {
    Head,
    Base,
}

impl Side {
    fn name(self) -> &'static str {
        match self {
            Side::Head => "head",
            Side::Base => "base",
        }
    }
}

/// Where a side is checked out (the same directory for both) and built (a target directory each).
///
/// Both sides are checked out at the same path in turn, never at two: the crates' symbol hashes,
/// and with them how the compiler splits and lays out the code, depend on the source path, and two
/// builds of one commit from two paths differed by 13 kB of code and by ±5% in CPU per change
/// (measured 2026-12-06), where two builds from one path are identical instruction for instruction.
pub(crate) fn build_dirs(target: &Path, side: Side) -> (PathBuf, PathBuf) {
    let dir = target.join("perf").join("load-ab");
    (dir.join("src"), dir.join(format!("target-{}", side.name())))
}

/// Checks `rev` out in the A/B worktree and builds its `mirror` example in the side's target
/// directory (kept between runs, so a second run of the same revision builds little); returns the
/// binary and the commit.
fn build_side(sh: &Shell, root: &Path, target: &Path, rev: &str, side: Side) -> Result<(PathBuf, String)> {
    let full = git::commit_of(sh, root, rev).with_context(|| format!("{rev:?} is not a commit of this repository"))?;
    let commit = git::short(sh, root, &full);
    let (src, side_target) = build_dirs(target, side);
    let worktree = Worktree::add(sh, root, &src, &full)?;
    let _dir = sh.push_dir(&worktree.path);
    let _env = sh.push_env("CARGO_TARGET_DIR", &side_target);
    println!("load: building the mirror example of {rev} ({commit}) as the {} side", side.name());
    cmd!(sh, "cargo build --release -p ha-client --example mirror")
        .run()
        .with_context(|| format!("building the mirror example of {rev}"))?;
    let binary = side_target.join("release").join("examples").join("mirror");
    if !binary.exists() {
        bail!("{rev} built no {}", binary.display());
    }
    Ok((binary, commit))
}

/// Copies both binaries to new files for one pair, so that each pair runs code from pages of its
/// own. Two byte-identical copies of the example, run side by side from the same two files in
/// every pair, read 9% apart at 1,000 changes/s in all of 4 pairs (2026-12-06): where a file's
/// pages land in physical memory decides which cache sets its code competes for, and that bias
/// stays put for as long as the files do.
fn fresh_copies(target: &Path, binaries: [&Path; 2]) -> Result<[PathBuf; 2]> {
    let dir = target.join("perf").join("load-ab").join("run");
    std::fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
    let copy = |from: &Path, name: &str| -> Result<PathBuf> {
        let to = dir.join(name);
        // A new file, not an overwrite: its pages are new too.
        let _ = std::fs::remove_file(&to);
        std::fs::copy(from, &to).with_context(|| format!("copying {} to {}", from.display(), to.display()))?;
        Ok(to)
    };
    Ok([copy(binaries[0], "head-mirror")?, copy(binaries[1], "base-mirror")?])
}

/// Runs the A/B steps against `rev` (`--cpu-base`) at `args`' CPU rates and writes their file.
pub(crate) fn run(driver: &Driver, root: &Path, target: &Path, rev: &str, args: &Args, warmup: Duration) -> Result<()> {
    let (rates, seconds) = (&args.cpu_rates, args.cpu_seconds);
    let head_rev = args.cpu_head.as_str();
    let sh = Shell::new()?;
    if git::head_state(&sh, root).is_some_and(|head| head.ends_with("+dirty")) {
        println!("load: note: uncommitted changes are not measured (both sides are built from commits)");
    }
    let (head_mirror, head_commit) = build_side(&sh, root, target, head_rev, Side::Head)?;
    let (base_mirror, base_commit) = build_side(&sh, root, target, rev, Side::Base)?;
    let mut file = AbFile {
        head: head_rev.to_owned(),
        head_commit,
        base: rev.to_owned(),
        base_commit,
        seconds: seconds.as_secs_f64(),
        rates: Vec::new(),
    };
    for &offered in rates.iter() {
        let mut rate = Rate { offered, pairs: Vec::new() };
        for i in 0..args.cpu_pairs as usize {
            let first = head_first(i);
            let [head_copy, base_copy] = fresh_copies(target, [&head_mirror, &base_mirror])?;
            let (head, base) = driver.cpu_pair(offered, [&head_copy, &base_copy], first, warmup, seconds)?;
            let pair = Pair { head_first: first, head, base };
            println!(
                "load: cpu A/B {offered:>6.0} changes/s pair {}: head {}, {rev} {} µs per change (head/{rev} {})",
                i + 1,
                pair.head.cpu_us_per_change.map_or_else(|| "-".into(), |v| format!("{v:.2}")),
                pair.base.cpu_us_per_change.map_or_else(|| "-".into(), |v| format!("{v:.2}")),
                pair.ratio().map_or_else(|| "-".into(), |v| format!("{v:.3}")),
            );
            rate.pairs.push(pair);
        }
        file.rates.push(rate);
    }
    for rate in &file.rates {
        println!("load: cpu A/B {}", rate.describe(rev));
    }
    let path = target.join("perf").join("load-cpu-ab.json");
    std::fs::create_dir_all(target.join("perf"))?;
    std::fs::write(&path, serde_json::to_string_pretty(&file)?)
        .with_context(|| format!("writing {}", path.display()))?;
    println!("load: wrote {}", path.display());
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn step(cpu_us_per_change: f64) -> CpuStep {
        let line = format!(
            r#"{{"seconds":20.0,"entity_changes":20000,"frames":4000,"user_seconds":0.1,"system_seconds":0.05,
                "cpu_us_per_change":{cpu_us_per_change},"cpu_us_per_frame":null,"voluntary_switches":0,
                "involuntary_switches":0,"peak_rss_bytes":0}}"#
        );
        serde_json::from_str(&line).unwrap()
    }

    fn pair(head: f64, base: f64) -> Pair {
        Pair { head_first: true, head: step(head), base: step(base) }
    }

    #[test]
    fn a_pair_is_head_over_base() {
        let ratio = pair(9.0, 10.0).ratio();

        assert_eq!(ratio, Some(0.9));
    }

    #[test]
    fn the_summary_is_the_median_ratio_of_the_pairs_not_the_ratio_of_medians() {
        let rate = Rate { offered: 1000.0, pairs: vec![pair(8.0, 10.0), pair(12.0, 10.0), pair(9.0, 10.0)] };

        let line = rate.describe("base");

        assert!(line.contains("head/base 0.90 (0.80–1.20), -10.0% over 3 pairs"), "{line}");
        assert!(line.contains("head 9.00 (8.00–12.00) µs CPU per change, base 10.00 (10.00–10.00)"), "{line}");
    }

    #[test]
    fn an_even_count_takes_the_mean_of_the_middle_two() {
        let spread = Spread::of([4.0, 1.0, 3.0, 2.0]);

        assert_eq!(spread, Some(Spread { median: 2.5, min: 1.0, max: 4.0 }));
    }

    #[test]
    fn a_pair_that_applied_nothing_has_no_ratio() {
        let mut empty = pair(1.0, 1.0);
        empty.base.cpu_us_per_change = None;

        assert_eq!(empty.ratio(), None);
    }

    #[test]
    fn the_connection_order_alternates_starting_with_head() {
        let order: Vec<bool> = (0..4).map(head_first).collect();

        assert_eq!(order, [true, false, true, false]);
    }
}
