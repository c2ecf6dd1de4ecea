//! Terminal views of the history: an overview with one sparkline per benchmark and metric, and one
//! benchmark's points as a compact table (`cargo xtask perf history --bench <id>`). Pure functions.

use std::fmt::Write as _;

use anyhow::Result;

use super::{Point, Source, series_keys};
use crate::rules::Verdict;
use crate::schema::Metric;
use crate::units::format_value;

/// Eight block heights, lowest first.
const BARS: [char; 8] = ['▁', '▂', '▃', '▄', '▅', '▆', '▇', '█'];

/// The last points shown by the overview's sparklines.
const OVERVIEW_WIDTH: usize = 40;

/// One block character per value, scaled between the values' minimum and maximum (all equal values
/// draw the lowest bar).
pub fn sparkline(values: &[f64]) -> String {
    let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
    values
        .iter()
        .map(|v| {
            if max > min {
                let level = ((v - min) / (max - min) * (BARS.len() - 1) as f64).round() as usize;
                BARS[level.min(BARS.len() - 1)]
            } else {
                BARS[0]
            }
        })
        .collect()
}

fn percent(change: f64) -> String {
    if change.is_finite() { format!("{:+.2}%", change * 100.0) } else { "—".to_owned() }
}

/// The (point, value) series of one benchmark and metric, oldest first.
fn series<'a>(points: &'a [Point], id: &str, metric: Metric) -> Vec<(&'a Point, f64)> {
    points.iter().filter_map(|p| p.get(id, metric).map(|m| (p, m.value))).collect()
}

/// One line per benchmark and metric: points, first and last value, overall change and a sparkline
/// of the last [`OVERVIEW_WIDTH`] points.
pub fn overview(points: &[Point], metric: Option<Metric>) -> String {
    let keys: Vec<(String, Metric)> =
        series_keys(points).into_iter().filter(|(_, m)| metric.is_none_or(|want| want == *m)).collect();
    if keys.is_empty() {
        return "no history yet: record runs with `cargo xtask perf --record`, or commit baselines/\n".to_owned();
    }
    let width = keys.iter().map(|(id, _)| id.len()).max().unwrap_or(0);
    let mut out = String::new();
    let _ = writeln!(
        out,
        "{:width$}  {:18} {:>6} {:>14} {:>14} {:>9}  trend",
        "benchmark", "metric", "points", "first", "last", "change"
    );
    for (id, m) in keys {
        let values: Vec<f64> = series(points, &id, m).into_iter().map(|(_, v)| v).collect();
        let (first, last) = (values[0], values[values.len() - 1]);
        let tail = &values[values.len().saturating_sub(OVERVIEW_WIDTH)..];
        let _ = writeln!(
            out,
            "{id:width$}  {:18} {:>6} {:>14} {:>14} {:>9}  {}",
            m.name(),
            values.len(),
            format_value(m, first),
            format_value(m, last),
            percent(last / first - 1.0),
            sparkline(tail)
        );
    }
    out
}

/// What happened at a point for one series: blessed suite, regression or improvement called.
fn marks(point: &Point, id: &str, metric: Metric) -> String {
    let mut marks = Vec::new();
    if let Some(bless) = point.blessed.iter().find(|b| b.suite == metric.suite()) {
        marks.push(format!("blessed: {}", bless.reason));
    }
    for call in point.calls.iter().filter(|c| c.id == id && c.metric == metric) {
        let word = match call.verdict {
            Verdict::Regression if call.fails => "REGRESSION",
            Verdict::Regression => "regression (advisory)",
            _ => "improvement",
        };
        marks.push(format!("{word} {}", percent(call.change)));
    }
    marks.join("; ")
}

/// One benchmark's points (every metric, or only `metric`) as a table: commit, date, source, value,
/// change from the previous point and what was called; then a sparkline with the range.
pub fn bench_table(points: &[Point], id: &str, metric: Option<Metric>) -> Result<String> {
    let keys: Vec<Metric> = series_keys(points)
        .into_iter()
        .filter(|(k, m)| k == id && metric.is_none_or(|want| want == *m))
        .map(|(_, m)| m)
        .collect();
    if keys.is_empty() {
        let similar: Vec<String> = series_keys(points)
            .into_iter()
            .map(|(k, _)| k)
            .filter(|k| id.split('/').any(|part| !part.is_empty() && k.contains(part)))
            .collect::<std::collections::BTreeSet<_>>()
            .into_iter()
            .take(8)
            .collect();
        let what = metric.map_or_else(String::new, |m| format!(" with metric {}", m.name()));
        anyhow::bail!(
            "no benchmark `{id}`{what} in the history{}",
            if similar.is_empty() { String::new() } else { format!("; similar ids: {}", similar.join(", ")) }
        );
    }
    let mut out = String::new();
    for m in keys {
        let series = series(points, id, m);
        let _ = writeln!(out, "{id} {} ({})", m.name(), m.unit());
        let _ =
            writeln!(out, "  {:7}  {:10}  {:8}  {:>14}  {:>9}  note", "commit", "date", "source", "value", "change");
        let mut previous: Option<f64> = None;
        for (point, value) in &series {
            let change = previous.map_or_else(|| "".to_owned(), |p| percent(value / p - 1.0));
            let source = match point.source {
                Source::Baseline => "baseline",
                Source::Run => "run",
            };
            let line = format!(
                "  {:7}  {:10}  {:8}  {:>14}  {:>9}  {}",
                point.short_commit(),
                point.commit_date.get(..10).unwrap_or(&point.commit_date),
                source,
                format_value(m, *value),
                change,
                marks(point, id, m)
            );
            let _ = writeln!(out, "{}", line.trim_end());
            previous = Some(*value);
        }
        let values: Vec<f64> = series.iter().map(|(_, v)| *v).collect();
        let (min, max) = values.iter().fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(*v), hi.max(*v)));
        let _ = writeln!(out, "  {}  min {}  max {}\n", sparkline(&values), format_value(m, min), format_value(m, max));
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Bless;
    use crate::history::tests::{failing_wall_regression, run_point};
    use crate::schema::Suite;

    #[test]
    fn sparkline_spans_lowest_to_highest_bar() {
        let values = [1.0, 2.0, 8.0, 4.5];

        let line = sparkline(&values);

        assert_eq!(line, "▁▂█▅");
    }

    #[test]
    fn flat_sparkline_is_the_lowest_bar() {
        let values = [3.0, 3.0, 3.0];

        let line = sparkline(&values);

        assert_eq!(line, "▁▁▁");
    }

    fn three_points() -> Vec<Point> {
        let mut points = vec![
            run_point("1111111aaaa", "2026-01-01T00:00:00Z", "cpu", &[("a/b/c", 100.0), ("d/e/f", 5.0)]),
            run_point("2222222bbbb", "2026-01-02T00:00:00Z", "cpu", &[("a/b/c", 150.0)]),
            run_point("3333333cccc", "2026-01-03T00:00:00Z", "cpu", &[("a/b/c", 120.0)]),
        ];
        points[1].calls.push(failing_wall_regression("a/b/c", 0.5));
        points[2].blessed.push(Bless { suite: Suite::Wall, reason: "quiet machine".into() });
        points
    }

    #[test]
    fn bench_table_has_one_row_per_point_with_change_and_marks() {
        let points = three_points();

        let table = bench_table(&points, "a/b/c", None).unwrap();

        let rows: Vec<&str> = table.lines().filter(|l| l.starts_with("  ") && !l.contains("commit")).collect();
        assert_eq!(rows.len(), 4, "{table}");
        assert!(
            rows[1].contains("2222222") && rows[1].contains("+50.00%") && rows[1].contains("REGRESSION"),
            "{table}"
        );
        assert!(rows[2].contains("-20.00%") && rows[2].contains("blessed: quiet machine"), "{table}");
        assert!(rows[3].contains("▁█▄"), "{table}");
    }

    #[test]
    fn unknown_bench_names_similar_ids() {
        let points = three_points();

        let err = bench_table(&points, "a/b/x", None).unwrap_err();

        assert!(err.to_string().contains("similar ids: a/b/c"), "{err}");
    }

    #[test]
    fn overview_has_one_line_per_series() {
        let points = three_points();

        let text = overview(&points, None);

        let lines: Vec<&str> = text.lines().skip(1).collect();
        assert_eq!(lines.len(), 2, "{text}");
        assert!(lines[0].starts_with("a/b/c") && lines[0].contains("+20.00%"), "{text}");
    }
}
