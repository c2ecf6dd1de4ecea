//! `hapulse`: watch a Home Assistant installation live (`watch`), run the headless agent with
//! metrics endpoint and alerts published into Home Assistant (`serve`), try it on a simulated
//! installation (`demo`), or check health once (`check`).

use std::path::PathBuf;
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, Result};
use clap::{Args, Parser, Subcommand};
use ha_client::{Client, ClientConfig, ConnectionState};
use ha_monitor::rules::{RuleSet, parse_duration};
use ha_proto::Secret;
use hapulse::agent::{Agent, AgentConfig};
use hapulse::config::ServeConfig;
use hapulse::demo::{DEMO_TOKEN, DemoConfig, DemoSim};
use hapulse::loadtest::{self, HoldConfig};
use hapulse::monitor::{Monitor, Session, SessionConfig, freshness_text};
use hapulse::prometheus::MetricsServer;
use hapulse::token::Credentials;
use hapulse::view::View;

/// Watch a Home Assistant installation and this client live; alerts inside Home Assistant.
#[derive(Debug, Parser)]
#[command(name = "hapulse", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Live terminal view: events/s, top entities and domains, latencies, memory, alerts.
    Watch(ConnArgs),
    /// Headless agent: mirror, /metrics endpoint, sensors and notifications in Home Assistant.
    Serve(ServeArgs),
    /// Start a simulated Home Assistant in-process and watch it.
    Demo(DemoArgs),
    /// One-shot health report; exits 1 when any alert fires (2 when the check itself fails).
    Check(CheckArgs),
    /// The client side of `cargo xtask load` (one JSON line on stdout).
    #[command(hide = true)]
    Loadtest(LoadtestArgs),
}

/// Where Home Assistant is and how to log in. The token is a `Secret`: `Debug` hides it.
#[derive(Debug, Args, Clone, Default)]
struct ConnArgs {
    /// Base URL (http, https, ws or wss) [env: HASS_URL].
    #[arg(long)]
    url: Option<String>,
    /// Access token (prefer --token-file or HASS_TOKEN: arguments show in `ps`).
    #[arg(long, value_parser = secret, hide_default_value = true)]
    token: Option<Secret>,
    /// File holding the access token [or env: HASS_TOKEN, SUPERVISOR_TOKEN].
    #[arg(long)]
    token_file: Option<PathBuf>,
}

fn secret(s: &str) -> Result<Secret, std::convert::Infallible> {
    Ok(Secret::new(s))
}

fn duration(s: &str) -> Result<Duration, String> {
    parse_duration(s)
}

impl ConnArgs {
    fn credentials(&self) -> Credentials {
        Credentials { url: self.url.clone(), token: self.token.clone(), token_file: self.token_file.clone() }
    }
}

#[derive(Debug, Args)]
struct ServeArgs {
    /// The configuration file (see the `hapulse::config` docs for every key).
    #[arg(long, default_value = "hapulse.toml")]
    config: PathBuf,
    #[command(flatten)]
    conn: ConnArgs,
}

#[derive(Debug, Args)]
struct DemoArgs {
    /// Print a few summary lines instead of the terminal view.
    #[arg(long)]
    headless: bool,
    /// Stop after this long, e.g. 20s (default: until q / Ctrl-C; 20s when headless).
    #[arg(long, value_parser = duration)]
    duration: Option<Duration>,
    /// Entities of the simulated installation.
    #[arg(long, default_value_t = 10_000)]
    entities: usize,
    /// State changes per second.
    #[arg(long, default_value_t = 200.0)]
    rate: f64,
    /// Drop every connection this often (0s = never).
    #[arg(long, value_parser = duration, default_value = "45s")]
    drop_every: Duration,
}

#[derive(Debug, Args)]
struct CheckArgs {
    #[command(flatten)]
    conn: ConnArgs,
    /// How long to measure.
    #[arg(long, value_parser = duration, default_value = "5s")]
    measure: Duration,
    /// Rules from this hapulse.toml instead of the defaults.
    #[arg(long)]
    config: Option<PathBuf>,
}

#[derive(Debug, Args)]
struct LoadtestArgs {
    #[command(subcommand)]
    mode: LoadMode,
}

#[derive(Debug, Subcommand)]
enum LoadMode {
    /// Measure what is applied at the offered rate.
    Probe {
        #[command(flatten)]
        conn: ConnArgs,
        #[arg(long, value_parser = duration, default_value = "1s")]
        warmup: Duration,
        #[arg(long, value_parser = duration, default_value = "3s")]
        measure: Duration,
        #[arg(long, default_value_t = 32)]
        callers: usize,
    },
    /// Hold the load with concurrent callers and report the figures.
    Hold {
        #[command(flatten)]
        conn: ConnArgs,
        #[arg(long, value_parser = duration, default_value = "60s")]
        duration: Duration,
        #[arg(long, value_parser = duration, default_value = "8s")]
        warmup: Duration,
        #[arg(long, default_value_t = 32)]
        callers: usize,
        #[arg(long, value_parser = duration, default_value = "50ms")]
        call_pause: Duration,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("error: cannot start the async runtime: {e}");
            return ExitCode::from(2);
        }
    };
    match runtime.block_on(run(cli.command)) {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:#}");
            ExitCode::from(2)
        }
    }
}

fn init_logging(default: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_env("HAPULSE_LOG")
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(default));
    let _ = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr).try_init();
}

async fn run(command: Command) -> Result<ExitCode> {
    match command {
        Command::Watch(conn) => {
            let resolved = conn.credentials().resolve_from_env()?;
            let session = open(&resolved.url, resolved.token).await?;
            watch(&session, format!("hapulse watch  {}", resolved.url), None).await?;
        }
        Command::Serve(args) => {
            init_logging("hapulse=info,ha_client=warn");
            return serve(args).await;
        }
        Command::Demo(args) => return demo(args).await,
        Command::Check(args) => {
            init_logging("warn");
            let resolved = args.conn.credentials().resolve_from_env()?;
            let rules = match &args.config {
                Some(path) => ServeConfig::load(path)?.rules,
                None => RuleSet::defaults(),
            };
            let session = open(&resolved.url, resolved.token).await?;
            let report = hapulse::check::run(&session, rules, args.measure).await;
            print!("{}", report.render());
            return Ok(if report.healthy() { ExitCode::SUCCESS } else { ExitCode::from(1) });
        }
        Command::Loadtest(args) => {
            init_logging("warn");
            return loadtest_cmd(args.mode).await;
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn open(url: &str, token: Secret) -> Result<Session> {
    let config = ClientConfig::new(url, token).context("reading the URL")?;
    let client = Client::connect(config).await.with_context(|| format!("connecting to {url}"))?;
    let session =
        Session::start(client, Monitor::new(), SessionConfig::default()).await.context("subscribing to entities")?;
    Ok(session)
}

/// The connection and the mirror's freshness, e.g. `connected (...), mirror current`.
fn status_text(session: &Session) -> String {
    let mirror = freshness_text(&session.freshness(), tokio::time::Instant::now());
    format!("{}, {mirror}", connection_text(&session.client))
}

fn connection_text(client: &Client) -> String {
    match client.state() {
        ConnectionState::Connected { ha_version, generation, .. } => {
            format!("connected (Home Assistant {ha_version}, connection #{generation})")
        }
        ConnectionState::Reconnecting { reason } => format!("reconnecting ({reason})"),
        ConnectionState::Failed(e) => format!("stopped: {e}"),
        other => format!("{other:?}"),
    }
}

async fn watch(session: &Session, title: String, stop_after: Option<Duration>) -> Result<()> {
    let mut agent = Agent::new(RuleSet::defaults(), AgentConfig { publish: false, ..AgentConfig::default() });
    let monitor = Arc::clone(&session.monitor);
    let header = || format!("{title}  {}", status_text(session));
    let read = || {
        let now = monitor.now();
        agent.evaluate(&monitor.registry, now);
        View::read(&monitor.registry, agent.engine().statuses(), now)
    };
    let stop = async move {
        match stop_after {
            Some(d) => tokio::time::sleep(d).await,
            None => std::future::pending().await,
        }
    };
    hapulse::tui::run(header, read, stop).await.context("running the terminal view")
}

async fn serve(args: ServeArgs) -> Result<ExitCode> {
    let config = ServeConfig::load(&args.config)?;
    let mut creds = args.conn.credentials();
    creds.url = creds.url.or(config.url.clone());
    creds.token_file = creds.token_file.or(config.token_file.clone());
    let resolved = creds.resolve_from_env()?;
    let mut client_config = ClientConfig::new(&resolved.url, resolved.token).context("reading the URL")?;
    client_config.read_batching = config.read_batching;
    let client = Client::connect(client_config).await.with_context(|| format!("connecting to {}", resolved.url))?;
    let monitor = Monitor::new();
    let session =
        Session::start(client, Arc::clone(&monitor), config.session).await.context("subscribing to entities")?;
    let _metrics = match config.listen {
        Some(addr) => {
            let server = MetricsServer::start(addr, Arc::clone(&monitor)).await?;
            tracing::info!(addr = %server.addr(), "serving /metrics");
            Some(server)
        }
        None => None,
    };
    let mut agent = Agent::new(config.rules, config.agent);
    tracing::info!(url = %resolved.url, entities = session.entities(), "hapulse serving");

    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())
        .context("installing the SIGTERM handler")?;
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut was_current = true;
    loop {
        tokio::select! {
            _ = tick.tick() => {
                let freshness = session.freshness();
                if freshness.is_current() != was_current {
                    was_current = freshness.is_current();
                    let text = freshness_text(&freshness, tokio::time::Instant::now());
                    if was_current { tracing::info!("{text}") } else { tracing::warn!("{text}") }
                }
                let (transitions, _) = agent.tick(&monitor, &session.client, monitor.now()).await;
                for t in transitions {
                    tracing::warn!(rule = %t.rule, from = t.from.name(), to = t.to.name(), value = ?t.value, "alert");
                }
            }
            _ = tokio::signal::ctrl_c() => break,
            _ = term.recv() => break,
        }
    }
    tracing::info!("shutting down");
    session.client.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn demo(args: DemoArgs) -> Result<ExitCode> {
    let config = DemoConfig {
        entities: args.entities,
        rate: args.rate,
        drop_every: Some(args.drop_every).filter(|d| !d.is_zero()),
    };
    let demo = DemoSim::start(&config).await.context("starting the simulator")?;
    let session = open(&demo.sim.http_url(), Secret::new(DEMO_TOKEN)).await?;
    if !args.headless {
        watch(&session, "hapulse demo".into(), args.duration).await?;
        return Ok(ExitCode::SUCCESS);
    }

    let total = args.duration.unwrap_or(Duration::from_secs(20));
    println!("hapulse demo: {}", demo.describe(&config));
    let mut agent = Agent::new(RuleSet::defaults(), AgentConfig { publish: false, ..AgentConfig::default() });
    let monitor = &session.monitor;
    let started = tokio::time::Instant::now();
    let mut tick = tokio::time::interval(Duration::from_secs(1));
    let mut seconds = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            _ = tokio::signal::ctrl_c() => break,
        }
        let now = monitor.now();
        agent.evaluate(&monitor.registry, now);
        if seconds > 0 && seconds.is_multiple_of(5) {
            let view = View::read(&monitor.registry, agent.engine().statuses(), now);
            println!("[{seconds:>3}s] {}", view.status_line());
        }
        if started.elapsed() >= total {
            break;
        }
        seconds += 1;
    }
    let view = View::read(&monitor.registry, agent.engine().statuses(), monitor.now());
    println!("--- after {}s, {} ---", started.elapsed().as_secs(), status_text(&session));
    print!("{}", view.report());
    session.client.close().await;
    Ok(ExitCode::SUCCESS)
}

async fn loadtest_cmd(mode: LoadMode) -> Result<ExitCode> {
    let json = match mode {
        LoadMode::Probe { conn, warmup, measure, callers } => {
            let r = conn.credentials().resolve_from_env()?;
            serde_json::to_string(&loadtest::probe(&r.url, r.token, warmup, measure, callers).await?)?
        }
        LoadMode::Hold { conn, duration, warmup, callers, call_pause } => {
            let r = conn.credentials().resolve_from_env()?;
            let config = HoldConfig { duration, warmup, callers, call_pause };
            serde_json::to_string(&loadtest::hold(&r.url, r.token, &config).await?)?
        }
    };
    println!("{json}");
    Ok(ExitCode::SUCCESS)
}

#[cfg(test)]
mod tests {
    use super::*;

    const TOKEN: &str = "llat-0f9e8d7c-secret";

    #[test]
    fn debug_of_parsed_arguments_hides_the_token() {
        let cli = Cli::try_parse_from(["hapulse", "watch", "--url", "http://h:8123", "--token", TOKEN]).unwrap();

        let text = format!("{cli:?}");

        assert!(!text.contains(TOKEN) && text.contains("http://h:8123"), "{text}");
    }

    #[test]
    fn demo_defaults_match_the_documented_scenario() {
        let cli = Cli::try_parse_from(["hapulse", "demo", "--headless", "--duration", "20s"]).unwrap();

        let Command::Demo(d) = cli.command else { panic!("not demo") };
        assert_eq!(
            (d.entities, d.rate, d.drop_every, d.duration),
            (10_000, 200.0, Duration::from_secs(45), Some(Duration::from_secs(20)))
        );
    }

    #[tokio::test]
    async fn connection_error_does_not_show_the_token() {
        let conn =
            ConnArgs { url: Some("http://127.0.0.1:9".into()), token: Some(Secret::new(TOKEN)), token_file: None };
        let r = conn.credentials().resolve(|_| None, |_| Ok(String::new())).unwrap();

        let err = open(&r.url, r.token).await.unwrap_err();

        let text = format!("{err:#} {err:?}");
        assert!(!text.contains(TOKEN), "{text}");
    }
}
