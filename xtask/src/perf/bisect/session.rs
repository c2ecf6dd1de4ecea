//! The bisect worktree (I/O edge): a detached checkout of the user's repository under
//! `<target>/perf/bisect/worktree` (the perf module's [`Worktree`]), with a copy of the running
//! executable beside it for `git bisect run` to call. [`Session`] ends the bisection and removes both
//! when dropped, whatever happened; the worktree's leftovers of a killed run go before it starts.

use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use crate::perf::worktree::Worktree;

/// The bisect worktree and the copied step executable.
#[derive(Debug)]
pub(crate) struct Session<'a> {
    sh: &'a Shell,
    /// The checkout, removed when the session is dropped (after the bisection is reset).
    checkout: Worktree<'a>,
    /// The copy of this executable that `git bisect run` calls.
    pub(crate) exe: PathBuf,
}

impl<'a> Session<'a> {
    /// Removes any leftover of a killed run in `dir`, checks `commit` out in a fresh detached
    /// worktree there, and copies this executable beside it so a rebuild cannot swap it mid-way.
    pub(crate) fn start(sh: &'a Shell, repo: &Path, dir: &Path, commit: &str) -> Result<Session<'a>> {
        let exe = dir.join(format!("xtask-bisect-step{}", std::env::consts::EXE_SUFFIX));
        let checkout =
            Worktree::add(sh, repo, &dir.join("worktree"), commit).context("creating the bisect worktree")?;
        let session = Session { sh, checkout, exe };
        let _ = std::fs::remove_file(&session.exe);
        let current = std::env::current_exe().context("locating the running xtask executable")?;
        std::fs::copy(&current, &session.exe)
            .with_context(|| format!("copying {} to {}", current.display(), session.exe.display()))?;
        Ok(session)
    }

    /// The worktree's top directory.
    pub(crate) fn worktree(&self) -> &Path {
        &self.checkout.path
    }

    /// Checks `commit` out, discarding whatever a build changed in the worktree.
    pub(crate) fn checkout(&self, commit: &str) -> Result<()> {
        let sh = self.sh;
        let _dir = sh.push_dir(&self.checkout.path);
        cmd!(sh, "git checkout --quiet --force --detach {commit}")
            .quiet()
            .ignore_stderr()
            .run()
            .with_context(|| format!("checking out {commit} in the bisect worktree"))
    }

    /// A command run in the worktree.
    pub(crate) fn command(&self, program: &str, args: &[&str]) -> Command {
        let sh = self.sh;
        let _dir = sh.push_dir(&self.checkout.path);
        let mut command: Command = cmd!(sh, "{program} {args...}").into();
        command.stdin(Stdio::null());
        command
    }

    /// Runs a git command in the worktree; returns its standard output (echoed to stderr).
    pub(crate) fn git(&self, args: &[&str]) -> Result<String> {
        let (success, text) = stream_stdout(&mut self.command("git", args))?;
        anyhow::ensure!(success, "`git {}` failed in the bisect worktree", args.join(" "));
        Ok(text)
    }

    /// Ends the bisection in the worktree, if one is in progress.
    pub(crate) fn bisect_reset(&self) {
        let sh = self.sh;
        let _dir = sh.push_dir(&self.checkout.path);
        let _ = cmd!(sh, "git bisect reset").quiet().ignore_stdout().ignore_stderr().run();
    }
}

impl Drop for Session<'_> {
    /// Resets the bisection; the worktree itself goes when `checkout` is dropped right after.
    fn drop(&mut self) {
        if self.checkout.path.exists() {
            self.bisect_reset();
        }
        let _ = std::fs::remove_file(&self.exe);
    }
}

/// Runs `command`, echoing its standard output to stderr as it comes; returns success and the text.
pub(crate) fn stream_stdout(command: &mut Command) -> Result<(bool, String)> {
    command.stdout(Stdio::piped());
    let mut child = command.spawn().with_context(|| format!("starting {command:?}"))?;
    let mut text = String::new();
    for line in BufReader::new(child.stdout.take().context("no stdout pipe")?).lines() {
        let line = line.context("reading git's output")?;
        eprintln!("{line}");
        text.push_str(&line);
        text.push('\n');
    }
    let status = child.wait().with_context(|| format!("waiting for {command:?}"))?;
    Ok((status.success(), text))
}
