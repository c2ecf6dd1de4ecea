//! The processes of a load run: `ha-sim` and the client under test (`hapulse loadtest`), each
//! killed when its guard drops, and all of them on Ctrl-C / SIGTERM.

use std::io::{BufRead, BufReader, Read};
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::report::{Hold, Probe};

/// The simulator's token (both processes run on 127.0.0.1 only, for the length of the run).
const TOKEN: &str = "hapulse-load";

/// Pids of the live children, for the signal handler.
static LIVE: Mutex<Vec<u32>> = Mutex::new(Vec::new());

fn live() -> std::sync::MutexGuard<'static, Vec<u32>> {
    LIVE.lock().unwrap_or_else(|e| e.into_inner())
}

fn kill_pid(pid: u32) {
    if let Ok(pid) = i32::try_from(pid) {
        let _ = nix::sys::signal::kill(nix::unistd::Pid::from_raw(pid), nix::sys::signal::Signal::SIGKILL);
    }
}

/// Proof that the Ctrl-C / SIGTERM handler that kills every child is installed.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Children(());

impl Children {
    /// Installs the handler (once per process).
    pub(crate) fn install() -> Result<Self> {
        ctrlc::set_handler(|| {
            for pid in live().drain(..) {
                kill_pid(pid);
            }
            eprintln!("load: interrupted; children killed");
            std::process::exit(130);
        })
        .context("installing the Ctrl-C handler")?;
        Ok(Self(()))
    }
}

/// A child process killed (and reaped) when dropped.
#[derive(Debug)]
struct Guard {
    child: Child,
    name: &'static str,
}

impl Guard {
    fn spawn(mut command: Command, name: &'static str) -> Result<Self> {
        let child = command.spawn().with_context(|| format!("starting {name} ({:?})", command.get_program()))?;
        live().push(child.id());
        Ok(Self { child, name })
    }

    /// Waits for the exit until `deadline`, returning stdout; kills the child when it is late.
    fn output_within(mut self, within: Duration) -> Result<String> {
        let mut stdout = self.child.stdout.take().context("stdout is piped")?;
        let reader = std::thread::spawn(move || {
            let mut s = String::new();
            let _ = stdout.read_to_string(&mut s);
            s
        });
        let deadline = Instant::now() + within;
        let status = loop {
            if let Some(status) = self.child.try_wait()? {
                break status;
            }
            if Instant::now() > deadline {
                bail!("{} did not finish within {}s", self.name, within.as_secs());
            }
            std::thread::sleep(Duration::from_millis(50));
        };
        let out = reader.join().unwrap_or_default();
        if !status.success() {
            bail!("{} failed ({status}); output: {out}", self.name);
        }
        Ok(out)
    }
}

impl Drop for Guard {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let id = self.child.id();
        live().retain(|p| *p != id);
    }
}

/// Starts the processes of one step.
#[derive(Debug)]
pub(crate) struct Driver {
    /// The `ha-sim` binary.
    pub(crate) sim: PathBuf,
    /// The `hapulse` binary.
    pub(crate) client: PathBuf,
    /// Entities of the simulated installation.
    pub(crate) entities: usize,
    /// The handler is installed.
    pub(crate) _handler: Children,
}

impl Driver {
    /// Starts `ha-sim` at `rate` on a free port; returns its guard and base URL.
    fn start_sim(&self, rate: f64) -> Result<(Guard, String)> {
        let mut command = Command::new(&self.sim);
        command
            .args(["--entities", &self.entities.to_string(), "--rate", &rate.to_string(), "--port", "0"])
            .env("HA_SIM_TOKEN", TOKEN)
            .env("RUST_LOG", "ha_sim=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut guard = Guard::spawn(command, "ha-sim")?;
        let stdout = guard.child.stdout.take().context("stdout is piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Some(url) = line.trim().strip_prefix("REST:") {
                    let _ = tx.send(url.trim().trim_end_matches('/').trim_end_matches("/api").to_owned());
                }
            }
        });
        let url =
            rx.recv_timeout(Duration::from_secs(60)).context("ha-sim did not announce its address within 60 s")?;
        Ok((guard, url))
    }

    fn client_command(&self, url: &str, args: &[&str]) -> Command {
        let mut command = Command::new(&self.client);
        command
            .arg("loadtest")
            .args(args)
            .args(["--url", url])
            .env("HASS_TOKEN", TOKEN)
            .env_remove("SUPERVISOR_TOKEN")
            .env("HAPULSE_LOG", "warn")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        command
    }

    /// One ramp step at `rate`.
    pub(crate) fn probe(&self, rate: f64) -> Result<Probe> {
        let (_sim, url) = self.start_sim(rate)?;
        let client = Guard::spawn(
            self.client_command(&url, &["probe", "--warmup", "1s", "--measure", "3s"]),
            "hapulse loadtest probe",
        )?;
        let out = client.output_within(Duration::from_secs(60))?;
        let mut p: Probe =
            serde_json::from_str(out.trim()).with_context(|| format!("reading the probe's result {out:?}"))?;
        p.offered = rate;
        Ok(p)
    }

    /// The hold at `rate` for `warmup` + `duration`.
    pub(crate) fn hold(&self, rate: f64, duration: Duration, warmup: Duration, callers: usize) -> Result<Hold> {
        let (_sim, url) = self.start_sim(rate)?;
        let d = format!("{}ms", duration.as_millis());
        let w = format!("{}ms", warmup.as_millis());
        let c = callers.to_string();
        let args = ["hold", "--duration", &d, "--warmup", &w, "--callers", &c];
        let client = Guard::spawn(self.client_command(&url, &args), "hapulse loadtest hold")?;
        let out = client.output_within(duration + warmup + Duration::from_secs(120))?;
        serde_json::from_str(out.trim()).with_context(|| format!("reading the hold's result {out:?}"))
    }
}
