//! What the live views show, as plain data read from the registry at `now` ([`View::read`]), and
//! its plain-text rendering (the headless demo and `check` print it; the terminal UI lays out the
//! same data).

use std::fmt::Write as _;
use std::time::Duration;

use ha_monitor::alert::{AlertState, AlertStatus};
use ha_monitor::{Aggregation, Millis, Query, Registry, names};

/// Window of the rates and percentiles shown live.
pub const LIVE_WINDOW: Duration = Duration::from_secs(10);

/// Latency percentiles of one command type, in seconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Latency {
    /// Command type.
    pub command: String,
    /// Median.
    pub p50: f64,
    /// 99th percentile.
    pub p99: f64,
    /// Maximum.
    pub max: f64,
    /// Samples in the window.
    pub count: u64,
}

/// One alert that is pending or firing.
#[derive(Debug, Clone, PartialEq)]
pub struct ActiveAlert {
    /// Rule name.
    pub name: String,
    /// `pending` or `firing`.
    pub state: &'static str,
    /// Its value at the last evaluation.
    pub value: Option<f64>,
    /// Its threshold.
    pub threshold: f64,
}

/// Everything a live view shows.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct View {
    /// Events per second over [`LIVE_WINDOW`].
    pub events_per_second: f64,
    /// Received bytes per second.
    pub bytes_per_second: f64,
    /// State changes per second.
    pub changes_per_second: f64,
    /// Chattiest entities: (entity id, changes per second).
    pub top_entities: Vec<(String, f64)>,
    /// Busiest domains: (domain, changes per second), busiest first.
    pub top_domains: Vec<(String, f64)>,
    /// Latencies per command type (with samples in the last 5 minutes).
    pub latencies: Vec<Latency>,
    /// Event lag p99, seconds.
    pub lag_p99: Option<f64>,
    /// Ping median, seconds.
    pub ping_p50: Option<f64>,
    /// Entities mirrored.
    pub entities: f64,
    /// Approximate heap bytes of the mirror.
    pub mirror_bytes: f64,
    /// Own resident memory, bytes.
    pub rss_bytes: f64,
    /// Own CPU usage (1 = one core).
    pub cpu: f64,
    /// Reconnects so far.
    pub reconnects: f64,
    /// Largest attribute payload: (entity id, bytes).
    pub largest_payload: Option<(String, f64)>,
    /// Pending and firing alerts.
    pub alerts: Vec<ActiveAlert>,
}

impl View {
    /// Reads the view from `registry` and the alert `statuses` at `now`.
    pub fn read(registry: &Registry, statuses: &[AlertStatus], now: Millis) -> Self {
        let q = |m: &str, a: Aggregation, w: Duration| registry.query(&Query::new(m, a, w), now);
        let five = Duration::from_secs(300);
        let snapshot = registry.snapshot(now);
        let labelled = |metric: &str| -> Vec<String> {
            snapshot
                .metrics
                .iter()
                .find(|m| m.name == metric)
                .map(|m| m.series.iter().filter_map(|s| s.labels.first().map(|(_, v)| v.clone())).collect())
                .unwrap_or_default()
        };
        let with_label = |metric: &str, label: &str, value: &str, a: Aggregation, w: Duration| {
            registry.query(&Query { label: Some((label.into(), value.into())), ..Query::new(metric, a, w) }, now)
        };

        let mut top_domains: Vec<(String, f64)> = labelled(names::STATE_CHANGES)
            .into_iter()
            .filter_map(|d| {
                let r = with_label(names::STATE_CHANGES, "domain", &d, Aggregation::Rate, LIVE_WINDOW)?;
                (r > 0.0).then_some((d, r))
            })
            .collect();
        top_domains.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));

        let latencies = labelled(names::COMMAND_LATENCY)
            .into_iter()
            .filter_map(|c| {
                let get = |a| with_label(names::COMMAND_LATENCY, "command", &c, a, five);
                Some(Latency {
                    p50: get(Aggregation::P50)?,
                    p99: get(Aggregation::P99)?,
                    max: get(Aggregation::Max)?,
                    count: get(Aggregation::Count)? as u64,
                    command: c,
                })
            })
            .collect();

        let top_entities =
            registry.activity().top_entities(5, now).into_iter().map(|t| (t.key, t.per_second)).collect();
        let largest_payload =
            registry.activity().largest_payloads().into_iter().next().map(|p| (p.entity_id, p.max_bytes as f64));
        let alerts = statuses
            .iter()
            .filter(|s| matches!(s.state, AlertState::Pending { .. } | AlertState::Firing { .. }))
            .map(|s| ActiveAlert {
                name: s.rule.name.clone(),
                state: s.state.name(),
                value: s.value,
                threshold: s.rule.threshold(),
            })
            .collect();

        Self {
            events_per_second: q(names::EVENTS, Aggregation::Rate, LIVE_WINDOW).unwrap_or(0.0),
            bytes_per_second: q(names::RECEIVED_BYTES, Aggregation::Rate, LIVE_WINDOW).unwrap_or(0.0),
            changes_per_second: q(names::STATE_CHANGES, Aggregation::Rate, LIVE_WINDOW).unwrap_or(0.0),
            top_entities,
            top_domains,
            latencies,
            lag_p99: q(names::EVENT_LAG, Aggregation::P99, Duration::from_secs(60)),
            ping_p50: q(names::PING_RTT, Aggregation::P50, five),
            entities: q(names::MIRROR_ENTITIES, Aggregation::Value, Duration::ZERO).unwrap_or(0.0),
            mirror_bytes: q(names::MIRROR_BYTES, Aggregation::Value, Duration::ZERO).unwrap_or(0.0),
            rss_bytes: q(names::RSS, Aggregation::Value, Duration::ZERO).unwrap_or(0.0),
            cpu: q(names::CPU_USAGE, Aggregation::Value, Duration::ZERO).unwrap_or(0.0),
            reconnects: q(names::RECONNECTS, Aggregation::Value, Duration::ZERO).unwrap_or(0.0),
            largest_payload,
            alerts,
        }
    }

    /// One status line: rates, entities, ping, memory, alerts.
    pub fn status_line(&self) -> String {
        format!(
            "events/s {:>7.1}  changes/s {:>7.1}  entities {:>6}  lag p99 {}  ping {}  rss {:.1} MB  reconnects {}  alerts {}",
            self.events_per_second,
            self.changes_per_second,
            self.entities,
            ms(self.lag_p99),
            ms(self.ping_p50),
            self.rss_bytes / 1e6,
            self.reconnects,
            self.alerts_text(),
        )
    }

    /// `none`, or `name (state)` for each active alert.
    pub fn alerts_text(&self) -> String {
        if self.alerts.is_empty() {
            return "none".into();
        }
        self.alerts.iter().map(|a| format!("{} ({})", a.name, a.state)).collect::<Vec<_>>().join(", ")
    }

    /// A multi-line report (for `check` and the end of the headless demo).
    pub fn report(&self) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "{}", self.status_line());
        let top =
            |v: &[(String, f64)]| v.iter().take(3).map(|(k, r)| format!("{k} {r:.1}/s")).collect::<Vec<_>>().join(", ");
        let _ = writeln!(out, "top entities: {}", top(&self.top_entities));
        let _ = writeln!(out, "top domains:  {}", top(&self.top_domains));
        for l in &self.latencies {
            let _ = writeln!(
                out,
                "latency {:<18} p50 {:>8}  p99 {:>8}  max {:>8}  ({} calls)",
                l.command,
                ms(Some(l.p50)),
                ms(Some(l.p99)),
                ms(Some(l.max)),
                l.count
            );
        }
        out
    }
}

/// Seconds as `12.3 ms`, or `-`.
pub fn ms(seconds: Option<f64>) -> String {
    seconds.map_or_else(|| "-".into(), |s| format!("{:.1} ms", s * 1000.0))
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_monitor::StdMetrics;

    #[test]
    fn view_ranks_domains_and_lists_latencies() {
        let mut registry = Registry::default();
        let m = StdMetrics::register(&mut registry);
        let now = Millis(20_000);
        for i in 0..30 {
            m.on_state_changed("sensor.power", 100, None, Millis(15_000 + i * 100));
        }
        m.on_state_changed("light.kitchen", 100, None, Millis(19_000));
        m.on_command("call_service", Duration::from_millis(40), Millis(19_500));

        let v = View::read(&registry, &[], now);

        assert_eq!(v.top_domains.iter().map(|(d, _)| d.as_str()).collect::<Vec<_>>(), ["sensor", "light"]);
        assert_eq!(v.latencies.len(), 1);
        assert_eq!(v.latencies[0].command, "call_service");
        assert_eq!(v.alerts_text(), "none");
    }
}
