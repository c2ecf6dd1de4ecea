//! The security and wiring properties of `.github/workflows/*.yml`, checked on the parsed YAML: the
//! perf run is read-only, the commenting workflow has only the permissions it needs, triggers on
//! workflow_run, never checks out or runs the PR's code, and takes the PR number from the event payload.

use std::path::PathBuf;

use serde_yaml::Value;

fn workflows_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../.github/workflows")
}

fn load(name: &str) -> Value {
    let path = workflows_dir().join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    serde_yaml::from_str(&text).unwrap_or_else(|e| panic!("{name}: {e}"))
}

/// Every step of every job.
fn steps(doc: &Value) -> Vec<&Value> {
    let jobs = doc["jobs"].as_mapping().expect("jobs");
    jobs.values().flat_map(|job| job["steps"].as_sequence().into_iter().flatten()).collect()
}

fn uses(step: &Value) -> &str {
    step["uses"].as_str().unwrap_or("")
}

fn run(step: &Value) -> &str {
    step["run"].as_str().unwrap_or("")
}

/// `permissions` as (scope, access) pairs.
fn permissions(value: &Value) -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = value
        .as_mapping()
        .map(|m| {
            m.iter().map(|(k, v)| (k.as_str().unwrap_or("").to_owned(), v.as_str().unwrap_or("").to_owned())).collect()
        })
        .unwrap_or_default();
    out.sort();
    out
}

fn triggers(doc: &Value) -> Vec<String> {
    match &doc["on"] {
        Value::String(s) => vec![s.clone()],
        Value::Sequence(s) => s.iter().filter_map(Value::as_str).map(str::to_owned).collect(),
        Value::Mapping(m) => m.keys().filter_map(Value::as_str).map(str::to_owned).collect(),
        _ => Vec::new(),
    }
}

fn job_permissions_absent(doc: &Value) -> bool {
    doc["jobs"].as_mapping().expect("jobs").values().all(|job| job.get("permissions").is_none())
}

#[test]
fn perf_runs_on_pull_request_with_read_only_contents() {
    let doc = load("perf.yml");

    let (on, perms) = (triggers(&doc), permissions(&doc["permissions"]));

    assert_eq!(on, ["pull_request"]);
    assert_eq!(perms, [("contents".to_owned(), "read".to_owned())]);
    assert!(job_permissions_absent(&doc), "no job widens the permissions");
}

#[test]
fn perf_runs_the_gate_and_the_wall_ab_with_full_history_and_uploads_the_report() {
    let doc = load("perf.yml");

    let steps = steps(&doc);

    let checkout = steps.iter().find(|s| uses(s).starts_with("actions/checkout@")).expect("checkout");
    assert_eq!(checkout["with"]["fetch-depth"].as_u64(), Some(0));
    assert!(steps.iter().any(|s| run(s).contains("apt-get install") && run(s).contains("valgrind")));
    assert!(
        steps
            .iter()
            .any(|s| run(s).lines().any(|l| l.trim() == "cargo xtask perf --history target/perf/history.jsonl"))
    );
    assert!(steps.iter().any(|s| run(s).contains("git show origin/perf-history:history.jsonl")));
    let ab = steps.iter().find(|s| run(s).contains("cargo xtask perf --base")).expect("A/B step");
    assert!(run(ab).contains("--suite wall"));
    assert_eq!(ab["env"]["BASE_SHA"].as_str(), Some("${{ github.event.pull_request.base.sha }}"));
    let upload = steps.iter().find(|s| uses(s).starts_with("actions/upload-artifact@")).expect("upload");
    assert_eq!(upload["with"]["name"].as_str(), Some("perf-report"));
    assert!(steps.iter().any(|s| uses(s).starts_with("actions/cache@")
        && s["with"]["path"].as_str().unwrap_or("").contains("iai-callgrind-runner")));
}

#[test]
fn perf_comment_triggers_only_on_workflow_run_of_perf() {
    let doc = load("perf-comment.yml");

    let on = triggers(&doc);

    assert_eq!(on, ["workflow_run"]);
    let workflows: Vec<&str> =
        doc["on"]["workflow_run"]["workflows"].as_sequence().unwrap().iter().filter_map(Value::as_str).collect();
    assert_eq!(workflows, ["perf"]);
}

#[test]
fn perf_comment_may_write_pull_requests_and_nothing_else() {
    let doc = load("perf-comment.yml");

    let perms = permissions(&doc["permissions"]);

    assert!(perms.contains(&("pull-requests".to_owned(), "write".to_owned())), "{perms:?}");
    let others: Vec<&(String, String)> = perms.iter().filter(|(k, _)| k != "pull-requests").collect();
    assert!(
        others.iter().all(|(k, v)| v == "read" && (k == "actions" || k == "contents")),
        "only actions: read (artifact) and contents: read (default branch) besides: {others:?}"
    );
    assert!(job_permissions_absent(&doc), "no job widens the permissions");
}

#[test]
fn perf_comment_never_checks_out_or_runs_the_pr_code() {
    let doc = load("perf-comment.yml");

    let steps = steps(&doc);

    for step in steps.iter().filter(|s| uses(s).starts_with("actions/checkout@")) {
        let with = &step["with"];
        assert_eq!(
            with["ref"].as_str(),
            Some("${{ github.event.repository.default_branch }}"),
            "checkout must name the default branch: {step:?}"
        );
        assert!(with.get("repository").is_none(), "no other repository: {step:?}");
    }
    let text = serde_yaml::to_string(&doc).unwrap();
    for forbidden in ["head_sha }}", "head_branch }}", "pull_request.head", "refs/pull/"] {
        let in_checkout_or_git = steps.iter().any(|s| {
            let git = run(s).contains("git ") || run(s).contains("gh pr checkout");
            (uses(s).starts_with("actions/checkout@") || git) && serde_yaml::to_string(s).unwrap().contains(forbidden)
        });
        assert!(!in_checkout_or_git, "`{forbidden}` must not reach a checkout or git command");
    }
    assert!(!text.contains("gh pr checkout") && !text.contains("git checkout") && !text.contains("git fetch"));
}

#[test]
fn perf_comment_takes_the_pr_number_from_the_event_payload() {
    let doc = load("perf-comment.yml");

    let steps = steps(&doc);

    let pr = steps.iter().find(|s| s["id"].as_str() == Some("pr")).expect("a step with id `pr`");
    assert_eq!(pr["env"]["PAYLOAD_PR"].as_str(), Some("${{ github.event.workflow_run.pull_requests[0].number }}"));
    let post = steps.iter().find(|s| run(s).contains("cargo xtask perf comment")).expect("the posting step");
    assert_eq!(post["env"]["PR_NUMBER"].as_str(), Some("${{ steps.pr.outputs.number }}"));
    assert!(run(post).contains("--pr \"$PR_NUMBER\""));
    assert!(steps.iter().all(|s| !run(s).contains("pr-number")), "the artifact's pr-number is never read");
}

#[test]
fn perf_comment_downloads_the_artifact_of_the_triggering_run() {
    let doc = load("perf-comment.yml");

    let steps = steps(&doc);

    let download = steps.iter().find(|s| uses(s).starts_with("actions/download-artifact@")).expect("download");
    assert_eq!(download["with"]["run-id"].as_str(), Some("${{ github.event.workflow_run.id }}"));
    assert_eq!(download["with"]["github-token"].as_str(), Some("${{ github.token }}"));
    assert_eq!(download["with"]["name"].as_str(), Some("perf-report"));
}

#[test]
fn release_is_dispatched_by_hand_with_a_version_and_tags_through_xtask() {
    let doc = load("release.yml");

    let steps = steps(&doc);

    assert_eq!(triggers(&doc), ["workflow_dispatch"]);
    assert_eq!(doc["on"]["workflow_dispatch"]["inputs"]["version"]["required"].as_bool(), Some(true));
    let tag = steps.iter().find(|s| run(s).contains("cargo xtask release tag")).expect("tag step");
    assert_eq!(tag["env"]["VERSION"].as_str(), Some("${{ inputs.version }}"));
}

#[test]
fn ci_runs_fmt_clippy_tests_actionlint_and_real_home_assistant() {
    let doc = load("ci.yml");

    let scripts: Vec<&str> = steps(&doc).into_iter().map(run).collect();

    for needle in ["cargo fmt", "cargo clippy", "cargo test", ".ci/actionlint.sh", "cargo xtask ha-conformance"] {
        assert!(scripts.iter().any(|s| s.contains(needle)), "ci.yml runs `{needle}`");
    }
    assert_eq!(permissions(&doc["permissions"]), [("contents".to_owned(), "read".to_owned())]);
}

#[test]
fn every_action_is_pinned_to_a_major_version_and_no_workflow_uses_pull_request_target() {
    let names = ["ci.yml", "perf.yml", "perf-comment.yml", "perf-history.yml", "release.yml"];

    let docs: Vec<Value> = names.iter().map(|n| load(n)).collect();

    for (name, doc) in names.iter().zip(&docs) {
        assert!(!triggers(doc).iter().any(|t| t == "pull_request_target"), "{name}");
        for step in steps(doc).into_iter().filter(|s| !uses(s).is_empty()) {
            let (_, version) = uses(step).split_once('@').unwrap_or_else(|| panic!("{name}: {} unpinned", uses(step)));
            let major = version.strip_prefix('v').unwrap_or("");
            assert!(!major.is_empty() && major.chars().all(|c| c.is_ascii_digit()), "{name}: {} not @vN", uses(step));
        }
    }
}

#[test]
fn perf_history_runs_only_on_pushes_to_main_and_may_only_write_contents() {
    let doc = load("perf-history.yml");

    let (on, branches, perms) =
        (triggers(&doc), doc["on"]["push"]["branches"].clone(), permissions(&doc["permissions"]));

    assert_eq!(on, ["push"]);
    assert_eq!(branches.as_sequence().map(Vec::len), Some(1));
    assert_eq!(branches[0].as_str(), Some("main"));
    assert_eq!(perms, [("contents".to_owned(), "write".to_owned())]);
    assert!(job_permissions_absent(&doc), "no job widens the permissions");
}

#[test]
fn perf_history_records_renders_and_pushes_to_its_own_branch() {
    let doc = load("perf-history.yml");

    let scripts: Vec<&str> = steps(&doc).into_iter().map(run).collect();

    let record = scripts.iter().find(|s| s.contains("cargo xtask perf --record")).expect("a --record step");
    assert!(record.contains("--history history/history.jsonl"), "{record}");
    assert!(scripts.iter().any(|s| s.contains("cargo xtask perf history") && s.contains("--html history/index.html")));
    assert!(scripts.iter().any(|s| s.contains("git push origin HEAD:perf-history")));
    assert!(!scripts.iter().any(|s| s.contains("push origin HEAD:main") || s.contains("push origin main")));
    assert_eq!(doc["concurrency"]["cancel-in-progress"].as_bool(), Some(false), "every push is recorded");
}

#[test]
fn perf_comment_links_the_published_trend_page() {
    let doc = load("perf-comment.yml");

    let post = steps(&doc).into_iter().find(|s| run(s).contains("cargo xtask perf comment")).expect("post step");

    assert!(run(post).contains("--history-url \"$HISTORY_URL\""), "{}", run(post));
    assert!(post["env"]["HISTORY_URL"].as_str().is_some_and(|u| u.contains("github.io")));
}
