//! The I/O edge of the comment poster: octocrab requests to GitHub's REST API with bounded retries,
//! walking every page of a PR's issue comments, and the find-then-update-or-create upsert.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::{Value, json};

use super::body::MARKER;
use super::policy::{self, Answer, Backoff, Next, Subject};

/// A token kept out of `Debug` output.
pub(crate) struct Token(pub(crate) String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// One issue comment, as far as the poster cares.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct Comment {
    /// Comment id (for PATCH).
    pub(crate) id: u64,
    /// Markdown body.
    #[serde(default)]
    pub(crate) body: Option<String>,
    /// Link to the comment.
    #[serde(default)]
    pub(crate) html_url: Option<String>,
}

impl Comment {
    fn is_ours(&self) -> bool {
        self.body.as_deref().is_some_and(|b| b.trim_start().starts_with(MARKER))
    }
}

/// What the upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Outcome {
    /// A new comment was created.
    Created { id: u64, url: Option<String> },
    /// The existing comment was updated; `duplicates` other marked comments were left alone.
    Updated { id: u64, url: Option<String>, duplicates: usize },
}

/// Who retries a transient failure of a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Retries {
    /// `send` itself, with the backoff (safe to repeat: GET, PATCH).
    InPlace,
    /// The caller, which first checks what landed (POST creates a comment each time it lands).
    ByCaller,
}

#[derive(Debug, Clone, Copy)]
enum Method {
    Get,
    Post,
    Patch,
}

/// A GitHub REST client for one pull request's conversation.
#[derive(Debug)]
pub(crate) struct Client {
    octo: Octocrab,
    token: Token,
    backoff: Backoff,
    owner: String,
    name: String,
    pr: u64,
}

/// Where and how to talk to GitHub.
#[derive(Debug)]
pub(crate) struct Settings {
    /// API base URL, e.g. `https://api.github.com` (GitHub Actions sets `GITHUB_API_URL`).
    pub(crate) api_url: String,
    /// The token.
    pub(crate) token: Token,
    /// Retry settings.
    pub(crate) backoff: Backoff,
    /// Repository owner.
    pub(crate) owner: String,
    /// Repository name.
    pub(crate) name: String,
    /// Pull request number.
    pub(crate) pr: u64,
}

/// What one request produced after retries.
#[derive(Debug)]
struct Reply {
    text: String,
    next: Option<String>,
}

/// A transient failure left for the caller to retry (non-idempotent requests are not retried in place).
#[derive(Debug)]
struct Transient(String);

impl std::fmt::Display for Transient {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for Transient {}

impl Client {
    /// Builds the octocrab client (no request is sent).
    pub(crate) fn new(settings: Settings) -> Result<Client> {
        let octo = Octocrab::builder()
            .base_uri(settings.api_url.as_str())
            .with_context(|| format!("GITHUB_API_URL `{}` is not a valid URL", settings.api_url))?
            .personal_token(settings.token.0.clone())
            .set_connect_timeout(Some(Duration::from_secs(10)))
            .set_read_timeout(Some(Duration::from_secs(60)))
            .build()
            .context("building the GitHub client")?;
        Ok(Client {
            octo,
            token: settings.token,
            backoff: settings.backoff,
            owner: settings.owner,
            name: settings.name,
            pr: settings.pr,
        })
    }

    fn repo(&self) -> String {
        format!("{}/{}", self.owner, self.name)
    }

    /// Sends one request; transient answers are retried here or returned as [`Transient`], per `retries`.
    async fn send(&self, method: Method, url: &str, body: Option<&Value>, retries: Retries) -> Result<Reply> {
        let repo = self.repo();
        let subject = Subject { repo: &repo, pr: self.pr };
        let mut retry = 0;
        loop {
            let sent = match method {
                Method::Get => self.octo._get(url).await,
                Method::Post => self.octo._post(url, body).await,
                Method::Patch => self.octo._patch(url, body).await,
            };
            let (next, reply) = match sent {
                Err(err) => {
                    let why =
                        format!("request to GitHub failed: {}", policy::redact(&error_chain(&err), &self.token.0));
                    (Next::Retry { server_wait: None, why }, None)
                }
                Ok(response) => {
                    let header =
                        |name: &str| response.headers().get(name).and_then(|v| v.to_str().ok()).map(str::to_owned);
                    let status = response.status().as_u16();
                    let retry_after = header("retry-after").and_then(|v| v.trim().parse().ok());
                    let remaining = header("x-ratelimit-remaining").and_then(|v| v.trim().parse().ok());
                    let reset_in = header("x-ratelimit-reset").and_then(|v| v.trim().parse::<u64>().ok()).map(|at| {
                        let now =
                            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
                        at.saturating_sub(now.as_secs())
                    });
                    let link = header("link");
                    let text = self.octo.body_to_string(response).await.context("reading GitHub's answer")?;
                    let message = error_message(&text);
                    let answer =
                        Answer { status, retry_after, ratelimit_remaining: remaining, reset_in, message: &message };
                    let next = classify_redacted(&answer, subject, self.backoff.cap, &self.token.0);
                    let next_url = link.as_deref().and_then(policy::next_link).map(str::to_owned);
                    (next, Some(Reply { text, next: next_url }))
                }
            };
            match next {
                Next::Done => return reply.context("no answer"),
                Next::Fail(message) => bail!(message),
                Next::Retry { why, .. } if retries == Retries::ByCaller => return Err(Transient(why).into()),
                Next::Retry { server_wait, why } => {
                    retry += 1;
                    if retry >= self.backoff.attempts {
                        bail!("gave up after {} tries: {why}", self.backoff.attempts);
                    }
                    let delay = self.backoff.delay(retry - 1, server_wait);
                    eprintln!("perf comment: {why}; retrying in {} ms", delay.as_millis());
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }

    /// Every comment of the PR's conversation, walking every page.
    async fn comments(&self) -> Result<Vec<Comment>> {
        let mut url = format!("/repos/{}/{}/issues/{}/comments?per_page=100", self.owner, self.name, self.pr);
        let mut all = Vec::new();
        for page in 1.. {
            let reply = self.send(Method::Get, &url, None, Retries::InPlace).await?;
            let comments: Vec<Comment> = serde_json::from_str(&reply.text)
                .with_context(|| format!("page {page} of the comments is not a list of comments"))?;
            all.extend(comments);
            match reply.next {
                Some(next) => url = next,
                None => break,
            }
            anyhow::ensure!(page < 10_000, "more than 10,000 pages of comments: the Link headers loop");
        }
        Ok(all)
    }

    /// Updates the PR's marked comment, or creates it when there is none.
    pub(crate) async fn upsert(&self, body: &str) -> Result<Outcome> {
        let payload = json!({ "body": body });
        let mut retry = 0;
        loop {
            let comments = self.comments().await.context("listing the pull request's comments")?;
            let mut ours = comments.iter().filter(|c| c.is_ours());
            if let Some(existing) = ours.next() {
                let url = format!("/repos/{}/{}/issues/comments/{}", self.owner, self.name, existing.id);
                let reply = self
                    .send(Method::Patch, &url, Some(&payload), Retries::InPlace)
                    .await
                    .context("updating the comment")?;
                let updated: Comment = serde_json::from_str(&reply.text).unwrap_or_else(|_| existing.clone());
                return Ok(Outcome::Updated { id: existing.id, url: updated.html_url, duplicates: ours.count() });
            }
            let url = format!("/repos/{}/{}/issues/{}/comments", self.owner, self.name, self.pr);
            match self.send(Method::Post, &url, Some(&payload), Retries::ByCaller).await {
                Ok(reply) => {
                    let created: Comment =
                        serde_json::from_str(&reply.text).context("GitHub's answer to the new comment")?;
                    return Ok(Outcome::Created { id: created.id, url: created.html_url });
                }
                Err(err) => {
                    // A failed create may still have landed: look for it again before posting a second one.
                    let Some(Transient(why)) = err.downcast_ref::<Transient>() else {
                        return Err(err.context("creating the comment"));
                    };
                    retry += 1;
                    if retry >= self.backoff.attempts {
                        bail!("creating the comment: gave up after {} tries: {why}", self.backoff.attempts);
                    }
                    let delay = self.backoff.delay(retry - 1, None);
                    eprintln!("perf comment: {why}; looking again and retrying in {} ms", delay.as_millis());
                    tokio::time::sleep(delay).await;
                }
            }
        }
    }
}

fn classify_redacted(answer: &Answer<'_>, subject: Subject<'_>, cap: Duration, token: &str) -> Next {
    match policy::classify(answer, subject, cap) {
        Next::Fail(m) => Next::Fail(policy::redact(&m, token)),
        Next::Retry { server_wait, why } => Next::Retry { server_wait, why: policy::redact(&why, token) },
        Next::Done => Next::Done,
    }
}

/// GitHub's `message` from an error body, else the body's start.
fn error_message(text: &str) -> String {
    serde_json::from_str::<Value>(text)
        .ok()
        .and_then(|v| v.get("message").and_then(Value::as_str).map(str::to_owned))
        .unwrap_or_else(|| text.chars().take(200).collect::<String>().trim().to_owned())
}

fn error_chain(err: &dyn std::error::Error) -> String {
    let mut out = err.to_string();
    let mut source = err.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}
