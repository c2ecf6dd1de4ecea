//! Reading what `git bisect` printed, and the texts `perf bisect` ends with: the first bad commit
//! with its measured change, or why there was nothing to bisect. Pure functions over strings.

use std::fmt::Write as _;

use super::super::schema::Metric;
use super::judge::change;
use perf_gate::units::format_value;

/// How a `git bisect start` or `git bisect run` ended, from its standard output.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// `<hash> is the first bad commit`.
    Found(String),
    /// Skipped commits left it open: the first bad commit is one of these.
    Ambiguous(Vec<String>),
    /// Neither (still bisecting, or the run stopped).
    Unfinished,
}

fn is_hash(word: &str) -> bool {
    (40..=64).contains(&word.len()) && word.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Outcome {
    /// Parses git's output (the wording of git 2.x: "is the first bad commit", "could be any of:").
    pub(crate) fn parse(text: &str) -> Outcome {
        let lines: Vec<&str> = text.lines().map(str::trim).collect();
        if let Some(hash) = lines.iter().find_map(|l| l.strip_suffix(" is the first bad commit").filter(|h| is_hash(h)))
        {
            return Outcome::Found(hash.to_owned());
        }
        if let Some(start) = lines.iter().position(|l| l.starts_with("The first bad commit could be any of")) {
            let hashes: Vec<String> =
                lines[start + 1..].iter().take_while(|l| is_hash(l)).map(|l| (*l).to_owned()).collect();
            if !hashes.is_empty() {
                return Outcome::Ambiguous(hashes);
            }
        }
        Outcome::Unfinished
    }
}

/// A commit and the benchmark's value there.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Point {
    /// Abbreviated hash.
    pub(crate) short: String,
    /// The value in the metric's unit.
    pub(crate) value: f64,
}

/// Everything the final report says.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Summary {
    /// Benchmark id.
    pub(crate) id: String,
    /// The metric bisected on.
    pub(crate) metric: Metric,
    /// The first bad commit.
    pub(crate) first_bad: Point,
    /// Its subject line.
    pub(crate) subject: String,
    /// Its (first) parent.
    pub(crate) parent: Point,
    /// The `--good` commit.
    pub(crate) good: Point,
    /// The `--bad` commit.
    pub(crate) bad: Point,
    /// Commits `git bisect run` measured.
    pub(crate) steps: usize,
    /// Of those, the ones skipped (did not build, or lacked the benchmark).
    pub(crate) skipped: usize,
}

fn percent(before: f64, after: f64) -> String {
    format!("{:+.2}%", change(before, after) * 100.0)
}

/// The report printed when the first bad commit was found.
pub(crate) fn render(s: &Summary) -> String {
    let value = |v: f64| format_value(s.metric, v);
    let mut out = format!("first bad commit: {} {}\n", s.first_bad.short, s.subject);
    let _ = writeln!(
        out,
        "  {} {}: {} -> {} ({}) against its parent {}",
        s.id,
        s.metric.name(),
        value(s.parent.value),
        value(s.first_bad.value),
        percent(s.parent.value, s.first_bad.value),
        s.parent.short
    );
    let _ = writeln!(
        out,
        "  good {} {}, bad {} {} ({} over good)",
        s.good.short,
        value(s.good.value),
        s.bad.short,
        value(s.bad.value),
        percent(s.good.value, s.bad.value)
    );
    let _ = writeln!(out, "  git bisect run measured {} commit(s), {} skipped", s.steps, s.skipped);
    out
}

/// Why there is nothing to bisect: bad is not beyond good's limit.
pub(crate) fn no_regression(id: &str, metric: Metric, good: &Point, bad: &Point, limit: f64, rule: &str) -> String {
    format!(
        "no regression between good {} and bad {}: {id} {} {} -> {} ({}), not above the limit {} ({})",
        good.short,
        bad.short,
        metric.name(),
        format_value(metric, good.value),
        format_value(metric, bad.value),
        percent(good.value, bad.value),
        format_value(metric, limit),
        rule
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    const H1: &str = "ed142086ddaac59d50d337be68741077bb134b4e";
    const H2: &str = "b4073e47e819879add414bffaccb099222fcc360";

    #[test]
    fn found_names_the_hash_before_is_the_first_bad_commit() {
        // As git 2.47 prints it (the commit's header and diffstat follow).
        let text = format!(
            "running '/x/xtask-bisect-step' 'perf'\nBisecting: 0 revisions left to test after this (roughly 0 steps)\n\
             [{H2}] c4\n{H1} is the first bad commit\ncommit {H1}\nAuthor: t <t@t>\n\n    c4\n"
        );

        let outcome = Outcome::parse(&text);

        assert_eq!(outcome, Outcome::Found(H1.to_owned()));
    }

    #[test]
    fn skipped_commits_leave_a_list_of_candidates() {
        let text = format!(
            "There are only 'skip'ped commits left to test.\nThe first bad commit could be any of:\n{H1}\n{H2}\n\
             We cannot bisect more!\n"
        );

        let outcome = Outcome::parse(&text);

        assert_eq!(outcome, Outcome::Ambiguous(vec![H1.to_owned(), H2.to_owned()]));
    }

    #[test]
    fn progress_alone_is_unfinished() {
        let text = format!("Bisecting: 2 revisions left to test after this (roughly 1 step)\n[{H1}] c3\n");

        let outcome = Outcome::parse(&text);

        assert_eq!(outcome, Outcome::Unfinished);
    }

    #[test]
    fn a_subject_that_mentions_the_phrase_is_not_a_result() {
        let text = format!("[{H1}] why abc is the first bad commit\n");

        let outcome = Outcome::parse(&text);

        assert_eq!(outcome, Outcome::Unfinished);
    }

    #[test]
    fn render_shows_the_change_against_the_parent_and_between_good_and_bad() {
        let point = |short: &str, value| Point { short: short.to_owned(), value };
        let summary = Summary {
            id: "synth/sum/small".to_owned(),
            metric: Metric::Instructions,
            first_bad: point("c0ffee1", 132_020.0),
            subject: "raise the base iterations".to_owned(),
            parent: point("abc1234", 120_018.0),
            good: point("0000aaa", 120_018.0),
            bad: point("def1111", 132_020.0),
            steps: 2,
            skipped: 0,
        };

        let text = render(&summary);

        assert_eq!(
            text,
            "first bad commit: c0ffee1 raise the base iterations\n\
             \x20 synth/sum/small instructions: 120,018 -> 132,020 (+10.00%) against its parent abc1234\n\
             \x20 good 0000aaa 120,018, bad def1111 132,020 (+10.00% over good)\n\
             \x20 git bisect run measured 2 commit(s), 0 skipped\n"
        );
    }

    #[test]
    fn no_regression_names_both_values_the_limit_and_the_rule() {
        let (good, bad) =
            (Point { short: "a1".to_owned(), value: 2048.0 }, Point { short: "b2".to_owned(), value: 2100.0 });

        let text = no_regression("x/y/z", Metric::HeapTotalBytes, &good, &bad, 2112.0, "built-in default");

        assert_eq!(
            text,
            "no regression between good a1 and bad b2: x/y/z heap_total_bytes 2,048 B -> 2,100 B (+2.54%), \
             not above the limit 2,112 B (built-in default)"
        );
    }
}
