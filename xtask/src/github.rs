//! `cargo xtask perf comment`: posts the gate's report.md as ONE sticky comment on a pull request
//! (found again by a hidden marker AND its author, the token's identity, and updated), through GitHub's
//! REST API with octocrab. The token comes from `GITHUB_TOKEN`, the API base from `GITHUB_API_URL`; the
//! token never appears in output.

mod body;
mod client;
mod ownership;
mod policy;

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, Result, anyhow};

use self::body::Footer;
use self::client::{Action, Client, Settings, Token};
pub(crate) use self::ownership::ACTIONS_BOT;
use self::ownership::Source;
use self::policy::Backoff;
use crate::cli::CommentArgs;

/// A repository given as OWNER/NAME.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    /// The owner (user or organisation).
    pub(crate) owner: String,
    /// The repository's name.
    pub(crate) name: String,
}

fn default_report() -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| PathBuf::from("target"), PathBuf::from)
        .join("perf")
        .join("report.md")
}

fn full_report_location(run_url: Option<String>) -> String {
    let env = |k: &str| std::env::var(k).ok().filter(|v| !v.is_empty());
    let url = run_url.filter(|u| !u.is_empty()).or_else(|| {
        Some(format!(
            "{}/{}/actions/runs/{}",
            env("GITHUB_SERVER_URL")?,
            env("GITHUB_REPOSITORY")?,
            env("GITHUB_RUN_ID")?
        ))
    });
    match url {
        Some(url) => format!("the `perf-report` artifact of [the perf workflow run]({url})"),
        None => "the `perf-report` artifact of the perf workflow run".to_owned(),
    }
}

/// Runs `perf comment`; exit code 0 when the comment was created or updated.
pub(crate) fn comment(args: CommentArgs) -> Result<u8> {
    let token = std::env::var("GITHUB_TOKEN").unwrap_or_default();
    if token.trim().is_empty() {
        anyhow::bail!(
            "GITHUB_TOKEN is not set: export a token that can write pull-request comments (in a workflow, \
             `env: GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}` with `permissions: pull-requests: write`)"
        );
    }
    // Whatever goes wrong below, the message that leaves this function has the token cut out.
    post(args, &token).map_err(|err| anyhow!(policy::redact(&format!("{err:#}"), &token)))
}

fn post(args: CommentArgs, token: &str) -> Result<u8> {
    let report_path = args.report.clone().unwrap_or_else(default_report);
    let report = std::fs::read_to_string(&report_path)
        .with_context(|| format!("reading {} (run `cargo xtask perf` first)", report_path.display()))?;
    let footer = Footer {
        full_report: full_report_location(args.run_url),
        history_url: args.history_url.filter(|u| !u.trim().is_empty()),
    };
    let body = body::compose(&report, &footer, body::LIMIT);
    let api_url = std::env::var("GITHUB_API_URL")
        .ok()
        .filter(|u| !u.is_empty())
        .unwrap_or_else(|| "https://api.github.com".to_owned());
    let settings = Settings {
        api_url,
        token: Token(token.to_owned()),
        backoff: Backoff { base: Duration::from_millis(args.retry_base_ms), ..Backoff::DEFAULT },
        owner: args.repo.owner.clone(),
        name: args.repo.name.clone(),
        pr: args.pr,
    };
    let runtime =
        tokio::runtime::Builder::new_current_thread().enable_all().build().context("starting the async runtime")?;
    let (author, outcome) = runtime.block_on(async {
        let client = Client::new(settings)?;
        let author = client.author(&args.author).await?;
        match author.source {
            Source::TokenUser => println!("perf comment: posting as {} (the token's user)", author.login),
            Source::Configured => println!(
                "perf comment: the token cannot read GET /user (403, an Actions or app token); posting as {} \
                 (--author)",
                author.login
            ),
        }
        let outcome = client.upsert(&body.text, &author.login).await?;
        anyhow::Ok((author, outcome))
    })?;
    let repo = format!("{}/{}", args.repo.owner, args.repo.name);
    let (verb, id, url) = match &outcome.action {
        Action::Created { id, url, .. } => ("created", id, url),
        Action::Updated { id, url, .. } => ("updated", id, url),
    };
    println!(
        "perf comment: {verb} comment {id} on {repo}#{}{}",
        args.pr,
        url.as_deref().map(|u| format!(" ({u})")).unwrap_or_default()
    );
    for (id, login) in &outcome.foreign {
        println!(
            "perf comment: comment {id} by {login} carries the gate's marker but is not {}'s: left alone",
            author.login
        );
    }
    match &outcome.action {
        Action::Updated { duplicates: n @ 1.., .. } => {
            println!("perf comment: {n} older marked comment(s) left as they are; only the first is kept up to date");
        }
        Action::Created { posted_as: Some(login), .. } if !login.eq_ignore_ascii_case(&author.login) => {
            println!(
                "perf comment: warning: GitHub posted the comment as {login}, not {}: pass `--author {login}` so \
                 the next run finds and updates it instead of posting another",
                author.login
            );
        }
        _ => {}
    }
    if body.rows_left_out > 0 {
        println!("perf comment: {} table rows left out to fit GitHub's comment limit", body.rows_left_out);
    }
    Ok(0)
}
