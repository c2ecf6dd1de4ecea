//! What the gate asks git (I/O edge): the repository's top directory, whether a revision exists,
//! and which revision holds the committed baselines, the reference that the default gate measures
//! A/B when the baselines cannot be compared as they are.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use perf_gate::baseline::SuiteBaseline;
use perf_gate::history::{self, BaselineCommit};
use perf_gate::schema::Suite;
use xshell::{Shell, cmd};

/// The top directory of the git repository holding `dir`; `None` outside git.
pub(crate) fn toplevel(sh: &Shell, dir: &Path) -> Option<PathBuf> {
    let _dir = sh.push_dir(dir);
    cmd!(sh, "git rev-parse --show-toplevel").quiet().ignore_stderr().read().ok().map(PathBuf::from)
}

/// The full hash of `rev` as a commit; `None` when it names none.
pub(crate) fn commit_of(sh: &Shell, repo: &Path, rev: &str) -> Option<String> {
    let _dir = sh.push_dir(repo);
    let spec = format!("{rev}^{{commit}}");
    cmd!(sh, "git rev-parse --verify --quiet {spec}").quiet().ignore_stderr().read().ok().filter(|s| !s.is_empty())
}

/// HEAD's full hash, with `+dirty` when tracked files have uncommitted changes; `None` outside git.
pub(crate) fn head_state(sh: &Shell, repo: &Path) -> Option<String> {
    let head = commit_of(sh, repo, "HEAD")?;
    let _dir = sh.push_dir(repo);
    let dirty = cmd!(sh, "git status --porcelain --untracked-files=no").quiet().ignore_stderr().read().ok()?;
    Some(if dirty.trim().is_empty() { head } else { format!("{head}+dirty") })
}

/// The reference revision of a gate run, and why it is that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Full commit hash.
    pub(crate) commit: String,
    /// Why this commit: "the last commit that changed baselines/", or why HEAD stands in.
    pub(crate) why: String,
}

impl Reference {
    /// Seven characters of the hash.
    pub(crate) fn short(&self) -> &str {
        self.commit.get(..7).unwrap_or(&self.commit)
    }
}

/// The commit that holds the baselines in `baselines` (a directory of the repository holding
/// `root`): the last commit that changed it. HEAD stands in when the directory has uncommitted
/// changes (a bless not committed yet), is not tracked, or lies outside the repository. `None`
/// outside git or in a repository without commits.
pub(crate) fn baselines_reference(sh: &Shell, root: &Path, baselines: &Path) -> Result<Option<Reference>> {
    let Some(top) = toplevel(sh, root) else { return Ok(None) };
    let Some(head) = commit_of(sh, &top, "HEAD") else { return Ok(None) };
    let at_head = |why: &str| Ok(Some(Reference { commit: head.clone(), why: why.to_owned() }));
    let dir = std::path::absolute(baselines).with_context(|| format!("resolving {}", baselines.display()))?;
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let Ok(rel) = dir.strip_prefix(&top) else {
        return at_head("HEAD: the baselines directory lies outside the repository");
    };
    let _dir = sh.push_dir(&top);
    let status = cmd!(sh, "git status --porcelain -- {rel}").quiet().ignore_stderr().read().unwrap_or_default();
    if !status.trim().is_empty() {
        return at_head("HEAD: the baselines have uncommitted changes");
    }
    let last = cmd!(sh, "git log -1 --format=%H -- {rel}").quiet().ignore_stderr().read().unwrap_or_default();
    if last.trim().is_empty() {
        return at_head("HEAD: the baselines are not committed");
    }
    Ok(Some(Reference {
        commit: last.trim().to_owned(),
        why: format!("the last commit that changed {}", rel.display()),
    }))
}

/// Every commit that changed a file of `baselines_dir` (a directory inside the repository holding
/// `repo`), oldest first, with the suites it changed and every suite's baseline at that commit; the
/// input of `perf_gate::history::rebuild`. A baseline that no longer parses is skipped with a note.
pub(crate) fn baseline_commits(sh: &Shell, repo: &Path, baselines_dir: &Path) -> Result<Vec<BaselineCommit>> {
    let top = toplevel(sh, repo).context("history from git needs a git repository")?;
    let dir = std::path::absolute(baselines_dir)?;
    let rel = dir
        .strip_prefix(&top)
        .with_context(|| format!("{} is outside the git repository {}", dir.display(), top.display()))?
        .to_owned();
    let _top = sh.push_dir(&top);
    let log = cmd!(sh, "git log --reverse --format=%H%x1f%cI%x1f%s -- {rel}")
        .quiet()
        .read()
        .context("reading the git log of the baselines")?;
    let mut commits = Vec::new();
    for entry in history::parse_log(&log) {
        let commit = &entry.commit;
        let names = cmd!(sh, "git diff-tree --no-commit-id --name-only -r --root {commit} -- {rel}")
            .quiet()
            .read()
            .with_context(|| format!("listing the files {commit} changed"))?;
        let changed: Vec<Suite> = Suite::ALL
            .into_iter()
            .filter(|s| names.lines().any(|n| Path::new(n) == rel.join(format!("{}.json", s.name()))))
            .collect();
        let mut baselines = Vec::new();
        for suite in Suite::ALL {
            let spec = format!("{commit}:{}", rel.join(format!("{}.json", suite.name())).display());
            let Ok(text) = cmd!(sh, "git show {spec}").quiet().ignore_stderr().read() else { continue };
            match SuiteBaseline::parse(&text) {
                Ok(b) => baselines.push(b),
                Err(e) => eprintln!("perf history: skipping {spec}: {e:#}"),
            }
        }
        commits.push(BaselineCommit { entry, changed, baselines });
    }
    Ok(commits)
}

#[cfg(test)]
mod tests {
    use perf_gate::baseline::Provenance;
    use perf_gate::config::Config;
    use perf_gate::history::Point;
    use perf_gate::rules::Verdict;
    use perf_gate::schema::{Measurement, Metric};

    use super::*;

    fn git(dir: &Path, args: &[&str]) -> String {
        let out = std::process::Command::new("git")
            .args(args)
            .current_dir(dir)
            .env("GIT_AUTHOR_NAME", "t")
            .env("GIT_AUTHOR_EMAIL", "t@example.invalid")
            .env("GIT_COMMITTER_NAME", "t")
            .env("GIT_COMMITTER_EMAIL", "t@example.invalid")
            .output()
            .expect("run git");
        assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
        String::from_utf8_lossy(&out.stdout).trim().to_owned()
    }

    /// Writes `baselines/<suite>.json` holding one benchmark with `value`, blessed for `reason`.
    fn bless(repo: &Path, suite: Suite, metric: Metric, value: f64, reason: &str) {
        let provenance =
            Provenance { reason: reason.to_owned(), cpu_model: "Test CPU".into(), ..Provenance::default() };
        let m = Measurement::count("area/op/case", metric, value, &format!("{}_x", suite.name()));
        let baseline = SuiteBaseline::from_measurements(suite, provenance, &[m]);
        std::fs::create_dir_all(repo.join("baselines")).unwrap();
        std::fs::write(repo.join(format!("baselines/{}.json", suite.name())), baseline.to_text().unwrap()).unwrap();
    }

    fn commit(repo: &Path, message: &str, date: &str) -> String {
        git(repo, &["add", "-A"]);
        git(repo, &["-c", "commit.gpgsign=false", "commit", "-q", "-m", message, "--date", date]);
        git(repo, &["rev-parse", "HEAD"])
    }

    /// A repository with three commits that change baselines/ and one that does not.
    fn repo() -> (tempfile::TempDir, Vec<String>) {
        let dir = tempfile::tempdir().unwrap();
        let repo = dir.path();
        git(repo, &["init", "-q", "-b", "main"]);
        bless(repo, Suite::Instr, Metric::Instructions, 1000.0, "first baseline");
        let first = commit(repo, "first baseline", "2026-01-01T00:00:00Z");
        std::fs::write(repo.join("README"), "unrelated").unwrap();
        commit(repo, "docs only", "2026-01-02T00:00:00Z");
        bless(repo, Suite::Instr, Metric::Instructions, 1200.0, "parser does more work");
        bless(repo, Suite::Heap, Metric::HeapTotalBlocks, 10.0, "heap suite added");
        let second = commit(repo, "slower parser", "2026-01-03T00:00:00Z");
        bless(repo, Suite::Instr, Metric::Instructions, 900.0, "single-pass decode");
        let third = commit(repo, "faster parser", "2026-01-04T00:00:00Z");
        (dir, vec![first, second, third])
    }

    fn points(dir: &Path) -> Vec<Point> {
        let commits = baseline_commits(&Shell::new().unwrap(), dir, &dir.join("baselines")).unwrap();
        history::rebuild(commits, &Config::default())
    }

    #[test]
    fn every_commit_that_changed_baselines_is_one_point_oldest_first() {
        let (dir, commits) = repo();

        let points = points(dir.path());

        let got: Vec<&str> = points.iter().map(|p| p.commit.as_str()).collect();
        assert_eq!(got, commits.iter().map(String::as_str).collect::<Vec<_>>());
    }

    #[test]
    fn points_carry_every_suite_standing_at_their_commit() {
        let (dir, _) = repo();

        let points = points(dir.path());

        let values: Vec<Vec<(Metric, f64)>> =
            points.iter().map(|p| p.measurements.iter().map(|m| (m.metric, m.value)).collect()).collect();
        assert_eq!(
            values,
            [
                vec![(Metric::Instructions, 1000.0)],
                vec![(Metric::Instructions, 1200.0), (Metric::HeapTotalBlocks, 10.0)],
                vec![(Metric::Instructions, 900.0), (Metric::HeapTotalBlocks, 10.0)],
            ]
        );
    }

    #[test]
    fn blessed_suites_carry_their_reasons_and_the_calls_against_the_previous_baseline() {
        let (dir, _) = repo();

        let points = points(dir.path());

        let blessed: Vec<Vec<(Suite, &str)>> =
            points.iter().map(|p| p.blessed.iter().map(|b| (b.suite, b.reason.as_str())).collect()).collect();
        assert_eq!(
            blessed,
            [
                vec![(Suite::Instr, "first baseline")],
                vec![(Suite::Instr, "parser does more work"), (Suite::Heap, "heap suite added")],
                vec![(Suite::Instr, "single-pass decode")],
            ]
        );
        let calls: Vec<Vec<(Verdict, i64)>> = points
            .iter()
            .map(|p| p.calls.iter().map(|c| (c.verdict, (c.change * 100.0).round() as i64)).collect())
            .collect();
        assert_eq!(calls, [vec![], vec![(Verdict::Regression, 20)], vec![(Verdict::Improvement, -25)]]);
    }

    #[test]
    fn baselines_outside_the_repository_are_an_error() {
        let (dir, _) = repo();
        let elsewhere = tempfile::tempdir().unwrap();

        let err = baseline_commits(&Shell::new().unwrap(), dir.path(), elsewhere.path()).unwrap_err();

        assert!(format!("{err:#}").contains("outside the git repository"), "{err:#}");
    }
}
