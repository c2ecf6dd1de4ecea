//! End-to-end contract of `cargo xtask perf`, with the real tools (cargo, criterion, iai-callgrind
//! under valgrind, dhat) on the synthetic bench crate in `test_data/synth`. The crate reads
//! environment variables outside its measured regions to inject exactly one kind of change:
//! `SYNTH_EXTRA_WORK_PERCENT` (more instructions), `SYNTH_EXTRA_ALLOCS` (more allocations) and
//! `SYNTH_WALL_NOISE_US` (a busy wait inside the wall-clock benchmark only: a slowdown that no
//! instruction count sees). A/B runs (`--base`, and the confirmation of a wall regression against
//! a committed baseline) measure the synthetic crate as committed at HEAD as the base, and
//! `--head-env` injects into head's processes only.
//!
//! The tests share one target directory and one blessed baseline, so they take a lock and run one
//! at a time; the first one pays for the build (about a minute on a cold target directory).

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::{Mutex, MutexGuard, OnceLock};

const INJECTIONS: [&str; 7] = [
    "SYNTH_EXTRA_WORK_PERCENT",
    "SYNTH_EXTRA_ALLOCS",
    "SYNTH_WALL_NOISE_US",
    "SYNTH_EXTRA_MISSES_PERCENT",
    "SYNTH_EXTRA_SYSCALLS",
    "SYNTH_SYSCALL_WORK",
    "SYNTH_PROBE",
];

fn synth_root() -> PathBuf {
    common::manifest_dir().join("test_data/synth")
}

fn target_dir() -> PathBuf {
    Path::new(env!("CARGO_TARGET_TMPDIR")).join("perf-synth")
}

fn perf(baselines: &Path, args: &[&str], envs: &[(&str, &str)]) -> Output {
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    command
        .arg("perf")
        .arg("--root")
        .arg(synth_root())
        .arg("--baselines")
        .arg(baselines)
        .args(args)
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("GITHUB_STEP_SUMMARY")
        .env_remove("HAPULSE_PERF_ROOT");
    for name in INJECTIONS {
        command.env_remove(name);
    }
    command.envs(envs.iter().copied());
    command.output().expect("start xtask")
}

fn text(output: &Output) -> String {
    format!("{}\n--- stderr ---\n{}", String::from_utf8_lossy(&output.stdout), String::from_utf8_lossy(&output.stderr))
}

/// Serialises the tests and blesses the unchanged synthetic crate once.
fn blessed() -> (MutexGuard<'static, ()>, &'static Path) {
    static LOCK: Mutex<()> = Mutex::new(());
    static BASELINES: OnceLock<PathBuf> = OnceLock::new();
    let guard = LOCK.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let dir = BASELINES.get_or_init(|| {
        let dir = tempfile::tempdir().expect("temp dir").keep();
        let output = perf(&dir, &["bless", "--reason", "end-to-end test"], &[]);
        assert!(output.status.success(), "bless failed:\n{}", text(&output));
        dir
    });
    (guard, dir.as_path())
}

/// The stdout line of the table row for `id` and `metric`.
fn row<'a>(stdout: &'a str, id: &str, metric: &str) -> &'a str {
    stdout
        .lines()
        .find(|l| l.split_whitespace().take(2).eq([id, metric]))
        .unwrap_or_else(|| panic!("no row {id} {metric} in:\n{stdout}"))
}

#[test]
fn unchanged_tree_passes_with_exit_0() {
    if !common::valgrind_or_skip("unchanged_tree_passes_with_exit_0") {
        return;
    }
    let (_lock, baselines) = blessed();

    let output = perf(baselines, &[], &[]);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stdout).contains("perf gate: pass"), "{}", text(&output));
}

#[test]
fn one_percent_more_instructions_fails_with_exit_3_naming_the_benchmark() {
    if !common::valgrind_or_skip("one_percent_more_instructions_fails_with_exit_3_naming_the_benchmark") {
        return;
    }
    let (_lock, baselines) = blessed();

    let output = perf(baselines, &["--suite", "instr,heap"], &[("SYNTH_EXTRA_WORK_PERCENT", "1")]);

    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(row(&stdout, "synth/sum/small", "instructions").ends_with("regression"), "{stdout}");
}

#[test]
fn filter_that_matches_no_benchmark_is_a_usage_error_not_a_pass() {
    if !common::valgrind_or_skip("filter_that_matches_no_benchmark_is_a_usage_error_not_a_pass") {
        return;
    }
    let (_lock, baselines) = blessed();

    let output = perf(baselines, &["--suite", "heap", "--filter", "synth/no_such_bench"], &[]);

    assert_eq!(output.status.code(), Some(2), "{}", text(&output));
    assert!(String::from_utf8_lossy(&output.stderr).contains("matched no benchmark"), "{}", text(&output));
}

#[test]
fn one_extra_allocation_fails_with_exit_3() {
    if !common::valgrind_or_skip("one_extra_allocation_fails_with_exit_3") {
        return;
    }
    let (_lock, baselines) = blessed();

    let output = perf(baselines, &[], &[("SYNTH_EXTRA_ALLOCS", "1")]);

    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(row(&stdout, "synth/alloc/hundred", "heap_total_blocks").ends_with("regression"), "{stdout}");
}

/// A copy of the blessed baselines with `edit` applied to each suite's parsed file.
fn edited_baselines(baselines: &Path, edit: impl Fn(&str, &mut serde_json::Value)) -> tempfile::TempDir {
    let other = tempfile::tempdir().unwrap();
    for suite in ["instr", "heap", "wall"] {
        let text = std::fs::read_to_string(baselines.join(format!("{suite}.json"))).unwrap();
        let mut value: serde_json::Value = serde_json::from_str(&text).unwrap();
        edit(suite, &mut value);
        std::fs::write(other.path().join(format!("{suite}.json")), value.to_string()).unwrap();
    }
    other
}

#[test]
fn baseline_from_another_toolchain_is_measured_ab_and_passes() {
    if !common::valgrind_or_skip("baseline_from_another_toolchain_is_measured_ab_and_passes") {
        return;
    }
    let (_lock, baselines) = blessed();
    let other = edited_baselines(baselines, |_, b| {
        let rustc = b["provenance"]["rustc"].as_str().unwrap().replace("rustc 1.", "rustc 0.");
        b["provenance"]["rustc"] = rustc.into();
    });

    let output = perf(other.path(), &["--suite", "instr,heap"], &[]);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("instr: measured A/B against") && stdout.contains("toolchain differs"), "{stdout}");
    assert!(row(&stdout, "synth/sum/small", "instructions").contains("A/B vs"), "{stdout}");
}

#[test]
fn wall_baseline_from_another_machine_is_judged_ab_and_passes() {
    if !common::valgrind_or_skip("wall_baseline_from_another_machine_is_judged_ab_and_passes") {
        return;
    }
    let (_lock, baselines) = blessed();
    let other = edited_baselines(baselines, |suite, b| {
        if suite == "wall" {
            b["provenance"]["machine"]["cpu_model"] = "Intel(R) Xeon(R) CPU @ 2.20GHz".into();
        }
    });

    let output = perf(other.path(), &["--suite", "wall"], &[]);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("machine differs: CPU: baseline `Intel(R) Xeon(R) CPU @ 2.20GHz`"), "{stdout}");
    let sum = row(&stdout, "synth/sum/small", "wall_ns");
    assert!(sum.contains("A/B vs") && !sum.ends_with("regression"), "{stdout}");
}

#[test]
fn changed_bench_targets_make_the_baselines_stale_with_exit_4() {
    if !common::valgrind_or_skip("changed_bench_targets_make_the_baselines_stale_with_exit_4") {
        return;
    }
    let (_lock, baselines) = blessed();
    let other = edited_baselines(baselines, |suite, b| {
        if suite == "instr" {
            b["provenance"]["targets"] = serde_json::json!(["instr_synth", "instr_gone"]);
        }
    });

    let output = perf(other.path(), &["--suite", "instr"], &[]);

    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("bench targets differ"), "{stdout}");
    assert!(stdout.contains("run `cargo xtask perf bless --reason"), "{stdout}");
}

#[test]
fn workspace_is_the_checkout_cargo_ran_in_not_the_one_the_binary_was_built_from() {
    if !common::valgrind_or_skip("workspace_is_the_checkout_cargo_ran_in_not_the_one_the_binary_was_built_from") {
        return;
    }
    let (_lock, _) = blessed();
    let empty = tempfile::tempdir().unwrap();
    let mut command = Command::new(env!("CARGO_BIN_EXE_xtask"));
    // What `cargo xtask` in another checkout sets; no --root.
    command
        .args(["perf", "--check", "--baselines"])
        .arg(empty.path())
        .env("CARGO_MANIFEST_DIR", synth_root().join("xtask"))
        .env("CARGO_TARGET_DIR", target_dir())
        .env_remove("HAPULSE_PERF_ROOT");

    let output = command.output().expect("start xtask");

    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains(&format!("perf: workspace {}", synth_root().display())), "{}", text(&output));
}

#[test]
fn check_mode_reports_a_missing_baseline_with_exit_4_without_running() {
    if !common::valgrind_or_skip("check_mode_reports_a_missing_baseline_with_exit_4_without_running") {
        return;
    }
    let (_lock, _) = blessed();
    let empty = tempfile::tempdir().unwrap();

    let output = perf(empty.path(), &["--check"], &[]);

    assert_eq!(output.status.code(), Some(4), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("instr: baseline file") && stdout.contains("is missing"), "{stdout}");
    assert!(stdout.contains("run `cargo xtask perf bless --reason ...` and commit"), "{stdout}");
}

#[test]
fn busy_wait_in_the_measured_loop_fails_with_exit_3_although_instructions_are_steady() {
    if !common::valgrind_or_skip("busy_wait_in_the_measured_loop_fails_with_exit_3_although_instructions_are_steady") {
        return;
    }
    let (_lock, baselines) = blessed();

    let output = perf(baselines, &["--head-env", "SYNTH_WALL_NOISE_US=200"], &[]);

    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(row(&stdout, "synth/sum/small", "wall_ns").ends_with("regression"), "{stdout}");
    assert!(row(&stdout, "synth/sum/small", "instructions").ends_with("unchanged"), "{stdout}");
    let report = std::fs::read_to_string(target_dir().join("perf/report.md")).unwrap();
    assert!(report.contains("confirmed by the confirmation pass"), "{report}");
}

#[test]
fn ab_mode_fails_a_busy_wait_in_head_only() {
    if !common::valgrind_or_skip("ab_mode_fails_a_busy_wait_in_head_only") {
        return;
    }
    let (_lock, _) = blessed();
    let none = tempfile::tempdir().unwrap();

    let output =
        perf(none.path(), &["--base", "HEAD", "--suite", "wall", "--head-env", "SYNTH_WALL_NOISE_US=200"], &[]);

    assert_eq!(output.status.code(), Some(3), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    let sum = row(&stdout, "synth/sum/small", "wall_ns");
    assert!(sum.ends_with("regression") && sum.contains("A/B vs HEAD"), "{stdout}");
}

#[test]
fn perf_power_counts_what_each_injected_change_catches() {
    if !common::valgrind_or_skip("perf_power_counts_what_each_injected_change_catches") {
        return;
    }
    let (_lock, _) = blessed();
    let none = tempfile::tempdir().unwrap();

    let output = perf(none.path(), &["power", "--runs", "1", "--aa-runs", "1", "--sizes", "10", "--kinds", "cpu"], &[]);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let power: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(target_dir().join("perf/power.json")).unwrap()).unwrap();
    let experiments = power["experiments"].as_array().unwrap();
    let names: Vec<&str> = experiments.iter().map(|e| e["name"].as_str().unwrap()).collect();
    assert_eq!(names, ["A/A (unchanged)", "CPU-bound extra work +10%", "instructions +1%", "one extra allocation"]);
    // The counted suites are deterministic: their injected changes are caught every time.
    assert_eq!((experiments[2]["detected"].as_u64(), experiments[3]["detected"].as_u64()), (Some(1), Some(1)));
    assert!(String::from_utf8_lossy(&output.stdout).contains("| injected change |"), "{}", text(&output));
}

#[test]
fn report_is_appended_to_the_github_step_summary() {
    if !common::valgrind_or_skip("report_is_appended_to_the_github_step_summary") {
        return;
    }
    let (_lock, baselines) = blessed();
    let summary = tempfile::NamedTempFile::new().unwrap();
    let path = summary.path().to_str().unwrap().to_owned();

    let output = perf(baselines, &["--suite", "heap"], &[("GITHUB_STEP_SUMMARY", &path)]);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let written = std::fs::read_to_string(summary.path()).unwrap();
    assert!(written.starts_with("## Performance gate\n\n3 unchanged\n"), "{written}");
}

#[test]
fn missing_valgrind_marks_instructions_not_measured_and_never_passes() {
    if !common::valgrind_or_skip("missing_valgrind_marks_instructions_not_measured_and_never_passes") {
        return;
    }
    let (_lock, baselines) = blessed();
    // A PATH with everything the run needs except valgrind.
    let bin = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir("/usr/bin").unwrap().map(Result::unwrap) {
        if !entry.file_name().to_string_lossy().starts_with("valgrind") {
            let _ = std::os::unix::fs::symlink(entry.path(), bin.path().join(entry.file_name()));
        }
    }
    let cargo_home =
        std::env::var("CARGO_HOME").unwrap_or_else(|_| format!("{}/.cargo", std::env::var("HOME").unwrap()));
    let path = format!("{cargo_home}/bin:{}", bin.path().display());

    let output = perf(baselines, &["--suite", "instr,heap"], &[("PATH", &path)]);

    assert_eq!(output.status.code(), Some(1), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(row(&stdout, "synth/sum/small", "instructions").ends_with("not measured"), "{stdout}");
    assert!(stdout.contains("valgrind not found"), "{stdout}");
}

#[test]
fn ab_mode_against_the_committed_tree_compares_head_with_base() {
    if !common::valgrind_or_skip("ab_mode_against_the_committed_tree_compares_head_with_base") {
        return;
    }
    let (_lock, baselines) = blessed();

    let output = perf(baselines, &["--base", "HEAD", "--suite", "instr,heap"], &[]);

    assert_eq!(output.status.code(), Some(0), "{}", text(&output));
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(stdout.contains("A/B against `HEAD`"), "{stdout}");
    assert!(row(&stdout, "synth/sum/small", "instructions").ends_with("unchanged"), "{stdout}");
}

#[test]
fn recorded_run_appends_one_history_point_that_perf_history_shows() {
    if !common::valgrind_or_skip("recorded_run_appends_one_history_point_that_perf_history_shows") {
        return;
    }
    let (_lock, baselines) = blessed();
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    let history_arg = history.to_str().unwrap();

    let run = perf(baselines, &["--suite", "heap", "--record", "--history", history_arg], &[]);
    let shown = perf(
        baselines,
        &[
            "history",
            "--no-git",
            "--history",
            history_arg,
            "--bench",
            "synth/alloc/hundred",
            "--metric",
            "heap_total_blocks",
        ],
        &[],
    );

    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let lines: Vec<serde_json::Value> =
        std::fs::read_to_string(&history).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert_eq!(lines.len(), 1);
    assert_eq!(lines[0]["source"], "run");
    assert!(lines[0]["measurements"].as_array().unwrap().iter().any(|m| m["id"] == "synth/alloc/hundred"));
    assert_eq!(shown.status.code(), Some(0), "{}", text(&shown));
    let table = String::from_utf8_lossy(&shown.stdout);
    assert!(table.starts_with("synth/alloc/hundred heap_total_blocks (blocks)"), "{table}");
    assert_eq!(table.lines().filter(|l| l.contains(" run ")).count(), 1, "{table}");
}

#[test]
fn ten_recorded_runs_of_this_machine_replace_the_fixed_wall_tolerance() {
    if !common::valgrind_or_skip("ten_recorded_runs_of_this_machine_replace_the_fixed_wall_tolerance") {
        return;
    }
    let (_lock, baselines) = blessed();
    let dir = tempfile::tempdir().unwrap();
    let history = dir.path().join("history.jsonl");
    let history_arg = history.to_str().unwrap();
    let first = perf(baselines, &["--suite", "wall", "--record", "--history", history_arg], &[]);
    assert_eq!(first.status.code(), Some(0), "{}", text(&first));
    // Nine more runs of this machine, each 1% slower or faster than the one before.
    let line: serde_json::Value = serde_json::from_str(std::fs::read_to_string(&history).unwrap().trim()).unwrap();
    let mut lines = vec![line.to_string()];
    for i in 1..10 {
        let mut point = line.clone();
        for m in point["measurements"].as_array_mut().unwrap() {
            let scaled = m["value"].as_f64().unwrap() * if i % 2 == 0 { 1.0 } else { 1.01 };
            m["value"] = serde_json::json!(scaled);
        }
        lines.push(point.to_string());
    }
    std::fs::write(&history, lines.join("\n") + "\n").unwrap();

    let run = perf(baselines, &["--suite", "wall", "--history", history_arg], &[]);

    assert_eq!(run.status.code(), Some(0), "{}", text(&run));
    let report: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(target_dir().join("perf/report.json")).unwrap()).unwrap();
    let row = report["rows"]
        .as_array()
        .unwrap()
        .iter()
        .find(|r| r["id"] == "synth/sum/small" && r["metric"] == "wall_ns")
        .expect("a synth/sum/small wall row");
    // The comparison with the committed baseline used the learned 1% (a row it flagged is then
    // re-judged A/B, whose own rule the row carries, and its detail keeps the first comparison).
    let detail = row["detail"].as_str().unwrap();
    assert!(detail.contains("tolerance ±1%") && detail.contains("rule: learned from 10 runs of history"), "{row}");
}

#[test]
fn missing_valgrind_skips_with_one_line_unless_ci_requires_it() {
    let test = "some_instr_test";

    let (here, absent, required) =
        (common::decide(test, true, true), common::decide(test, false, false), common::decide(test, false, true));

    assert_eq!(here, common::Valgrind::Run);
    assert!(
        matches!(&absent, common::Valgrind::Skip(line) if line.starts_with("skipped some_instr_test: valgrind not found")),
        "{absent:?}"
    );
    assert!(
        matches!(&required, common::Valgrind::Fail(m) if m.contains("HAPULSE_TESTS_REQUIRE_VALGRIND")),
        "{required:?}"
    );
}
