//! `perf.toml`: the reviewed decision rules (per metric kind, with per-benchmark overrides), absolute
//! budgets and run settings. Every field has a default, so a missing file means the documented defaults.

use std::collections::BTreeMap;
use std::path::Path;

use anyhow::{Context, Result};
use serde::Deserialize;

use crate::schema::Metric;

/// A partial rule as written in `perf.toml`; unset fields fall back to the metric's defaults.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RuleConfig {
    /// Relative tolerance, 0.01 = 1%.
    pub tolerance: Option<f64>,
    /// Instruction metrics: the tolerance is at least this factor times the spread measured at bless time.
    pub spread_factor: Option<f64>,
    /// Absolute slack in the metric's unit, added to the tolerance (heap bytes).
    pub slack: Option<f64>,
    /// Whether a regression of this metric fails the gate (false = advisory).
    pub enforce: Option<bool>,
}

/// A fully resolved rule for one benchmark and metric.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Rule {
    /// Relative tolerance.
    pub tolerance: f64,
    /// Factor applied to the bless-time spread.
    pub spread_factor: f64,
    /// Absolute slack in the metric's unit.
    pub slack: f64,
    /// Whether a regression fails the gate.
    pub enforce: bool,
}

impl Rule {
    /// The built-in default of each metric kind (documented in docs/benchmarking.md).
    pub fn default_for(metric: Metric) -> Rule {
        let rule = |tolerance, spread_factor, slack, enforce| Rule { tolerance, spread_factor, slack, enforce };
        match metric {
            Metric::Instructions => rule(0.005, 3.0, 0.0, true),
            // The cache model is sensitive to code layout: reported, but advisory by default.
            Metric::EstimatedCycles => rule(0.02, 3.0, 0.0, false),
            Metric::WallNs => rule(0.025, 0.0, 0.0, true),
            Metric::HeapTotalBlocks => rule(0.0, 0.0, 0.0, true),
            Metric::HeapTotalBytes | Metric::HeapMaxBytes => rule(0.0, 0.0, 64.0, true),
        }
    }

    fn apply(mut self, config: &RuleConfig) -> Rule {
        self.tolerance = config.tolerance.unwrap_or(self.tolerance);
        self.spread_factor = config.spread_factor.unwrap_or(self.spread_factor);
        self.slack = config.slack.unwrap_or(self.slack);
        self.enforce = config.enforce.unwrap_or(self.enforce);
        self
    }
}

/// A per-benchmark override: `id` is exact or ends in `*` (prefix match); `metric` unset = every metric.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Override {
    /// Benchmark id or prefix ending in `*`.
    pub id: String,
    /// Metric name; all metrics when absent.
    pub metric: Option<String>,
    /// The overriding rule fields.
    #[serde(flatten)]
    pub rule: RuleConfig,
}

impl Override {
    fn matches(&self, id: &str, metric: Metric) -> bool {
        let id_matches = match self.id.strip_suffix('*') {
            Some(prefix) => id.starts_with(prefix),
            None => self.id == id,
        };
        id_matches && self.metric.as_deref().is_none_or(|m| m == metric.name())
    }
}

/// Where the bench crate is and how it is named.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct BenchConfig {
    /// Cargo package holding every benchmark.
    pub package: String,
}

impl Default for BenchConfig {
    fn default() -> Self {
        BenchConfig { package: "benches".to_owned() }
    }
}

/// Criterion measurement settings.
#[derive(Debug, Clone, Copy, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CriterionSettings {
    /// `--warm-up-time`, seconds.
    pub warm_up_s: f64,
    /// `--measurement-time`, seconds.
    pub measurement_s: f64,
    /// `--sample-size` (criterion's minimum is 10).
    pub sample_size: u32,
}

/// Wall-clock suite settings.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct WallConfig {
    /// Benchmarks whose id starts with this are calibration benchmarks.
    pub calibration_prefix: String,
    /// Normal runs.
    pub full: CriterionSettings,
    /// `--quick` runs.
    pub quick: CriterionSettings,
    /// Paired A/B runs.
    pub paired: PairedConfig,
}

impl Default for WallConfig {
    fn default() -> Self {
        WallConfig {
            calibration_prefix: "calibration/".to_owned(),
            full: CriterionSettings { warm_up_s: 1.0, measurement_s: 3.0, sample_size: 50 },
            quick: CriterionSettings { warm_up_s: 0.3, measurement_s: 1.0, sample_size: 10 },
            paired: PairedConfig::default(),
        }
    }
}

/// Paired, interleaved A/B wall-clock runs (`[wall.paired]`); how they decide: docs/benchmarking.md.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct PairedConfig {
    /// Rounds of a full run (each round runs every benchmark once on each side).
    pub rounds: usize,
    /// Rounds of a `--quick` run.
    pub quick_rounds: usize,
    /// Rounds every benchmark runs; after them, one whose every round put head below the tolerance
    /// is decided and leaves the rounds.
    pub min_rounds: usize,
    /// criterion settings of each process of a round.
    pub process: CriterionSettings,
    /// Each process's figure: `min` (its fastest sample, the least disturbed by other load) or
    /// `median` (of its samples).
    pub statistic: Statistic,
    /// Confidence of each benchmark's interval of the change.
    pub confidence: f64,
    /// False discovery rate of the first pass over all benchmarks (Benjamini–Hochberg).
    pub false_discovery_rate: f64,
    /// Significance level of the confirmation pass that a flagged benchmark must pass to fail.
    pub confirm_alpha: f64,
    /// A benchmark is "unchanged" only when its interval rules out a slowdown this large
    /// (0.10 = 10%); a wider interval is "inconclusive".
    pub decisive: f64,
}

impl Default for PairedConfig {
    fn default() -> Self {
        PairedConfig {
            rounds: 12,
            quick_rounds: 10,
            min_rounds: 6,
            process: CriterionSettings { warm_up_s: 0.05, measurement_s: 0.2, sample_size: 10 },
            statistic: Statistic::Min,
            confidence: 0.95,
            false_discovery_rate: 0.10,
            confirm_alpha: 0.05,
            decisive: 0.10,
        }
    }
}

/// Which figure of a process's samples stands for it in a paired round.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Statistic {
    /// The fastest sample's ns per iteration.
    Min,
    /// The median sample's ns per iteration.
    Median,
}

impl PairedConfig {
    /// Rounds for a quick or a full run.
    pub fn rounds(&self, quick: bool) -> usize {
        if quick { self.quick_rounds } else { self.rounds }
    }
}

/// Instruction suite settings for bless.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct InstrConfig {
    /// Bytes of environment padding for each bless run; one run per entry (the first is the gate's own condition).
    pub bless_env_padding: Vec<usize>,
}

impl Default for InstrConfig {
    fn default() -> Self {
        InstrConfig { bless_env_padding: vec![0, 1000, 4093] }
    }
}

/// Budgets of the load test, compared with `target/perf/load.json`.
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LoadBudgets {
    /// 99th percentile latency, ms.
    pub p99_latency_ms: f64,
    /// Peak resident set size, bytes.
    pub peak_rss_bytes: f64,
    /// Resident set growth, bytes per minute.
    pub rss_slope_bytes_per_min: f64,
    /// The slope is judged only when the load test held at least this long (seconds); shorter
    /// holds are dominated by allocator warm-up steps and report the slope as "not judged".
    pub rss_slope_min_seconds: f64,
    /// Updates lost.
    pub lost_updates: f64,
}

impl Default for LoadBudgets {
    fn default() -> Self {
        LoadBudgets {
            p99_latency_ms: 2000.0,
            peak_rss_bytes: 500_000_000.0,
            rss_slope_bytes_per_min: 1_000_000.0,
            rss_slope_min_seconds: 120.0,
            lost_updates: 0.0,
        }
    }
}

/// Absolute budgets (the product promises).
#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Budgets {
    /// Every heap scenario's `max_bytes` must stay at or below this.
    pub heap_max_bytes: f64,
    /// Load-test budgets.
    pub load: LoadBudgets,
}

impl Default for Budgets {
    fn default() -> Self {
        Budgets { heap_max_bytes: 500_000_000.0, load: LoadBudgets::default() }
    }
}

/// The whole `perf.toml`.
#[derive(Debug, Clone, Default, PartialEq, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// Bench crate.
    pub bench: BenchConfig,
    /// Per-metric rules keyed by metric name.
    pub rules: BTreeMap<String, RuleConfig>,
    /// Per-benchmark overrides, applied in order (later wins).
    pub overrides: Vec<Override>,
    /// Absolute budgets.
    pub budgets: Budgets,
    /// Wall-clock settings.
    pub wall: WallConfig,
    /// Instruction settings.
    pub instr: InstrConfig,
}

impl Config {
    /// Parses and validates `perf.toml` text.
    pub fn parse(text: &str) -> Result<Config> {
        let config: Config = toml::from_str(text).context("perf.toml is invalid")?;
        for name in config.rules.keys().chain(config.overrides.iter().filter_map(|o| o.metric.as_ref())) {
            anyhow::ensure!(Metric::from_name(name).is_some(), "perf.toml names an unknown metric `{name}`");
        }
        anyhow::ensure!(!config.instr.bless_env_padding.is_empty(), "perf.toml: instr.bless_env_padding is empty");
        let paired = &config.wall.paired;
        // Below 6 rounds no 95% interval exists for the signed-rank statistic (2^-5 > 0.025).
        anyhow::ensure!(
            paired.min_rounds >= 6 && paired.rounds >= paired.min_rounds && paired.quick_rounds >= paired.min_rounds,
            "perf.toml: wall.paired rounds and quick_rounds must be at least min_rounds, and min_rounds at least 6"
        );
        for (name, value) in [
            ("confidence", paired.confidence),
            ("false_discovery_rate", paired.false_discovery_rate),
            ("confirm_alpha", paired.confirm_alpha),
        ] {
            anyhow::ensure!(value > 0.0 && value < 1.0, "perf.toml: wall.paired.{name} must lie between 0 and 1");
        }
        Ok(config)
    }

    /// Reads `perf.toml`; defaults when the file does not exist.
    pub fn load(path: &Path) -> Result<Config> {
        match std::fs::read_to_string(path) {
            Ok(text) => Config::parse(&text).with_context(|| format!("in {}", path.display())),
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(Config::default()),
            Err(e) => Err(e).with_context(|| format!("reading {}", path.display())),
        }
    }

    /// The rule for one benchmark and metric: default, then `[rules.<metric>]`, then matching
    /// overrides (tolerances learned from history come in between: `rules::resolve`).
    pub fn rule(&self, id: &str, metric: Metric) -> Rule {
        self.rule_with_source(id, metric).0
    }

    /// [`Config::rule`] and, in words, which rule decided the tolerance.
    pub fn rule_with_source(&self, id: &str, metric: Metric) -> (Rule, String) {
        let (rule, source) = self.metric_rule(metric);
        self.apply_overrides(id, metric, rule, source)
    }

    /// The metric kind's rule: the built-in default with `[rules.<metric>]` applied.
    pub fn metric_rule(&self, metric: Metric) -> (Rule, String) {
        let mut rule = Rule::default_for(metric);
        let mut source = format!("built-in {} default", metric.name());
        if let Some(r) = self.rules.get(metric.name()) {
            rule = rule.apply(r);
            if r.tolerance.is_some() {
                source = format!("perf.toml [rules.{}]", metric.name());
            }
        }
        (rule, source)
    }

    /// `rule` with every override matching `id` and `metric` applied, in order (later wins).
    pub fn apply_overrides(&self, id: &str, metric: Metric, mut rule: Rule, mut source: String) -> (Rule, String) {
        for o in self.overrides.iter().filter(|o| o.matches(id, metric)) {
            rule = rule.apply(&o.rule);
            if o.rule.tolerance.is_some() {
                source = format!("perf.toml override `{}`", o.id);
            }
        }
        (rule, source)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn empty_file_gives_documented_defaults() {
        let text = "";

        let config = Config::parse(text).unwrap();

        assert_eq!(config.rule("a/b/c", Metric::Instructions), Rule::default_for(Metric::Instructions));
        assert_eq!(config.budgets.heap_max_bytes, 500_000_000.0);
    }

    #[test]
    fn metric_rule_then_override_apply_in_order() {
        let text = r#"
            [rules.wall_ns]
            tolerance = 0.2
            [[overrides]]
            id = "client/*"
            metric = "wall_ns"
            tolerance = 0.5
            [[overrides]]
            id = "client/roundtrip/one"
            enforce = false
        "#;

        let config = Config::parse(text).unwrap();

        let rule = config.rule("client/roundtrip/one", Metric::WallNs);
        assert_eq!((rule.tolerance, rule.enforce), (0.5, false));
        assert_eq!(config.rule("proto/parse/n1", Metric::WallNs).tolerance, 0.2);
        assert_eq!(config.rule("client/roundtrip/one", Metric::Instructions).tolerance, 0.005);
    }

    #[test]
    fn paired_rounds_below_six_are_rejected() {
        let text = "[wall.paired]\nrounds = 5\nmin_rounds = 5\n";

        let result = Config::parse(text);

        assert!(format!("{:#}", result.unwrap_err()).contains("at least 6"));
    }

    #[test]
    fn unknown_metric_name_is_rejected() {
        let text = "[rules.walltime]\ntolerance = 0.1\n";

        let result = Config::parse(text);

        assert!(result.is_err());
    }

    #[test]
    fn checked_in_perf_toml_parses() {
        let path = crate::test_manifest_dir().join("../../perf.toml");

        let config = Config::load(&path);

        assert!(config.is_ok(), "{config:?}");
    }
}
