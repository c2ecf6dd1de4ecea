//! Every question xtask asks git (I/O edge), in one place: the repository's top directory, which
//! commit a revision names, HEAD and its state, a file as it stood at a revision, the revision that
//! holds the committed baselines (the reference the default gate measures A/B), the commits that
//! changed the baselines (history from git), ancestry and subjects (bisect, release).

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

/// The text of `path` (relative to the repository's top) as it stood at `rev`; `None` when it did
/// not exist there.
pub(crate) fn show_file(sh: &Shell, top: &Path, rev: &str, path: &Path) -> Option<String> {
    let _dir = sh.push_dir(top);
    let spec = format!("{rev}:{}", path.display());
    cmd!(sh, "git show {spec}").quiet().ignore_stderr().read().ok()
}

/// `path` (absolute or relative to the current directory) relative to the repository's top `top`.
pub(crate) fn relative_to_top(top: &Path, path: &Path) -> Result<PathBuf> {
    let path = std::path::absolute(path).with_context(|| format!("resolving {}", path.display()))?;
    let canonical_top = std::fs::canonicalize(top).unwrap_or_else(|_| top.to_owned());
    let canonical = std::fs::canonicalize(&path).unwrap_or_else(|_| path.clone());
    canonical
        .strip_prefix(&canonical_top)
        .or_else(|_| path.strip_prefix(top))
        .map(Path::to_owned)
        .with_context(|| format!("{} is outside the git repository {}", path.display(), top.display()))
}

/// Hash, committer date and subject of `rev` (HEAD for a gate run's history point).
pub(crate) fn log_entry(sh: &Shell, repo: &Path, rev: &str) -> Option<history::LogEntry> {
    let _dir = sh.push_dir(repo);
    let text = cmd!(sh, "git show -s --format=%H%x1f%cI%x1f%s {rev}").quiet().ignore_stderr().read().ok()?;
    history::parse_log(&text).pop()
}

/// Whether `ancestor` is an ancestor of (or equal to) `of`; an error when git cannot tell.
pub(crate) fn is_ancestor(sh: &Shell, repo: &Path, ancestor: &str, of: &str) -> Result<bool> {
    let _dir = sh.push_dir(repo);
    let output = cmd!(sh, "git merge-base --is-ancestor {ancestor} {of}")
        .quiet()
        .ignore_status()
        .output()
        .context("asking git whether one commit is an ancestor of another")?;
    match output.status.code() {
        Some(0) => Ok(true),
        Some(1) => Ok(false),
        _ => anyhow::bail!("git merge-base --is-ancestor failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
    }
}

/// Seven-or-more characters naming `commit` (git's `--short`), or the commit itself when git cannot.
pub(crate) fn short(sh: &Shell, repo: &Path, commit: &str) -> String {
    let _dir = sh.push_dir(repo);
    cmd!(sh, "git rev-parse --short {commit}").quiet().ignore_stderr().read().unwrap_or_else(|_| commit.to_owned())
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
    let Ok(rel) = relative_to_top(&top, baselines) else {
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
    let rel = relative_to_top(&top, baselines_dir)?;
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
        for (suite, found) in baselines_at(sh, &top, &rel, commit) {
            match found {
                Ok(b) => baselines.push(b),
                Err(e) => eprintln!("perf history: skipping {} at {commit}: {e:#}", suite.name()),
            }
        }
        commits.push(BaselineCommit { entry, changed, baselines });
    }
    Ok(commits)
}

/// Each suite's baseline file in `rel` (a directory relative to the repository's top `top`) as it
/// stood at `rev`: suites without a file there are left out; a file that does not parse is an error.
pub(crate) fn baselines_at(sh: &Shell, top: &Path, rel: &Path, rev: &str) -> Vec<(Suite, Result<SuiteBaseline>)> {
    Suite::ALL
        .into_iter()
        .filter_map(|suite| {
            let path = rel.join(format!("{}.json", suite.name()));
            let text = show_file(sh, top, rev, &path)?;
            Some((suite, SuiteBaseline::parse(&text).with_context(|| format!("in {rev}:{}", path.display()))))
        })
        .collect()
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
