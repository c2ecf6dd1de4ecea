//! Child processes in their own process group: wait for them while watching for an interrupt, and stop the whole
//! group by pid (a polite signal first, SIGKILL after a bound).

use std::process::{Child, ExitStatus};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, anyhow};
use nix::errno::Errno;
use nix::sys::signal::{Signal, killpg};
use nix::unistd::Pid;

/// Pause between checks of a running or stopping process (and between readiness probes).
pub(crate) const POLL: Duration = Duration::from_millis(200);

fn process_group_of(child: &Child) -> anyhow::Result<Pid> {
    let raw = i32::try_from(child.id()).map_err(|_| anyhow!("pid {} out of range", child.id()))?;
    Ok(Pid::from_raw(raw))
}

/// Sends `signal` to the process group led by `child` (started with `process_group(0)`); a group that is already
/// gone is fine.
pub(crate) fn signal_group(child: &Child, signal: Signal) -> anyhow::Result<()> {
    match killpg(process_group_of(child)?, signal) {
        Ok(()) | Err(Errno::ESRCH) => Ok(()),
        Err(errno) => Err(anyhow!("sending {signal} to process group {}: {errno}", child.id())),
    }
}

/// How long killed members of a group may take to disappear (be reaped by init after the leader is gone).
const VANISH_WITHIN: Duration = Duration::from_secs(5);

/// Whether any process of the group led by `child` still exists (zombies included).
fn group_exists(child: &Child) -> anyhow::Result<bool> {
    // Signal "none" (0) only checks that the group exists.
    match killpg(process_group_of(child)?, None) {
        Ok(()) => Ok(true),
        Err(Errno::ESRCH) => Ok(false),
        Err(errno) => Err(anyhow!("checking process group {}: {errno}", child.id())),
    }
}

/// Stops the group led by `child`: `first` to the group, SIGKILL after `grace`. Then SIGKILL once more for
/// members that outlived the leader (a pip subprocess, say), and waits until none is left.
pub(crate) fn stop_group(child: &mut Child, first: Signal, grace: Duration) -> anyhow::Result<ExitStatus> {
    signal_group(child, first)?;
    let deadline = Instant::now() + grace;
    let status = loop {
        if let Some(status) = child.try_wait().context("waiting for the process")? {
            break status;
        }
        if Instant::now() >= deadline {
            eprintln!("pid {} still running {} s after {first}: killing it", child.id(), grace.as_secs());
            signal_group(child, Signal::SIGKILL)?;
            break child.wait().context("waiting for the killed process")?;
        }
        thread::sleep(POLL);
    };
    signal_group(child, Signal::SIGKILL)?;
    let deadline = Instant::now() + VANISH_WITHIN;
    while group_exists(child)? {
        if Instant::now() >= deadline {
            return Err(anyhow!("process group {} still exists after SIGKILL", child.id()));
        }
        thread::sleep(POLL);
    }
    Ok(status)
}

/// Waits for `child` to exit; if `cancelled()` turns true first, stops its group (SIGINT, SIGKILL after `grace`)
/// and returns `None`.
pub(crate) fn wait_unless(
    child: &mut Child,
    cancelled: &dyn Fn() -> bool,
    grace: Duration,
) -> anyhow::Result<Option<ExitStatus>> {
    loop {
        if let Some(status) = child.try_wait().context("waiting for the process")? {
            return Ok(Some(status));
        }
        if cancelled() {
            stop_group(child, Signal::SIGINT, grace)?;
            return Ok(None);
        }
        thread::sleep(POLL);
    }
}

#[cfg(test)]
mod tests {
    use std::io::{BufRead as _, BufReader};
    use std::os::unix::process::CommandExt as _;
    use std::process::{Command, Stdio};

    use super::*;

    fn spawn_in_group(script: &str) -> Child {
        Command::new("sh").args(["-c", script]).stdout(Stdio::piped()).process_group(0).spawn().expect("spawning sh")
    }

    #[test]
    fn wait_unless_returns_the_status_of_a_process_that_ends() {
        let mut child = spawn_in_group("exit 3");

        let status = wait_unless(&mut child, &|| false, Duration::from_secs(5)).unwrap();

        assert_eq!(status.and_then(|s| s.code()), Some(3));
    }

    #[test]
    fn wait_unless_stops_the_process_when_cancelled() {
        let mut child = spawn_in_group("exec sleep 600");

        let status = wait_unless(&mut child, &|| true, Duration::from_secs(5)).unwrap();

        assert!(status.is_none());
        assert!(child.try_wait().unwrap().is_some(), "the leader was reaped");
    }

    #[test]
    fn stop_group_also_stops_children_that_ignore_the_first_signal() {
        // A background job of a non-interactive sh ignores SIGINT, like a pip build step that swallows it.
        let mut child = spawn_in_group("sleep 600 & echo started; wait");
        let mut line = String::new();
        BufReader::new(child.stdout.take().unwrap()).read_line(&mut line).unwrap();

        stop_group(&mut child, Signal::SIGINT, Duration::from_secs(5)).unwrap();

        assert_eq!(line, "started\n");
        assert!(!group_exists(&child).unwrap(), "a member of the group survived");
    }
}
