//! One chart of the trend page: a benchmark's metric over its points, drawn by plotters' SVG backend
//! (line, points by source, wall-clock confidence band, bless and call marks), then given hover
//! targets with SVG `<title>`s, which plotters cannot emit itself. Pure: data in, SVG text out.

use std::fmt::Write as _;

use anyhow::{Context, Result};
use plotters::coord::ranged1d::{DefaultFormatting, KeyPointHint, Ranged};
use plotters::prelude::*;
use plotters::style::text_anchor::{HPos, Pos, VPos};

use super::escape;
use crate::history::{Point, Source};
use crate::rules::Verdict;
use crate::schema::Metric;
use crate::units::format_value;

/// The newest points one chart shows; older ones are left out (and the caption says so) so a long
/// history keeps the page small.
pub(super) const MAX_POINTS: usize = 50;

/// Size of one chart's SVG canvas in pixels, shown at this size (three fit side by side).
const SIZE: (u32, u32) = (420, 220);

/// The most commit labels on the x axis (each is 7 characters wide).
const MAX_X_LABELS: usize = 5;

const LINE: RGBColor = RGBColor(91, 127, 181);
const RUN: RGBColor = RGBColor(31, 95, 168);
const BASELINE: RGBColor = RGBColor(224, 123, 0);
const BLESS: RGBColor = RGBColor(142, 68, 173);
const REGRESSION: RGBColor = RGBColor(214, 39, 40);
const IMPROVEMENT: RGBColor = RGBColor(44, 160, 44);
const AXIS: RGBColor = RGBColor(85, 85, 85);

/// One point of a series: the history point and its finite value.
#[derive(Debug, Clone, Copy)]
pub(super) struct Sample<'a> {
    /// The history point.
    pub(super) point: &'a Point,
    /// The value, finite.
    pub(super) value: f64,
    /// The 95% confidence interval, when the point has a finite one.
    pub(super) ci: Option<(f64, f64)>,
}

/// The finite samples of `id` and `metric`, oldest first.
pub(super) fn samples<'a>(points: &'a [Point], id: &str, metric: Metric) -> Vec<Sample<'a>> {
    points
        .iter()
        .filter_map(|point| {
            let m = point.get(id, metric)?;
            let ci =
                m.ci.filter(|ci| ci.lower.is_finite() && ci.upper.is_finite() && ci.lower <= ci.upper)
                    .map(|ci| (ci.lower, ci.upper));
            m.value.is_finite().then_some(Sample { point, value: m.value, ci })
        })
        .collect()
}

/// What a mark on a chart stands for.
#[derive(Debug, Clone, PartialEq)]
pub(super) enum MarkKind {
    /// The metric's suite was blessed at this point, for this reason.
    Bless(String),
    /// The gate called a regression or an improvement here.
    Call {
        /// `Regression` or `Improvement`.
        verdict: Verdict,
        /// Whether the gate failed on it.
        fails: bool,
    },
}

/// A mark at one sample of a chart.
#[derive(Debug, Clone, PartialEq)]
pub(super) struct Mark {
    /// Index of the sample it sits on.
    pub(super) index: usize,
    /// Short label drawn on the chart: `B1`, `B2`... or the relative change called, `+12.3%`.
    pub(super) label: String,
    /// What it stands for.
    pub(super) kind: MarkKind,
}

impl Mark {
    /// What happened, without the label: `a797861 2026-11-27: baseline blessed: <reason>`.
    pub(super) fn describe(&self, samples: &[Sample<'_>]) -> String {
        let point = samples[self.index].point;
        let at = format!("{} {}", point.short_commit(), day(point));
        match &self.kind {
            MarkKind::Bless(reason) => format!("{at}: baseline blessed: {reason}"),
            MarkKind::Call { verdict, fails, .. } => {
                let what = match verdict {
                    Verdict::Regression if *fails => "regression, failed the gate",
                    Verdict::Regression => "regression, advisory",
                    _ => "improvement",
                };
                format!("{at}: {what}")
            }
        }
    }

    /// CSS class of the mark: `bless`, `regression` or `improvement`.
    pub(super) fn class(&self) -> &'static str {
        match self.kind {
            MarkKind::Bless(_) => "bless",
            MarkKind::Call { verdict: Verdict::Regression, .. } => "regression",
            MarkKind::Call { .. } => "improvement",
        }
    }
}

/// The day of a point's commit, `YYYY-MM-DD`.
pub(super) fn day(point: &Point) -> &str {
    point.commit_date.get(..10).unwrap_or(&point.commit_date)
}

/// A signed percentage with one decimal.
pub(super) fn percent(change: f64) -> String {
    match change * 100.0 {
        p if !p.is_finite() => "from 0".to_owned(),
        p if p.abs() < 0.05 => "±0.0%".to_owned(),
        p => format!("{p:+.1}%"),
    }
}

/// The bless and call marks of a series: blesses of the metric's suite numbered B1, B2... oldest
/// first, and every regression or improvement called for this benchmark and metric.
pub(super) fn marks(samples: &[Sample<'_>], id: &str, metric: Metric) -> Vec<Mark> {
    let mut marks = Vec::new();
    let mut blessed = 0;
    for (index, sample) in samples.iter().enumerate() {
        for bless in sample.point.blessed.iter().filter(|b| b.suite == metric.suite()) {
            blessed += 1;
            marks.push(Mark { index, label: format!("B{blessed}"), kind: MarkKind::Bless(bless.reason.clone()) });
        }
        for call in sample.point.calls.iter().filter(|c| c.id == id && c.metric == metric) {
            if matches!(call.verdict, Verdict::Regression | Verdict::Improvement) {
                marks.push(Mark {
                    index,
                    label: percent(call.change),
                    kind: MarkKind::Call { verdict: call.verdict, fails: call.fails },
                });
            }
        }
    }
    marks
}

/// How values are shown on the y axis: divided by `divisor`, in `unit`.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(super) struct Scale {
    /// What a value is divided by.
    pub(super) divisor: f64,
    /// The unit after dividing, for the axis description.
    pub(super) unit: &'static str,
}

/// The natural unit of `metric` for values up to `max`: µs or ms for wall time, KiB or MiB for
/// bytes, thousands or millions for counts.
pub(super) fn scale(metric: Metric, max: f64) -> Scale {
    let (divisor, unit) = match metric {
        Metric::WallNs if max >= 1e9 => (1e9, "s"),
        Metric::WallNs if max >= 1e6 => (1e6, "ms"),
        Metric::WallNs if max >= 1e3 => (1e3, "µs"),
        Metric::WallNs => (1.0, "ns"),
        Metric::HeapTotalBytes | Metric::HeapMaxBytes if max >= 1024.0 * 1024.0 => (1024.0 * 1024.0, "MiB"),
        Metric::HeapTotalBytes | Metric::HeapMaxBytes if max >= 1024.0 => (1024.0, "KiB"),
        Metric::HeapTotalBytes | Metric::HeapMaxBytes => (1.0, "bytes"),
        Metric::Instructions if max >= 1e6 => (1e6, "million instructions"),
        Metric::Instructions if max >= 1e4 => (1e3, "thousand instructions"),
        Metric::EstimatedCycles if max >= 1e6 => (1e6, "million cycles"),
        Metric::EstimatedCycles if max >= 1e4 => (1e3, "thousand cycles"),
        Metric::HeapTotalBlocks if max >= 1e6 => (1e6, "million blocks"),
        Metric::HeapTotalBlocks if max >= 1e4 => (1e3, "thousand blocks"),
        m => (1.0, m.unit()),
    };
    Scale { divisor, unit }
}

/// The y range: every value and confidence bound, padded by 15% of the span on each side (room for
/// the marks), or by 1% of the value when the series is flat, never below zero for non-negative
/// data. Never empty.
pub(super) fn y_range(samples: &[Sample<'_>]) -> (f64, f64) {
    let (lo, hi) = samples
        .iter()
        .flat_map(|s| [s.value, s.ci.map_or(s.value, |c| c.0), s.ci.map_or(s.value, |c| c.1)])
        .fold((f64::INFINITY, f64::NEG_INFINITY), |(lo, hi), v| (lo.min(v), hi.max(v)));
    if !lo.is_finite() || !hi.is_finite() {
        return (0.0, 1.0);
    }
    let pad = if hi > lo {
        (hi - lo) * 0.15
    } else if lo != 0.0 {
        lo.abs() * 0.01
    } else {
        1.0
    };
    let bottom = if lo >= 0.0 { (lo - pad).max(0.0) } else { lo - pad };
    (bottom, hi + pad)
}

/// The x axis: sample indices `0..n`, half a slot of room at either end, ticks on the newest
/// sample and every `step` before it (at most [`MAX_X_LABELS`]). Plotters' own f64 axis picks
/// "nice" fractional ticks, and its key-point wrapper loses the label formatter, hence this type.
#[derive(Debug, Clone)]
struct CommitAxis {
    n: usize,
}

impl CommitAxis {
    fn keys(&self) -> Vec<f64> {
        let step = self.n.div_ceil(MAX_X_LABELS).max(1);
        let mut keys: Vec<f64> = (0..self.n).rev().step_by(step).map(|i| i as f64).collect();
        keys.reverse();
        keys
    }
}

impl Ranged for CommitAxis {
    type FormatOption = DefaultFormatting;
    type ValueType = f64;

    fn map(&self, value: &f64, limit: (i32, i32)) -> i32 {
        let share = (value + 0.5) / self.n as f64;
        limit.0 + (f64::from(limit.1 - limit.0) * share).round() as i32
    }

    fn key_points<Hint: KeyPointHint>(&self, hint: Hint) -> Vec<f64> {
        if hint.weight().allow_light_points() { Vec::new() } else { self.keys() }
    }

    fn range(&self) -> std::ops::Range<f64> {
        -0.5..self.n as f64 - 0.5
    }
}

/// Decimals that tell apart labels `span` (display units) apart over about five ticks.
fn decimals(span: f64) -> usize {
    let step = span / 5.0;
    if step >= 1.0 || step <= 0.0 || !step.is_finite() { 0 } else { ((-step.log10()).ceil() as usize).min(6) }
}

/// The 95% confidence band of a series in display units (`divisor`) as one polygon: upper bounds
/// left to right, then lower bounds back. Points without an interval pinch it to their value; a
/// lone point gets a narrow bar, since a band of one point has no width. Empty without intervals.
pub(super) fn band(samples: &[Sample<'_>], divisor: f64) -> Vec<(f64, f64)> {
    if samples.iter().all(|s| s.ci.is_none()) {
        return Vec::new();
    }
    let mut edges: Vec<(f64, f64, f64)> = samples
        .iter()
        .enumerate()
        .map(|(i, s)| {
            let (lo, hi) = s.ci.unwrap_or((s.value, s.value));
            (i as f64, lo / divisor, hi / divisor)
        })
        .collect();
    if let [(_, lo, hi)] = edges[..] {
        edges = vec![(-0.06, lo, hi), (0.06, lo, hi)];
    }
    edges.iter().map(|&(x, _, hi)| (x, hi)).chain(edges.iter().rev().map(|&(x, lo, _)| (x, lo))).collect()
}

/// A point's hover title: commit, day, source, value and, for wall time, the confidence interval as
/// ± half its width relative to the value (short: every point of every chart carries one).
fn point_title(s: &Sample<'_>, metric: Metric) -> String {
    let source = match s.point.source {
        Source::Run => "run",
        Source::Baseline => "baseline",
    };
    let ci =
        s.ci.filter(|_| s.value != 0.0)
            .map_or_else(String::new, |(lo, hi)| format!(" ±{:.1}%", (hi - lo) / 2.0 / s.value.abs() * 100.0));
    format!("{} {} {source}: {}{ci}", s.point.short_commit(), day(s.point), format_value(metric, s.value))
}

/// Draws the chart of `samples` (non-empty) with its `marks` as one `<svg>` element.
pub(super) fn svg(samples: &[Sample<'_>], marks: &[Mark], metric: Metric) -> Result<String> {
    anyhow::ensure!(!samples.is_empty(), "a chart needs at least one point");
    let n = samples.len();
    // Plotted in display units, so plotters' round ticks are round in MiB or µs too.
    let (raw_lo, raw_hi) = y_range(samples);
    let scale = scale(metric, raw_hi);
    let (y_lo, y_hi) = (raw_lo / scale.divisor, raw_hi / scale.divisor);
    let places = decimals(y_hi - y_lo);
    let commits: Vec<&str> = samples.iter().map(|s| s.point.short_commit()).collect();
    let x_label = |x: &f64| {
        let i = x.round();
        if (x - i).abs() < 1e-6 && i >= 0.0 && (i as usize) < commits.len() {
            commits[i as usize].to_owned()
        } else {
            String::new()
        }
    };
    let y_label = |y: &f64| format!("{:.*}", places, y);
    let font = |size: u32| ("sans-serif", size).into_font().color(&AXIS);

    let mut out = String::new();
    let mut hover = String::new();
    {
        let root = SVGBackend::with_string(&mut out, SIZE).into_drawing_area();
        let mut chart = ChartBuilder::on(&root)
            .margin(8)
            .margin_right(28)
            .x_label_area_size(26)
            .y_label_area_size(72)
            .build_cartesian_2d(CommitAxis { n }, y_lo..y_hi)
            .context("laying out a chart")?;
        chart
            .configure_mesh()
            .max_light_lines(0)
            .y_labels(5)
            .bold_line_style(BLACK.mix(0.08))
            .axis_style(AXIS.mix(0.6))
            .label_style(font(15))
            .axis_desc_style(font(15))
            .x_label_formatter(&x_label)
            .y_label_formatter(&y_label)
            .y_desc(scale.unit)
            .draw()
            .context("drawing a chart's axes")?;
        let at = |i: usize, v: f64| (i as f64, v / scale.divisor);

        let band = band(samples, scale.divisor);
        if !band.is_empty() {
            chart.draw_series(std::iter::once(Polygon::new(band, RUN.mix(0.16)))).context("drawing a band")?;
        }

        let (_, py) = chart.plotting_area().get_pixel_range();
        for mark in marks.iter().filter(|m| matches!(m.kind, MarkKind::Bless(_))) {
            let x = mark.index as f64;
            chart
                .draw_series(std::iter::once(PathElement::new(vec![(x, y_lo), (x, y_hi)], BLESS.mix(0.7))))
                .context("drawing a bless mark")?;
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at((x, y_hi)) + Text::new(mark.label.clone(), (4, 3), font(14).color(&BLESS)),
                ))
                .context("drawing a bless label")?;
            let (cx, _) = chart.backend_coord(&(x, y_hi));
            let _ = write!(
                hover,
                r#"<g class="mark bless"><title>{}</title><rect x="{}" y="{}" width="14" height="{}"/></g>"#,
                escape(&format!("{} {}", mark.label, mark.describe(samples))),
                cx - 7,
                py.start,
                py.end - py.start
            );
        }

        chart
            .draw_series(LineSeries::new(samples.iter().enumerate().map(|(i, s)| at(i, s.value)), LINE.stroke_width(2)))
            .context("drawing a line")?;
        // Markers shrink when points crowd (a slot narrower than a marker).
        let radius = if n <= 30 { 4 } else { 2 };
        let of = |source: Source| {
            samples.iter().enumerate().filter(move |(_, s)| s.point.source == source).map(|(i, s)| at(i, s.value))
        };
        chart
            .draw_series(of(Source::Run).map(|c| Circle::new(c, radius, RUN.filled())))
            .context("drawing run points")?;
        chart
            .draw_series(of(Source::Baseline).map(|c| {
                EmptyElement::at(c) + Rectangle::new([(-radius, -radius), (radius, radius)], BASELINE.filled())
            }))
            .context("drawing baseline points")?;

        for mark in marks {
            let MarkKind::Call { verdict, .. } = mark.kind else { continue };
            let c = at(mark.index, samples[mark.index].value);
            let (colour, dy) = if verdict == Verdict::Regression { (REGRESSION, -13) } else { (IMPROVEMENT, 13) };
            let triangle = if verdict == Verdict::Regression {
                vec![(0, dy - 6), (6, dy + 5), (-6, dy + 5)]
            } else {
                vec![(0, dy + 6), (6, dy - 5), (-6, dy - 5)]
            };
            // Labels of marks near the right edge go left of the triangle, so they are not cut off.
            let (label_x, anchor) =
                if mark.index as f64 >= n as f64 * 0.7 { (-9, HPos::Right) } else { (9, HPos::Left) };
            let style = font(14).color(&colour).pos(Pos::new(anchor, VPos::Top));
            chart
                .draw_series(std::iter::once(
                    EmptyElement::at(c)
                        + Polygon::new(triangle, colour.filled())
                        + Text::new(mark.label.clone(), (label_x, dy - 7), style),
                ))
                .context("drawing a call mark")?;
            let (cx, cy) = chart.backend_coord(&c);
            let _ = write!(
                hover,
                r#"<g class="mark {}"><title>{}</title><circle cx="{cx}" cy="{}" r="9"/></g>"#,
                mark.class(),
                escape(&format!("{} {}", mark.label, mark.describe(samples))),
                cy + dy
            );
        }

        for (i, s) in samples.iter().enumerate() {
            let (cx, cy) = chart.backend_coord(&at(i, s.value));
            let _ = write!(
                hover,
                r#"<circle class="pt" cx="{cx}" cy="{cy}" r="8"><title>{}</title></circle>"#,
                escape(&point_title(s, metric))
            );
        }
        root.present().context("finishing a chart")?;
    }
    let end = out.rfind("</svg>").context("plotters wrote no closing </svg>")?;
    out.insert_str(end, &hover);
    // Plotters spells out SVG's defaults on every element; a point costs half as much without them.
    Ok(out.replace(r#" opacity="1""#, "").replace(r#" stroke="none""#, "").replace(r#" stroke-width="1""#, ""))
}
