//! The release tag's message: the perf gate's verdict for the tagged commit, its key figures and the
//! baselines' provenance, ending in trailers (`Perf-Validated: yes`, ...) that `release verify` reads back.
//! Pure functions over the gate's report.json and the baseline files, read tolerantly as JSON.

use std::collections::BTreeMap;
use std::fmt::Write as _;

use serde_json::Value;

/// At most this many key figures in a tag message; the rest stay in report.json.
const MAX_FIGURES: usize = 30;

/// Trailer keys written into (and read back from) the tag message.
pub(crate) const VALIDATED: &str = "Perf-Validated";
/// The overall verdict word.
pub(crate) const VERDICT: &str = "Perf-Verdict";
/// The commit the verdict is for.
pub(crate) const COMMIT: &str = "Perf-Commit";
/// The summary line.
pub(crate) const SUMMARY: &str = "Perf-Summary";
/// The gate command that ran (a substitute named by `HAPULSE_RELEASE_GATE` shows here).
pub(crate) const GATE: &str = "Perf-Gate";
/// The real gate's label in [`GATE`].
pub(crate) const REAL_GATE: &str = "cargo xtask perf";

/// What a tag message is built from.
#[derive(Debug)]
pub(crate) struct Inputs<'a> {
    /// e.g. "v1.2.3".
    pub(crate) version: &'a str,
    /// Full hash of the tagged commit.
    pub(crate) commit: &'a str,
    /// The gate command that produced the report, for the record.
    pub(crate) gate: &'a str,
    /// The gate's report.json.
    pub(crate) report: &'a Value,
    /// Baseline files: (suite file name, parsed content).
    pub(crate) baselines: &'a [(String, Value)],
}

fn text<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

/// Why a report cannot validate a release, or `None` when it can.
pub(crate) fn refusal(report: &Value) -> Option<String> {
    let outcome = text(report, "outcome");
    let exit = report.get("exit_code").and_then(Value::as_u64);
    let mode = report.get("mode").map(|m| text(m, "kind")).unwrap_or("");
    if outcome != "pass" || exit != Some(0) {
        return Some(format!(
            "the perf gate did not pass: outcome `{}`, exit {} ({})",
            if outcome.is_empty() { "unknown" } else { outcome },
            exit.map_or_else(|| "unknown".to_owned(), |e| e.to_string()),
            text(report, "summary")
        ));
    }
    if mode != "baselines" {
        return Some(format!(
            "the report compares against `{mode}`, not the committed baselines/: a release is validated by a plain \
             `cargo xtask perf`"
        ));
    }
    None
}

fn figure(row: &Value) -> Option<String> {
    let metric = text(row, "metric");
    if !matches!(metric, "instructions" | "wall_ns" | "heap_max_bytes" | "heap_total_blocks") {
        return None;
    }
    let current = row.get("current").and_then(Value::as_f64)?;
    let change = row
        .get("change")
        .and_then(Value::as_f64)
        .filter(|c| c.is_finite())
        .map_or_else(|| "new".to_owned(), |c| format!("{:+.2}%", c * 100.0));
    Some(format!(
        "  {}  {metric}  {} {}  {change}  {}",
        text(row, "id"),
        perf_gate::units::thousands(current),
        text(row, "unit"),
        text(row, "verdict")
    ))
}

fn provenance_line(file: &str, baseline: &Value) -> String {
    let p = baseline.get("provenance").unwrap_or(&Value::Null);
    let commit: String = text(p, "git_commit").chars().take(12).collect();
    let rustc = text(p, "rustc").lines().next().unwrap_or("").trim().to_owned();
    let valgrind = p.get("valgrind").and_then(Value::as_str).map(|v| format!(", {}", v.trim())).unwrap_or_default();
    format!(
        "  {file}: blessed at {} on {}, reason \"{}\"; {rustc}{valgrind}",
        if commit.is_empty() { "unknown commit" } else { &commit },
        text(p, "date"),
        text(p, "reason")
    )
}

/// The annotated tag's message.
pub(crate) fn tag_message(inputs: &Inputs<'_>) -> String {
    let report = inputs.report;
    let summary = text(report, "summary").replace('\n', " ");
    let mut out = String::new();
    let _ = writeln!(out, "hapulse {}\n", inputs.version);
    let _ = writeln!(out, "Performance gate: pass against the committed baselines/ (`{}`, exit 0)", inputs.gate);
    let _ = writeln!(out, "Commit: {}", inputs.commit);
    let _ = writeln!(out, "Summary: {summary}");
    let rows = report.get("rows").and_then(Value::as_array).map(Vec::as_slice).unwrap_or(&[]);
    let figures: Vec<String> = rows.iter().filter_map(figure).collect();
    if !figures.is_empty() {
        out.push_str("\nKey figures:\n");
        for line in figures.iter().take(MAX_FIGURES) {
            let _ = writeln!(out, "{line}");
        }
        if figures.len() > MAX_FIGURES {
            let _ = writeln!(out, "  ... and {} more in target/perf/report.json", figures.len() - MAX_FIGURES);
        }
    }
    if !inputs.baselines.is_empty() {
        out.push_str("\nBaselines:\n");
        for (file, baseline) in inputs.baselines {
            let _ = writeln!(out, "{}", provenance_line(file, baseline));
        }
    }
    let _ = write!(
        out,
        "\n{VALIDATED}: yes\n{VERDICT}: {}\n{COMMIT}: {}\n{SUMMARY}: {summary}\n{GATE}: {}\n",
        text(report, "outcome"),
        inputs.commit,
        inputs.gate
    );
    out
}

/// The trailers of a message: `Key: value` lines of its last paragraph.
pub(crate) fn trailers(message: &str) -> BTreeMap<String, String> {
    let last = message.trim_end().rsplit("\n\n").next().unwrap_or("");
    last.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(": ")?;
            (!k.is_empty() && k.chars().all(|c| c.is_ascii_alphanumeric() || c == '-'))
                .then(|| (k.to_owned(), v.trim().to_owned()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn report() -> Value {
        json!({
            "schema": 1, "mode": {"kind": "baselines"}, "outcome": "pass", "exit_code": 0,
            "summary": "1 improvement, 2 unchanged",
            "rows": [
                {"id": "proto/parse/n10k", "metric": "instructions", "unit": "instructions", "current": 46006873.0,
                 "change": -0.021, "verdict": "improvement"},
                {"id": "calibration/spin", "metric": "estimated_cycles", "unit": "cycles", "current": 5.0,
                 "change": 0.0, "verdict": "unchanged"},
                {"id": "state/load/n16384", "metric": "heap_max_bytes", "unit": "bytes", "current": 12345678.0,
                 "change": 0.0, "verdict": "unchanged"}
            ]
        })
    }

    fn baselines() -> Vec<(String, Value)> {
        vec![(
            "instr.json".to_owned(),
            json!({"provenance": {"git_commit": "0123456789abcdef0123", "date": "2026-11-26T10:00:00Z",
              "reason": "first baseline", "rustc": "rustc 1.95.0 (abc 2026-10-01)\nhost: x", "valgrind": "valgrind-3.19.0\n"}}),
        )]
    }

    #[test]
    fn message_carries_commit_verdict_figures_and_provenance() {
        let report = report();
        let baselines = baselines();
        let inputs = Inputs {
            version: "v1.2.3",
            commit: "feedface",
            gate: "cargo xtask perf",
            report: &report,
            baselines: &baselines,
        };

        let message = tag_message(&inputs);

        assert!(message.starts_with("hapulse v1.2.3\n\n"), "{message}");
        assert!(message.contains("Commit: feedface\nSummary: 1 improvement, 2 unchanged\n"), "{message}");
        assert!(message.contains("  proto/parse/n10k  instructions  46,006,873 instructions  -2.10%  improvement"));
        assert!(!message.contains("calibration/spin"), "only key metrics: {message}");
        assert!(message.contains(
            "  instr.json: blessed at 0123456789ab on 2026-11-26T10:00:00Z, reason \"first baseline\"; rustc 1.95.0 (abc 2026-10-01), valgrind-3.19.0"
        ), "{message}");
    }

    #[test]
    fn message_ends_in_trailers_that_read_back() {
        let report = report();
        let inputs = Inputs { version: "v1.2.3", commit: "feedface", gate: "g", report: &report, baselines: &[] };

        let parsed = trailers(&tag_message(&inputs));

        assert_eq!(parsed.get(VALIDATED).map(String::as_str), Some("yes"));
        assert_eq!(parsed.get(VERDICT).map(String::as_str), Some("pass"));
        assert_eq!(parsed.get(COMMIT).map(String::as_str), Some("feedface"));
        assert_eq!(parsed.get(SUMMARY).map(String::as_str), Some("1 improvement, 2 unchanged"));
    }

    #[test]
    fn trailers_come_only_from_the_last_paragraph() {
        let message = "title\n\nPerf-Validated: yes\n\nsome closing words";

        let parsed = trailers(message);

        assert!(parsed.is_empty(), "{parsed:?}");
    }

    #[test]
    fn failing_stale_or_ab_reports_are_refused() {
        let mut failing = report();
        failing["outcome"] = json!("regression");
        failing["exit_code"] = json!(3);
        let mut ab = report();
        ab["mode"] = json!({"kind": "ab", "against": "main"});

        let refusals = [refusal(&failing), refusal(&ab), refusal(&report())];

        assert!(refusals[0].as_deref().is_some_and(|r| r.contains("outcome `regression`, exit 3")), "{refusals:?}");
        assert!(refusals[1].as_deref().is_some_and(|r| r.contains("not the committed baselines/")), "{refusals:?}");
        assert_eq!(refusals[2], None);
    }
}
