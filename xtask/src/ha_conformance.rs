//! `cargo xtask ha-conformance`: start a real Home Assistant on 127.0.0.1 and run ha-client's conformance suite
//! (`cargo test -p ha-client --test real_ha`) against it.
//!
//! # What a run does
//! 1. Provisions Home Assistant in a venv under `${XDG_CACHE_HOME:-$HOME/.cache}/hapulse/ha-2024.3.3/` (see
//!    `venv.rs`; `--cache-dir` overrides the cache home), reused when a previous install completed.
//!    homeassistant 2024.3.3 is the last release that runs on Python 3.11, the Python of the development and CI
//!    machines; it also runs on 3.12 (`--python` picks the interpreter).
//! 2. Writes a fresh configuration folder in a temporary directory (`config.rs`): core settings in UTC and
//!    metric units, `http:` on 127.0.0.1 and a free port, `logger:` at warning, the helpers
//!    `input_boolean.hapulse_switch`/`hapulse_spare` (off) and `input_number.hapulse_level`/`hapulse_spare_level`
//!    (0–100, 50), the script `script.hapulse_echo` (a service with a response: `{"echo": <value>}`), and no
//!    `default_config:`.
//! 3. Starts `hass -c DIR` in its own process group, logging to `hass.log` beside the configuration folder. The
//!    first start with a configuration installs its integrations' requirements (no `--skip-pip`); once a start
//!    reached `RUNNING`, a marker in the cache lets later starts pass `--skip-pip`. Waits until `GET /api/`
//!    answers 401 (240 s the first time, 120 s later), else fails with the tail of the log.
//! 4. Onboards without a person (`onboard.rs`): owner via `/api/onboarding/users`, access token via
//!    `/auth/token`, long-lived token via `auth/long_lived_access_token` on the WebSocket; then waits for the
//!    core state `RUNNING`.
//! 5. Runs `cargo test -p ha-client --test real_ha -- --test-threads=1 [ARGS after --]` with this environment:
//!    - `HAPULSE_HA_URL`: `http://127.0.0.1:<port>` (no trailing slash);
//!    - `HAPULSE_HA_TOKEN`: the long-lived token;
//!    - `HAPULSE_HA_CONTROL`: the path of the control socket (below).
//! 6. Always stops the Home Assistant it started, by pid: SIGTERM to its process group, SIGKILL after 30 s; also
//!    when the suite fails, when a step errors, and on Ctrl-C or SIGTERM (a handler stops it, then the run ends
//!    with an error). The temporary directory is deleted after a passing run and kept (path printed) otherwise.
//!
//! `--shell` does steps 1–4, prints the three `export` lines, and keeps Home Assistant running until Ctrl-C:
//! for running the suite (or anything else) by hand against a live server.
//!
//! `--churn` builds `ha-client`'s `mirror` example in release instead of the suite, does steps 1–4 and 6, and in
//! place of step 5 measures the bare client's CPU per entity change while `--churners` REST clients update
//! `--entities` sensors as fast as Home Assistant takes them (`churn.rs`); it writes
//! `<target dir>/perf/ha-churn.json` and prints a summary (`churn_report.rs`). A reported figure, not a gate.
//!
//! # Restarting Home Assistant from the suite: the control socket
//! The restart test needs Home Assistant stopped and started again on the same port while the client keeps
//! running. The xtask stays the only owner of the process (so step 6 holds whatever the test does) and serves
//! a Unix socket at `$HAPULSE_HA_CONTROL`. Line protocol, one request per line, one reply line each, any number
//! of requests per connection, one connection served at a time:
//! - `stop` → `ok` once the process has exited (the state machine is saved; REST-created entities are gone);
//! - `start` → `ok <pid>` once the restarted server answers and is `RUNNING` (same port, same token);
//! - `restart` → `stop` then `start`, replying `ok <pid>`;
//! - `status` → `ok <pid>` while it runs, `ok` when stopped;
//! - failures → `err <message>` (one line).
//!
//! From a shell: `python3 -c "import socket,sys; s=socket.socket(socket.AF_UNIX); s.connect(sys.argv[1]);
//! s.sendall(b'restart\n'); print(s.makefile().readline())" "$HAPULSE_HA_CONTROL"`.
//!
//! The long-lived token survives restarts: Home Assistant saves its auth store when it stops.

mod churn;
mod churn_report;
mod config;
mod control;
mod hass;
mod onboard;
mod process;
mod venv;

use crate::cli::{ChurnConfig, HaConformanceArgs, HaConformanceMode};
use std::env;
use std::fmt::Display;
use std::fs;
use std::os::unix::process::CommandExt as _;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::thread;
use std::time::{Duration, Instant};

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use self::config::{HaConfig, Urls};
use self::hass::{HassCommand, Supervisor};
use self::onboard::Token;
use self::venv::CacheLayout;

/// The conformance suite, relative to the workspace root.
const SUITE_FILE: &str = "crates/ha-client/tests/real_ha.rs";

/// Bound for the first start of a configuration (it pip-installs integration requirements, about 40 s).
const FIRST_START_WITHIN: Duration = Duration::from_secs(240);

/// Bound for later starts, including restarts through the control socket.
const START_WITHIN: Duration = Duration::from_secs(120);

/// How long the suite gets to end after Ctrl-C before it is killed.
const SUITE_STOP_GRACE: Duration = Duration::from_secs(10);

/// Prints stage messages with the time since the run started.
#[derive(Debug)]
pub(crate) struct Progress {
    started: Instant,
}

impl Progress {
    fn new() -> Self {
        Self { started: Instant::now() }
    }

    /// Prints `[   12.3s] message` to stderr.
    pub(crate) fn stage(&self, message: impl Display) {
        eprintln!("[{:>7.1}s] {message}", self.started.elapsed().as_secs_f64());
    }
}

/// Quotes `text` for a POSIX shell.
fn shell_quote(text: &str) -> String {
    format!("'{}'", text.replace('\'', r"'\''"))
}

/// The `export` lines `--shell` prints.
fn shell_exports(urls: &Urls, token: &Token, control: &Path) -> String {
    format!(
        "export HAPULSE_HA_URL={}\nexport HAPULSE_HA_TOKEN={}\nexport HAPULSE_HA_CONTROL={}\n",
        shell_quote(&urls.base()),
        shell_quote(token.expose()),
        shell_quote(&control.display().to_string()),
    )
}

fn workspace_root() -> PathBuf {
    crate::workspace::root()
}

/// `ha-client`'s `mirror` example as `cargo build --release` leaves it.
fn mirror_example() -> PathBuf {
    crate::workspace::target_dir().join("release").join("examples").join("mirror")
}

fn cargo() -> String {
    env::var("CARGO").unwrap_or_else(|_| "cargo".to_owned())
}

pub(crate) fn run(args: HaConformanceArgs) -> anyhow::Result<()> {
    let progress = Progress::new();
    let root = workspace_root();
    let mode = args.mode()?;
    if matches!(mode, HaConformanceMode::Suite(_)) && !root.join(SUITE_FILE).is_file() {
        bail!(
            "the conformance suite {SUITE_FILE} does not exist yet, so there is nothing to run \
             (use --shell to start Home Assistant and get its URL and token)"
        );
    }

    // Installed first: an interrupt during the pip install or the suite build must end the run too.
    let interrupt = Arc::new(Interrupt::default());
    {
        let interrupt = Arc::clone(&interrupt);
        ctrlc::set_handler(move || interrupt.trigger()).context("installing the Ctrl-C handler")?;
    }

    let cache_home = match args.cache_dir.clone() {
        Some(dir) => dir,
        None => venv::cache_home(env::var_os("XDG_CACHE_HOME"), env::var_os("HOME"))?,
    };
    let layout = CacheLayout::under(&cache_home);
    let sh = Shell::new().context("creating the shell")?;
    sh.change_dir(&root);
    venv::ensure(&sh, &layout, &args.python, &progress, &|| interrupt.is_triggered())?;
    interrupt.check()?;

    // Compile before Home Assistant starts: a build error should not cost a server start.
    let cargo = cargo();
    match &mode {
        HaConformanceMode::Suite(_) => {
            progress.stage("building the conformance suite");
            cmd!(sh, "{cargo} test -p ha-client --test real_ha --no-run").run().context("building the suite")?;
        }
        HaConformanceMode::Churn(churn) if churn.build => {
            progress.stage("building ha-client's mirror example in release");
            cmd!(sh, "{cargo} build --release -p ha-client --example mirror")
                .run()
                .context("building the mirror example")?;
        }
        HaConformanceMode::Churn(_) | HaConformanceMode::Shell => {}
    }
    if matches!(mode, HaConformanceMode::Churn(_)) && !mirror_example().is_file() {
        bail!("{} does not exist: run without --no-build", mirror_example().display());
    }
    interrupt.check()?;

    let run_dir = tempfile::Builder::new().prefix("hapulse-ha-").tempdir().context("creating the run directory")?;
    let port = hass::free_port()?;
    let config = HaConfig::for_port(port);
    let config_dir = run_dir.path().join("config");
    fs::create_dir(&config_dir).with_context(|| format!("creating {}", config_dir.display()))?;
    let yaml_path = config_dir.join("configuration.yaml");
    fs::write(&yaml_path, config.render_yaml()).with_context(|| format!("writing {}", yaml_path.display()))?;

    let urls = Urls::new(port);
    let command = HassCommand { program: layout.hass(), config_dir, log_file: run_dir.path().join("hass.log") };
    let supervisor = Arc::new(Supervisor::new(command, urls));
    interrupt.watch(Arc::clone(&supervisor));
    // Stops Home Assistant even when a panic unwinds through this function.
    let _close_on_drop = CloseOnDrop(&supervisor);

    let run = Run { mode: &mode, progress: &progress, layout: &layout, config: &config, root: &root, urls };
    let outcome = interrupt.check().and_then(|()| run.serve(&supervisor, run_dir.path()));
    let closed = supervisor.close();
    if let Some(pid) = supervisor.pid() {
        eprintln!("warning: Home Assistant (pid {pid}) is still registered after stopping it");
    }

    match outcome.and(closed) {
        Ok(()) => {
            progress.stage("Home Assistant stopped; done");
            Ok(())
        }
        Err(err) => {
            let kept = run_dir.keep();
            eprintln!("kept the run directory for inspection: {}", kept.display());
            Err(err)
        }
    }
}

/// Closes the supervisor when dropped.
#[derive(Debug)]
struct CloseOnDrop<'a>(&'a Supervisor);

impl Drop for CloseOnDrop<'_> {
    fn drop(&mut self) {
        if let Err(err) = self.0.close() {
            eprintln!("error: {err:#}");
        }
    }
}

/// What Ctrl-C (SIGINT) or SIGTERM does: remember it, and close the supervisor (stopping Home Assistant) as soon
/// as there is one. The run's own loops notice the closed supervisor and end with an error.
#[derive(Debug, Default)]
struct Interrupt {
    triggered: AtomicBool,
    supervisor: OnceLock<Arc<Supervisor>>,
}

impl Interrupt {
    /// Runs on the signal-handling thread.
    fn trigger(&self) {
        eprintln!("interrupted: stopping");
        self.triggered.store(true, Ordering::SeqCst);
        if let Some(supervisor) = self.supervisor.get()
            && let Err(err) = supervisor.close()
        {
            eprintln!("error: {err:#}");
        }
    }

    /// Hands over the supervisor to close on interrupt; closes it at once if the signal came before.
    fn watch(&self, supervisor: Arc<Supervisor>) {
        let supervisor = self.supervisor.get_or_init(|| supervisor);
        // Set after the supervisor: a signal between the two is seen here, one after it by `trigger`.
        if self.triggered.load(Ordering::SeqCst) {
            // Nothing runs yet, so closing only marks it closed.
            let _ = supervisor.close();
        }
    }

    /// Whether the run was interrupted.
    fn is_triggered(&self) -> bool {
        self.triggered.load(Ordering::SeqCst)
    }

    /// Fails once the run was interrupted.
    fn check(&self) -> anyhow::Result<()> {
        if self.is_triggered() {
            bail!("interrupted");
        }
        Ok(())
    }
}

/// The parts of a run that happen while Home Assistant may be up.
#[derive(Debug)]
struct Run<'a> {
    mode: &'a HaConformanceMode,
    progress: &'a Progress,
    layout: &'a CacheLayout,
    config: &'a HaConfig,
    root: &'a Path,
    urls: Urls,
}

impl Run<'_> {
    fn serve(&self, supervisor: &Arc<Supervisor>, run_dir: &Path) -> anyhow::Result<()> {
        let integrations = self.config.integrations();
        let skip_pip = venv::requirements_installed(self.layout, &integrations)?;
        let (within, how) = if skip_pip {
            (START_WITHIN, "--skip-pip")
        } else {
            (FIRST_START_WITHIN, "first start with this configuration: installing integration requirements")
        };
        self.progress.stage(format_args!("starting Home Assistant on {} ({how})", self.urls.base()));
        supervisor.start(skip_pip, within)?;
        let pid = supervisor.pid().map_or_else(|| "?".to_owned(), |pid| pid.to_string());
        self.progress.stage(format_args!("Home Assistant answers (pid {pid}); onboarding"));

        let token = onboard::onboard(&self.urls)?;
        onboard::wait_running(&self.urls, &token, within, || supervisor.is_closed())?;
        venv::mark_requirements_installed(self.layout, &integrations)?;
        self.progress.stage("Home Assistant is RUNNING");

        let control_path = run_dir.join("control.sock");
        let server = Server { supervisor: Arc::clone(supervisor), urls: self.urls, token: token.clone() };
        control::spawn(&control_path, Arc::new(server))?;

        let test_args = match self.mode {
            HaConformanceMode::Suite(test_args) => test_args,
            HaConformanceMode::Shell => {
                print!("{}", shell_exports(&self.urls, &token, &control_path));
                eprintln!("Home Assistant log: {}", supervisor.command().log_file.display());
                self.progress.stage("Home Assistant runs until Ctrl-C");
                while !supervisor.is_closed() {
                    thread::sleep(Duration::from_millis(200));
                }
                return Ok(());
            }
            HaConformanceMode::Churn(config) => return self.churn(config, supervisor, &token),
        };

        self.progress.stage("running the conformance suite");
        let mut suite = Command::new(cargo())
            .args(["test", "-p", "ha-client", "--test", "real_ha", "--", "--test-threads=1"])
            .args(test_args)
            .env("HAPULSE_HA_URL", self.urls.base())
            .env("HAPULSE_HA_TOKEN", token.expose())
            .env("HAPULSE_HA_CONTROL", &control_path)
            .current_dir(self.root)
            .stdin(Stdio::null())
            // Own process group, like hass: our Ctrl-C handler decides when it stops.
            .process_group(0)
            .spawn()
            .context("starting the conformance suite")?;
        let Some(status) = process::wait_unless(&mut suite, &|| supervisor.is_closed(), SUITE_STOP_GRACE)? else {
            bail!("interrupted while the conformance suite was running");
        };
        if !status.success() {
            bail!("the conformance suite failed ({status})");
        }
        self.progress.stage("the conformance suite passed");
        Ok(())
    }

    /// `--churn`: measures, writes `<target dir>/perf/ha-churn.json` and prints the summary.
    fn churn(&self, config: &ChurnConfig, supervisor: &Supervisor, token: &Token) -> anyhow::Result<()> {
        let file = churn::run(config, &self.urls, token, supervisor, &mirror_example(), self.progress)?;
        let dir = crate::workspace::target_dir().join("perf");
        fs::create_dir_all(&dir).with_context(|| format!("creating {}", dir.display()))?;
        let path = dir.join("ha-churn.json");
        fs::write(&path, serde_json::to_string_pretty(&file)?)
            .with_context(|| format!("writing {}", path.display()))?;
        println!("{}", churn_report::render(&file));
        self.progress.stage(format_args!("wrote {}", path.display()));
        Ok(())
    }
}

/// What the control socket drives: the supervisor plus what it takes to see the restarted server `RUNNING`.
#[derive(Debug)]
struct Server {
    supervisor: Arc<Supervisor>,
    urls: Urls,
    token: Token,
}

impl control::Control for Server {
    fn stop(&self) -> anyhow::Result<()> {
        self.supervisor.stop()
    }

    fn start(&self) -> anyhow::Result<()> {
        // The first start of the run already installed the requirements.
        self.supervisor.start(true, START_WITHIN)?;
        onboard::wait_running(&self.urls, &self.token, START_WITHIN, || self.supervisor.is_closed())
    }

    fn supervisor(&self) -> &Supervisor {
        &self.supervisor
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shell_quote_escapes_single_quotes() {
        let text = "it's";

        let quoted = shell_quote(text);

        assert_eq!(quoted, r"'it'\''s'");
    }

    #[test]
    fn shell_exports_name_all_three_variables() {
        let urls = Urls::new(8123);
        let token = onboard::Token::for_tests("tok");

        let exports = shell_exports(&urls, &token, Path::new("/tmp/run/control.sock"));

        assert_eq!(
            exports,
            "export HAPULSE_HA_URL='http://127.0.0.1:8123'\nexport HAPULSE_HA_TOKEN='tok'\n\
             export HAPULSE_HA_CONTROL='/tmp/run/control.sock'\n"
        );
    }
}
