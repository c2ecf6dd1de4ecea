//! `cargo xtask release tag|verify` in a temporary git repository with a bare remote. The perf gate is
//! replaced by a script (HAPULSE_RELEASE_GATE) that writes a given report.json and exits with a given code.

use std::path::{Path, PathBuf};
use std::process::{Command, Output};

use serde_json::{Value, json};

const GATE: &str = "#!/bin/sh\n\
    # Fake perf gate: copies $FAKE_REPORT (when set) to target/perf/report.json, exits $FAKE_EXIT.\n\
    if [ -n \"$FAKE_REPORT\" ]; then mkdir -p target/perf && cp \"$FAKE_REPORT\" target/perf/report.json; fi\n\
    exit \"${FAKE_EXIT:-0}\"\n";

struct Repo {
    _dir: tempfile::TempDir,
    work: PathBuf,
    remote: PathBuf,
    gate: PathBuf,
    report: PathBuf,
}

fn git(dir: &Path, args: &[&str]) -> String {
    let out = identity(Command::new("git").args(args).current_dir(dir)).output().unwrap();
    assert!(out.status.success(), "git {args:?}: {}", String::from_utf8_lossy(&out.stderr));
    String::from_utf8(out.stdout).unwrap().trim().to_owned()
}

fn identity(command: &mut Command) -> &mut Command {
    command
        .env("GIT_AUTHOR_NAME", "Test")
        .env("GIT_AUTHOR_EMAIL", "test@example.invalid")
        .env("GIT_COMMITTER_NAME", "Test")
        .env("GIT_COMMITTER_EMAIL", "test@example.invalid")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_CONFIG_NOSYSTEM", "1")
}

fn report(outcome: &str, exit_code: u8) -> Value {
    json!({
        "schema": 1, "mode": {"kind": "baselines"}, "outcome": outcome, "exit_code": exit_code,
        "summary": if exit_code == 0 { "1 improvement, 1 unchanged" } else { "1 regression, 1 unchanged" },
        "rows": [
            {"id": "proto/parse/n10k", "metric": "instructions", "unit": "instructions", "baseline": 46006873.0,
             "current": 45000000.0, "change": -0.0219, "verdict": "improvement", "fails": false},
            {"id": "state/load/n16384", "metric": "heap_max_bytes", "unit": "bytes", "baseline": 1000.0,
             "current": 1000.0, "change": 0.0, "verdict": "unchanged", "fails": false}
        ],
        "budgets": [], "stale": [], "not_measured": [], "bless_command": "", "shards": []
    })
}

/// A repository with one commit (a baseline file included), a bare remote `origin`, and the fake gate.
fn repo(gate_report: &Value) -> Repo {
    let dir = tempfile::tempdir().unwrap();
    let work = dir.path().join("work");
    let remote = dir.path().join("remote.git");
    std::fs::create_dir_all(work.join("baselines")).unwrap();
    git(dir.path(), &["init", "--quiet", "--bare", remote.to_str().unwrap()]);
    git(&work, &["init", "--quiet", "-b", "main"]);
    std::fs::write(work.join(".gitignore"), "/target\n").unwrap();
    std::fs::write(work.join("README.md"), "hello\n").unwrap();
    let baseline = json!({"schema": 1, "suite": "instr", "benchmarks": {}, "provenance": {
        "git_commit": "0123456789abcdef", "date": "2026-11-26T10:00:00Z", "reason": "first baseline",
        "rustc": "rustc 1.95.0 (test)\n", "valgrind": "valgrind-3.19.0"}});
    std::fs::write(work.join("baselines/instr.json"), baseline.to_string()).unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "first"]);
    git(&work, &["remote", "add", "origin", remote.to_str().unwrap()]);
    let gate = dir.path().join("fake-gate.sh");
    std::fs::write(&gate, GATE).unwrap();
    std::fs::set_permissions(&gate, std::os::unix::fs::PermissionsExt::from_mode(0o755)).unwrap();
    let report = dir.path().join("gate-report.json");
    std::fs::write(&report, gate_report.to_string()).unwrap();
    Repo { _dir: dir, work, remote, gate, report }
}

struct Run {
    code: i32,
    output: String,
}

fn xtask(repo: &Repo, args: &[&str], gate_exit: u8, write_report: bool) -> Run {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    identity(command.args(args).current_dir(&repo.work))
        .env("HAPULSE_RELEASE_GATE", &repo.gate)
        .env("FAKE_EXIT", gate_exit.to_string())
        .env_remove("CARGO_TARGET_DIR");
    if write_report {
        command.env("FAKE_REPORT", &repo.report);
    } else {
        command.env_remove("FAKE_REPORT");
    }
    let out: Output = command.output().unwrap();
    let output = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Run { code: out.status.code().unwrap_or(-1), output }
}

fn tags(dir: &Path) -> String {
    git(dir, &["tag", "--list"])
}

#[test]
fn passing_gate_gives_an_annotated_tag_with_the_verdict_and_trailer() {
    let repo = repo(&report("pass", 0));
    let head = git(&repo.work, &["rev-parse", "HEAD"]);

    let run = xtask(&repo, &["release", "tag", "v0.2.0"], 0, true);

    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(git(&repo.work, &["cat-file", "-t", "v0.2.0"]), "tag");
    assert_eq!(git(&repo.work, &["rev-parse", "v0.2.0^{commit}"]), head);
    let message = git(&repo.work, &["for-each-ref", "--format=%(contents)", "refs/tags/v0.2.0"]);
    assert!(message.contains(&format!("Commit: {head}")), "{message}");
    assert!(message.contains("Summary: 1 improvement, 1 unchanged"), "{message}");
    assert!(message.contains("proto/parse/n10k  instructions  45,000,000 instructions  -2.19%  improvement"));
    assert!(message.contains("instr.json: blessed at 0123456789ab on 2026-11-26T10:00:00Z, reason \"first baseline\""));
    assert!(message.contains("\n\nPerf-Validated: yes\n"), "{message}");
}

#[test]
fn dirty_tree_is_refused_before_the_gate_runs() {
    let repo = repo(&report("pass", 0));
    std::fs::write(repo.work.join("README.md"), "changed\n").unwrap();

    let run = xtask(&repo, &["release", "tag", "v0.2.0"], 0, true);

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("the working tree is not clean") && run.output.contains("README.md"), "{}", run.output);
    assert!(!run.output.contains("running the perf gate"), "{}", run.output);
    assert_eq!(tags(&repo.work), "");
}

#[test]
fn existing_tag_is_refused() {
    let repo = repo(&report("pass", 0));
    git(&repo.work, &["tag", "v0.2.0"]);

    let run = xtask(&repo, &["release", "tag", "v0.2.0"], 0, true);

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("tag v0.2.0 already exists"), "{}", run.output);
    assert_eq!(git(&repo.work, &["cat-file", "-t", "v0.2.0"]), "commit", "the old tag is untouched");
}

#[test]
fn failing_gate_is_refused_and_no_tag_is_created() {
    let repo = repo(&report("regression", 3));

    let run = xtask(&repo, &["release", "tag", "v0.2.0"], 3, true);

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("the perf gate failed for HEAD"), "{}", run.output);
    assert_eq!(tags(&repo.work), "");
}

#[test]
fn report_left_by_an_earlier_run_is_not_accepted() {
    // arrange: a passing report from an earlier run, and a gate that exits 0 without writing one
    let repo = repo(&report("pass", 0));
    std::fs::create_dir_all(repo.work.join("target/perf")).unwrap();
    std::fs::copy(&repo.report, repo.work.join("target/perf/report.json")).unwrap();

    // act
    let run = xtask(&repo, &["release", "tag", "v0.2.0"], 0, false);

    // assert
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("wrote no report"), "{}", run.output);
    assert_eq!(tags(&repo.work), "");
}

#[test]
fn report_that_did_not_pass_is_refused_even_when_the_gate_exits_0() {
    let repo = repo(&report("incomplete", 1));

    let run = xtask(&repo, &["release", "tag", "v0.2.0"], 0, true);

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("the perf gate did not pass: outcome `incomplete`"), "{}", run.output);
    assert_eq!(tags(&repo.work), "");
}

#[test]
fn push_sends_the_tag_to_the_bare_remote() {
    let repo = repo(&report("pass", 0));

    let run = xtask(&repo, &["release", "tag", "v1.0.0", "--push", "--remote", "origin"], 0, true);

    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(git(&repo.remote, &["cat-file", "-t", "refs/tags/v1.0.0"]), "tag");
    assert_eq!(git(&repo.remote, &["rev-parse", "v1.0.0"]), git(&repo.work, &["rev-parse", "v1.0.0"]));
}

#[test]
fn tag_existing_only_on_the_remote_is_refused_when_pushing() {
    let repo = repo(&report("pass", 0));
    git(&repo.work, &["tag", "v1.0.0"]);
    git(&repo.work, &["push", "--quiet", "origin", "v1.0.0"]);
    git(&repo.work, &["tag", "-d", "v1.0.0"]);

    let run = xtask(&repo, &["release", "tag", "v1.0.0", "--push"], 0, true);

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("already exists on remote `origin`"), "{}", run.output);
}

#[test]
fn verify_prints_the_recorded_verdict() {
    let repo = repo(&report("pass", 0));
    let tagged = xtask(&repo, &["release", "tag", "v0.3.0"], 0, true);
    assert_eq!(tagged.code, 0, "{}", tagged.output);
    let head = git(&repo.work, &["rev-parse", "HEAD"]);

    let run = xtask(&repo, &["release", "verify", "v0.3.0"], 0, false);

    assert_eq!(run.code, 0, "{}", run.output);
    assert!(
        run.output.contains(&format!("v0.3.0: perf gate pass for {head} (1 improvement, 1 unchanged)")),
        "{}",
        run.output
    );
    assert!(run.output.contains("validated by a substitute gate"), "the test hook shows: {}", run.output);
}

#[test]
fn verify_fails_for_tags_without_a_verdict() {
    // arrange: an annotated tag without trailers and a lightweight tag
    let repo = repo(&report("pass", 0));
    git(&repo.work, &["tag", "-a", "v0.0.1", "-m", "hand-made"]);
    git(&repo.work, &["tag", "v0.0.2"]);

    // act
    let annotated = xtask(&repo, &["release", "verify", "v0.0.1"], 0, false);
    let lightweight = xtask(&repo, &["release", "verify", "v0.0.2"], 0, false);

    // assert
    assert_eq!((annotated.code, lightweight.code), (1, 1), "{}\n{}", annotated.output, lightweight.output);
    assert!(annotated.output.contains("records no perf verdict"), "{}", annotated.output);
    assert!(lightweight.output.contains("lightweight tag"), "{}", lightweight.output);
}

#[test]
fn malformed_version_is_a_usage_error() {
    let repo = repo(&report("pass", 0));

    let run = xtask(&repo, &["release", "tag", "1.0"], 0, true);

    assert_eq!(run.code, 2, "{}", run.output);
    assert_eq!(tags(&repo.work), "");
}

#[test]
fn head_outside_the_only_on_branch_is_refused_before_the_gate_runs() {
    // arrange: HEAD is a commit of a side branch, never merged into main
    let repo = repo(&report("pass", 0));
    git(&repo.work, &["switch", "--quiet", "-c", "side"]);
    git(&repo.work, &["commit", "--quiet", "--allow-empty", "-m", "side work"]);

    // act
    let run = xtask(&repo, &["release", "tag", "v0.2.0", "--only-on", "main"], 0, true);

    // assert
    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("is not on `main`"), "{}", run.output);
    assert!(!run.output.contains("running the perf gate"), "{}", run.output);
    assert_eq!(tags(&repo.work), "");
}

#[test]
fn head_on_the_only_on_branch_of_the_remote_is_tagged() {
    let repo = repo(&report("pass", 0));
    git(&repo.work, &["push", "--quiet", "origin", "main"]);
    git(&repo.work, &["fetch", "--quiet", "origin"]);

    let run = xtask(&repo, &["release", "tag", "v0.2.0", "--only-on", "origin/main"], 0, true);

    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(tags(&repo.work), "v0.2.0");
}

#[test]
fn only_on_a_ref_that_does_not_exist_says_to_fetch_it() {
    let repo = repo(&report("pass", 0));

    let run = xtask(&repo, &["release", "tag", "v0.2.0", "--only-on", "origin/main"], 0, true);

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("`origin/main` (--only-on) names no commit here; fetch it first"), "{}", run.output);
    assert_eq!(tags(&repo.work), "");
}
