//! What to do with each GitHub answer: go on, retry after a bounded backoff, or stop with an error
//! that says what to do. Pure functions over status, a few headers and the body's message.

use std::time::Duration;

/// Retry settings: `attempts` tries in all, delays doubling from `base` and never above `cap`.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Backoff {
    /// Tries in all, the first included.
    pub(crate) attempts: u32,
    /// Delay before the first retry.
    pub(crate) base: Duration,
    /// Upper bound of any one delay, `Retry-After` included.
    pub(crate) cap: Duration,
}

impl Backoff {
    /// Five tries, 1 s doubling to at most 60 s: about two minutes in the worst case.
    pub(crate) const DEFAULT: Backoff =
        Backoff { attempts: 5, base: Duration::from_secs(1), cap: Duration::from_secs(60) };

    /// The delay before retry number `retry` (0-based), honouring a server-given wait within the cap.
    pub(crate) fn delay(&self, retry: u32, server_wait: Option<Duration>) -> Duration {
        let exponential = self.base.saturating_mul(2u32.saturating_pow(retry));
        server_wait.unwrap_or(exponential).min(self.cap)
    }
}

/// The parts of an answer that decide what happens next.
#[derive(Debug, Clone, Default)]
pub(crate) struct Answer<'a> {
    /// HTTP status code.
    pub(crate) status: u16,
    /// `Retry-After` in seconds, when given.
    pub(crate) retry_after: Option<u64>,
    /// `x-ratelimit-remaining`, when given.
    pub(crate) ratelimit_remaining: Option<u64>,
    /// Seconds until `x-ratelimit-reset`, when given.
    pub(crate) reset_in: Option<u64>,
    /// The `message` field of GitHub's error body (or the raw body).
    pub(crate) message: &'a str,
}

/// What the client does with an answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Next {
    /// Success: use the answer.
    Done,
    /// Transient: retry, after the server's wait when it gave one.
    Retry { server_wait: Option<Duration>, why: String },
    /// Permanent: stop with this explanation.
    Fail(String),
}

/// What the request was doing, for error messages.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Subject<'a> {
    /// "OWNER/NAME".
    pub(crate) repo: &'a str,
    /// Pull request number.
    pub(crate) pr: u64,
}

fn is_rate_limited(answer: &Answer<'_>) -> bool {
    let message = answer.message.to_ascii_lowercase();
    answer.status == 429
        || (answer.status == 403
            && (message.contains("rate limit")
                || answer.retry_after.is_some()
                || answer.ratelimit_remaining == Some(0)))
}

/// Decides what to do with `answer` to a request about `subject`; `cap` bounds any wait.
pub(crate) fn classify(answer: &Answer<'_>, subject: Subject<'_>, cap: Duration) -> Next {
    let Subject { repo, pr } = subject;
    let said = if answer.message.is_empty() { String::new() } else { format!(": GitHub said \"{}\"", answer.message) };
    match answer.status {
        200..=299 => Next::Done,
        // The primary rate limit is spent: waiting for its reset could take up to an hour.
        403 | 429 if answer.ratelimit_remaining == Some(0) && answer.reset_in.is_some_and(|s| s > cap.as_secs()) => {
            Next::Fail(format!(
                "the token's API rate limit is used up for another {} s ({}){said}. Run again after the reset, or \
                 use a token with its own limit",
                answer.reset_in.unwrap_or_default(),
                answer.status
            ))
        }
        _ if is_rate_limited(answer) => Next::Retry {
            server_wait: answer.retry_after.map(Duration::from_secs),
            why: format!("rate limited ({}){said}", answer.status),
        },
        500..=599 => Next::Retry { server_wait: None, why: format!("server error ({}){said}", answer.status) },
        401 => Next::Fail(format!(
            "GitHub rejected the token (401 Unauthorized){said}. Set GITHUB_TOKEN to a valid token; in a workflow \
             pass `GITHUB_TOKEN: ${{{{ secrets.GITHUB_TOKEN }}}}` in the step's env"
        )),
        403 => Next::Fail(format!(
            "the token cannot write to pull requests of {repo} (403 Forbidden){said}. Give the job \
             `permissions: pull-requests: write`; on fork PRs the token of the pull_request run is read-only, so the \
             comment is posted by the perf-comment workflow (workflow_run), not by perf itself"
        )),
        404 => Next::Fail(format!(
            "{repo} pull request #{pr} was not found (404 Not Found){said}. Check --repo OWNER/NAME and --pr, and \
             that the token can see the repository (GITHUB_API_URL must point at the API of the server hosting it)"
        )),
        422 => Next::Fail(format!(
            "GitHub refused the comment (422 Unprocessable Entity){said}. The body may be malformed or too long"
        )),
        status => Next::Fail(format!("unexpected answer from GitHub ({status}){said}")),
    }
}

/// How an answer is judged: [`classify`] for the PR's comments, [`classify_identity`] for `GET /user`.
pub(crate) type Judge = fn(&Answer<'_>, Subject<'_>, Duration) -> Next;

/// Like [`classify`], for `GET /user`: a plain 403 is an answer, not a failure. GitHub gives it to
/// tokens that act for an integration rather than a user (Actions' `GITHUB_TOKEN`: "Resource not
/// accessible by integration"; a GitHub App's installation token), and the poster then falls back to the
/// configured bot login. A rate-limited 403 is still retried.
pub(crate) fn classify_identity(answer: &Answer<'_>, subject: Subject<'_>, cap: Duration) -> Next {
    if answer.status == 403 && !is_rate_limited(answer) {
        return Next::Done;
    }
    classify(answer, subject, cap)
}

/// Replaces every occurrence of `secret` in `text` with `***` (no-op for an empty secret).
pub(crate) fn redact(text: &str, secret: &str) -> String {
    if secret.is_empty() { text.to_owned() } else { text.replace(secret, "***") }
}

/// The `rel="next"` URL of a `Link` header, when there is one.
pub(crate) fn next_link(link: &str) -> Option<&str> {
    link.split(',').find_map(|part| {
        let (url, params) = part.split_once(';')?;
        let is_next = params.split(';').any(|p| {
            let p = p.trim().replace(' ', "");
            p == "rel=\"next\"" || p == "rel=next"
        });
        is_next.then(|| url.trim().trim_start_matches('<').trim_end_matches('>'))
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    const SUBJECT: Subject<'static> = Subject { repo: "o/r", pr: 7 };
    const CAP: Duration = Duration::from_secs(60);

    fn answer(status: u16, message: &str) -> Answer<'_> {
        Answer { status, message, ..Answer::default() }
    }

    #[test]
    fn server_errors_are_retried() {
        let next = classify(&answer(502, "Bad Gateway"), SUBJECT, CAP);

        assert!(matches!(next, Next::Retry { server_wait: None, .. }), "{next:?}");
    }

    #[test]
    fn secondary_rate_limit_is_retried_after_the_servers_wait() {
        let a = Answer {
            retry_after: Some(3),
            ..answer(403, "You have exceeded a secondary rate limit. Please wait a few minutes before you try again.")
        };

        let next = classify(&a, SUBJECT, CAP);

        assert!(matches!(next, Next::Retry { server_wait: Some(w), .. } if w == Duration::from_secs(3)), "{next:?}");
    }

    #[test]
    fn plain_forbidden_fails_and_points_at_the_comment_workflow() {
        let next = classify(&answer(403, "Resource not accessible by integration"), SUBJECT, CAP);

        let Next::Fail(message) = next else { panic!("{next:?}") };
        assert!(message.contains("cannot write to pull requests of o/r"), "{message}");
        assert!(message.contains("perf-comment workflow"), "{message}");
    }

    #[test]
    fn unauthorized_and_not_found_say_what_to_check() {
        let texts: Vec<Next> = [401, 404].map(|s| classify(&answer(s, "x"), SUBJECT, CAP)).into();

        assert!(matches!(&texts[0], Next::Fail(m) if m.contains("Set GITHUB_TOKEN")), "{texts:?}");
        assert!(matches!(&texts[1], Next::Fail(m) if m.contains("--repo OWNER/NAME and --pr")), "{texts:?}");
    }

    #[test]
    fn spent_primary_rate_limit_fails_at_once_when_its_reset_is_beyond_the_cap() {
        let a = Answer { ratelimit_remaining: Some(0), reset_in: Some(1800), ..answer(403, "API rate limit exceeded") };

        let next = classify(&a, SUBJECT, CAP);

        assert!(matches!(&next, Next::Fail(m) if m.contains("used up for another 1800 s")), "{next:?}");
    }

    #[test]
    fn backoff_doubles_and_stays_under_the_cap() {
        let b = Backoff { attempts: 5, base: Duration::from_millis(500), cap: Duration::from_secs(3) };

        let delays: Vec<Duration> = (0..4).map(|r| b.delay(r, None)).collect();

        let ms: Vec<u128> = delays.iter().map(Duration::as_millis).collect();
        assert_eq!(ms, [500, 1000, 2000, 3000]);
        assert_eq!(b.delay(0, Some(Duration::from_secs(3600))), Duration::from_secs(3));
    }

    #[test]
    fn identity_lookup_takes_a_plain_forbidden_as_an_answer_but_retries_a_rate_limit() {
        let integration = answer(403, "Resource not accessible by integration");
        let limited = Answer { retry_after: Some(1), ..answer(403, "You have exceeded a secondary rate limit") };

        let (plain, rate) = (classify_identity(&integration, SUBJECT, CAP), classify_identity(&limited, SUBJECT, CAP));

        assert_eq!(plain, Next::Done);
        assert!(matches!(rate, Next::Retry { .. }), "{rate:?}");
        assert!(matches!(classify_identity(&answer(401, "Bad credentials"), SUBJECT, CAP), Next::Fail(_)));
    }

    #[test]
    fn next_link_is_found_among_other_relations() {
        let link = r#"<https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=1>; rel="prev", <https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=3>; rel="next", <https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=5>; rel="last""#;

        let next = next_link(link);

        assert_eq!(next, Some("https://api.github.com/repositories/1/issues/7/comments?per_page=100&page=3"));
        assert_eq!(next_link(r#"<https://x/?page=1>; rel="first""#), None);
    }

    #[test]
    fn redact_hides_every_occurrence() {
        let text = redact("token ghp_abc in url?t=ghp_abc", "ghp_abc");

        assert_eq!(text, "token *** in url?t=***");
    }
}
