//! End-to-end contract of `cargo xtask perf bisect`, with the real tools (git, cargo, iai-callgrind
//! under valgrind) on a temporary git repository holding a copy of the synthetic bench crate
//! (`test_data/synth`) in a subdirectory, with five commits of which exactly one adds work: it
//! raises `BASE_ITERATIONS` by 10%.
//!
//! The bisection itself runs once and the tests check different things about it; every run takes a
//! lock, because they share the bisect worktree under the target directory. The target directory is
//! the one `perf_gate.rs` uses, so the bench dependencies are built once for both (the first run on a
//! cold target directory takes about a minute and a half).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

const WORK_SUBJECT: &str = "raise the base iterations by ten percent";

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("perf-synth")
}

fn lock() -> MutexGuard<'static, ()> {
    static LOCK: Mutex<()> = Mutex::new(());
    LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

fn git(repo: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .arg("-C")
        .arg(repo)
        .args(["-c", "commit.gpgsign=false", "-c", "core.hooksPath=/dev/null"])
        .args(args)
        .env("GIT_AUTHOR_NAME", "Synth")
        .env("GIT_AUTHOR_EMAIL", "synth@example.invalid")
        .env("GIT_COMMITTER_NAME", "Synth")
        .env("GIT_COMMITTER_EMAIL", "synth@example.invalid")
        .output()
        .expect("start git");
    assert!(output.status.success(), "git {args:?} failed:\n{}", text(&output));
    String::from_utf8_lossy(&output.stdout).trim().to_owned()
}

fn text(output: &Output) -> String {
    format!("{}\n--- stderr ---\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

fn copy_dir(from: &Path, to: &Path) {
    std::fs::create_dir_all(to).unwrap();
    for entry in std::fs::read_dir(from).unwrap().map(Result::unwrap) {
        let path = entry.path();
        if path.is_dir() {
            copy_dir(&path, &to.join(entry.file_name()));
        } else {
            std::fs::copy(&path, to.join(entry.file_name())).unwrap();
        }
    }
}

/// A temporary repository: the synthetic crate under `bench/`, and its commits oldest first.
struct Fixture {
    _dir: tempfile::TempDir,
    repo: PathBuf,
    commits: Vec<String>,
}

impl Fixture {
    /// The repository with the unchanged crate as its first commit.
    fn new() -> Fixture {
        let dir = tempfile::tempdir().expect("temp dir");
        let repo = dir.path().join("repo");
        let mut fixture = Fixture { repo: repo.clone(), _dir: dir, commits: Vec::new() };
        let (synth, crate_dir) = (common::manifest_dir().join("test_data/synth"), fixture.root());
        std::fs::create_dir_all(&crate_dir).unwrap();
        for item in ["Cargo.toml", "Cargo.lock", "perf.toml"] {
            std::fs::copy(synth.join(item), crate_dir.join(item)).unwrap();
        }
        for item in ["src", "benches"] {
            copy_dir(&synth.join(item), &crate_dir.join(item));
        }
        std::fs::write(repo.join(".gitignore"), "target/\n").unwrap();
        git(&repo, &["init", "--quiet", "--initial-branch=main"]);
        fixture.commit("the synthetic bench crate");
        fixture
    }

    fn root(&self) -> PathBuf {
        self.repo.join("bench")
    }

    fn commit(&mut self, subject: &str) {
        git(&self.repo, &["add", "--all"]);
        git(&self.repo, &["commit", "--quiet", "-m", subject]);
        self.commits.push(git(&self.repo, &["rev-parse", "HEAD"]));
    }

    /// Rewrites `path` (relative to the repository) with `edit`, then commits.
    fn change(&mut self, path: &str, subject: &str, edit: impl FnOnce(String) -> String) {
        let file = self.repo.join(path);
        let before = std::fs::read_to_string(&file).unwrap_or_default();
        let after = edit(before.clone());
        assert_ne!(before, after, "{subject}: nothing changed in {path}");
        std::fs::write(&file, after).unwrap();
        self.commit(subject);
    }

    /// The commit that adds 10% more work.
    fn add_work(&mut self) {
        self.change("bench/src/lib.rs", WORK_SUBJECT, |s| {
            s.replace("BASE_ITERATIONS: u64 = 20_000;", "BASE_ITERATIONS: u64 = 22_000;")
        });
    }
}

/// Five commits; the third adds work, the others do not change the benchmark.
fn fixture() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut fixture = Fixture::new();
        fixture.change("README.md", "readme: say what this is", |_| "A synthetic bench crate.\n".to_owned());
        fixture.add_work();
        fixture.change("bench/src/lib.rs", "comment on the workload's size", |s| s + "\n// Deliberately tiny.\n");
        fixture.change("README.md", "readme: name its use", |s| s + "It serves perf bisect's tests.\n");
        fixture
    })
}

/// Five commits; the second adds work, the third does not compile (the fourth repairs it), so the
/// bisection's first midpoint must be skipped.
fn fixture_with_a_broken_commit() -> &'static Fixture {
    static FIXTURE: OnceLock<Fixture> = OnceLock::new();
    FIXTURE.get_or_init(|| {
        let mut fixture = Fixture::new();
        fixture.add_work();
        fixture.change("bench/src/lib.rs", "start a helper (does not compile)", |s| s + "\npub fn unfinished( {\n");
        fixture.change("bench/src/lib.rs", "finish the helper", |s| {
            s.replace("pub fn unfinished( {", "pub fn unfinished() {}")
        });
        fixture.change("README.md", "readme: say what this is", |_| "A synthetic bench crate.\n".to_owned());
        fixture
    })
}

fn bisect(root: &Path, good: &str, bad: &str, bench: &str) -> Output {
    Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf", "--root"])
        .arg(root)
        .args(["bisect", "--good", good, "--bad", bad, "--bench", bench])
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("HAPULSE_PERF_ROOT")
        .env_remove("SYNTH_EXTRA_WORK_PERCENT")
        .output()
        .expect("start xtask")
}

/// What the user's repository looks like: HEAD, status, worktrees, its own bisect session.
#[derive(Debug, PartialEq)]
struct RepoState {
    head: String,
    status: String,
    worktrees: String,
    bisect_log: String,
}

fn state(repo: &Path) -> RepoState {
    RepoState {
        head: git(repo, &["rev-parse", "HEAD"]),
        status: git(repo, &["status", "--porcelain"]),
        worktrees: git(repo, &["worktree", "list", "--porcelain"]),
        bisect_log: git(repo, &["bisect", "log"]),
    }
}

/// The one bisection of the fixture, from the first commit to HEAD, with the user's own bisect
/// session (started, one bad mark, no checkout yet) in progress.
struct Run {
    output: Output,
    before: RepoState,
    after: RepoState,
}

fn run() -> &'static Run {
    static RUN: OnceLock<Run> = OnceLock::new();
    RUN.get_or_init(|| {
        let fixture = fixture();
        let _lock = lock();
        git(&fixture.repo, &["bisect", "start"]);
        git(&fixture.repo, &["bisect", "bad", "HEAD"]);
        let before = state(&fixture.repo);

        let output = bisect(&fixture.root(), &fixture.commits[0], "HEAD", "synth/sum/small");

        let after = state(&fixture.repo);
        git(&fixture.repo, &["bisect", "reset"]);
        Run { output, before, after }
    })
}

/// The hash and subject of the `first bad commit:` line.
fn first_bad_commit(stdout: &str) -> (String, String) {
    let line = stdout.lines().find_map(|l| l.strip_prefix("first bad commit: "));
    let (hash, subject) =
        line.and_then(|l| l.split_once(' ')).unwrap_or_else(|| panic!("no first bad commit in:\n{stdout}"));
    (hash.to_owned(), subject.to_owned())
}

/// The `+x.xx%` of the line that compares the first bad commit with its parent.
fn change_against_parent(stdout: &str) -> f64 {
    let line = stdout.lines().find(|l| l.contains("against its parent")).expect("a change line");
    let (_, rest) = line.split_once("(+").expect("a positive change");
    rest.split_once("%)").expect("a percent").0.parse().expect("a number")
}

#[test]
fn bisect_names_the_commit_that_added_work() {
    if !common::valgrind_or_skip("bisect_names_the_commit_that_added_work") {
        return;
    }
    let fixture = fixture();

    let run = run();

    assert_eq!(run.output.status.code(), Some(0), "{}", text(&run.output));
    let (hash, subject) = first_bad_commit(&String::from_utf8_lossy(&run.output.stdout));
    assert!(hash.len() >= 7 && fixture.commits[2].starts_with(&hash), "{hash} is not {}", fixture.commits[2]);
    assert_eq!(subject, WORK_SUBJECT);
}

#[test]
fn bisect_reports_a_change_of_about_ten_percent() {
    if !common::valgrind_or_skip("bisect_reports_a_change_of_about_ten_percent") {
        return;
    }
    let run = run();

    let change = change_against_parent(&String::from_utf8_lossy(&run.output.stdout));

    assert!((9.0..=10.5).contains(&change), "{change}% in {}", text(&run.output));
}

#[test]
fn bisect_leaves_the_users_tree_head_and_worktrees_untouched() {
    if !common::valgrind_or_skip("bisect_leaves_the_users_tree_head_and_worktrees_untouched") {
        return;
    }
    let run = run();

    let (before, after) = (&run.before, &run.after);

    assert_eq!(after.head, before.head);
    assert_eq!(after.status, "");
    assert_eq!(after.worktrees.matches("worktree ").count(), 1, "{}", after.worktrees);
}

#[test]
fn bisect_keeps_the_users_own_bisect_session() {
    if !common::valgrind_or_skip("bisect_keeps_the_users_own_bisect_session") {
        return;
    }
    let run = run();

    let (before, after) = (&run.before.bisect_log, &run.after.bisect_log);

    assert!(before.contains("git bisect bad"), "{before}");
    assert_eq!(after, before);
}

#[test]
fn a_commit_that_does_not_build_is_skipped_and_the_first_bad_commit_still_found() {
    if !common::valgrind_or_skip("a_commit_that_does_not_build_is_skipped_and_the_first_bad_commit_still_found") {
        return;
    }
    let fixture = fixture_with_a_broken_commit();
    let _lock = lock();

    let output = bisect(&fixture.root(), &fixture.commits[0], "HEAD", "synth/sum/small");

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let (hash, _) = first_bad_commit(&stdout);
    assert!(hash.len() >= 7 && fixture.commits[1].starts_with(&hash), "{hash} is not {}", fixture.commits[1]);
    assert!(stdout.contains(", 1 skipped"), "{stdout}");
}

#[test]
fn no_regression_between_good_and_bad_is_an_error_and_leaves_no_worktree() {
    if !common::valgrind_or_skip("no_regression_between_good_and_bad_is_an_error_and_leaves_no_worktree") {
        return;
    }
    let fixture = fixture();
    let _lock = lock();

    let output = bisect(&fixture.root(), &fixture.commits[0], &fixture.commits[1], "synth/sum/small");

    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("no regression between good "), "{stderr}");
    assert_eq!(git(&fixture.repo, &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
}

#[test]
fn unknown_benchmark_is_a_usage_error_and_leaves_no_worktree() {
    if !common::valgrind_or_skip("unknown_benchmark_is_a_usage_error_and_leaves_no_worktree") {
        return;
    }
    let fixture = fixture();
    let _lock = lock();

    let output = bisect(&fixture.root(), &fixture.commits[0], "HEAD", "synth/sum/nowhere");

    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("benchmark `synth/sum/nowhere` (instructions) does not exist at good"), "{stderr}");
    assert_eq!(git(&fixture.repo, &["worktree", "list", "--porcelain"]).matches("worktree ").count(), 1);
}

#[test]
fn good_after_bad_is_a_usage_error() {
    if !common::valgrind_or_skip("good_after_bad_is_a_usage_error") {
        return;
    }
    let fixture = fixture();
    let _lock = lock();

    let output = bisect(&fixture.root(), "HEAD", &fixture.commits[0], "synth/sum/small");

    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("is not an ancestor of --bad"), "{}", text(&output));
}

/// A/B mode lives in `perf.rs`, but it needs what this file builds: a repository whose base and head
/// differ. With one CARGO_TARGET_DIR for both checkouts, cargo names their bench binaries alike, so
/// the base once overwrote head's and both runs measured the base (8,491 -> 8,491 "unchanged" on the
/// real benches for a change that saves 46%).
#[test]
fn ab_mode_with_a_shared_target_directory_measures_base_and_head_apart() {
    if !common::valgrind_or_skip("ab_mode_with_a_shared_target_directory_measures_base_and_head_apart") {
        return;
    }
    let fixture = fixture();
    let _lock = lock();

    let output = Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf", "--root"])
        .arg(fixture.root())
        .args(["--base", &fixture.commits[0], "--suite", "instr"])
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("HAPULSE_PERF_ROOT")
        .env_remove("SYNTH_EXTRA_WORK_PERCENT")
        .env_remove("GITHUB_STEP_SUMMARY")
        .output()
        .expect("start xtask");

    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let row = stdout
        .lines()
        .find(|l| l.split_whitespace().take(2).eq(["synth/sum/small", "instructions"]))
        .unwrap_or_else(|| panic!("no synth/sum/small row in:\n{stdout}"));
    let change: f64 = row
        .split_whitespace()
        .find_map(|w| w.strip_suffix('%').and_then(|p| p.parse().ok()))
        .unwrap_or_else(|| panic!("no change in `{row}`"));
    assert!((9.0..=10.5).contains(&change) && row.ends_with("regression"), "{row}");
}
