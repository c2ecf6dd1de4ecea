//! Absolute budgets (the product promises): every heap scenario's peak bytes, and the load test's
//! figures from `target/perf/load.json`, whose format is defined here:
//! `{"p99_latency_ms": f64, "peak_rss_bytes": f64, "rss_slope_bytes_per_min": f64, "lost_updates": u64}`.

use anyhow::{Context, Result};
use serde::{Deserialize, Serialize};

use crate::config::{Budgets, LoadBudgets};
use crate::schema::{Measurement, Metric};

/// One budget, checked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BudgetCheck {
    /// What was checked: a benchmark id or `load`.
    pub subject: String,
    /// The figure's name.
    pub figure: String,
    /// The measured value.
    pub value: f64,
    /// The budget (inclusive upper limit).
    pub limit: f64,
    /// Unit of value and limit.
    pub unit: String,
    /// Whether the value is within the budget.
    pub ok: bool,
}

/// The load test's figures (written by the load test into `target/perf/load.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LoadFigures {
    /// 99th percentile latency, ms.
    pub p99_latency_ms: f64,
    /// Peak resident set size, bytes.
    pub peak_rss_bytes: f64,
    /// Resident set growth, bytes per minute.
    pub rss_slope_bytes_per_min: f64,
    /// Updates lost.
    pub lost_updates: u64,
    /// Seconds the load was held after the warm-up (absent in older files: the slope is then judged).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub held_seconds: Option<f64>,
}

/// Parses `load.json`.
pub fn parse_load(text: &str) -> Result<LoadFigures> {
    serde_json::from_str(text).context("load.json is not the documented format")
}

fn check(subject: &str, figure: &str, value: f64, limit: f64, unit: &str) -> BudgetCheck {
    BudgetCheck {
        subject: subject.to_owned(),
        figure: figure.to_owned(),
        value,
        limit,
        unit: unit.to_owned(),
        ok: value <= limit,
    }
}

/// Every heap scenario's `max_bytes` against the heap budget.
pub fn heap(current: &[Measurement], budgets: &Budgets) -> Vec<BudgetCheck> {
    current
        .iter()
        .filter(|m| m.metric == Metric::HeapMaxBytes)
        .map(|m| check(&m.id, "heap_max_bytes", m.value, budgets.heap_max_bytes, "bytes"))
        .collect()
}

/// The load figures against their budgets.
pub fn load(figures: &LoadFigures, budgets: &LoadBudgets) -> Vec<BudgetCheck> {
    vec![
        check("load", "p99_latency_ms", figures.p99_latency_ms, budgets.p99_latency_ms, "ms"),
        check("load", "peak_rss_bytes", figures.peak_rss_bytes, budgets.peak_rss_bytes, "bytes"),
        slope_check(figures, budgets),
        check("load", "lost_updates", figures.lost_updates as f64, budgets.lost_updates, "updates"),
    ]
}

/// The RSS slope, judged only over a hold long enough for it to mean growth rather than warm-up.
fn slope_check(figures: &LoadFigures, budgets: &LoadBudgets) -> BudgetCheck {
    let mut c = check(
        "load",
        "rss_slope_bytes_per_min",
        figures.rss_slope_bytes_per_min,
        budgets.rss_slope_bytes_per_min,
        "bytes/min",
    );
    if let Some(held) = figures.held_seconds.filter(|h| *h < budgets.rss_slope_min_seconds) {
        c.figure =
            format!("rss_slope_bytes_per_min (not judged: {held:.0} s hold < {:.0} s)", budgets.rss_slope_min_seconds);
        c.ok = true;
    }
    c
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_short_hold_is_reported_but_not_judged() {
        let text = r#"{"p99_latency_ms":1,"peak_rss_bytes":1,"rss_slope_bytes_per_min":5e6,"lost_updates":0,"held_seconds":20}"#;

        let checks = load(&parse_load(text).unwrap(), &LoadBudgets::default());

        let slope = checks.iter().find(|c| c.figure.starts_with("rss_slope")).unwrap();
        assert!(slope.ok && slope.figure.contains("not judged"), "{slope:?}");
    }

    #[test]
    fn slope_of_a_long_hold_is_judged() {
        let text = r#"{"p99_latency_ms":1,"peak_rss_bytes":1,"rss_slope_bytes_per_min":5e6,"lost_updates":0,"held_seconds":600}"#;

        let checks = load(&parse_load(text).unwrap(), &LoadBudgets::default());

        let failing: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.figure.as_str()).collect();
        assert_eq!(failing, ["rss_slope_bytes_per_min"]);
    }

    #[test]
    fn heap_scenario_over_500_mb_exceeds_the_budget() {
        let current = [
            Measurement::count("a/b/small", Metric::HeapMaxBytes, 1e6, "heap_a"),
            Measurement::count("a/b/big", Metric::HeapMaxBytes, 600e6, "heap_b"),
        ];

        let checks = heap(&current, &Budgets::default());

        let ok: Vec<(&str, bool)> = checks.iter().map(|c| (c.subject.as_str(), c.ok)).collect();
        assert_eq!(ok, [("a/b/small", true), ("a/b/big", false)]);
    }

    #[test]
    fn one_lost_update_breaks_the_load_budget() {
        let text = r#"{"p99_latency_ms":120.5,"peak_rss_bytes":2e8,"rss_slope_bytes_per_min":1000,"lost_updates":1}"#;

        let checks = load(&parse_load(text).unwrap(), &LoadBudgets::default());

        let failing: Vec<&str> = checks.iter().filter(|c| !c.ok).map(|c| c.figure.as_str()).collect();
        assert_eq!(failing, ["lost_updates"]);
    }
}
