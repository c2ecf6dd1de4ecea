//! The security and wiring properties of `.github/workflows/*.yml`, checked on the parsed YAML: the
//! perf run is read-only, the commenting workflow has only the permissions it needs, triggers on
//! workflow_run, never checks out or runs the PR's code, and takes the PR number from the event payload.
//! Checked on EVERY workflow file: a write token is never kept in a checkout nor handed to a step that
//! builds, third-party actions are pinned by full commit SHA with their version (as docs/benchmarking.md
//! records them), and `.github/CODEOWNERS` guards what decides the gate's verdict.

#[allow(dead_code)] // only `manifest_dir` is used here
mod common;

use std::collections::BTreeMap;
use std::path::PathBuf;

use serde_yaml::Value;

fn workflows_dir() -> PathBuf {
    common::manifest_dir().join("../.github/workflows")
}

/// Every workflow file, by file name, with its text.
fn all_workflows() -> Vec<(String, String)> {
    let mut out: Vec<(String, String)> = std::fs::read_dir(workflows_dir())
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "yml" || e == "yaml"))
        .map(|p| (p.file_name().unwrap().to_string_lossy().into_owned(), std::fs::read_to_string(&p).unwrap()))
        .collect();
    out.sort();
    assert!(out.len() >= 5, "the workflows are found: {:?}", out.iter().map(|(n, _)| n).collect::<Vec<_>>());
    out
}

fn parse(name: &str, text: &str) -> Value {
    serde_yaml::from_str(text).unwrap_or_else(|e| panic!("{name}: {e}"))
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
fn perf_judges_every_suite_ab_against_the_merge_base_and_uploads_the_report() {
    let doc = load("perf.yml");

    let steps = steps(&doc);

    let checkout = steps.iter().find(|s| uses(s).starts_with("actions/checkout@")).expect("checkout");
    assert_eq!(checkout["with"]["fetch-depth"].as_u64(), Some(0));
    assert!(steps.iter().any(|s| run(s).contains("apt-get install") && run(s).contains("valgrind")));
    let base = steps.iter().find(|s| run(s).contains("git merge-base")).expect("merge-base step");
    assert_eq!(base["env"]["BASE_REF"].as_str(), Some("${{ github.base_ref }}"));
    let ab = steps.iter().find(|s| run(s).contains("cargo xtask perf --base")).expect("A/B step");
    assert!(run(ab).lines().any(|l| l.trim() == "cargo xtask perf --base \"$MERGE_BASE\""), "{}", run(ab));
    assert_eq!(ab["env"]["MERGE_BASE"].as_str(), Some("${{ steps.base.outputs.sha }}"));
    assert!(!steps.iter().any(|s| run(s).contains("--suite")), "every suite is judged A/B");
    let upload = steps.iter().find(|s| uses(s).starts_with("actions/upload-artifact@")).expect("upload");
    assert_eq!(upload["with"]["name"].as_str(), Some("perf-report"));
    assert!(steps.iter().any(|s| uses(s).starts_with("actions/cache@")
        && s["with"]["path"].as_str().unwrap_or("").contains("iai-callgrind-runner")));
}

#[test]
fn perf_rebless_blesses_on_the_runner_and_opens_a_pull_request_by_hand_only() {
    let doc = load("perf-rebless.yml");

    let steps = steps(&doc);

    assert_eq!(triggers(&doc), ["workflow_dispatch"]);
    assert_eq!(doc["on"]["workflow_dispatch"]["inputs"]["reason"]["required"].as_bool(), Some(true));
    let bless = steps.iter().find(|s| run(s).contains("cargo xtask perf bless --reason")).expect("bless step");
    assert!(!holds_token(bless));
    let open = steps.iter().find(|s| run(s).contains("gh pr create")).expect("pull request step");
    assert!(holds_token(open) && !builds(open) && pushes_or_comments(open));
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
    let post = steps.iter().find(|s| run(s).contains("xtask perf comment")).expect("the posting step");
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
fn no_workflow_uses_pull_request_target() {
    let workflows = all_workflows();

    let offenders: Vec<&String> = workflows
        .iter()
        .filter(|(n, t)| triggers(&parse(n, t)).iter().any(|t| t == "pull_request_target"))
        .map(|(n, _)| n)
        .collect();

    assert!(offenders.is_empty(), "{offenders:?}");
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
    assert!(scripts.iter().any(|s| s.contains("push origin HEAD:perf-history")));
    assert!(!scripts.iter().any(|s| s.contains("push origin HEAD:main") || s.contains("push origin main")));
    assert_eq!(doc["concurrency"]["cancel-in-progress"].as_bool(), Some(false), "every push is recorded");
}

#[test]
fn perf_comment_links_the_published_trend_page() {
    let doc = load("perf-comment.yml");

    let post = steps(&doc).into_iter().find(|s| run(s).contains("xtask perf comment")).expect("post step");

    assert!(run(post).contains("--history-url \"$HISTORY_URL\""), "{}", run(post));
    assert!(post["env"]["HISTORY_URL"].as_str().is_some_and(|u| u.contains("github.io")));
}

// ---- every workflow: the write token ----

/// Whether `expr` (a `permissions` value) grants any write access.
fn grants_write(expr: &Value) -> bool {
    match expr {
        Value::String(s) => s == "write-all",
        Value::Mapping(m) => m.values().any(|v| v.as_str() == Some("write")),
        _ => false,
    }
}

/// The jobs whose token may write, with their workflow's name: the job's own `permissions`, else
/// the workflow's.
fn write_jobs(workflows: &[(String, String)]) -> Vec<(String, String, Value, Value)> {
    let mut out = Vec::new();
    for (name, text) in workflows {
        let doc = parse(name, text);
        for (job_name, job) in doc["jobs"].as_mapping().expect("jobs") {
            let perms = job.get("permissions").unwrap_or(&doc["permissions"]);
            if grants_write(perms) {
                out.push((name.clone(), job_name.as_str().unwrap().to_owned(), doc.clone(), job.clone()));
            }
        }
    }
    out
}

/// Whether a step (or any mapping) hands out the token or a secret.
fn holds_token(value: &Value) -> bool {
    let text = serde_yaml::to_string(value).unwrap();
    ["github.token", "secrets."].iter().any(|t| text.contains(t))
}

/// Whether a step runs cargo, which builds and runs third-party code (build scripts, proc macros).
fn builds(step: &Value) -> bool {
    run(step).split(|c: char| c.is_whitespace() || matches!(c, ';' | '(' | '&' | '|')).any(|w| w == "cargo")
}

/// Whether a step's script pushes with git or posts the perf comment.
fn pushes_or_comments(step: &Value) -> bool {
    let script = run(step).replace("\\\n", " ");
    script.lines().any(|l| {
        let words: Vec<&str> = l.split_whitespace().collect();
        let git = words.iter().position(|w| *w == "git");
        git.is_some_and(|g| words[g..].contains(&"push")) || l.contains("xtask perf comment")
    })
}

#[test]
fn every_workflow_says_what_its_token_may_do() {
    let workflows = all_workflows();

    for (name, text) in &workflows {
        let doc = parse(name, text);
        let jobs = doc["jobs"].as_mapping().expect("jobs");
        assert!(
            doc.get("permissions").is_some() || jobs.values().all(|j| j.get("permissions").is_some()),
            "{name}: without `permissions` the token gets the repository's default, which may be write"
        );
    }
}

#[test]
fn jobs_with_a_write_token_never_keep_it_in_the_checkout() {
    let workflows = all_workflows();

    let jobs = write_jobs(&workflows);

    assert!(!jobs.is_empty(), "some workflow writes (perf-comment, perf-history, release)");
    for (name, job_name, _, job) in &jobs {
        for step in job["steps"].as_sequence().unwrap().iter().filter(|s| uses(s).starts_with("actions/checkout@")) {
            assert_eq!(
                step["with"]["persist-credentials"].as_bool(),
                Some(false),
                "{name} job `{job_name}`: a checkout in a job with a write token sets `persist-credentials: false`"
            );
        }
    }
}

#[test]
fn write_tokens_reach_only_steps_that_push_or_comment_and_never_a_build() {
    let workflows = all_workflows();

    let jobs = write_jobs(&workflows);

    for (name, job_name, doc, job) in &jobs {
        assert!(
            !holds_token(&doc["env"]) && !holds_token(&job["env"]),
            "{name} `{job_name}`: no token in a shared env"
        );
        let steps = job["steps"].as_sequence().unwrap();
        for (i, step) in steps.iter().enumerate().filter(|(_, s)| holds_token(s)) {
            let label = step["name"].as_str().or(step["uses"].as_str()).unwrap_or("?");
            assert!(!builds(step), "{name} `{job_name}`, step `{label}`: holds the token and runs cargo");
            let built_before = steps[..i].iter().any(builds);
            assert!(
                !built_before || pushes_or_comments(step),
                "{name} `{job_name}`, step `{label}`: after a build, only the step that pushes or comments holds the token"
            );
        }
    }
}

// ---- every workflow: pinned actions ----

/// A third-party action pin: `uses: OWNER/REPO[/PATH]@SHA # VERSION`.
#[derive(Debug, Clone, PartialEq, Eq)]
struct Pin {
    action: String,
    sha: String,
    version: String,
}

/// Every `uses:` line of a workflow's text (comments are lost in the parsed YAML), parsed into a pin or
/// the reason it is not one.
fn pins(text: &str) -> Vec<Result<Pin, String>> {
    let is_version = |v: &str| {
        let parts: Vec<&str> = v.strip_prefix('v').unwrap_or("").split('.').collect();
        parts.len() == 3 && parts.iter().all(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_digit()))
    };
    text.lines()
        .map(str::trim)
        .filter_map(|l| l.strip_prefix("- ").unwrap_or(l).strip_prefix("uses:"))
        .map(str::trim)
        .filter(|u| !u.starts_with("./"))
        .map(|line| {
            let (reference, comment) =
                line.split_once('#').ok_or_else(|| format!("`{line}`: no `# vX.Y.Z` comment"))?;
            let (action, sha) =
                reference.trim().split_once('@').ok_or_else(|| format!("`{line}`: not OWNER/REPO@SHA"))?;
            let version = comment.trim();
            let full_sha = sha.len() == 40 && sha.chars().all(|c| c.is_ascii_digit() || ('a'..='f').contains(&c));
            if !full_sha {
                return Err(format!("`{line}`: `{sha}` is not a full commit SHA (40 lowercase hex digits)"));
            }
            if !is_version(version) {
                return Err(format!("`{line}`: the comment `{version}` is not the exact version vX.Y.Z"));
            }
            Ok(Pin { action: action.to_owned(), sha: sha.to_owned(), version: version.to_owned() })
        })
        .collect()
}

#[test]
fn third_party_actions_are_pinned_by_full_commit_sha_with_the_version_in_a_comment() {
    let workflows = all_workflows();

    let bad: Vec<String> = workflows
        .iter()
        .flat_map(|(name, text)| pins(text).into_iter().filter_map(move |p| p.err().map(|e| format!("{name}: {e}"))))
        .collect();

    assert!(bad.is_empty(), "unpinned actions:\n{}", bad.join("\n"));
}

#[test]
fn each_action_is_pinned_to_one_commit_everywhere_and_that_pin_is_recorded_in_the_docs() {
    let workflows = all_workflows();
    let docs = std::fs::read_to_string(common::manifest_dir().join("../docs/benchmarking.md")).unwrap();

    let mut seen: BTreeMap<String, (Pin, String)> = BTreeMap::new();
    for (name, text) in &workflows {
        for pin in pins(text).into_iter().flatten() {
            let (first, first_in) = seen.entry(pin.action.clone()).or_insert_with(|| (pin.clone(), name.clone()));
            assert_eq!(*first, pin, "{name} pins {} differently from {first_in}", pin.action);
        }
    }

    assert!(!seen.is_empty());
    for (pin, _) in seen.values() {
        let row = docs.lines().find(|l| l.starts_with(&format!("| `{}` |", pin.action)));
        let row =
            row.unwrap_or_else(|| panic!("docs/benchmarking.md has no row for `{}` in its pinned actions", pin.action));
        assert!(row.contains(&format!("`{}`", pin.sha)) && row.contains(&pin.version), "{pin:?} vs the docs: {row}");
    }
}

#[test]
fn pin_parser_refuses_tags_short_shas_and_missing_versions() {
    let text = "      - uses: actions/checkout@v4\n        uses: actions/cache@0057852 # v4.3.0\n      - uses: a/b@0057852bfaa89a56745cba8c7296529d2fc39830\n      - uses: a/b@0057852bfaa89a56745cba8c7296529d2fc39830 # v4\n      - uses: ./local\n      - uses: a/b@0057852bfaa89a56745cba8c7296529d2fc39830 # v4.3.0\n";

    let parsed = pins(text);

    let ok: Vec<bool> = parsed.iter().map(Result::is_ok).collect();
    assert_eq!(ok, [false, false, false, false, true]);
}

// ---- release.yml: the default branch only ----

fn release_guard() -> (usize, usize, Value) {
    let doc = load("release.yml");
    let steps: Vec<Value> = steps(&doc).into_iter().cloned().collect();
    let guard = steps.iter().position(|s| s["env"]["REF"].as_str() == Some("${{ github.ref }}")).expect("a guard step");
    let checkout = steps.iter().position(|s| uses(s).starts_with("actions/checkout@")).expect("checkout");
    (guard, checkout, steps[guard].clone())
}

fn run_guard(guard: &Value, reference: &str) -> (i32, String) {
    let out = std::process::Command::new("bash")
        .args(["-e", "-c", run(guard)])
        .env("REF", reference)
        .env("DEFAULT_BRANCH", "main")
        .output()
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr),
    )
}

#[test]
fn release_refuses_a_dispatch_from_any_ref_but_the_default_branch_and_says_so() {
    let (guard_at, checkout_at, guard) = release_guard();

    let (branch, tag, main) = (
        run_guard(&guard, "refs/heads/feature"),
        run_guard(&guard, "refs/tags/v1.0.0"),
        run_guard(&guard, "refs/heads/main"),
    );

    assert!(guard_at < checkout_at, "the guard runs first");
    assert_eq!(guard["env"]["DEFAULT_BRANCH"].as_str(), Some("${{ github.event.repository.default_branch }}"));
    assert_ne!(branch.0, 0, "{}", branch.1);
    assert!(branch.1.contains("::error::release tags only commits of the default branch (main)"), "{}", branch.1);
    assert!(branch.1.contains("dispatched from refs/heads/feature"), "{}", branch.1);
    assert_ne!(tag.0, 0, "{}", tag.1);
    assert_eq!(main.0, 0, "{}", main.1);
}

#[test]
fn release_tags_only_a_commit_of_the_default_branch_and_pushes_in_a_step_of_its_own() {
    let doc = load("release.yml");

    let steps = steps(&doc);

    let tag = steps.iter().find(|s| run(s).contains("cargo xtask release tag")).expect("tag step");
    assert!(run(tag).contains("--only-on \"origin/$DEFAULT_BRANCH\""), "{}", run(tag));
    assert_eq!(tag["env"]["DEFAULT_BRANCH"].as_str(), Some("${{ github.event.repository.default_branch }}"));
    assert!(!run(tag).contains("--push") && !holds_token(tag), "the gate's step neither pushes nor holds the token");
    let push = steps.iter().find(|s| pushes_or_comments(s)).expect("push step");
    assert!(run(push).contains("push origin \"refs/tags/$VERSION\""), "{}", run(push));
    assert!(run(push).contains("core.hooksPath") && holds_token(push), "{}", run(push));
}

// ---- soak.yml: the weekly 30-minute soak ----

#[test]
fn soak_runs_weekly_on_a_schedule_and_by_hand() {
    let doc = load("soak.yml");

    let (mut on, crons) = (triggers(&doc), doc["on"]["schedule"].as_sequence().expect("schedule").clone());

    on.sort();
    assert_eq!(on, ["schedule", "workflow_dispatch"]);
    assert_eq!(crons.len(), 1, "one scheduled time");
    let cron = crons[0]["cron"].as_str().expect("cron");
    let fields: Vec<&str> = cron.split_whitespace().collect();
    let number = |f: &str, max: u32| f.parse::<u32>().is_ok_and(|n| n <= max);
    assert_eq!(fields.len(), 5, "{cron}");
    assert!(number(fields[0], 59) && number(fields[1], 23), "a fixed minute and hour: {cron}");
    assert_eq!((fields[2], fields[3]), ("*", "*"), "every month, any day of the month: {cron}");
    assert!(number(fields[4], 6), "one day of the week, so once a week: {cron}");
}

#[test]
fn soak_holds_thirty_minutes_and_fails_the_run_on_a_broken_budget() {
    let doc = load("soak.yml");
    let perf_toml = std::fs::read_to_string(common::manifest_dir().join("../perf.toml")).unwrap();
    let config: toml::Value = toml::from_str(&perf_toml).unwrap();

    let steps = steps(&doc);

    let soak = steps
        .iter()
        .find(|s| run(s).lines().any(|l| l.trim() == "cargo xtask load --soak 30m"))
        .expect("a step running `cargo xtask load --soak 30m`");
    assert!(soak.get("continue-on-error").is_none() && soak.get("if").is_none(), "its failure fails the run");
    for masking in ["set +e", "|| true", "|| :", "| "] {
        assert!(!run(soak).contains(masking), "`{masking}` would hide the soak's exit status: {}", run(soak));
    }
    let job = doc["jobs"].as_mapping().unwrap().values().next().unwrap();
    assert!(job["timeout-minutes"].as_u64().is_some_and(|t| t >= 60), "30 min hold + build + ramp fit");
    let min_seconds = config["budgets"]["load"]["rss_slope_min_seconds"].as_float().unwrap();
    assert!(min_seconds <= 30.0 * 60.0, "a 30-minute hold is long enough for the slope to be judged");
    assert_eq!(permissions(&doc["permissions"]), [("contents".to_owned(), "read".to_owned())]);
}

#[test]
fn soak_keeps_the_figures_of_this_run_even_when_it_fails() {
    let doc = load("soak.yml");

    let steps = steps(&doc);

    let soak = steps.iter().find(|s| run(s).contains("cargo xtask load --soak")).expect("soak step");
    let script = run(soak);
    assert!(
        script.find("rm -f target/perf/load.json").is_some_and(|rm| rm < script.find("cargo xtask load").unwrap()),
        "a cached load.json of an older run is removed first: {script}"
    );
    let upload = steps.iter().find(|s| uses(s).starts_with("actions/upload-artifact@")).expect("upload");
    assert_eq!(upload["with"]["path"].as_str(), Some("target/perf/load.json"));
    assert_eq!(upload["if"].as_str(), Some("always()"));
}

// ---- CODEOWNERS ----

/// Whether a CODEOWNERS pattern (the subset this repository uses: `*`, `/file`, `/dir/`, `name`)
/// matches `path`.
fn codeowners_match(pattern: &str, path: &str) -> bool {
    assert!(!pattern.contains(['?', '[']) && (pattern == "*" || !pattern.contains('*')), "unsupported: {pattern}");
    match pattern {
        "*" => true,
        p if p.starts_with('/') && p.ends_with('/') => path.starts_with(&p[1..]),
        p if p.starts_with('/') => path == &p[1..] || path.starts_with(&format!("{}/", &p[1..])),
        p => path.split('/').any(|part| part == p.trim_end_matches('/')),
    }
}

/// The owners of `path`: the last matching line wins, as on GitHub.
fn owners_of(codeowners: &str, path: &str) -> Vec<String> {
    codeowners
        .lines()
        .rev()
        .map(str::trim)
        .filter(|l| !l.is_empty() && !l.starts_with('#'))
        .find_map(|l| {
            let mut words = l.split_whitespace();
            let pattern = words.next()?;
            codeowners_match(pattern, path).then(|| words.map(str::to_owned).collect::<Vec<_>>())
        })
        .unwrap_or_default()
}

#[test]
fn codeowners_guard_the_gate_config_the_baselines_and_the_workflows() {
    let path = common::manifest_dir().join("../.github/CODEOWNERS");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));

    let guarded = [
        "perf.toml",
        "baselines/instr.json",
        "baselines/wall.json",
        ".github/workflows/perf.yml",
        ".github/CODEOWNERS",
    ]
    .map(|p| (p, owners_of(&text, p)));

    for (p, owners) in &guarded {
        assert!(!owners.is_empty(), "{p} has no code owner");
        assert!(
            owners.iter().all(|o| o.starts_with('@') || o.contains('@')),
            "{p}: {owners:?} are not users, teams or emails"
        );
    }
    assert!(owners_of(&text, "crates/ha-proto/src/lib.rs").is_empty(), "the matcher is not vacuous");
}

#[test]
fn codeowners_matcher_takes_the_last_matching_line() {
    let text = "*  @all\n/baselines/ @perf\n/perf.toml @perf\n/docs/\n";

    let owners =
        ["baselines/x.json", "perf.toml", "perf.toml.bak", "docs/a.md", "src/baselines.rs"].map(|p| owners_of(text, p));

    assert_eq!(
        owners,
        [vec!["@perf"], vec!["@perf"], vec!["@all"], vec![], vec!["@all"]]
            .map(|v| v.into_iter().map(String::from).collect::<Vec<_>>())
    );
}
