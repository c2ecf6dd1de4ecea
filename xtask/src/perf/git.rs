//! What the gate asks git (I/O edge): the repository's top directory, whether a revision exists,
//! and which revision holds the committed baselines, the reference that the default gate measures
//! A/B when the baselines cannot be compared as they are.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// The top directory of the git repository holding `dir`; `None` outside git.
pub(crate) fn toplevel(sh: &Shell, dir: &Path) -> Option<PathBuf> {
    let _dir = sh.push_dir(dir);
    cmd!(sh, "git rev-parse --show-toplevel").quiet().ignore_stderr().read().ok().map(PathBuf::from)
}

/// The full hash of `rev` as a commit; `None` when it names none.
pub(crate) fn commit_of(sh: &Shell, repo: &Path, rev: &str) -> Option<String> {
    let _dir = sh.push_dir(repo);
    let spec = format!("{rev}^{{commit}}");
    cmd!(sh, "git rev-parse --verify --quiet {spec}").quiet().ignore_stderr().read().ok().filter(|s| !s.is_empty())
}

/// HEAD's full hash, with `+dirty` when tracked files have uncommitted changes; `None` outside git.
pub(crate) fn head_state(sh: &Shell, repo: &Path) -> Option<String> {
    let head = commit_of(sh, repo, "HEAD")?;
    let _dir = sh.push_dir(repo);
    let dirty = cmd!(sh, "git status --porcelain --untracked-files=no").quiet().ignore_stderr().read().ok()?;
    Some(if dirty.trim().is_empty() { head } else { format!("{head}+dirty") })
}

/// The reference revision of a gate run, and why it is that one.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Reference {
    /// Full commit hash.
    pub(crate) commit: String,
    /// Why this commit: "the last commit that changed baselines/", or why HEAD stands in.
    pub(crate) why: String,
}

impl Reference {
    /// Seven characters of the hash.
    pub(crate) fn short(&self) -> &str {
        self.commit.get(..7).unwrap_or(&self.commit)
    }
}

/// The commit that holds the baselines in `baselines` (a directory of the repository holding
/// `root`): the last commit that changed it. HEAD stands in when the directory has uncommitted
/// changes (a bless not committed yet), is not tracked, or lies outside the repository. `None`
/// outside git or in a repository without commits.
pub(crate) fn baselines_reference(sh: &Shell, root: &Path, baselines: &Path) -> Result<Option<Reference>> {
    let Some(top) = toplevel(sh, root) else { return Ok(None) };
    let Some(head) = commit_of(sh, &top, "HEAD") else { return Ok(None) };
    let at_head = |why: &str| Ok(Some(Reference { commit: head.clone(), why: why.to_owned() }));
    let dir = std::path::absolute(baselines).with_context(|| format!("resolving {}", baselines.display()))?;
    let top = std::fs::canonicalize(&top).unwrap_or(top);
    let dir = std::fs::canonicalize(&dir).unwrap_or(dir);
    let Ok(rel) = dir.strip_prefix(&top) else {
        return at_head("HEAD: the baselines directory lies outside the repository");
    };
    let _dir = sh.push_dir(&top);
    let status = cmd!(sh, "git status --porcelain -- {rel}").quiet().ignore_stderr().read().unwrap_or_default();
    if !status.trim().is_empty() {
        return at_head("HEAD: the baselines have uncommitted changes");
    }
    let last = cmd!(sh, "git log -1 --format=%H -- {rel}").quiet().ignore_stderr().read().unwrap_or_default();
    if last.trim().is_empty() {
        return at_head("HEAD: the baselines are not committed");
    }
    Ok(Some(Reference {
        commit: last.trim().to_owned(),
        why: format!("the last commit that changed {}", rel.display()),
    }))
}
