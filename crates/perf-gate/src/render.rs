//! Report rendering: the terminal table and `report.md` (summary line first, then the table of
//! changes, everything else in `<details>`). Pure functions over a [`Report`].

use std::fmt::Write as _;

use crate::decision::{Mode, Outcome, Report};
use crate::rules::{Row, Verdict};

use crate::units::format_value;

/// GitHub's limit on a comment body; report.md is kept below it so it can be posted as is.
pub const MAX_MARKDOWN: usize = 65_536;

fn format_change(row: &Row) -> String {
    match (row.change, row.change_ci) {
        (Some(c), Some((lo, hi))) => format!("{:+.1}% [{:+.1}%, {:+.1}%]", c * 100.0, lo * 100.0, hi * 100.0),
        (Some(c), None) if c.is_infinite() => "from 0".to_owned(),
        (Some(c), None) => format!("{:+.2}%", c * 100.0),
        (None, _) => "—".to_owned(),
    }
}

fn verdict_text(row: &Row) -> String {
    match row.verdict {
        Verdict::Regression if !row.fails => "regression (advisory)".to_owned(),
        v => v.name().to_owned(),
    }
}

/// The smallest slowdown the row's comparison would have called a regression.
fn format_detectable(row: &Row) -> String {
    match row.detectable {
        Some(d) if d.is_finite() => format!("{:+.1}%", d * 100.0),
        Some(_) => "any".to_owned(),
        None => "—".to_owned(),
    }
}

/// Number of columns of the result tables.
const COLUMNS: usize = 8;

fn cells(row: &Row) -> [String; COLUMNS] {
    let value = |v: Option<f64>| v.map_or_else(|| "—".to_owned(), |v| format_value(row.metric, v));
    [
        row.id.clone(),
        row.metric.name().to_owned(),
        value(row.baseline),
        value(row.current),
        format_change(row),
        format_detectable(row),
        if row.reference.is_empty() { "—".to_owned() } else { row.reference.clone() },
        verdict_text(row),
    ]
}

const HEADER: [&str; COLUMNS] =
    ["benchmark", "metric", "reference value", "current", "change", "could see", "compared with", "verdict"];

fn mode_text(mode: &Mode) -> String {
    match mode {
        Mode::Baselines => "committed baselines/ (each row names what it was compared with)".to_owned(),
        Mode::Ab(rev) => format!("A/B against `{rev}` (interleaved runs)"),
        Mode::Compare(what) => format!("compare against `{what}`"),
    }
}

fn outcome_text(report: &Report) -> String {
    let why = match report.outcome {
        Outcome::Pass => "pass",
        Outcome::Regression => "regression or budget exceeded",
        Outcome::Stale => "baselines missing or stale",
        Outcome::Incomplete => "not everything could be measured",
    };
    format!("{} (exit {}: {why})", report.outcome.word(), report.exit_code)
}

/// Whether a row belongs in the headline table (anything but a quiet unchanged or calibration row).
fn notable(row: &Row) -> bool {
    !matches!(row.verdict, Verdict::Unchanged | Verdict::Calibration)
}

/// What the run compared with and where it ran: the notes on suites measured A/B, the machine and
/// the workspace, one line each.
fn context(report: &Report) -> Vec<String> {
    let notes = report.notes.iter().map(|n| format!("note: {n}"));
    let machine = report.machine.iter().map(|m| format!("measured on: {m}"));
    let root = report.root.iter().map(|r| format!("workspace: {r}"));
    notes.chain(machine).chain(root).collect()
}

/// The terminal rendering: every row in an aligned table, then staleness, budgets and the summary.
pub fn render_terminal(report: &Report) -> String {
    let header = HEADER.map(str::to_owned);
    let body: Vec<[String; COLUMNS]> = report.rows.iter().map(cells).collect();
    let mut widths = header.clone().map(|h| h.chars().count());
    for row in &body {
        for (w, cell) in widths.iter_mut().zip(row) {
            *w = (*w).max(cell.chars().count());
        }
    }
    let mut out = String::new();
    let line = |out: &mut String, row: &[String; COLUMNS]| {
        let padded: Vec<String> = row
            .iter()
            .zip(widths)
            .enumerate()
            .map(|(i, (cell, w))| {
                let pad = " ".repeat(w - cell.chars().count());
                if (2..6).contains(&i) { format!("{pad}{cell}") } else { format!("{cell}{pad}") }
            })
            .collect();
        let _ = writeln!(out, "{}", padded.join("  ").trim_end());
    };
    line(&mut out, &header);
    for row in &body {
        line(&mut out, row);
    }
    for b in &report.budgets {
        let _ = writeln!(
            out,
            "budget {} {}: {} {} (limit {}) {}",
            b.subject,
            b.figure,
            b.value,
            b.unit,
            b.limit,
            if b.ok { "ok" } else { "EXCEEDED" }
        );
    }
    for n in &report.not_measured {
        let _ = writeln!(out, "not measured: {} suite: {}", n.suite.name(), n.reason);
    }
    for reason in &report.stale {
        let _ = writeln!(out, "stale: {reason}");
    }
    if !report.stale.is_empty() {
        let _ = writeln!(out, "run `{}` and commit", report.bless_command);
    }
    for line in context(report) {
        let _ = writeln!(out, "{line}");
    }
    let _ = writeln!(out, "{}", report.summary);
    let _ = writeln!(out, "perf gate: {} · {}", outcome_text(report), mode_text(&report.mode));
    out
}

fn markdown_table(rows: &[&Row], with_detail: bool) -> String {
    let mut out = String::new();
    let _ = writeln!(out, "| {} |{}", HEADER.join(" | "), if with_detail { " why |" } else { "" });
    let _ = writeln!(out, "|---|---|--:|--:|--:|--:|---|---|{}", if with_detail { "---|" } else { "" });
    for row in rows {
        let c = cells(row);
        let detail = if with_detail { format!(" {} |", row.detail.replace('|', "\\|")) } else { String::new() };
        let _ = writeln!(
            out,
            "| `{}` | {} | {} | {} | {} | {} | {} | {} |{detail}",
            c[0], c[1], c[2], c[3], c[4], c[5], c[6], c[7]
        );
    }
    out
}

/// `report.md`: summary line first, the table of notable rows, then `<details>`; kept under [`MAX_MARKDOWN`].
pub fn render_markdown(report: &Report) -> String {
    let mut head = String::new();
    let _ = writeln!(head, "{}\n", report.summary);
    let _ = writeln!(head, "**perf gate: {}** · {}\n", outcome_text(report), mode_text(&report.mode));
    if !report.stale.is_empty() {
        head.push_str("Baselines are stale:\n\n");
        for reason in &report.stale {
            let _ = writeln!(head, "- {reason}");
        }
        let _ = writeln!(head, "\nRun `{}` and commit.\n", report.bless_command);
    }
    for n in &report.not_measured {
        let _ = writeln!(head, "- **not measured**: {} suite: {}", n.suite.name(), n.reason);
    }
    for line in context(report) {
        let _ = writeln!(head, "- {line}");
    }
    let exceeded: Vec<_> = report.budgets.iter().filter(|b| !b.ok).collect();
    for b in &exceeded {
        let _ = writeln!(
            head,
            "- **budget exceeded**: {} {} = {} {} (limit {})",
            b.subject, b.figure, b.value, b.unit, b.limit
        );
    }
    let notable: Vec<&Row> = report.rows.iter().filter(|r| notable(r)).collect();
    if notable.is_empty() {
        head.push_str("No change beyond tolerance.\n");
    } else {
        head.push_str(&markdown_table(&notable, false));
    }

    let all: Vec<&Row> = report.rows.iter().collect();
    let mut details = format!("\n<details><summary>All {} results</summary>\n\n", all.len());
    details.push_str(&markdown_table(&all, true));
    details.push_str("\n</details>\n");
    if !report.budgets.is_empty() {
        details.push_str("\n<details><summary>Budgets</summary>\n\n| subject | figure | value | limit | ok |\n|---|---|--:|--:|---|\n");
        for b in &report.budgets {
            let _ = writeln!(
                details,
                "| {} | {} | {} {} | {} | {} |",
                b.subject,
                b.figure,
                b.value,
                b.unit,
                b.limit,
                if b.ok { "yes" } else { "**no**" }
            );
        }
        details.push_str("\n</details>\n");
    }
    if head.len() + details.len() > MAX_MARKDOWN {
        details = "\n_Full results omitted to stay within GitHub's comment size; see report.json._\n".to_owned();
    }
    let mut out = head + &details;
    if out.len() > MAX_MARKDOWN {
        let mut cut = MAX_MARKDOWN - 100;
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        out.truncate(cut);
        out.push_str("\n\n_Truncated; see report.json._\n");
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::decision::{decide, tests::row};
    use crate::schema::Metric;

    fn report() -> Report {
        let rows = vec![
            row("proto/parse/n1000", Metric::Instructions, Verdict::Regression, true),
            row("proto/parse/n10k", Metric::Instructions, Verdict::Unchanged, false),
        ];
        decide(Mode::Baselines, rows, vec![], vec![], vec![])
    }

    #[test]
    fn markdown_starts_with_the_summary_line_then_lists_only_notable_rows() {
        let report = report();

        let md = render_markdown(&report);

        assert!(md.starts_with("1 regression, 1 unchanged\n"), "{md}");
        let (head, details) = md.split_once("<details>").unwrap();
        assert!(
            head.contains(
                "| `proto/parse/n1000` | instructions | 100 | 103 | +3.00% | +1.0% | baseline abc1234 | regression |"
            ),
            "{head}"
        );
        assert!(!head.contains("n10k") && details.contains("n10k"), "{md}");
    }

    #[test]
    fn markdown_of_stale_report_names_the_bless_command() {
        let report = decide(Mode::Baselines, vec![], vec![], vec!["instr: toolchain differs".into()], vec![]);

        let md = render_markdown(&report);

        assert!(
            md.contains("instr: toolchain differs")
                && md.contains("Run `cargo xtask perf bless --reason \"...\"` and commit."),
            "{md}"
        );
    }

    #[test]
    fn markdown_stays_within_the_comment_limit() {
        let rows = (0..5000)
            .map(|i| row(&format!("area/op/case{i}"), Metric::Instructions, Verdict::Regression, true))
            .collect();
        let report = decide(Mode::Baselines, rows, vec![], vec![], vec![]);

        let md = render_markdown(&report);

        assert!(md.len() <= MAX_MARKDOWN, "{}", md.len());
    }

    #[test]
    fn terminal_table_aligns_columns_and_ends_with_outcome() {
        let report = report();

        let text = render_terminal(&report);

        let lines: Vec<&str> = text.lines().collect();
        assert!(lines[0].starts_with("benchmark          metric"), "{text}");
        assert!(lines[0].ends_with("could see  compared with     verdict"), "{text}");
        assert_eq!(lines[1].find("instructions"), lines[0].find("metric"));
        assert!(lines.last().unwrap().starts_with("perf gate: fail (exit 3"), "{text}");
    }
}
