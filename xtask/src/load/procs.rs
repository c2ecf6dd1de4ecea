//! The processes of a load run: `ha-sim` and the client under test (`hapulse loadtest`, or the bare
//! client, `ha-client`'s `mirror` example, for the CPU steps), each killed when its guard drops, and
//! all of them on Ctrl-C / SIGTERM. While a client runs, the CPU of both processes is sampled from
//! `/proc/<pid>/stat` over a stretch of its run.

use std::io::{BufRead, BufReader, Read};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::Mutex;
use std::sync::mpsc;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, bail};

use super::cpu::{self, CpuStep, CpuTimes, StepCpu};
use super::report::{Hold, Probe};
use crate::cli::BatchReads;

/// How long the mirror example may take beyond its warm-up and window (connecting, the snapshot).
const MIRROR_GRACE: Duration = Duration::from_secs(120);

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

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Waits for the exit until `deadline`, returning stdout; kills the child when it is late.
    /// `poll` is called every 50 ms meanwhile.
    fn output_within(mut self, within: Duration, mut poll: impl FnMut()) -> Result<String> {
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
            poll();
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

/// Samples the CPU times of a simulator and a client, and the machine's steal, between two
/// moments: the first reading taken at or after `from`, the last at or before `until` (while both
/// still run).
#[derive(Debug)]
struct CpuWindow {
    sim: u32,
    client: u32,
    from: Instant,
    until: Instant,
    first: Option<Reading>,
    last: Option<Reading>,
}

/// One sample of a [`CpuWindow`].
#[derive(Debug, Clone, Copy)]
struct Reading {
    at: Instant,
    sim: CpuTimes,
    client: CpuTimes,
    /// The machine's steal so far, seconds (`None` where `/proc/stat` cannot be read).
    steal: Option<f64>,
}

impl CpuWindow {
    fn new(sim: u32, client: u32, from: Instant, until: Instant) -> Self {
        CpuWindow { sim, client, from, until, first: None, last: None }
    }

    fn poll(&mut self) {
        let at = Instant::now();
        if at < self.from || at > self.until {
            return;
        }
        if let (Some(sim), Some(client)) = (cpu::read(self.sim), cpu::read(self.client)) {
            let reading = Reading { at, sim, client, steal: crate::steal::read_steal() };
            self.first.get_or_insert(reading);
            self.last = Some(reading);
        }
    }

    /// The hold's figures: the step's cores and the client's CPU seconds.
    fn hold_cpu(&self) -> Option<HoldCpu> {
        let (first, last) = (self.first?, self.last?);
        Some(HoldCpu { cpu: self.step_cpu()?, client: last.client.since(first.client) })
    }

    fn step_cpu(&self) -> Option<StepCpu> {
        let (first, last) = (self.first?, self.last?);
        let seconds = last.at.duration_since(first.at).as_secs_f64();
        (seconds > 0.5).then(|| StepCpu {
            client_cores: last.client.since(first.client).total() / seconds,
            sim_cores: last.sim.since(first.sim).total() / seconds,
            steal_cores: crate::steal::steal_cores(first.steal, last.steal, seconds),
            seconds,
        })
    }
}

/// CPU of the hold, sampled by the xtask inside the hold's measured window.
#[derive(Debug, Clone, Copy, PartialEq)]
pub(crate) struct HoldCpu {
    /// The processes' CPU in cores over the sampled stretch.
    pub(crate) cpu: StepCpu,
    /// Client CPU seconds (user, system) over it.
    pub(crate) client: CpuTimes,
}

/// How long after its start the window of a probe's CPU readings opens: the probe connects, takes
/// the snapshot and warms up for 1 s first.
const PROBE_CPU_FROM: Duration = Duration::from_millis(1_500);

/// How long after the hold's warm-up has begun (counted from the client's start) its CPU readings
/// start: connecting and the snapshot come first, and take longer on a busy machine.
const HOLD_CPU_LEAD: Duration = Duration::from_secs(2);

/// Starts the processes of one step.
#[derive(Debug)]
pub(crate) struct Driver {
    /// The `ha-sim` binary.
    pub(crate) sim: PathBuf,
    /// The `hapulse` binary.
    pub(crate) client: PathBuf,
    /// `ha-client`'s `mirror` example (the bare client of the CPU steps).
    pub(crate) mirror: PathBuf,
    /// Entities of the simulated installation.
    pub(crate) entities: usize,
    /// The CPU steps' client's read batching (`--cpu-batch-reads`; `None`: ha-client's default).
    pub(crate) batch_reads: Option<BatchReads>,
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

    /// One ramp step at `rate`, measured for `measure` after a 1 s warm-up, with the CPU both
    /// processes used over its measured part.
    pub(crate) fn probe(&self, rate: f64, measure: Duration) -> Result<Probe> {
        let (sim, url) = self.start_sim(rate)?;
        let m = format!("{}ms", measure.as_millis());
        let client = Guard::spawn(
            self.client_command(&url, &["probe", "--warmup", "1s", "--measure", &m]),
            "hapulse loadtest probe",
        )?;
        let start = Instant::now();
        let within = Duration::from_secs(60) + measure;
        let mut window = CpuWindow::new(sim.pid(), client.pid(), start + PROBE_CPU_FROM, start + within);
        let out = client.output_within(within, || window.poll())?;
        let mut p: Probe =
            serde_json::from_str(out.trim()).with_context(|| format!("reading the probe's result {out:?}"))?;
        p.offered = rate;
        p.measured_seconds = measure.as_secs_f64();
        p.cpu = window.step_cpu();
        Ok(p)
    }

    /// The hold at `rate` for `warmup` + `duration`, with the CPU both processes used inside its
    /// measured window (when it is long enough to sample).
    pub(crate) fn hold(
        &self,
        rate: f64,
        duration: Duration,
        warmup: Duration,
        callers: usize,
    ) -> Result<(Hold, Option<HoldCpu>)> {
        let (sim, url) = self.start_sim(rate)?;
        let d = format!("{}ms", duration.as_millis());
        let w = format!("{}ms", warmup.as_millis());
        let c = callers.to_string();
        let args = ["hold", "--duration", &d, "--warmup", &w, "--callers", &c];
        let client = Guard::spawn(self.client_command(&url, &args), "hapulse loadtest hold")?;
        // The hold measures from (connected + warm-up) to (connected + warm-up + duration): a window
        // from (started + warm-up + lead) to (started + warm-up + duration) lies inside it.
        let start = Instant::now();
        let mut window =
            CpuWindow::new(sim.pid(), client.pid(), start + warmup + HOLD_CPU_LEAD, start + warmup + duration);
        let out = client.output_within(duration + warmup + Duration::from_secs(120), || window.poll())?;
        let hold = serde_json::from_str(out.trim()).with_context(|| format!("reading the hold's result {out:?}"))?;
        let cpu = window.hold_cpu();
        Ok((hold, cpu))
    }

    /// A steady step at `rate` with the bare client (`mirror --measure`): the client measures its own
    /// CPU per change over `seconds` after `warmup`; the simulator's CPU is read over the same window
    /// (the example prints `measuring` when its window opens).
    pub(crate) fn cpu_step(&self, rate: f64, warmup: Duration, seconds: Duration) -> Result<CpuStep> {
        let (sim, url) = self.start_sim(rate)?;
        let mut opened: Option<(Instant, CpuTimes, Option<f64>)> = None;
        let mut closed: Option<(Instant, CpuTimes, Option<f64>)> = None;
        let mut step = self.mirror_measure(&url, warmup, seconds).run(
            |mark| {
                let reading = cpu::read(sim.pid()).map(|c| (Instant::now(), c, crate::steal::read_steal()));
                match mark {
                    Mark::Opened => opened = reading,
                    Mark::Closed => closed = reading,
                }
            },
            || false,
        )?;
        step.offered = rate;
        if let Some(((t0, c0, steal0), (t1, c1, steal1))) = opened.zip(closed) {
            let wall = t1.duration_since(t0).as_secs_f64();
            step.sim_cores = (wall > 0.0).then(|| c1.since(c0).total() / wall);
            step.steal_cores = crate::steal::steal_cores(steal0, steal1, wall);
        }
        Ok(step)
    }

    /// The bare client measuring itself against the simulator at `url`.
    fn mirror_measure<'a>(&'a self, url: &'a str, warmup: Duration, seconds: Duration) -> MirrorMeasure<'a> {
        MirrorMeasure { program: &self.mirror, url, token: TOKEN, warmup, seconds, batch_reads: self.batch_reads }
    }

    /// `--code-footprint`: a steady step at `rate` with the bare client under callgrind, its
    /// collection on only over the example's measuring window; returns the example's own figures
    /// for that window (its frames) and the dump callgrind wrote (`out` with `.1` appended).
    pub(crate) fn footprint_step(
        &self,
        rate: f64,
        warmup: Duration,
        seconds: Duration,
        out: &Path,
    ) -> Result<(CpuStep, super::footprint::Dump)> {
        let (_sim, url) = self.start_sim(rate)?;
        let measure = self.mirror_measure(&url, warmup, seconds);
        let _ = std::fs::remove_file(super::footprint::dump_path(out));
        let launcher = [
            "valgrind".to_owned(),
            "-q".to_owned(),
            "--tool=callgrind".to_owned(),
            "--instr-atstart=no".to_owned(),
            "--dump-instr=yes".to_owned(),
            format!("--callgrind-out-file={}", out.display()),
        ];
        // The first failure of callgrind_control, if any.
        let mut failed = None;
        let mut step = measure.run_under(
            &launcher,
            |mark, pid| {
                let commands: &[&[&str]] = match mark {
                    Mark::Opened => &[&["-i", "on"]],
                    Mark::Closed => &[&["-i", "off"], &["-d"]],
                };
                for command in commands {
                    if failed.is_none() {
                        failed = super::footprint::control(pid, command).err();
                    }
                }
            },
            || false,
        )?;
        if let Some(err) = failed {
            return Err(err);
        }
        step.offered = rate;
        Ok((step, super::footprint::read_dump(out)?))
    }

    /// One pair of the CPU A/B (`--cpu-base`): the head and base builds of the `mirror` example run
    /// at the same time against one simulator at `rate`, each on its own connection; `head_first`
    /// says which one is started (and so connects) first. Returns (head, base).
    pub(crate) fn cpu_pair(
        &self,
        rate: f64,
        [head_mirror, base_mirror]: [&Path; 2],
        head_first: bool,
        warmup: Duration,
        seconds: Duration,
    ) -> Result<(CpuStep, CpuStep)> {
        let (_sim, url) = self.start_sim(rate)?;
        let batch_reads = self.batch_reads;
        let head = MirrorMeasure { program: head_mirror, url: &url, token: TOKEN, warmup, seconds, batch_reads };
        let base = MirrorMeasure { program: base_mirror, url: &url, token: TOKEN, warmup, seconds, batch_reads };
        let (first, second) = if head_first { (&head, &base) } else { (&base, &head) };
        let (a, b) = std::thread::scope(|scope| {
            let a = scope.spawn(|| first.run(|_| {}, || false));
            let b = scope.spawn(|| second.run(|_| {}, || false));
            (a.join(), b.join())
        });
        let joined = |r: std::thread::Result<Result<CpuStep>>| -> Result<CpuStep> {
            let mut step = r.map_err(|_| anyhow::anyhow!("a mirror example's runner panicked"))??;
            step.offered = rate;
            Ok(step)
        };
        let (a, b) = (joined(a)?, joined(b)?);
        Ok(if head_first { (a, b) } else { (b, a) })
    }
}

/// The two moments of a `mirror --measure` window at which the caller samples other processes.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mark {
    /// The example printed `measuring`: its window has just opened.
    Opened,
    /// The example printed its result: its window has just closed.
    Closed,
}

/// One run of the bare client, `ha-client`'s `mirror` example in `--measure` mode, against a server:
/// the example measures its own CPU, context switches and peak RSS per applied change and frame.
/// Used by the load test's CPU steps (against ha-sim) and by `ha-conformance --churn` (against a real
/// Home Assistant). Its Debug output leaves the token out.
pub(crate) struct MirrorMeasure<'a> {
    /// The example binary.
    pub(crate) program: &'a Path,
    /// The server's base URL.
    pub(crate) url: &'a str,
    /// The access token, handed over in the environment (never on the command line or in a log).
    pub(crate) token: &'a str,
    /// Wait this long after the snapshot before measuring.
    pub(crate) warmup: Duration,
    /// Measure this long.
    pub(crate) seconds: Duration,
    /// The client's read batching (`--batch-reads`); `None` leaves ha-client's default.
    pub(crate) batch_reads: Option<BatchReads>,
}

impl std::fmt::Debug for MirrorMeasure<'_> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MirrorMeasure")
            .field("program", &self.program)
            .field("url", &self.url)
            .field("token", &"<redacted>")
            .field("warmup", &self.warmup)
            .field("seconds", &self.seconds)
            .field("batch_reads", &self.batch_reads)
            .finish()
    }
}

impl MirrorMeasure<'_> {
    /// Runs the example and returns what it measured. `mark` is called when its window opens and when
    /// its result arrives; `cancelled` is polled while waiting, and ends the run with an error when true.
    /// The example is killed when this returns.
    pub(crate) fn run(&self, mut mark: impl FnMut(Mark), cancelled: impl Fn() -> bool) -> Result<CpuStep> {
        self.run_under(&[], |m, _| mark(m), cancelled)
    }

    /// [`run`](Self::run), the example started by `launcher` (a program and its arguments, the
    /// example's path and arguments after them; none: the example itself); `mark` also gets the
    /// process id of what was started.
    pub(crate) fn run_under(
        &self,
        launcher: &[String],
        mut mark: impl FnMut(Mark, u32),
        cancelled: impl Fn() -> bool,
    ) -> Result<CpuStep> {
        let mut command = match launcher.split_first() {
            Some((program, args)) => {
                let mut command = Command::new(program);
                command.args(args).arg(self.program);
                command
            }
            None => Command::new(self.program),
        };
        command
            .args(["--url", self.url, "--measure", &self.seconds.as_secs_f64().to_string()])
            .args(["--warmup", &self.warmup.as_secs_f64().to_string()])
            .args(self.batch_reads.map(|b| ["--batch-reads".to_owned(), b.arg()]).into_iter().flatten())
            .env("HASS_TOKEN", self.token)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        let mut client = Guard::spawn(command, "ha-client mirror example")?;
        let stdout = client.child.stdout.take().context("stdout is piped")?;
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        let bound = self.warmup + self.seconds + MIRROR_GRACE;
        let deadline = Instant::now() + bound;
        loop {
            if cancelled() {
                bail!("interrupted while the mirror example was measuring");
            }
            let left = deadline.saturating_duration_since(Instant::now());
            let line = match rx.recv_timeout(left.min(Duration::from_millis(200))) {
                Ok(line) => line,
                Err(mpsc::RecvTimeoutError::Timeout) if !left.is_zero() => continue,
                Err(mpsc::RecvTimeoutError::Timeout) => {
                    bail!("the mirror example gave no result within {}s", bound.as_secs())
                }
                Err(mpsc::RecvTimeoutError::Disconnected) => {
                    let status = client.child.wait().context("waiting for the mirror example")?;
                    bail!("the mirror example ended without a result ({status})")
                }
            };
            let line = line.trim();
            if line == "measuring" {
                mark(Mark::Opened, client.pid());
                continue;
            }
            if !line.starts_with('{') {
                continue;
            }
            mark(Mark::Closed, client.pid());
            let step: CpuStep =
                serde_json::from_str(line).with_context(|| format!("reading the mirror example's result {line:?}"))?;
            drop(client);
            return Ok(step);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_mirror_measures_debug_output_hides_the_token() {
        let measure = MirrorMeasure {
            program: Path::new("mirror"),
            url: "http://127.0.0.1:8123",
            token: "secret-token",
            warmup: Duration::from_secs(5),
            seconds: Duration::from_secs(20),
            batch_reads: None,
        };

        let shown = format!("{measure:?}");

        assert!(!shown.contains("secret-token"), "{shown}");
    }
}
