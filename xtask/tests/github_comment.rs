//! `cargo xtask perf comment` against a fake GitHub REST API on 127.0.0.1 (wiremock with a stateful
//! responder): create, update, pagination, errors, retries, and the token kept out of all output.

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ghs_t0ken-that-must-never-leak";
const MARKER: &str = "<!-- hapulse-perf-gate -->";
const PR_COMMENTS: &str = "/repos/octo/hapulse/issues/7/comments";

/// One comment held by the fake.
#[derive(Debug, Clone)]
struct Stored {
    id: u64,
    body: String,
}

/// A failure to inject: the next request with this method gets this status and message.
#[derive(Debug, Clone)]
struct Fault {
    method: &'static str,
    status: u16,
    message: String,
}

#[derive(Debug, Default)]
struct State {
    base: String,
    comments: Vec<Stored>,
    next_id: u64,
    faults: VecDeque<Fault>,
}

/// A tiny stateful GitHub: lists (100 per page, `Link` headers), creates and updates issue comments.
#[derive(Debug, Clone, Default)]
struct FakeGithub(Arc<Mutex<State>>);

impl FakeGithub {
    fn comments(&self) -> Vec<Stored> {
        self.0.lock().unwrap().comments.clone()
    }

    fn seed(&self, bodies: impl IntoIterator<Item = String>) {
        let mut state = self.0.lock().unwrap();
        for body in bodies {
            state.next_id += 1;
            let id = 1000 + state.next_id;
            state.comments.push(Stored { id, body });
        }
    }

    fn fail_next(&self, method: &'static str, status: u16, message: &str) {
        self.0.lock().unwrap().faults.push_back(Fault { method, status, message: message.to_owned() });
    }
}

fn as_json(c: &Stored, base: &str) -> serde_json::Value {
    json!({ "id": c.id, "body": c.body, "html_url": format!("{base}/octo/hapulse/pull/7#issuecomment-{}", c.id) })
}

impl Respond for FakeGithub {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if request.headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
            return ResponseTemplate::new(401).set_body_json(json!({ "message": "Requires authentication" }));
        }
        let method = request.method.as_str().to_owned();
        if state.faults.front().is_some_and(|f| f.method == method) {
            let fault = state.faults.pop_front().unwrap();
            return ResponseTemplate::new(fault.status).set_body_json(json!({ "message": fault.message }));
        }
        let path = request.url.path().to_owned();
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or(json!({}));
        let base = state.base.clone();
        match (method.as_str(), path.as_str()) {
            ("GET", PR_COMMENTS) => {
                let page: usize =
                    request.url.query_pairs().find(|(k, _)| k == "page").map_or(1, |(_, v)| v.parse().unwrap());
                let items: Vec<_> =
                    state.comments.iter().skip((page - 1) * 100).take(100).map(|c| as_json(c, &base)).collect();
                let mut answer = ResponseTemplate::new(200).set_body_json(items);
                if state.comments.len() > page * 100 {
                    let next = format!("<{base}{PR_COMMENTS}?per_page=100&page={}>; rel=\"next\"", page + 1);
                    let last = format!("<{base}{PR_COMMENTS}?per_page=100&page=99>; rel=\"last\"");
                    answer = answer.insert_header("link", format!("{next}, {last}").as_str());
                }
                answer
            }
            ("POST", PR_COMMENTS) => {
                state.next_id += 1;
                let stored = Stored { id: 1000 + state.next_id, body: body["body"].as_str().unwrap().to_owned() };
                state.comments.push(stored.clone());
                ResponseTemplate::new(201).set_body_json(as_json(&stored, &base))
            }
            ("PATCH", p) if p.starts_with("/repos/octo/hapulse/issues/comments/") => {
                let id: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
                match state.comments.iter_mut().find(|c| c.id == id) {
                    Some(c) => {
                        c.body = body["body"].as_str().unwrap().to_owned();
                        let c = c.clone();
                        ResponseTemplate::new(200).set_body_json(as_json(&c, &base))
                    }
                    None => ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })),
                }
            }
            _ => ResponseTemplate::new(404).set_body_json(json!({ "message": "Not Found" })),
        }
    }
}

/// A running fake and a report file to post.
struct Setup {
    server: MockServer,
    github: FakeGithub,
    _dir: tempfile::TempDir,
    report: PathBuf,
}

async fn setup(report: &str) -> Setup {
    let server = MockServer::start().await;
    let github = FakeGithub::default();
    github.0.lock().unwrap().base = server.uri();
    Mock::given(any()).respond_with(github.clone()).mount(&server).await;
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("report.md");
    std::fs::write(&path, report).unwrap();
    Setup { server, github, _dir: dir, report: path }
}

struct Run {
    code: i32,
    output: String,
}

async fn post(setup: &Setup) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf", "comment", "--repo", "octo/hapulse", "--pr", "7", "--report"])
        .arg(&setup.report)
        .env("GITHUB_API_URL", setup.server.uri())
        .env("GITHUB_TOKEN", TOKEN)
        .env("HAPULSE_GITHUB_RETRY_BASE_MS", "0")
        .env("HAPULSE_PERF_RUN_URL", "https://github.invalid/octo/hapulse/actions/runs/42")
        .output()
        .await
        .unwrap();
    let output = String::from_utf8_lossy(&out.stdout).into_owned() + &String::from_utf8_lossy(&out.stderr);
    Run { code: out.status.code().unwrap_or(-1), output }
}

async fn requests(setup: &Setup, method: &str) -> usize {
    setup.server.received_requests().await.unwrap().iter().filter(|r| r.method.as_str() == method).count()
}

const REPORT: &str = "1 regression, 41 unchanged\n\n| benchmark | metric | change |\n|---|---|--:|\n| `proto/parse/n1000` | instructions | +3.00% |\n";

#[tokio::test]
async fn first_run_creates_one_marked_comment() {
    let setup = setup(REPORT).await;

    let run = post(&setup).await;

    assert_eq!(run.code, 0, "{}", run.output);
    let comments = setup.github.comments();
    assert_eq!(comments.len(), 1);
    assert!(comments[0].body.starts_with(MARKER) && comments[0].body.contains(REPORT), "{}", comments[0].body);
    assert!(run.output.contains("created comment"), "{}", run.output);
}

#[tokio::test]
async fn second_run_updates_the_same_comment() {
    // arrange
    let setup = setup(REPORT).await;
    let first = post(&setup).await;
    assert_eq!(first.code, 0, "{}", first.output);
    let id = setup.github.comments()[0].id;
    std::fs::write(&setup.report, "0 regressions, 42 unchanged\n").unwrap();

    // act
    let second = post(&setup).await;

    // assert
    assert_eq!(second.code, 0, "{}", second.output);
    let comments = setup.github.comments();
    assert_eq!(comments.len(), 1, "still one comment");
    assert_eq!(comments[0].id, id);
    assert!(comments[0].body.contains("0 regressions, 42 unchanged"), "{}", comments[0].body);
    assert_eq!((requests(&setup, "POST").await, requests(&setup, "PATCH").await), (1, 1));
}

#[tokio::test]
async fn marked_comment_beyond_the_first_hundred_is_found_through_link_pages() {
    // arrange: 250 comments, ours is number 180 (page 2), others mention the gate without the marker
    let setup = setup(REPORT).await;
    setup.github.seed((0..179).map(|i| format!("review comment {i} about the perf gate")));
    setup.github.seed([format!("{MARKER}\nold report")]);
    setup.github.seed((180..250).map(|i| format!("review comment {i}")));
    let ours = setup.github.comments()[179].id;

    // act
    let run = post(&setup).await;

    // assert
    assert_eq!(run.code, 0, "{}", run.output);
    let comments = setup.github.comments();
    assert_eq!(comments.len(), 250, "nothing created");
    let updated: Vec<u64> = comments.iter().filter(|c| c.body.contains(REPORT)).map(|c| c.id).collect();
    assert_eq!(updated, [ours]);
    assert_eq!(requests(&setup, "GET").await, 3, "every page walked");
}

#[tokio::test]
async fn forbidden_gives_a_clear_error_and_creates_nothing() {
    let setup = setup(REPORT).await;
    setup.github.fail_next("POST", 403, "Resource not accessible by integration");

    let run = post(&setup).await;

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("the token cannot write to pull requests of octo/hapulse"), "{}", run.output);
    assert!(run.output.contains("perf-comment workflow"), "{}", run.output);
    assert!(setup.github.comments().is_empty());
    assert_eq!(requests(&setup, "POST").await, 1, "a 403 is not retried");
}

#[tokio::test]
async fn bad_gateway_then_success_retries_once_and_posts() {
    let setup = setup(REPORT).await;
    setup.github.fail_next("POST", 502, "Server Error");

    let run = post(&setup).await;

    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(requests(&setup, "POST").await, 2, "one retry");
    assert_eq!(setup.github.comments().len(), 1);
    assert!(run.output.contains("server error (502)"), "{}", run.output);
}

#[tokio::test]
async fn secondary_rate_limit_on_listing_is_retried() {
    let setup = setup(REPORT).await;
    setup.github.fail_next("GET", 403, "You have exceeded a secondary rate limit. Please wait a few minutes.");

    let run = post(&setup).await;

    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(requests(&setup, "GET").await, 2);
    assert_eq!(setup.github.comments().len(), 1);
}

#[tokio::test]
async fn persistent_server_errors_give_up_after_bounded_tries() {
    let setup = setup(REPORT).await;
    for _ in 0..10 {
        setup.github.fail_next("GET", 503, "unavailable");
    }

    let run = post(&setup).await;

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("gave up after 5 tries"), "{}", run.output);
    assert_eq!(requests(&setup, "GET").await, 5);
}

#[tokio::test]
async fn token_never_appears_in_output_or_errors() {
    // arrange: a success, then a failure whose answer echoes the token back
    let setup = setup(REPORT).await;
    let ok = post(&setup).await;
    setup.github.fail_next("GET", 401, &format!("Bad credentials for {TOKEN}"));

    // act
    let failed = post(&setup).await;

    // assert
    assert_eq!((ok.code, failed.code), (0, 1), "{}\n{}", ok.output, failed.output);
    assert!(failed.output.contains("GitHub rejected the token (401"), "{}", failed.output);
    assert!(!ok.output.contains(TOKEN) && !failed.output.contains(TOKEN), "{}\n{}", ok.output, failed.output);
    assert!(setup.github.comments().iter().all(|c| !c.body.contains(TOKEN)));
}

#[tokio::test]
async fn oversized_report_is_cut_and_points_at_the_artifact() {
    let mut report = String::from("5000 regressions\n\n| benchmark | metric | change |\n|---|---|--:|\n");
    for i in 0..5000 {
        report.push_str(&format!("| `area/op/case{i:05}` | instructions | +3.00% |\n"));
    }
    let setup = setup(&report).await;

    let run = post(&setup).await;

    assert_eq!(run.code, 0, "{}", run.output);
    let body = &setup.github.comments()[0].body;
    assert!(body.len() <= 65_536, "{}", body.len());
    assert!(body.contains("5000 regressions") && body.contains("table rows left out"), "{body}");
    assert!(body.contains("https://github.invalid/octo/hapulse/actions/runs/42"), "{body}");
}

#[tokio::test]
async fn unknown_pull_request_says_what_to_check() {
    let setup = setup(REPORT).await;
    setup.github.fail_next("GET", 404, "Not Found");

    let run = post(&setup).await;

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("octo/hapulse pull request #7 was not found"), "{}", run.output);
    assert!(run.output.contains("Check --repo OWNER/NAME and --pr"), "{}", run.output);
    assert_eq!(requests(&setup, "GET").await, 1, "a 404 is not retried");
}
