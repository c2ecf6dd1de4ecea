//! Which of a pull request's comments is the gate's own: the one carrying the hidden marker AND written
//! by the identity the token posts as. Anyone can paste the marker into a comment; editing theirs is
//! refused by GitHub (and would be wrong), so a marked comment by anyone else is never touched.

use serde::Deserialize;

use super::body::MARKER;

/// The login GitHub Actions' `GITHUB_TOKEN` posts comments as.
pub(crate) const ACTIONS_BOT: &str = "github-actions[bot]";

/// The author of a comment, as GitHub gives it.
#[derive(Debug, Clone, Deserialize)]
pub(crate) struct User {
    /// Login, e.g. `octocat` or `github-actions[bot]`.
    pub(crate) login: String,
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
    /// Who wrote it (absent for a deleted account, which is never the poster).
    #[serde(default)]
    pub(crate) user: Option<User>,
}

impl Comment {
    fn is_marked(&self) -> bool {
        self.body.as_deref().is_some_and(|b| b.trim_start().starts_with(MARKER))
    }

    /// The author's login, when GitHub gave one.
    pub(crate) fn login(&self) -> Option<&str> {
        self.user.as_ref().map(|u| u.login.as_str())
    }

    fn is_by(&self, author: &str) -> bool {
        // GitHub logins are case-insensitive.
        self.login().is_some_and(|l| l.eq_ignore_ascii_case(author))
    }
}

/// How the poster's identity was learned.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    /// `GET /user` answered with the token's login (a user's token or PAT).
    TokenUser,
    /// `GET /user` was refused (the Actions token, a GitHub App's token): the configured `--author`.
    Configured,
}

/// The login the gate's comments are written by.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Author {
    /// The login.
    pub(crate) login: String,
    /// Where it came from.
    pub(crate) source: Source,
}

/// The PR's marked comments, split by author.
#[derive(Debug, Clone, Default)]
pub(crate) struct Selection<'c> {
    /// The first marked comment by the poster: the one kept up to date.
    pub(crate) ours: Option<&'c Comment>,
    /// Further marked comments by the poster, left as they are.
    pub(crate) duplicates: usize,
    /// Marked comments by anyone else, never touched: (id, login).
    pub(crate) foreign: Vec<(u64, String)>,
}

/// Splits `comments` into the poster's marked comment, its duplicates and marked comments by others.
pub(crate) fn select<'c>(comments: &'c [Comment], author: &str) -> Selection<'c> {
    let mut selection = Selection::default();
    for comment in comments.iter().filter(|c| c.is_marked()) {
        if !comment.is_by(author) {
            selection.foreign.push((comment.id, comment.login().unwrap_or("(deleted user)").to_owned()));
        } else if selection.ours.is_none() {
            selection.ours = Some(comment);
        } else {
            selection.duplicates += 1;
        }
    }
    selection
}

#[cfg(test)]
mod tests {
    use super::*;

    fn comment(id: u64, login: &str, body: &str) -> Comment {
        Comment { id, body: Some(body.to_owned()), html_url: None, user: Some(User { login: login.to_owned() }) }
    }

    #[test]
    fn marked_comment_by_someone_else_is_foreign_even_when_it_comes_first() {
        let comments = [comment(1, "mallory", &format!("{MARKER}\nforged")), comment(2, "perf-bot", MARKER)];

        let selection = select(&comments, "perf-bot");

        assert_eq!(selection.ours.map(|c| c.id), Some(2));
        assert_eq!(selection.foreign, [(1, "mallory".to_owned())]);
        assert_eq!(selection.duplicates, 0);
    }

    #[test]
    fn unmarked_comments_by_the_poster_are_not_ours() {
        let comments = [comment(1, "perf-bot", "a note mentioning <!-- hapulse-perf-gate --> later")];

        let selection = select(&comments, "perf-bot");

        assert!(selection.ours.is_none() && selection.foreign.is_empty());
    }

    #[test]
    fn login_is_matched_without_regard_to_case_and_later_own_comments_are_duplicates() {
        let comments = [comment(1, "Perf-Bot", MARKER), comment(2, "perf-bot", MARKER)];

        let selection = select(&comments, "perf-bot");

        assert_eq!((selection.ours.map(|c| c.id), selection.duplicates), (Some(1), 1));
    }

    #[test]
    fn comment_of_a_deleted_account_is_never_ours() {
        let comments = [Comment { user: None, ..comment(1, "x", MARKER) }];

        let selection = select(&comments, "perf-bot");

        assert!(selection.ours.is_none());
        assert_eq!(selection.foreign, [(1, "(deleted user)".to_owned())]);
    }
}
