//! Alert rules from TOML: parsing, validation with line and key in every error, and the built-in
//! defaults.
//!
//! ```toml
//! [[rule]]
//! name = "command_latency"                  # [a-z0-9_]+, also the notification id
//! metric = "hapulse_command_latency_seconds"
//! labels = { command = "call_service" }     # optional: one series instead of all merged
//! aggregation = "p99"                       # value rate increase count p50 p90 p99 max mean
//! window = "5m"                             # ms s m h d; not needed for gauges and `value`
//! above = "1s"                              # or `below`; numbers or "500ms" "2s" "400MB" "1GiB"
//! resolve = "500ms"                         # hysteresis: firing ends only past this (default: threshold)
//! for = "2m"                                # how long the breach must last before firing (default 0s)
//! severity = "warning"                      # info warning critical (default warning)
//! summary = "Commands are slow"             # optional text for notifications
//! ```
//!
//! "Far above normal" rules compare with the metric's own past: with `relative_to = "1h"` the
//! value is the ratio of the aggregation over `window` to the same aggregation over `relative_to`
//! (`above = 5` means five times the last hour), and `min_value` ignores ratios while the absolute
//! value is below it (a quiet installation doubling from 0.1 to 0.2 events/s is no flood).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::Deserialize;
use toml::Spanned;

use crate::MonitorError;
use crate::registry::{Aggregation, Query, QueryError, Registry};

/// How bad a firing alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    /// Worth knowing.
    Info,
    /// Degraded.
    Warning,
    /// Failing or about to.
    Critical,
}

impl std::fmt::Display for Severity {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        })
    }
}

/// Which side of the threshold is bad.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Condition {
    /// Values above the threshold breach.
    Above(f64),
    /// Values below the threshold breach.
    Below(f64),
}

/// One validated alert rule.
#[derive(Debug, Clone, PartialEq)]
pub struct Rule {
    /// Unique name (`[a-z0-9_]+`).
    pub name: String,
    /// What to read.
    pub query: Query,
    /// When the value is bad.
    pub condition: Condition,
    /// Where firing ends: firing resolves only once the value is past this, on the good side.
    pub resolve: f64,
    /// How long a breach must last before the rule fires.
    pub for_duration: Duration,
    /// When set, the rule judges the ratio of `query` to the same query over this longer window.
    pub baseline: Option<Baseline>,
    /// How bad it is.
    pub severity: Severity,
    /// Human text for notifications.
    pub summary: String,
    /// Position of the `metric` value, to name it when the metric turns out unknown.
    metric_at: Position,
    /// Position of the `aggregation` value.
    aggregation_at: Position,
    /// Position of the `window` value (of `aggregation` when there is none).
    window_at: Position,
    /// Position of the `name` value.
    name_at: Position,
}

impl Rule {
    /// Whether `value` is bad.
    pub fn breached(&self, value: f64) -> bool {
        match self.condition {
            Condition::Above(t) => value > t,
            Condition::Below(t) => value < t,
        }
    }

    /// Whether `value` is good enough to end a firing alert.
    pub fn recovered(&self, value: f64) -> bool {
        match self.condition {
            Condition::Above(_) => value < self.resolve,
            Condition::Below(_) => value > self.resolve,
        }
    }

    /// The threshold.
    pub fn threshold(&self) -> f64 {
        match self.condition {
            Condition::Above(t) | Condition::Below(t) => t,
        }
    }
}

/// The reference of a relative ("far above normal") rule.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Baseline {
    /// The longer window the same aggregation is computed over.
    pub window: Duration,
    /// Below this absolute value the ratio counts as 0 (healthy).
    pub min_value: f64,
}

impl Rule {
    /// The value the rule judges at `now`: the query's value, or its ratio to the baseline.
    pub fn read(&self, source: &dyn crate::MetricSource, now: crate::Millis) -> Option<f64> {
        let value = source.value(&self.query, now)?;
        let Some(baseline) = self.baseline else { return Some(value) };
        if value < baseline.min_value {
            return Some(0.0);
        }
        let reference = source.value(&Query { window: baseline.window, ..self.query.clone() }, now)?;
        Some(if reference > 0.0 { value / reference } else { f64::INFINITY })
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
struct Position {
    line: usize,
    column: usize,
}

/// Rules read from a TOML document (plus the defaults unless it says `use_default_rules = false`).
#[derive(Debug, Clone, PartialEq)]
pub struct RuleSet {
    /// The rules, defaults first (a user rule with a default's name replaces it).
    pub rules: Vec<Rule>,
}

/// The built-in rules, as TOML (also the reference example of the format).
pub const DEFAULT_RULES_TOML: &str = include_str!("default_rules.toml");

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawConfig {
    use_default_rules: Option<bool>,
    #[serde(default, rename = "rule")]
    rules: Vec<RawRule>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRule {
    name: Spanned<String>,
    metric: Spanned<String>,
    labels: Option<Spanned<BTreeMap<String, String>>>,
    aggregation: Spanned<Aggregation>,
    window: Option<Spanned<String>>,
    above: Option<Spanned<Amount>>,
    below: Option<Spanned<Amount>>,
    resolve: Option<Spanned<Amount>>,
    #[serde(rename = "for")]
    for_duration: Option<Spanned<String>>,
    severity: Option<Spanned<Severity>>,
    summary: Option<String>,
    relative_to: Option<Spanned<String>>,
    min_value: Option<Spanned<Amount>>,
}

#[derive(Deserialize)]
#[serde(untagged)]
enum Amount {
    Int(i64),
    Float(f64),
    Text(String),
}

impl RuleSet {
    /// Only the built-in rules.
    pub fn defaults() -> Self {
        Self::parse_one(DEFAULT_RULES_TOML).expect("built-in rules are valid").1
    }

    /// Parses a configuration: its rules, after the defaults unless `use_default_rules = false`.
    pub fn parse(text: &str) -> Result<Self, MonitorError> {
        let (use_defaults, mine) = Self::parse_one(text)?;
        if !use_defaults {
            return Ok(mine);
        }
        let mut rules: Vec<Rule> =
            Self::defaults().rules.into_iter().filter(|d| mine.rules.iter().all(|r| r.name != d.name)).collect();
        rules.extend(mine.rules);
        Ok(Self { rules })
    }

    fn parse_one(text: &str) -> Result<(bool, Self), MonitorError> {
        let raw: RawConfig = toml::from_str(text).map_err(|e| from_toml_error(text, &e))?;
        let mut rules: Vec<Rule> = Vec::with_capacity(raw.rules.len());
        for r in raw.rules {
            let rule = convert(text, r)?;
            if rules.iter().any(|o| o.name == rule.name) {
                let at = rule.name_at;
                return Err(config_err(at, "name", format!("rule name {:?} is used twice", rule.name)));
            }
            rules.push(rule);
        }
        Ok((raw.use_default_rules.unwrap_or(true), Self { rules }))
    }

    /// Checks every rule against the metrics of `registry`: unknown metrics and aggregations that
    /// do not apply are errors naming the line and key.
    pub fn check(&self, registry: &Registry) -> Result<(), MonitorError> {
        for rule in &self.rules {
            if let Err(e) = registry.check(&rule.query) {
                let at = match e {
                    QueryError::UnknownMetric(_) => rule.metric_at,
                    QueryError::Aggregation(_) => rule.aggregation_at,
                    QueryError::Window(_) => rule.window_at,
                };
                return Err(config_err(at, e.key(), format!("rule {:?}: {}", rule.name, e.message())));
            }
        }
        Ok(())
    }
}

fn convert(text: &str, r: RawRule) -> Result<Rule, MonitorError> {
    let pos = |span: std::ops::Range<usize>| position(text, span.start);
    let name_at = pos(r.name.span());
    let name = r.name.into_inner();
    if name.is_empty() || !name.bytes().all(|b| b.is_ascii_lowercase() || b.is_ascii_digit() || b == b'_') {
        return Err(config_err(name_at, "name", format!("{name:?} must be lowercase letters, digits and _")));
    }
    let in_rule = |m: String| format!("rule {name:?}: {m}");

    let label = match r.labels {
        None => None,
        Some(labels) => {
            let at = pos(labels.span());
            let map = labels.into_inner();
            if map.len() > 1 {
                return Err(config_err(at, "labels", in_rule("at most one label can be selected".into())));
            }
            map.into_iter().next()
        }
    };

    let aggregation_at = pos(r.aggregation.span());
    let aggregation = r.aggregation.into_inner();
    // A missing window is only an error for aggregations that need one, which depends on the
    // metric's kind: `RuleSet::check` reports it, at the aggregation.
    let (window, window_at) = match r.window {
        Some(w) => {
            let at = pos(w.span());
            (parse_duration(w.get_ref()).map_err(|m| config_err(at, "window", in_rule(m)))?, at)
        }
        None => (Duration::ZERO, aggregation_at),
    };

    let amount = |a: Spanned<Amount>, key: &str| -> Result<f64, MonitorError> {
        let at = pos(a.span());
        match a.into_inner() {
            Amount::Int(i) => Ok(i as f64),
            Amount::Float(f) => Ok(f),
            Amount::Text(t) => parse_amount(&t).map_err(|m| config_err(at, key, in_rule(m))),
        }
    };
    let condition = match (r.above, r.below) {
        (Some(a), None) => Condition::Above(amount(a, "above")?),
        (None, Some(b)) => Condition::Below(amount(b, "below")?),
        (Some(_), Some(b)) => {
            return Err(config_err(pos(b.span()), "below", in_rule("give either above or below, not both".into())));
        }
        (None, None) => return Err(config_err(name_at, "above", in_rule("needs a threshold: above or below".into()))),
    };
    let threshold = match condition {
        Condition::Above(t) | Condition::Below(t) => t,
    };
    let resolve = match r.resolve {
        None => threshold,
        Some(s) => {
            let at = pos(s.span());
            let v = amount(s, "resolve")?;
            let wrong_side = match condition {
                Condition::Above(t) => v > t,
                Condition::Below(t) => v < t,
            };
            if wrong_side {
                let m = format!("resolve {v} must be on the healthy side of the threshold {threshold}");
                return Err(config_err(at, "resolve", in_rule(m)));
            }
            v
        }
    };
    let for_duration = match r.for_duration {
        None => Duration::ZERO,
        Some(f) => {
            let at = pos(f.span());
            parse_duration(f.get_ref()).map_err(|m| config_err(at, "for", in_rule(m)))?
        }
    };

    let min_value = match r.min_value {
        Some(m) => amount(m, "min_value")?,
        None => 0.0,
    };
    let baseline = match r.relative_to {
        None => None,
        Some(b) => {
            let at = pos(b.span());
            let bw = parse_duration(b.get_ref()).map_err(|m| config_err(at, "relative_to", in_rule(m)))?;
            if bw <= window {
                let m = format!("relative_to ({bw:?}) must be longer than window ({window:?})");
                return Err(config_err(at, "relative_to", in_rule(m)));
            }
            Some(Baseline { window: bw, min_value })
        }
    };

    Ok(Rule {
        baseline,
        summary: r.summary.unwrap_or_else(|| format!("{} {aggregation} is past {threshold}", r.metric.get_ref())),
        metric_at: pos(r.metric.span()),
        query: Query { metric: r.metric.into_inner(), label, aggregation, window },
        condition,
        resolve,
        for_duration,
        severity: r.severity.map_or(Severity::Warning, Spanned::into_inner),
        aggregation_at,
        window_at,
        name_at,
        name,
    })
}

/// 1-based line and column (in characters) of byte `offset` in `text`.
fn position(text: &str, offset: usize) -> Position {
    let offset = offset.min(text.len());
    let before = &text[..text.floor_char_boundary(offset)];
    let line_start = before.rfind('\n').map_or(0, |i| i + 1);
    Position { line: before.matches('\n').count() + 1, column: before[line_start..].chars().count() + 1 }
}

fn config_err(at: Position, key: &str, message: String) -> MonitorError {
    MonitorError::Config { line: at.line, column: at.column, key: key.to_string(), message }
}

/// Turns toml's error into ours: position from its span; the key from the message (`unknown field
/// \`x\``, `missing field \`x\``) or else from the `key = ` text on the error's line.
fn from_toml_error(text: &str, e: &toml::de::Error) -> MonitorError {
    let start = e.span().map_or(0, |s| s.start);
    let at = position(text, start);
    let message = e.message().trim().to_string();
    let quoted = message.split('`').nth(1).filter(|_| message.contains("field `")).map(str::to_string);
    let key = quoted.unwrap_or_else(|| {
        let line = text.lines().nth(at.line - 1).unwrap_or("");
        line.split_once('=').map(|(k, _)| k.trim().trim_matches('"').to_string()).unwrap_or_default()
    });
    MonitorError::Config { line: at.line, column: at.column, key, message }
}

/// Parses `"250ms"`, `"30s"`, `"5m"`, `"1h"`, `"1d"` (a number, then a unit).
pub fn parse_duration(s: &str) -> Result<Duration, String> {
    let (num, unit) = split_number(s)?;
    let ms_per = match unit {
        "ms" => 1.0,
        "s" => 1e3,
        "m" => 60e3,
        "h" => 3600e3,
        "d" => 86_400e3,
        _ => return Err(format!("invalid duration {s:?}: unit must be ms, s, m, h or d")),
    };
    Ok(Duration::from_secs_f64(num * ms_per / 1e3))
}

/// Parses a threshold: a plain number, a duration (in seconds: `"500ms"` = 0.5) or a size in bytes
/// (`"400MB"` = 400e6, `"1GiB"` = 2^30; also KB KiB MiB GB B).
pub fn parse_amount(s: &str) -> Result<f64, String> {
    let (num, unit) = split_number(s)?;
    if unit.is_empty() {
        return Ok(num);
    }
    if let Ok(d) = parse_duration(s) {
        return Ok(d.as_secs_f64());
    }
    let factor = match unit {
        "B" => 1.0,
        "KB" | "kB" => 1e3,
        "MB" => 1e6,
        "GB" => 1e9,
        "KiB" => 1024.0,
        "MiB" => 1024.0 * 1024.0,
        "GiB" => 1024.0 * 1024.0 * 1024.0,
        _ => {
            return Err(format!(
                "invalid amount {s:?}: unit must be a duration (ms s m h d) or size (B KB MB GB KiB MiB GiB)"
            ));
        }
    };
    Ok(num * factor)
}

fn split_number(s: &str) -> Result<(f64, &str), String> {
    let s = s.trim();
    let end = s.find(|c: char| !(c.is_ascii_digit() || c == '.')).unwrap_or(s.len());
    let (num, unit) = s.split_at(end);
    let num: f64 = num.parse().map_err(|_| format!("invalid amount {s:?}: expected a number then a unit, like 5m"))?;
    Ok((num, unit.trim()))
}

#[cfg(test)]
mod tests;
