//! One measuring run per perf directory at a time. Two `cargo xtask perf` runs in one workspace
//! would share the A/B worktree and its target directory, the raw outputs and the report: the
//! second run's build or clean-up pulls files from under the first, which then fails (or, worse,
//! reads the other run's numbers). The second run waits for the first instead.

use std::fs::{File, OpenOptions, TryLockError};
use std::path::Path;

use anyhow::{Context, Result};

/// Held while a command measures; dropping it (closing the file) releases the lock.
#[derive(Debug)]
pub(crate) struct PerfDirLock {
    _file: File,
}

/// Takes the lock of `perf_dir` (`<target dir>/perf`), waiting, with a line saying so, while
/// another run holds it.
pub(crate) fn lock(perf_dir: &Path) -> Result<PerfDirLock> {
    let (file, path) = open(perf_dir)?;
    if !acquired(&file, &path)? {
        eprintln!(
            "perf: another `cargo xtask perf` run is measuring in {}; waiting for it to finish (lock file {})",
            perf_dir.display(),
            path.display()
        );
        file.lock().with_context(|| format!("waiting for the lock {}", path.display()))?;
    }
    Ok(PerfDirLock { _file: file })
}

/// The lock of `perf_dir` if no other run holds it, without waiting.
#[cfg(test)]
fn try_lock(perf_dir: &Path) -> Result<Option<PerfDirLock>> {
    let (file, path) = open(perf_dir)?;
    Ok(acquired(&file, &path)?.then_some(PerfDirLock { _file: file }))
}

/// Whether `file`'s lock was taken now; `false` when another run holds it.
fn acquired(file: &File, path: &Path) -> Result<bool> {
    match file.try_lock() {
        Ok(()) => Ok(true),
        Err(TryLockError::WouldBlock) => Ok(false),
        Err(TryLockError::Error(err)) => Err(err).with_context(|| format!("locking {}", path.display())),
    }
}

fn open(perf_dir: &Path) -> Result<(File, std::path::PathBuf)> {
    std::fs::create_dir_all(perf_dir).with_context(|| format!("creating {}", perf_dir.display()))?;
    let path = perf_dir.join("lock");
    let file = OpenOptions::new()
        .create(true)
        .truncate(false)
        .write(true)
        .open(&path)
        .with_context(|| format!("opening {}", path.display()))?;
    Ok((file, path))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_run_finds_the_directory_locked() {
        let dir = tempfile::tempdir().expect("temp dir");
        let _first = lock(dir.path()).expect("first lock");

        let second = try_lock(dir.path()).expect("lock file opens");

        assert!(second.is_none());
    }

    #[test]
    fn the_lock_is_free_again_once_the_first_run_ends() {
        let dir = tempfile::tempdir().expect("temp dir");
        drop(lock(dir.path()).expect("first lock"));

        let second = try_lock(dir.path()).expect("lock file opens");

        assert!(second.is_some());
    }
}
