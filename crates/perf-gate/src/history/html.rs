//! The self-contained HTML trend page of `cargo xtask perf history --html`: a summary of where the
//! points come from, an index of benchmarks, then one plotters chart per benchmark and metric with
//! its bless and call marks listed underneath. Everything is inline (SVG and one `<style>`), so the
//! page opens offline and can be published as a single file. Pure: points in, HTML text out.

mod chart;

use std::collections::BTreeMap;
use std::fmt::Write as _;

use anyhow::Result;

use self::chart::{MarkKind, Sample};
use super::{Point, Source, series_keys};
use crate::rules::Verdict;
use crate::schema::Metric;
use crate::units::format_value;

/// Escapes text for HTML and SVG, in element content and in quoted attribute values alike.
fn escape(text: &str) -> String {
    let mut out = String::with_capacity(text.len());
    for c in text.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            c => out.push(c),
        }
    }
    out
}

const STYLE: &str = "
body{font:14px/1.45 system-ui,-apple-system,'Segoe UI',sans-serif;color:#222;background:#f7f7f8;margin:0 auto;max-width:1368px;padding:14px 16px 40px}
h1{font-size:22px;margin:0 0 4px}
main{display:flex;flex-wrap:wrap;gap:4px 12px;align-items:flex-start}
section{max-width:100%}
h2{font:600 14px ui-monospace,'DejaVu Sans Mono',monospace;margin:14px 0 6px;padding-bottom:2px;border-bottom:1px solid #ddd}
p{margin:4px 0}
code{font:13px ui-monospace,'DejaVu Sans Mono',monospace}
.key{display:flex;flex-wrap:wrap;gap:4px 18px;margin:8px 0;font-size:13px}
.run{color:#1f5fa8}.baseline{color:#e07b00}.bless{color:#8e44ad}.regression{color:#d62728}.improvement{color:#2ca02c}
.band{display:inline-block;width:22px;height:10px;background:rgba(31,95,168,.16);border-top:2px solid #5b7fb5;vertical-align:middle}
nav ul{columns:3 300px;column-gap:32px;margin:6px 0;padding-left:18px;font-size:13px}
nav li{break-inside:avoid}
a{color:#1f5fa8}
nav a{font-family:ui-monospace,'DejaVu Sans Mono',monospace;color:#1f5fa8;text-decoration:none}
nav span{color:#777}
.charts{display:flex;flex-wrap:wrap;gap:12px}
figure{margin:0;width:420px;background:#fff;border:1px solid #e2e2e6;border-radius:6px;padding:6px 8px}
figcaption{font-size:13px;color:#444}
figcaption b{color:#222}
figure svg{display:block;max-width:100%;height:auto}
ul.marks{margin:2px 0 2px;padding-left:20px;font-size:12.5px;color:#333}
ul.marks b{font-weight:600}
details{margin-top:24px}
summary{cursor:pointer;font-weight:600}
table{border-collapse:collapse;font-size:13px;margin-top:6px}
td,th{text-align:left;padding:2px 10px 2px 0;vertical-align:top;border-bottom:1px solid #e6e6e6}
.pt,.mark circle,.mark rect{fill:#000;fill-opacity:0}
.pt:hover,.mark:hover circle,.mark:hover rect{fill-opacity:.12}
";

/// Renders the trend page of `points` (oldest first), titled `title`.
pub fn render(points: &[Point], title: &str) -> Result<String> {
    let title = escape(title);
    let mut out = String::new();
    let _ = write!(
        out,
        "<!DOCTYPE html>\n<html lang=\"en\">\n<head>\n<meta charset=\"utf-8\">\n\
         <meta name=\"viewport\" content=\"width=device-width,initial-scale=1\">\n\
         <title>{title}</title>\n<style>{STYLE}</style>\n</head>\n<body>\n<h1>{title}</h1>\n"
    );
    let keys = series_keys(points);
    if keys.is_empty() {
        out.push_str(
            "<p class=\"empty\">No history yet: record runs with <code>cargo xtask perf --record</code>, \
             or commit baselines with <code>cargo xtask perf bless</code>.</p>\n</body>\n</html>\n",
        );
        return Ok(out);
    }
    summary(&mut out, points, keys.len());
    key(&mut out);
    let mut groups: BTreeMap<&str, Vec<Metric>> = BTreeMap::new();
    for (id, metric) in &keys {
        groups.entry(id.as_str()).or_default().push(*metric);
    }
    let anchors: Vec<String> = groups.keys().enumerate().map(|(i, id)| anchor(i, id)).collect();
    out.push_str("<nav><ul>\n");
    for ((id, metrics), anchor) in groups.iter().zip(&anchors) {
        let names: Vec<&str> = metrics.iter().map(|m| m.name()).collect();
        let _ = writeln!(out, "<li><a href=\"#{anchor}\">{}</a> <span>{}</span></li>", escape(id), names.join(", "));
    }
    out.push_str("</ul></nav>\n<main>\n");
    for ((id, metrics), anchor) in groups.iter().zip(&anchors) {
        let _ = write!(out, "<section id=\"{anchor}\">\n<h2>{}</h2>\n<div class=\"charts\">\n", escape(id));
        for metric in metrics {
            figure(&mut out, points, id, *metric)?;
        }
        out.push_str("</div>\n</section>\n");
    }
    out.push_str("</main>\n");
    point_table(&mut out, points);
    out.push_str("</body>\n</html>\n");
    Ok(out)
}

/// Every point once, with what the charts' hover titles leave out: subject, machine, blessings.
fn point_table(out: &mut String, points: &[Point]) {
    let _ = write!(
        out,
        "<details id=\"points\"><summary>All {} points</summary>\n<table>\n\
         <tr><th>commit</th><th>date</th><th>source</th><th>machine</th><th>subject</th><th>blessed</th></tr>\n",
        points.len()
    );
    for p in points.iter().rev() {
        let source = match p.source {
            Source::Baseline => "baseline",
            Source::Run => "run",
        };
        let blessed: Vec<String> =
            p.blessed.iter().map(|b| format!("{}: {}", b.suite.name(), escape(&b.reason))).collect();
        let _ = writeln!(
            out,
            "<tr><td><code>{}</code></td><td>{}</td><td>{source}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            escape(p.short_commit()),
            escape(chart::day(p)),
            escape(&p.machine.class),
            escape(&p.subject),
            blessed.join("<br>")
        );
    }
    out.push_str("</table>\n</details>\n");
}

/// An element id for the `index`-th benchmark: unique by the index, readable by the slug.
fn anchor(index: usize, id: &str) -> String {
    let slug: String = id.chars().map(|c| if c.is_ascii_alphanumeric() { c } else { '-' }).collect();
    format!("b{index}-{slug}")
}

/// What the page covers: points, commit range, where the points came from, machines.
fn summary(out: &mut String, points: &[Point], series: usize) {
    let (first, last) = (&points[0], &points[points.len() - 1]);
    let baselines = points.iter().filter(|p| p.source == Source::Baseline).count();
    let runs = points.len() - baselines;
    let _ = writeln!(
        out,
        "<p>{} point{} and {series} series, from <code>{}</code> ({}) to <code>{}</code> ({}).</p>",
        points.len(),
        if points.len() == 1 { "" } else { "s" },
        escape(first.short_commit()),
        escape(chart::day(first)),
        escape(last.short_commit()),
        escape(chart::day(last)),
    );
    let _ = writeln!(
        out,
        "<p>Sources: {baselines} committed baseline{} (a point per commit that changed <code>baselines/</code>), \
         {runs} gate run{} recorded with <code>--record</code>.</p>",
        if baselines == 1 { "" } else { "s" },
        if runs == 1 { "" } else { "s" },
    );
    let mut machines: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for p in points {
        *machines.entry((p.machine.class.as_str(), p.machine.rustc.as_str())).or_default() += 1;
    }
    let list: Vec<String> = machines
        .iter()
        .map(|((class, rustc), n)| {
            let class = if class.is_empty() { "unknown machine" } else { class };
            let rustc = if rustc.is_empty() { String::new() } else { format!(", {}", escape(rustc)) };
            format!("{}{rustc} ({n} point{})", escape(class), if *n == 1 { "" } else { "s" })
        })
        .collect();
    let _ = writeln!(out, "<p>Machines: {}.</p>", list.join("; "));
}

/// The legend shared by every chart.
fn key(out: &mut String) {
    out.push_str(
        "<div class=\"key\">\
         <span><span class=\"run\">●</span> recorded run</span>\
         <span><span class=\"baseline\">■</span> committed baseline</span>\
         <span><span class=\"band\"></span> 95% confidence band (wall time)</span>\
         <span><span class=\"bless\">│B1</span> baseline blessed (hover for the reason)</span>\
         <span><span class=\"regression\">▲</span> regression called by the gate</span>\
         <span><span class=\"improvement\">▼</span> improvement called by the gate</span>\
         <span>hover a point for its commit, date and value; subjects are in <a href=\"#points\">the list of points</a></span>\
         </div>\n",
    );
}

/// One chart with its caption and the list of its marks.
fn figure(out: &mut String, points: &[Point], id: &str, metric: Metric) -> Result<()> {
    let all = chart::samples(points, id, metric);
    let shown: &[Sample<'_>] = &all[all.len().saturating_sub(chart::MAX_POINTS)..];
    let _ = write!(
        out,
        "<figure class=\"chart\" data-bench=\"{}\" data-metric=\"{}\">\n<figcaption><b>{}</b>",
        escape(id),
        metric.name(),
        metric.name()
    );
    let (Some(first), Some(last)) = (shown.first(), shown.last()) else {
        out.push_str(" · no finite values</figcaption>\n</figure>\n");
        return Ok(());
    };
    let count = if shown.len() < all.len() {
        format!("{} of {} points", shown.len(), all.len())
    } else {
        format!("{} point{}", all.len(), if all.len() == 1 { "" } else { "s" })
    };
    let _ = write!(out, " · {count} · last {}", escape(&format_value(metric, last.value)));
    if shown.len() > 1 {
        let _ = write!(out, ", {} vs first", chart::percent(last.value / first.value - 1.0));
    }
    out.push_str("</figcaption>\n");
    let marks = chart::marks(shown, id, metric);
    out.push_str(&chart::svg(shown, &marks, metric)?);
    if !marks.is_empty() {
        out.push_str("<ul class=\"marks\">\n");
        for mark in &marks {
            let glyph = match mark.kind {
                MarkKind::Bless(_) => "",
                MarkKind::Call { verdict: Verdict::Regression, .. } => "▲ ",
                MarkKind::Call { .. } => "▼ ",
            };
            let _ = writeln!(
                out,
                "<li class=\"{}\"><b>{glyph}{}</b> <span>{}</span></li>",
                mark.class(),
                escape(&mark.label),
                escape(&mark.describe(shown))
            );
        }
        out.push_str("</ul>\n");
    }
    out.push_str("</figure>\n");
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::history::Bless;
    use crate::history::tests::{failing_wall_regression, run_point};
    use crate::schema::{Measurement, Suite};

    fn with_count(mut point: Point, id: &str, metric: Metric, value: f64) -> Point {
        point.measurements.push(Measurement::count(id, metric, value, "instr_x"));
        point
    }

    /// Three runs of two wall benchmarks, one of them also counted in instructions.
    fn history() -> Vec<Point> {
        vec![
            with_count(
                run_point("1111111aaaa", "2026-01-01T00:00:00Z", "cpu", &[("a/b/c", 100.0), ("d/e/f", 5.0)]),
                "a/b/c",
                Metric::Instructions,
                1000.0,
            ),
            run_point("2222222bbbb", "2026-01-02T00:00:00Z", "cpu", &[("a/b/c", 150.0)]),
            with_count(
                run_point("3333333cccc", "2026-01-03T00:00:00Z", "cpu", &[("a/b/c", 120.0)]),
                "a/b/c",
                Metric::Instructions,
                1010.0,
            ),
        ]
    }

    /// The `<figure>` of one benchmark and metric.
    fn figure_of<'a>(page: &'a str, id: &str, metric: Metric) -> &'a str {
        let start = page.find(&format!("data-bench=\"{id}\" data-metric=\"{}\"", metric.name())).unwrap();
        let end = start + page[start..].find("</figure>").unwrap();
        &page[start..end]
    }

    #[test]
    fn escape_replaces_every_markup_character() {
        let text = r#"<script>"a" & 'b'</script>"#;

        let escaped = escape(text);

        assert_eq!(escaped, "&lt;script&gt;&quot;a&quot; &amp; &#39;b&#39;&lt;/script&gt;");
    }

    #[test]
    fn page_is_self_contained() {
        let points = history();

        let page = render(&points, "history").unwrap();

        assert!(page.starts_with("<!DOCTYPE html>") && page.contains("<svg"), "{page}");
        for banned in ["<script", "<link", "<img", "<iframe", "src=", "url(", "@import"] {
            assert!(!page.contains(banned), "{banned} in the page");
        }
        assert!(page.match_indices("href=\"").all(|(i, _)| page[i + 6..].starts_with('#')), "external href");
        let svg_namespace = "xmlns=\"http://www.w3.org/2000/svg\"";
        assert!(!page.replace(svg_namespace, "").contains("http"), "a network reference in the page");
    }

    #[test]
    fn page_holds_one_chart_per_benchmark_and_metric() {
        let points = history();

        let page = render(&points, "history").unwrap();

        let keys = series_keys(&points);
        assert_eq!(keys.len(), 3);
        assert_eq!(page.matches("<figure class=\"chart\" data-bench=").count(), keys.len());
        for (id, metric) in keys {
            let needle = format!("data-bench=\"{id}\" data-metric=\"{}\"", metric.name());
            assert_eq!(page.matches(&needle).count(), 1, "{needle}");
        }
    }

    #[test]
    fn index_links_each_benchmark_to_its_section() {
        let points = history();

        let page = render(&points, "history").unwrap();

        for (i, id) in ["a/b/c", "d/e/f"].iter().enumerate() {
            let anchor = anchor(i, id);
            assert!(page.contains(&format!("<a href=\"#{anchor}\">{id}</a>")), "{anchor}");
            assert!(page.contains(&format!("<section id=\"{anchor}\">\n<h2>{id}</h2>")), "{anchor}");
        }
    }

    #[test]
    fn bless_reason_is_escaped_and_attached_to_its_mark() {
        let mut points = history();
        points[1].blessed.push(Bless { suite: Suite::Wall, reason: "quiet <b>box</b> & co".into() });

        let page = render(&points, "history").unwrap();

        let wall = figure_of(&page, "a/b/c", Metric::WallNs);
        let reason = "quiet &lt;b&gt;box&lt;/b&gt; &amp; co";
        assert!(
            wall.contains(&format!(
                "<g class=\"mark bless\"><title>B1 2222222 2026-01-02: baseline blessed: {reason}</title>"
            )),
            "{wall}"
        );
        assert!(wall.contains(&format!("<b>B1</b> <span>2222222 2026-01-02: baseline blessed: {reason}</span>")));
        assert!(!page.contains("<b>box</b>"));
    }

    #[test]
    fn bless_of_another_suite_leaves_the_chart_unmarked() {
        let mut points = history();
        points[2].blessed.push(Bless { suite: Suite::Instr, reason: "new counts".into() });

        let page = render(&points, "history").unwrap();

        assert!(!figure_of(&page, "a/b/c", Metric::WallNs).contains("mark bless"));
        assert!(figure_of(&page, "a/b/c", Metric::Instructions).contains("mark bless"));
    }

    #[test]
    fn called_regression_is_marked_with_its_change() {
        let mut points = history();
        points[1].calls.push(failing_wall_regression("a/b/c", 0.5));

        let page = render(&points, "history").unwrap();

        let wall = figure_of(&page, "a/b/c", Metric::WallNs);
        assert!(
            wall.contains("<g class=\"mark regression\"><title>+50.0% 2222222 2026-01-02: regression, failed the gate"),
            "{wall}"
        );
        assert!(wall.contains("<li class=\"regression\"><b>▲ +50.0%</b>"), "{wall}");
        assert!(!figure_of(&page, "d/e/f", Metric::WallNs).contains("mark regression"));
    }

    #[test]
    fn wall_chart_has_a_confidence_band_and_counts_do_not() {
        let points = history();

        let page = render(&points, "history").unwrap();

        let band = "opacity=\"0.16\" fill=\"#1F5FA8\"";
        assert!(figure_of(&page, "a/b/c", Metric::WallNs).contains(band));
        assert!(!figure_of(&page, "a/b/c", Metric::Instructions).contains(band));
    }

    #[test]
    fn baseline_and_run_points_are_drawn_differently() {
        let mut points = history();
        points[0].source = Source::Baseline;

        let page = render(&points, "history").unwrap();

        let wall = figure_of(&page, "a/b/c", Metric::WallNs);
        assert_eq!(wall.matches("fill=\"#E07B00\"/>").count(), 1, "one baseline square");
        assert_eq!(wall.matches("r=\"4\" fill=\"#1F5FA8\"/>").count(), 2, "two run circles");
    }

    #[test]
    fn empty_history_page_says_so() {
        let points: Vec<Point> = Vec::new();

        let page = render(&points, "history").unwrap();

        assert!(page.contains("No history yet") && page.ends_with("</html>\n"), "{page}");
        assert!(!page.contains("data-bench"));
    }

    #[test]
    fn script_in_a_subject_is_escaped() {
        let mut points = history();
        points[0].subject = "<script>alert(1)</script>".into();

        let page = render(&points, "history").unwrap();

        assert!(!page.contains("<script"));
        assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    }

    #[test]
    fn single_point_series_still_renders() {
        let points = vec![run_point("1111111", "2026-01-01T00:00:00Z", "cpu", &[("a/b/c", 42.0)])];

        let page = render(&points, "history").unwrap();

        let wall = figure_of(&page, "a/b/c", Metric::WallNs);
        assert_eq!(wall.matches("<circle class=\"pt\"").count(), 1, "{wall}");
        assert!(wall.contains("42.0 ns"), "{wall}");
    }

    #[test]
    fn non_finite_values_are_skipped() {
        let mut points = history();
        points[1].measurements[0].value = f64::NAN;

        let page = render(&points, "history").unwrap();

        assert_eq!(figure_of(&page, "a/b/c", Metric::WallNs).matches("<circle class=\"pt\"").count(), 2);
    }

    #[test]
    fn series_without_finite_values_keeps_its_chart_slot() {
        let mut points = history();
        points[0].measurements.retain(|m| m.id == "d/e/f");
        points[0].measurements[0].value = f64::INFINITY;

        let page = render(&points, "history").unwrap();

        assert!(figure_of(&page, "d/e/f", Metric::WallNs).contains("no finite values"));
    }

    #[test]
    fn long_history_shows_the_newest_points_only() {
        let points: Vec<Point> = (0..chart::MAX_POINTS + 5)
            .map(|i| {
                run_point(
                    &format!("{i:07}"),
                    &format!("2026-01-01T{:02}:{:02}:00Z", i / 60, i % 60),
                    "c",
                    &[("a/b/c", 1.0)],
                )
            })
            .collect();

        let page = render(&points, "history").unwrap();

        let wall = figure_of(&page, "a/b/c", Metric::WallNs);
        assert!(wall.contains(&format!("{} of {} points", chart::MAX_POINTS, chart::MAX_POINTS + 5)));
        assert_eq!(wall.matches("<circle class=\"pt\"").count(), chart::MAX_POINTS);
    }

    #[test]
    fn band_runs_over_upper_bounds_then_back_over_lower_bounds() {
        let mut points = history();
        points[1].measurements[0].ci = None;
        let samples = chart::samples(&points, "a/b/c", Metric::WallNs);

        let band = chart::band(&samples, 1.0);

        assert_eq!(band, [(0.0, 102.0), (1.0, 150.0), (2.0, 122.4), (2.0, 117.6), (1.0, 150.0), (0.0, 98.0)]);
    }

    #[test]
    fn point_list_has_every_point_newest_first() {
        let points = history();

        let page = render(&points, "history").unwrap();

        let list = &page[page.find("<details id=\"points\">").unwrap()..];
        let rows: Vec<usize> = ["3333333", "2222222", "1111111"].iter().map(|c| list.find(c).unwrap()).collect();
        assert!(rows.is_sorted(), "{list}");
        assert!(list.contains("<td>commit 2222222bbbb</td>"), "{list}");
    }

    #[test]
    fn flat_series_gets_a_padded_y_range() {
        let points = vec![run_point("1111111", "2026-01-01T00:00:00Z", "cpu", &[("a/b/c", 0.0)])];
        let mut samples = chart::samples(&points, "a/b/c", Metric::WallNs);
        samples[0].ci = None;

        let (lo, hi) = chart::y_range(&samples);

        assert_eq!((lo, hi), (0.0, 1.0));
    }

    #[test]
    fn y_axis_uses_natural_units() {
        let cases = [
            (Metric::WallNs, 31_407.7),
            (Metric::WallNs, 2.5e6),
            (Metric::HeapMaxBytes, 3.0 * 1048576.0),
            (Metric::Instructions, 46_006_873.0),
        ];

        let units: Vec<&str> = cases.iter().map(|(m, v)| chart::scale(*m, *v).unit).collect();

        assert_eq!(units, ["µs", "ms", "MiB", "million instructions"]);
    }
}
