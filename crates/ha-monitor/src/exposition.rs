//! Prometheus text exposition (format 0.0.4) of a [`Snapshot`]: a pure function, the HTTP
//! endpoint lives in the binary.
//!
//! Histograms become summaries: one `quantile` series per quantile and per snapshot window (label
//! `window`, e.g. `"10s"`), the exact maximum as `quantile="1"`, and lifetime `_sum` / `_count`.
//! Values are in base units (seconds, bytes).

use std::fmt::Write;
use std::time::Duration;

use crate::registry::{MetricKind, Series, SeriesValue, Snapshot, Unit};

/// The `Content-Type` to serve the rendering with.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// Renders `snapshot` as Prometheus text.
pub fn render(snapshot: &Snapshot) -> String {
    let mut out = String::with_capacity(4096);
    for m in &snapshot.metrics {
        let kind = match m.kind {
            MetricKind::Counter => "counter",
            MetricKind::Gauge => "gauge",
            MetricKind::Histogram => "summary",
        };
        let _ = writeln!(out, "# HELP {} {}", m.name, escape_help(&m.help));
        let _ = writeln!(out, "# TYPE {} {kind}", m.name);
        for s in &m.series {
            render_series(&mut out, &m.name, m.unit, s);
        }
    }
    out
}

fn render_series(out: &mut String, name: &str, unit: Unit, s: &Series) {
    match &s.value {
        SeriesValue::Counter(v) => sample(out, name, &s.labels, &[], *v as f64),
        SeriesValue::Gauge(v) => sample(out, name, &s.labels, &[], *v),
        SeriesValue::Summary { count, sum, windows } => {
            for (window, stats) in windows {
                let Some(stats) = stats else { continue };
                let w = window_label(*window);
                for (q, v) in [("0.5", stats.p50), ("0.9", stats.p90), ("0.99", stats.p99), ("1", stats.max)] {
                    let extra = [("window", w.as_str()), ("quantile", q)];
                    sample(out, name, &s.labels, &extra, unit.to_base(v as f64));
                }
            }
            sample(out, &format!("{name}_sum"), &s.labels, &[], unit.to_base(*sum as f64));
            sample(out, &format!("{name}_count"), &s.labels, &[], *count as f64);
        }
    }
}

fn sample(out: &mut String, name: &str, labels: &[(String, String)], extra: &[(&str, &str)], value: f64) {
    out.push_str(name);
    let all = labels.iter().map(|(k, v)| (k.as_str(), v.as_str())).chain(extra.iter().copied());
    let mut first = true;
    for (k, v) in all {
        out.push(if first { '{' } else { ',' });
        first = false;
        let _ = write!(out, "{k}=\"{}\"", escape_label(v));
    }
    if !first {
        out.push('}');
    }
    out.push(' ');
    push_value(out, value);
    out.push('\n');
}

fn push_value(out: &mut String, v: f64) {
    if v.is_nan() {
        out.push_str("NaN");
    } else if v.is_infinite() {
        out.push_str(if v > 0.0 { "+Inf" } else { "-Inf" });
    } else {
        let _ = write!(out, "{v}");
    }
}

/// `10s`, `5m`, `1h`, or milliseconds when not whole seconds.
fn window_label(d: Duration) -> String {
    let ms = d.as_millis();
    if ms.is_multiple_of(3_600_000) && ms > 0 {
        format!("{}h", ms / 3_600_000)
    } else if ms.is_multiple_of(60_000) && ms > 0 {
        format!("{}m", ms / 60_000)
    } else if ms.is_multiple_of(1000) {
        format!("{}s", ms / 1000)
    } else {
        format!("{ms}ms")
    }
}

fn escape_label(v: &str) -> String {
    v.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

fn escape_help(v: &str) -> String {
    v.replace('\\', "\\\\").replace('\n', "\\n")
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::histogram::WindowStats;
    use crate::registry::MetricSnapshot;
    use crate::{Millis, Registry, StdMetrics};

    fn metric(name: &str, kind: MetricKind, unit: Unit, series: Vec<Series>) -> MetricSnapshot {
        MetricSnapshot { name: name.into(), help: format!("About {name}."), unit, kind, series }
    }

    #[test]
    fn renders_counters_gauges_and_summaries_in_text_format() {
        // arrange
        let stats = WindowStats { count: 3, p50: 1500, p90: 2000, p99: 2500, max: 2600, mean: 1.0 };
        let snapshot = Snapshot {
            at: Millis(0),
            metrics: vec![
                metric(
                    "x_events_total",
                    MetricKind::Counter,
                    Unit::Count,
                    vec![Series { labels: vec![], value: SeriesValue::Counter(42) }],
                ),
                metric(
                    "x_mirror",
                    MetricKind::Gauge,
                    Unit::Count,
                    vec![Series {
                        labels: vec![("entity_id".into(), "sensor.\"odd\"\\\n".into())],
                        value: SeriesValue::Gauge(1.5),
                    }],
                ),
                metric(
                    "x_latency_seconds",
                    MetricKind::Histogram,
                    Unit::Micros,
                    vec![Series {
                        labels: vec![("command".into(), "ping".into())],
                        value: SeriesValue::Summary {
                            count: 7,
                            sum: 9000,
                            windows: vec![(Duration::from_secs(10), Some(stats)), (Duration::from_secs(300), None)],
                        },
                    }],
                ),
            ],
        };

        // act
        let text = render(&snapshot);

        // assert
        let expected = "\
# HELP x_events_total About x_events_total.
# TYPE x_events_total counter
x_events_total 42
# HELP x_mirror About x_mirror.
# TYPE x_mirror gauge
x_mirror{entity_id=\"sensor.\\\"odd\\\"\\\\\\n\"} 1.5
# HELP x_latency_seconds About x_latency_seconds.
# TYPE x_latency_seconds summary
x_latency_seconds{command=\"ping\",window=\"10s\",quantile=\"0.5\"} 0.0015
x_latency_seconds{command=\"ping\",window=\"10s\",quantile=\"0.9\"} 0.002
x_latency_seconds{command=\"ping\",window=\"10s\",quantile=\"0.99\"} 0.0025
x_latency_seconds{command=\"ping\",window=\"10s\",quantile=\"1\"} 0.0026
x_latency_seconds_sum{command=\"ping\"} 0.009
x_latency_seconds_count{command=\"ping\"} 7
";
        assert_eq!(text, expected);
    }

    #[test]
    fn every_line_of_a_full_registry_is_a_comment_or_a_sample() {
        let mut registry = Registry::default();
        let m = StdMetrics::register(&mut registry);
        m.on_command("get_states", Duration::from_millis(12), Millis(1000));
        m.on_state_changed("sensor.power", 20_000, Some(Duration::from_millis(3)), Millis(1000));

        let text = render(&registry.snapshot(Millis(2000)));

        for line in text.lines() {
            let sample = line.rsplit_once(' ').is_some_and(|(_, v)| v.parse::<f64>().is_ok());
            assert!(line.starts_with("# HELP ") || line.starts_with("# TYPE ") || sample, "{line}");
        }
        assert!(text.contains("hapulse_entity_state_changes_per_second{entity_id=\"sensor.power\"}"));
        assert!(text.contains("hapulse_state_changes_total{domain=\"sensor\"} 1\n"));
    }

    #[test]
    fn window_labels_use_the_largest_whole_unit() {
        let labels: Vec<String> =
            [10_000, 300_000, 3_600_000, 1500].map(|ms| window_label(Duration::from_millis(ms))).into();

        assert_eq!(labels, ["10s", "5m", "1h", "1500ms"]);
    }
}
