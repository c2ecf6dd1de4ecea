//! `cargo xtask perf comment` against a fake GitHub REST API on 127.0.0.1 (wiremock with a stateful
//! responder): create, update, pagination, errors, retries, the token kept out of all output, and
//! ownership: a marked comment is the gate's only when the token's identity wrote it (a user token's
//! `GET /user` login, or for tokens that cannot call `GET /user`, the configured bot login).

use std::collections::VecDeque;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};

use serde_json::json;
use wiremock::matchers::any;
use wiremock::{Mock, MockServer, Request, Respond, ResponseTemplate};

const TOKEN: &str = "ghs_t0ken-that-must-never-leak";
const MARKER: &str = "<!-- hapulse-perf-gate -->";
const PR_COMMENTS: &str = "/repos/octo/hapulse/issues/7/comments";
/// The login `GET /user` gives for [`TOKEN`] when the fake plays a user's token.
const POSTER: &str = "perf-poster";
/// Who forges the marker in the ownership tests.
const MALLORY: &str = "mallory";
const ACTIONS_BOT: &str = "github-actions[bot]";

/// Who the fake says the token belongs to.
#[derive(Debug, Clone)]
enum Identity {
    /// A user's token or PAT: `GET /user` answers this login, which also writes the comments.
    User(&'static str),
    /// A token that acts for an integration (Actions, a GitHub App): `GET /user` answers 403, and
    /// comments are written by this bot login.
    Integration(&'static str),
}

impl Default for Identity {
    fn default() -> Self {
        Identity::User(POSTER)
    }
}

impl Identity {
    fn login(&self) -> &'static str {
        match self {
            Identity::User(login) | Identity::Integration(login) => login,
        }
    }
}

/// One comment held by the fake.
#[derive(Debug, Clone)]
struct Stored {
    id: u64,
    author: String,
    body: String,
}

/// A failure to inject: the next request with this method to a path starting with `path` gets this
/// status and message.
#[derive(Debug, Clone)]
struct Fault {
    method: &'static str,
    path: &'static str,
    status: u16,
    message: String,
}

#[derive(Debug, Default)]
struct State {
    base: String,
    identity: Identity,
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

    /// Comments written by the token's own identity.
    fn seed(&self, bodies: impl IntoIterator<Item = String>) {
        let login = self.0.lock().unwrap().identity.login();
        self.seed_by(login, bodies);
    }

    fn seed_by(&self, author: &str, bodies: impl IntoIterator<Item = String>) {
        let mut state = self.0.lock().unwrap();
        for body in bodies {
            state.next_id += 1;
            let id = 1000 + state.next_id;
            state.comments.push(Stored { id, author: author.to_owned(), body });
        }
    }

    fn play(&self, identity: Identity) {
        self.0.lock().unwrap().identity = identity;
    }

    /// Fails the next `method` request about the PR's comments.
    fn fail_next(&self, method: &'static str, status: u16, message: &str) {
        let fault = Fault { method, path: "/repos/", status, message: message.to_owned() };
        self.0.lock().unwrap().faults.push_back(fault);
    }

    /// Fails the next `GET /user`.
    fn fail_next_whoami(&self, status: u16, message: &str) {
        let fault = Fault { method: "GET", path: "/user", status, message: message.to_owned() };
        self.0.lock().unwrap().faults.push_back(fault);
    }
}

fn as_json(c: &Stored, base: &str) -> serde_json::Value {
    json!({
        "id": c.id,
        "body": c.body,
        "html_url": format!("{base}/octo/hapulse/pull/7#issuecomment-{}", c.id),
        "user": { "login": c.author, "type": if c.author.ends_with("[bot]") { "Bot" } else { "User" } },
    })
}

impl Respond for FakeGithub {
    fn respond(&self, request: &Request) -> ResponseTemplate {
        let mut state = self.0.lock().unwrap();
        if request.headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(&format!("Bearer {TOKEN}")) {
            return ResponseTemplate::new(401).set_body_json(json!({ "message": "Requires authentication" }));
        }
        let method = request.method.as_str().to_owned();
        let path = request.url.path().to_owned();
        if state.faults.front().is_some_and(|f| f.method == method && path.starts_with(f.path)) {
            let fault = state.faults.pop_front().unwrap();
            return ResponseTemplate::new(fault.status).set_body_json(json!({ "message": fault.message }));
        }
        let body: serde_json::Value = serde_json::from_slice(&request.body).unwrap_or(json!({}));
        let base = state.base.clone();
        match (method.as_str(), path.as_str()) {
            ("GET", "/user") => match state.identity {
                Identity::User(login) => ResponseTemplate::new(200).set_body_json(json!({ "login": login })),
                Identity::Integration(_) => ResponseTemplate::new(403)
                    .set_body_json(json!({ "message": "Resource not accessible by integration", "status": "403" })),
            },
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
                let author = state.identity.login().to_owned();
                let stored =
                    Stored { id: 1000 + state.next_id, author, body: body["body"].as_str().unwrap().to_owned() };
                state.comments.push(stored.clone());
                ResponseTemplate::new(201).set_body_json(as_json(&stored, &base))
            }
            ("PATCH", p) if p.starts_with("/repos/octo/hapulse/issues/comments/") => {
                let id: u64 = p.rsplit('/').next().unwrap().parse().unwrap();
                let poster = state.identity.login();
                match state.comments.iter_mut().find(|c| c.id == id) {
                    // GitHub refuses to let anyone but the author (or a maintainer) edit a comment.
                    Some(c) if c.author != poster => ResponseTemplate::new(403)
                        .set_body_json(json!({ "message": "Resource not accessible by integration" })),
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
    post_with(setup, &[]).await
}

async fn post_with(setup: &Setup, extra: &[&str]) -> Run {
    let out = tokio::process::Command::new(env!("CARGO_BIN_EXE_xtask"))
        .args(["perf", "comment", "--repo", "octo/hapulse", "--pr", "7", "--report"])
        .arg(&setup.report)
        .args(extra)
        .env_remove("HAPULSE_PERF_COMMENT_AUTHOR")
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

/// Requests about the repository (the PR's comments), not counting `GET /user`.
async fn requests(setup: &Setup, method: &str) -> usize {
    let all = setup.server.received_requests().await.unwrap();
    all.iter().filter(|r| r.method.as_str() == method && r.url.path().starts_with("/repos/")).count()
}

/// The ids of the PATCH requests, in order.
async fn patched(setup: &Setup) -> Vec<u64> {
    let all = setup.server.received_requests().await.unwrap();
    let patches = all.iter().filter(|r| r.method.as_str() == "PATCH");
    patches.map(|r| r.url.path().rsplit('/').next().unwrap().parse().unwrap()).collect()
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

#[tokio::test]
async fn forged_marker_comment_before_ours_is_left_alone_and_ours_is_updated() {
    // arrange: someone else's comment carrying the marker comes first, the poster's own after it
    let setup = setup(REPORT).await;
    setup.github.seed_by(MALLORY, [format!("{MARKER}\nforged: all benchmarks improved")]);
    setup.github.seed([format!("{MARKER}\nold report")]);
    let (forged, ours) = (setup.github.comments()[0].id, setup.github.comments()[1].id);

    // act
    let run = post(&setup).await;

    // assert
    assert_eq!(run.code, 0, "{}", run.output);
    let comments = setup.github.comments();
    assert_eq!(comments[0].body, format!("{MARKER}\nforged: all benchmarks improved"), "never touched");
    assert!(comments[1].body.contains(REPORT), "{}", comments[1].body);
    assert_eq!(patched(&setup).await, [ours], "only the poster's comment is edited");
    assert!(run.output.contains(&format!("comment {forged} by {MALLORY} carries the gate's marker")), "{}", run.output);
}

#[tokio::test]
async fn forged_marker_comment_alone_makes_the_poster_create_its_own() {
    let setup = setup(REPORT).await;
    setup.github.seed_by(MALLORY, [format!("{MARKER}\nforged")]);

    let run = post(&setup).await;

    assert_eq!(run.code, 0, "{}", run.output);
    let comments = setup.github.comments();
    assert_eq!(comments.len(), 2);
    assert_eq!((comments[0].author.as_str(), comments[0].body.as_str()), (MALLORY, &*format!("{MARKER}\nforged")));
    assert_eq!(comments[1].author, POSTER);
    assert!(comments[1].body.contains(REPORT), "{}", comments[1].body);
    assert_eq!((requests(&setup, "POST").await, requests(&setup, "PATCH").await), (1, 0));
}

#[tokio::test]
async fn actions_token_without_get_user_updates_the_github_actions_bot_comment() {
    // arrange: GET /user answers 403 (GITHUB_TOKEN); a forged marker comment precedes the bot's
    let setup = setup(REPORT).await;
    setup.github.play(Identity::Integration(ACTIONS_BOT));
    setup.github.seed_by(MALLORY, [format!("{MARKER}\nforged")]);
    setup.github.seed_by(ACTIONS_BOT, [format!("{MARKER}\nold report")]);
    let ours = setup.github.comments()[1].id;

    // act
    let run = post(&setup).await;

    // assert
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(patched(&setup).await, [ours]);
    assert_eq!(setup.github.comments()[0].body, format!("{MARKER}\nforged"));
    assert!(run.output.contains("posting as github-actions[bot] (--author)"), "{}", run.output);
}

#[tokio::test]
async fn app_token_takes_its_bot_login_from_the_author_flag() {
    // arrange: a GitHub App token; an Actions-bot comment with the marker is someone else's here
    let setup = setup(REPORT).await;
    setup.github.play(Identity::Integration("hapulse-perf[bot]"));
    setup.github.seed_by(ACTIONS_BOT, [format!("{MARKER}\nfrom another workflow")]);
    setup.github.seed_by("hapulse-perf[bot]", [format!("{MARKER}\nold report")]);
    let ours = setup.github.comments()[1].id;

    // act
    let run = post_with(&setup, &["--author", "hapulse-perf[bot]"]).await;

    // assert
    assert_eq!(run.code, 0, "{}", run.output);
    assert_eq!(patched(&setup).await, [ours]);
    assert_eq!(setup.github.comments()[0].body, format!("{MARKER}\nfrom another workflow"));
}

#[tokio::test]
async fn wrong_author_for_an_app_token_is_named_after_creating() {
    let setup = setup(REPORT).await;
    setup.github.play(Identity::Integration("hapulse-perf[bot]"));

    let run = post(&setup).await;

    assert_eq!(run.code, 0, "{}", run.output);
    assert!(run.output.contains("pass `--author hapulse-perf[bot]`"), "{}", run.output);
}

#[tokio::test]
async fn rate_limited_get_user_is_retried_not_taken_for_an_actions_token() {
    // arrange: a user's token whose first GET /user hits the secondary rate limit
    let setup = setup(REPORT).await;
    setup.github.fail_next_whoami(403, "You have exceeded a secondary rate limit. Please wait a few minutes.");
    setup.github.seed([format!("{MARKER}\nold report")]);

    // act
    let run = post(&setup).await;

    // assert
    assert_eq!(run.code, 0, "{}", run.output);
    assert!(run.output.contains(&format!("posting as {POSTER} (the token's user)")), "{}", run.output);
    assert_eq!(requests(&setup, "PATCH").await, 1, "the existing comment was found as the poster's");
}

#[tokio::test]
async fn rejected_token_on_get_user_stops_before_touching_comments() {
    let setup = setup(REPORT).await;
    setup.github.fail_next_whoami(401, "Bad credentials");

    let run = post(&setup).await;

    assert_eq!(run.code, 1, "{}", run.output);
    assert!(run.output.contains("GitHub rejected the token (401"), "{}", run.output);
    assert_eq!(requests(&setup, "GET").await + requests(&setup, "POST").await, 0);
}
