//! The Home Assistant process: start `hass` in its own process group, wait until its HTTP API answers, and stop
//! it by pid (SIGTERM to the group, SIGKILL after a bound), whoever asks: the run itself, the control socket or
//! the Ctrl-C handler.

use std::ffi::OsString;
use std::fs::{self, File, OpenOptions};
use std::io::Write as _;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Mutex, MutexGuard};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use nix::sys::signal::Signal;

use super::config::Urls;
use super::process::{self, POLL};

/// How long Home Assistant gets to shut down after SIGTERM before the group is killed. It usually needs 1–3 s;
/// its own shutdown stages can take much longer when an integration hangs, and we do not wait for that.
const STOP_GRACE: Duration = Duration::from_secs(30);

/// Lines of the Home Assistant log shown when it fails to come up.
const LOG_TAIL_LINES: usize = 40;

/// How to run `hass` for one configuration folder.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct HassCommand {
    /// The `hass` entry point in the venv.
    pub(crate) program: PathBuf,
    /// The configuration folder (`hass -c`).
    pub(crate) config_dir: PathBuf,
    /// Where stdout and stderr go; appended to across restarts.
    pub(crate) log_file: PathBuf,
}

impl HassCommand {
    /// The arguments of `hass`. `skip_pip` skips installing integration requirements (only safe once they are in).
    pub(crate) fn args(&self, skip_pip: bool) -> Vec<OsString> {
        let mut args = vec![OsString::from("-c"), self.config_dir.clone().into_os_string()];
        if skip_pip {
            args.push(OsString::from("--skip-pip"));
        }
        args
    }

    /// The command line as one printable string (for logs and `--shell`).
    pub(crate) fn display(&self, skip_pip: bool) -> String {
        let mut line = self.program.display().to_string();
        for arg in self.args(skip_pip) {
            line.push(' ');
            line.push_str(&arg.to_string_lossy());
        }
        line
    }
}

/// The last `n` lines of `text`.
pub(crate) fn tail_lines(text: &str, n: usize) -> &str {
    let trimmed = text.trim_end_matches('\n');
    match trimmed.rmatch_indices('\n').nth(n.saturating_sub(1)) {
        Some((index, _)) if n > 0 => &trimmed[index + 1..],
        _ if n == 0 => "",
        _ => trimmed,
    }
}

/// A readable tail of the Home Assistant log for error messages.
fn log_tail(path: &Path) -> String {
    match fs::read(path) {
        Ok(bytes) => {
            let text = String::from_utf8_lossy(&bytes);
            format!("last {LOG_TAIL_LINES} lines of {}:\n{}", path.display(), tail_lines(&text, LOG_TAIL_LINES))
        }
        Err(err) => format!("(could not read {}: {err})", path.display()),
    }
}

/// A free TCP port on 127.0.0.1, found by binding port 0. Another process could take it before Home Assistant
/// binds it; the readiness wait then fails with Home Assistant's own "address in use" message in the log tail.
pub(crate) fn free_port() -> anyhow::Result<u16> {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").context("binding 127.0.0.1:0 to find a free port")?;
    Ok(listener.local_addr().context("reading the bound address")?.port())
}

#[derive(Debug, Default)]
struct State {
    child: Option<Child>,
    /// Set once the run is over or interrupted: no start after that.
    closed: bool,
}

/// Owner of the one Home Assistant process of a run. Shared (behind an `Arc`) by the run, the control socket
/// and the Ctrl-C handler; every start and stop goes through it, so it always knows the pid to stop.
#[derive(Debug)]
pub(crate) struct Supervisor {
    command: HassCommand,
    urls: Urls,
    state: Mutex<State>,
}

impl Supervisor {
    /// A supervisor for `command`, serving on `urls`. Nothing is started yet.
    pub(crate) fn new(command: HassCommand, urls: Urls) -> Self {
        Self { command, urls, state: Mutex::new(State::default()) }
    }

    /// The command this supervisor runs.
    pub(crate) fn command(&self) -> &HassCommand {
        &self.command
    }

    fn state(&self) -> MutexGuard<'_, State> {
        // A panic while holding the lock leaves plain data behind; the pid in it is still the one to stop.
        self.state.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// Whether the run is over or was interrupted.
    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// The pid of the running `hass`, if one runs.
    pub(crate) fn pid(&self) -> Option<u32> {
        self.state().child.as_ref().map(Child::id)
    }

    /// Starts `hass` and waits until `GET /api/` answers 401, at most `ready_within`.
    pub(crate) fn start(&self, skip_pip: bool, ready_within: Duration) -> anyhow::Result<()> {
        self.spawn(skip_pip)?;
        match self.wait_ready(ready_within) {
            Ok(()) => Ok(()),
            Err(err) => {
                let stopped = self.stop();
                // One message, the reason first and the log after it (a context would print the log first).
                let err = anyhow::anyhow!("{err:#}\n{}", log_tail(&self.command.log_file));
                Err(match stopped {
                    Ok(()) => err,
                    Err(stop_err) => err.context(format!("also failed to stop it: {stop_err:#}")),
                })
            }
        }
    }

    fn spawn(&self, skip_pip: bool) -> anyhow::Result<()> {
        let mut state = self.state();
        if state.closed {
            bail!("not starting Home Assistant: the run is shutting down");
        }
        if let Some(child) = &state.child {
            bail!("Home Assistant is already running (pid {})", child.id());
        }
        let log = &self.command.log_file;
        let mut out = OpenOptions::new()
            .create(true)
            .append(true)
            .open(log)
            .with_context(|| format!("opening {}", log.display()))?;
        writeln!(out, "==== hapulse: {} ====", self.command.display(skip_pip))
            .with_context(|| format!("writing {}", log.display()))?;
        let err: File = out.try_clone().with_context(|| format!("duplicating the handle of {}", log.display()))?;
        let child = Command::new(&self.command.program)
            .args(self.command.args(skip_pip))
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            // Its own process group: a terminal Ctrl-C reaches only us, and we stop the whole group, including
            // any pip process it started.
            .process_group(0)
            .spawn()
            .with_context(|| format!("starting {}", self.command.program.display()))?;
        state.child = Some(child);
        Ok(())
    }

    fn wait_ready(&self, within: Duration) -> anyhow::Result<()> {
        let agent: ureq::Agent = ureq::Agent::config_builder()
            .http_status_as_error(false)
            .timeout_global(Some(Duration::from_secs(5)))
            .build()
            .into();
        let url = self.urls.api_root();
        let deadline = Instant::now() + within;
        loop {
            {
                let mut state = self.state();
                if state.closed {
                    bail!("interrupted while waiting for Home Assistant");
                }
                let Some(child) = state.child.as_mut() else {
                    bail!("Home Assistant was stopped while waiting for it");
                };
                if let Some(status) = child.try_wait().context("checking the hass process")? {
                    // Whatever it started (a pip install) goes with it.
                    process::signal_group(child, Signal::SIGKILL)?;
                    state.child = None;
                    bail!("Home Assistant exited before answering ({status})");
                }
            }
            if let Ok(response) = agent.get(&url).call()
                && response.status().as_u16() == 401
            {
                return Ok(());
            }
            if Instant::now() >= deadline {
                bail!("Home Assistant did not answer 401 on {url} within {} s", within.as_secs());
            }
            thread::sleep(POLL);
        }
    }

    /// Stops `hass` if it runs: SIGTERM to its process group, SIGKILL after [`STOP_GRACE`].
    pub(crate) fn stop(&self) -> anyhow::Result<()> {
        let mut state = self.state();
        let Some(mut child) = state.child.take() else {
            return Ok(());
        };
        stop_group(&mut child).with_context(|| format!("stopping Home Assistant (pid {})", child.id()))?;
        Ok(())
    }

    /// Refuses every later start and stops `hass`. Used at the end of the run and by the Ctrl-C handler.
    pub(crate) fn close(&self) -> anyhow::Result<()> {
        self.state().closed = true;
        self.stop()
    }
}

fn stop_group(child: &mut Child) -> anyhow::Result<()> {
    process::stop_group(child, Signal::SIGTERM, STOP_GRACE).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn command() -> HassCommand {
        HassCommand {
            program: PathBuf::from("/v/bin/hass"),
            config_dir: PathBuf::from("/run/config"),
            log_file: PathBuf::from("/run/hass.log"),
        }
    }

    #[test]
    fn first_start_installs_requirements() {
        let command = command();

        let args = command.args(false);

        assert_eq!(args, ["-c", "/run/config"]);
    }

    #[test]
    fn later_starts_skip_pip() {
        let command = command();

        let args = command.args(true);

        assert_eq!(args, ["-c", "/run/config", "--skip-pip"]);
    }

    #[test]
    fn display_shows_the_whole_command_line() {
        let command = command();

        let line = command.display(true);

        assert_eq!(line, "/v/bin/hass -c /run/config --skip-pip");
    }

    #[test]
    fn tail_keeps_the_last_lines() {
        let text = "a\nb\nc\nd\n";

        let tail = tail_lines(text, 2);

        assert_eq!(tail, "c\nd");
    }

    #[test]
    fn tail_of_a_short_text_is_all_of_it() {
        let text = "a\nb";

        let tail = tail_lines(text, 5);

        assert_eq!(tail, "a\nb");
    }

    #[test]
    fn tail_of_zero_lines_is_empty() {
        let text = "a\nb\n";

        let tail = tail_lines(text, 0);

        assert_eq!(tail, "");
    }
}
