//! The sticky comment's body: a hidden marker to find it again, the report, and a footer saying where
//! the full report lives. Pure functions; bodies over GitHub's limit are cut at a table-row boundary.

use std::fmt::Write as _;

/// Hidden marker that identifies the gate's comment among a PR's comments (first line of the body).
pub(crate) const MARKER: &str = "<!-- hapulse-perf-gate -->";

/// GitHub's limit on an issue comment body (65,536 characters, 2026). Counted here in bytes, which is
/// never less than the character count, so a body within it is within GitHub's limit too.
pub(crate) const LIMIT: usize = 65_536;

/// What the body says besides the report.
#[derive(Debug, Clone)]
pub(crate) struct Footer {
    /// Where the full report is, e.g. the perf workflow run holding the `perf-report` artifact.
    pub(crate) full_report: String,
    /// The published trend page (`cargo xtask perf history --html`), when there is one.
    pub(crate) history_url: Option<String>,
}

/// A composed body and how many table rows were left out to fit [`LIMIT`].
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Body {
    /// The comment text.
    pub(crate) text: String,
    /// Table rows left out (0 when the report fitted).
    pub(crate) rows_left_out: usize,
}

/// Whether a line is a table body row (not the header or its `|---|` separator).
fn is_row(line: &str, previous: Option<&str>) -> bool {
    let is_table = |l: &str| l.trim_start().starts_with('|');
    let is_separator = |l: &str| is_table(l) && l.trim().trim_matches('|').split('|').all(is_separator_cell);
    is_table(line) && !is_separator(line) && previous.is_some_and(is_table)
}

fn is_separator_cell(cell: &str) -> bool {
    let cell = cell.trim();
    !cell.is_empty() && cell.chars().all(|c| matches!(c, '-' | ':'))
}

/// Composes marker + report + footer, cutting table rows from the end when the whole would exceed `limit`.
pub(crate) fn compose(report: &str, footer: &Footer, limit: usize) -> Body {
    let head = format!("{MARKER}\n## Performance gate\n\n");
    let trend =
        footer.history_url.as_deref().map_or_else(String::new, |url| format!(" Trend over time: [{url}]({url})."));
    let foot = format!(
        "\n---\n<sub>Posted by `cargo xtask perf comment`. Full report: {}.{trend}</sub>\n",
        footer.full_report
    );
    let whole = format!("{head}{}{foot}", report.trim_end_matches('\n').to_owned() + "\n");
    if whole.len() <= limit {
        return Body { text: whole, rows_left_out: 0 };
    }

    let lines: Vec<&str> = report.lines().collect();
    let rows: Vec<bool> =
        lines.iter().enumerate().map(|(i, l)| is_row(l, i.checked_sub(1).map(|p| lines[p]))).collect();
    let total_rows = rows.iter().filter(|r| **r).count();
    // Reserve room for the note (its digits cannot exceed those of the total row count).
    let note = |n: usize| {
        format!(
            "\n_{n} table row{} left out to stay within GitHub's {LIMIT}-character comment limit; the full report is in {}._\n\n",
            if n == 1 { "" } else { "s" },
            footer.full_report
        )
    };
    let fixed: usize = head.len()
        + foot.len()
        + note(total_rows).len()
        + lines.iter().zip(&rows).filter(|(_, r)| !**r).map(|(l, _)| l.len() + 1).sum::<usize>();
    let mut budget = limit.saturating_sub(fixed);
    let mut keep = 0;
    for (line, _) in lines.iter().zip(&rows).filter(|(_, r)| **r) {
        if line.len() + 1 > budget {
            break;
        }
        budget -= line.len() + 1;
        keep += 1;
    }
    let left_out = total_rows - keep;

    let mut out = head;
    let mut seen = 0;
    let mut noted = false;
    for (line, row) in lines.iter().zip(&rows) {
        if *row {
            seen += 1;
            if seen > keep {
                if !noted {
                    out.push_str(&note(left_out));
                    noted = true;
                }
                continue;
            }
        }
        let _ = writeln!(out, "{line}");
    }
    out.push_str(&foot);
    if out.len() > limit {
        // The report's non-table text alone is too long: cut at a line boundary instead.
        let mut cut = limit.saturating_sub(foot.len() + 200);
        while !out.is_char_boundary(cut) {
            cut -= 1;
        }
        let cut = out[..cut].rfind('\n').map_or(cut, |i| i + 1);
        out.truncate(cut);
        out.push_str("\n_Report cut to fit GitHub's comment limit._\n");
        out.push_str(&foot);
    }
    Body { text: out, rows_left_out: left_out }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn footer_links_the_trend_page_when_given() {
        let footer = Footer { history_url: Some("https://o.github.io/r/".into()), ..footer() };

        let body = compose("report", &footer, LIMIT);

        assert!(
            body.text.contains("Trend over time: [https://o.github.io/r/](https://o.github.io/r/)."),
            "{}",
            body.text
        );
    }

    fn footer() -> Footer {
        Footer { full_report: "the `perf-report` artifact of https://example.invalid/run/1".into(), history_url: None }
    }

    fn report(rows: usize) -> String {
        let mut md = String::from("3 regressions, 2 unchanged\n\n**perf gate: fail (exit 3)**\n\n");
        md.push_str("| benchmark | metric | change |\n|---|---|--:|\n");
        for i in 0..rows {
            let _ = writeln!(md, "| `area/op/case{i:05}` | instructions | +3.00% |");
        }
        md.push_str("\n<details><summary>All</summary>\n\nmore\n</details>\n");
        md
    }

    #[test]
    fn short_report_is_posted_whole_behind_the_marker() {
        let md = report(3);

        let body = compose(&md, &footer(), LIMIT);

        assert!(body.text.starts_with(MARKER), "{}", body.text);
        assert!(body.text.contains(&md), "{}", body.text);
        assert_eq!(body.rows_left_out, 0);
    }

    #[test]
    fn long_report_is_cut_at_a_row_boundary_within_the_limit() {
        let md = report(5000);

        let body = compose(&md, &footer(), LIMIT);

        assert!(body.text.len() <= LIMIT, "{}", body.text.len());
        assert!(body.rows_left_out > 0);
        let kept = body.text.lines().filter(|l| l.starts_with("| `area/op/case")).count();
        assert_eq!(kept + body.rows_left_out, 5000);
        assert!(body.text.lines().all(|l| !l.starts_with('|') || l.ends_with('|')), "a row was split");
    }

    #[test]
    fn cut_report_keeps_the_summary_and_says_what_was_left_out_and_where() {
        let md = report(5000);

        let body = compose(&md, &footer(), LIMIT);

        assert!(body.text.contains("3 regressions, 2 unchanged\n"));
        assert!(body.text.contains(&format!("_{} table rows left out", body.rows_left_out)), "{}", body.text);
        assert!(body.text.contains("full report is in the `perf-report` artifact of https://example.invalid/run/1"));
        assert!(body.text.contains("</details>"), "closing markup kept");
    }

    #[test]
    fn header_and_separator_lines_are_not_counted_as_rows() {
        let md = "| a | b |\n|---|:-:|\n| 1 | 2 |\n";

        let rows: Vec<bool> = md.lines().scan(None, |prev, l| Some((is_row(l, *prev), prev.replace(l)).0)).collect();

        assert_eq!(rows, [false, false, true]);
    }
}
