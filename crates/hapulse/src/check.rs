//! `hapulse check`: connect, measure for a few seconds, judge every rule once (ignoring `for`:
//! a one-shot check has no time to wait) and report; the caller exits non-zero when a rule fires.

use std::time::Duration;

use ha_monitor::alert::AlertEngine;
use ha_monitor::rules::RuleSet;

use crate::monitor::Session;
use crate::view::View;

/// The verdict of one rule.
#[derive(Debug, Clone, PartialEq)]
pub struct RuleVerdict {
    /// Rule name.
    pub name: String,
    /// The value read (`None`: no data, which counts as healthy).
    pub value: Option<f64>,
    /// The threshold.
    pub threshold: f64,
    /// Whether it fires.
    pub firing: bool,
}

/// What `check` found.
#[derive(Debug, Clone, PartialEq)]
pub struct CheckReport {
    /// What was seen.
    pub view: View,
    /// Every rule's verdict.
    pub verdicts: Vec<RuleVerdict>,
}

impl CheckReport {
    /// Whether any rule fires.
    pub fn healthy(&self) -> bool {
        self.verdicts.iter().all(|v| !v.firing)
    }

    /// The report as text.
    pub fn render(&self) -> String {
        let mut out = self.view.report();
        for v in &self.verdicts {
            let value = v.value.map_or_else(|| "no data".into(), |x| format!("{x:.4}"));
            let verdict = if v.firing { "FIRING" } else { "ok" };
            out.push_str(&format!("rule {:<16} {verdict:<6} value {value} (threshold {})\n", v.name, v.threshold));
        }
        out.push_str(if self.healthy() { "healthy\n" } else { "unhealthy: at least one alert fires\n" });
        out
    }
}

/// Rules as `check` judges them: every `for` set to zero.
pub fn immediate(mut rules: RuleSet) -> RuleSet {
    for r in &mut rules.rules {
        r.for_duration = Duration::ZERO;
    }
    rules
}

/// Measures for `measure` (a timed ping each second), then evaluates `rules` once.
pub async fn run(session: &Session, rules: RuleSet, measure: Duration) -> CheckReport {
    let monitor = &session.monitor;
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    while started.elapsed() < measure {
        tick.tick().await;
        if let Ok(rtt) = monitor.timed("ping", session.client.ping()).await {
            monitor.metrics.on_ping(rtt, monitor.now());
        }
    }
    let mut engine = AlertEngine::new(immediate(rules));
    let now = monitor.now();
    engine.evaluate(&monitor.registry, now);
    let verdicts = engine
        .statuses()
        .iter()
        .map(|s| RuleVerdict {
            name: s.rule.name.clone(),
            value: s.value,
            threshold: s.rule.threshold(),
            firing: s.state.is_firing(),
        })
        .collect();
    CheckReport { view: View::read(&monitor.registry, engine.statuses(), now), verdicts }
}
