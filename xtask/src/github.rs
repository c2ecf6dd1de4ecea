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
use self::ownership::{ACTIONS_BOT, Source};
use self::policy::Backoff;

/// A repository given as OWNER/NAME.
#[derive(Debug, Clone)]
pub(crate) struct Repo {
    owner: String,
    name: String,
}

fn parse_repo(text: &str) -> Result<Repo, String> {
    match text.split_once('/') {
        Some((owner, name)) if !owner.is_empty() && !name.is_empty() && !name.contains('/') => {
            Ok(Repo { owner: owner.to_owned(), name: name.to_owned() })
        }
        _ => Err(format!("`{text}` is not OWNER/NAME")),
    }
}

/// Options of `cargo xtask perf comment`.
#[derive(Debug, clap::Args)]
pub(crate) struct CommentArgs {
    /// The repository, OWNER/NAME (in a workflow: `${{ github.repository }}`).
    #[arg(long, value_parser = parse_repo)]
    repo: Repo,
    /// The pull request number.
    #[arg(long)]
    pr: u64,
    /// The gate's markdown report (default: $CARGO_TARGET_DIR/perf/report.md, else target/perf/report.md).
    #[arg(long)]
    report: Option<PathBuf>,
    /// Where the full report is: the URL of the perf workflow run holding the `perf-report` artifact
    /// (default: built from GITHUB_SERVER_URL, GITHUB_REPOSITORY and GITHUB_RUN_ID when set).
    #[arg(long, env = "HAPULSE_PERF_RUN_URL")]
    run_url: Option<String>,
    /// The published trend page to link (the perf-history workflow publishes it with GitHub Pages).
    #[arg(long, env = "HAPULSE_PERF_HISTORY_URL")]
    history_url: Option<String>,
    /// The login the comment is posted as when the token cannot say who it is (`GET /user` refused with
    /// 403): Actions' GITHUB_TOKEN posts as github-actions[bot], a GitHub App as `<app-slug>[bot]`. Only
    /// a marked comment by this author (or by the login GET /user gives) is ever edited.
    #[arg(long, env = "HAPULSE_PERF_COMMENT_AUTHOR", default_value = ACTIONS_BOT)]
    author: String,
    /// Delay before the first retry in milliseconds (doubles per retry; tests set it to 0).
    #[arg(long, hide = true, env = "HAPULSE_GITHUB_RETRY_BASE_MS", default_value_t = 1000)]
    retry_base_ms: u64,
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
