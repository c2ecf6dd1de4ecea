//! A detached git worktree owned by a perf subcommand (I/O edge): `--base` A/B runs check the base
//! out in one, `perf bisect` walks the commits in another. [`Worktree`] removes a leftover of a
//! killed run before checking out, and removes the worktree again when dropped, whatever happened.

use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

/// A detached worktree of the repository holding `repo`, removed on drop.
#[derive(Debug)]
pub(crate) struct Worktree<'a> {
    sh: &'a Shell,
    /// A directory of the user's repository, to run `git worktree` in.
    repo: PathBuf,
    /// The worktree's top directory.
    pub(crate) path: PathBuf,
}

/// Removes a worktree of ours (`--force`: it may hold build leftovers), then prunes stale entries.
fn remove(sh: &Shell, repo: &Path, worktree: &Path) {
    let _dir = sh.push_dir(repo);
    if worktree.exists() {
        let _ = cmd!(sh, "git worktree remove --force {worktree}").quiet().ignore_stdout().ignore_stderr().run();
        // Not a worktree of this repository (a leftover of another one), or half-created.
        let _ = std::fs::remove_dir_all(worktree);
    }
    let _ = cmd!(sh, "git worktree prune").quiet().ignore_stderr().run();
}

impl<'a> Worktree<'a> {
    /// Removes whatever is at `path`, then checks `rev` out there, detached.
    pub(crate) fn add(sh: &'a Shell, repo: &Path, path: &Path, rev: &str) -> Result<Worktree<'a>> {
        remove(sh, repo, path);
        if let Some(parent) = path.parent() {
            std::fs::create_dir_all(parent).with_context(|| format!("creating {}", parent.display()))?;
        }
        let worktree = Worktree { sh, repo: repo.to_owned(), path: path.to_owned() };
        let _dir = sh.push_dir(repo);
        cmd!(sh, "git worktree add --detach {path} {rev}")
            .quiet()
            .ignore_stdout()
            .ignore_stderr()
            .run()
            .with_context(|| format!("checking {rev} out in the worktree {}", path.display()))?;
        Ok(worktree)
    }
}

impl Drop for Worktree<'_> {
    fn drop(&mut self) {
        remove(self.sh, &self.repo, &self.path);
    }
}
