//! The I/O edge of the comment poster: octocrab requests to GitHub's REST API with bounded retries,
//! the token's identity (`GET /user`), walking every page of a PR's issue comments, and the
//! find-then-update-or-create upsert of the poster's own marked comment.

use std::time::Duration;

use anyhow::{Context, Result, bail};
use octocrab::Octocrab;
use serde::Deserialize;
use serde_json::{Value, json};

use super::ownership::{self, Author, Comment, Source};
use super::policy::{self, Answer, Backoff, Judge, Next, Subject};

/// A token kept out of `Debug` output.
pub(crate) struct Token(pub(crate) String);

impl std::fmt::Debug for Token {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Token(***)")
    }
}

/// What the upsert did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Action {
    /// A new comment was created; `posted_as` is the author GitHub recorded for it.
    Created { id: u64, url: Option<String>, posted_as: Option<String> },
    /// The poster's existing comment was updated; `duplicates` further own marked comments were left alone.
    Updated { id: u64, url: Option<String>, duplicates: usize },
}

/// What the upsert did, and the marked comments by other authors it left alone: (id, login).
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Outcome {
    /// Created or updated.
    pub(crate) action: Action,
    /// Comments carrying the marker that someone else wrote; never edited.
    pub(crate) foreign: Vec<(u64, String)>,
}

/// The answer to `GET /user`.
#[derive(Debug, Deserialize)]
struct Whoami {
    login: String,
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
    status: u16,
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

    /// Sends one request judged by [`policy::classify`]; see [`Client::send_judged`].
    async fn send(&self, method: Method, url: &str, body: Option<&Value>, retries: Retries) -> Result<Reply> {
        self.send_judged(method, url, body, retries, policy::classify).await
    }

    /// Sends one request; `judge` decides what each answer means; transient answers are retried here
    /// or returned as [`Transient`], per `retries`.
    async fn send_judged(
        &self,
        method: Method,
        url: &str,
        body: Option<&Value>,
        retries: Retries,
        judge: Judge,
    ) -> Result<Reply> {
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
                    let next = redacted(judge(&answer, subject, self.backoff.cap), &self.token.0);
                    let next_url = link.as_deref().and_then(policy::next_link).map(str::to_owned);
                    (next, Some(Reply { status, text, next: next_url }))
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

    /// Who the token posts as: the login `GET /user` gives, or `fallback` when GitHub refuses that
    /// request with a plain 403 (the Actions token and GitHub App tokens act for no user).
    pub(crate) async fn author(&self, fallback: &str) -> Result<Author> {
        let reply = self
            .send_judged(Method::Get, "/user", None, Retries::InPlace, policy::classify_identity)
            .await
            .context("asking GitHub who the token belongs to (GET /user)")?;
        if reply.status == 403 {
            return Ok(Author { login: fallback.to_owned(), source: Source::Configured });
        }
        let whoami: Whoami = serde_json::from_str(&reply.text).context("GitHub's answer to GET /user has no login")?;
        Ok(Author { login: whoami.login, source: Source::TokenUser })
    }

    /// Updates the marked comment `author` wrote on the PR, or creates one when there is none. Marked
    /// comments by anyone else are never edited: they are returned in [`Outcome::foreign`].
    pub(crate) async fn upsert(&self, body: &str, author: &str) -> Result<Outcome> {
        let payload = json!({ "body": body });
        let mut retry = 0;
        loop {
            let comments = self.comments().await.context("listing the pull request's comments")?;
            let selection = ownership::select(&comments, author);
            let foreign = selection.foreign;
            if let Some(existing) = selection.ours {
                let url = format!("/repos/{}/{}/issues/comments/{}", self.owner, self.name, existing.id);
                let reply = self
                    .send(Method::Patch, &url, Some(&payload), Retries::InPlace)
                    .await
                    .context("updating the comment")?;
                let updated: Comment = serde_json::from_str(&reply.text).unwrap_or_else(|_| existing.clone());
                let action =
                    Action::Updated { id: existing.id, url: updated.html_url, duplicates: selection.duplicates };
                return Ok(Outcome { action, foreign });
            }
            let url = format!("/repos/{}/{}/issues/{}/comments", self.owner, self.name, self.pr);
            match self.send(Method::Post, &url, Some(&payload), Retries::ByCaller).await {
                Ok(reply) => {
                    let created: Comment =
                        serde_json::from_str(&reply.text).context("GitHub's answer to the new comment")?;
                    let posted_as = created.login().map(str::to_owned);
                    let action = Action::Created { id: created.id, url: created.html_url, posted_as };
                    return Ok(Outcome { action, foreign });
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

fn redacted(next: Next, token: &str) -> Next {
    match next {
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
