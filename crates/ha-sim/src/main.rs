//! `ha-sim`: runs the simulated Home Assistant by hand, with load and standing faults.
//!
//! ```text
//! ha-sim --entities 16384 --rate 10000 --port 8123 --token T --restart-every 60
//! ```

use std::time::Duration;

/// mimalloc instead of the system allocator: the change generator allocates and frees every
/// state's attributes, and glibc's malloc took a third of the simulator's CPU under load, which
/// made the simulator, not the client under test, the load ramp's limit (docs/performance.md,
/// fifteenth round). The library (`ha_sim::Sim` in tests) keeps whatever its host uses.
#[global_allocator]
static ALLOC: mimalloc::MiMalloc = mimalloc::MiMalloc;

use anyhow::{Context, Result};
use clap::Parser;
use ha_sim::{Sim, SimConfig};

/// A simulated Home Assistant 2024.3 (WebSocket and REST) on 127.0.0.1.
// No `Debug`: it would print the token.
#[derive(Parser)]
#[command(version, about)]
struct Args {
    /// Number of entities.
    #[arg(long, default_value_t = 1000)]
    entities: usize,
    /// Background state changes per second.
    #[arg(long, default_value_t = 0.0)]
    rate: f64,
    /// Port on 127.0.0.1 (0 = any free port).
    #[arg(long, default_value_t = 8123)]
    port: u16,
    /// The access token clients must present.
    #[arg(long, env = "HA_SIM_TOKEN", default_value = "sim-token", hide_env_values = true)]
    token: String,
    /// Seed of the fixtures and the change stream.
    #[arg(long)]
    seed: Option<u64>,
    /// Announced Home Assistant version.
    #[arg(long, default_value = "2024.3.3")]
    ha_version: String,
    /// Flow control: disconnect a client this many messages behind.
    #[arg(long, default_value_t = 4096)]
    max_pending: usize,
    /// Also install the entities of `cargo xtask ha-conformance`'s configuration, so the
    /// real-server suite (`HAPULSE_HA_URL`, `HAPULSE_HA_TOKEN`) can run against the sim.
    #[arg(long)]
    conformance_fixtures: bool,
    /// Close each connection after it has been sent N messages.
    #[arg(long, value_name = "N")]
    drop_after: Option<u64>,
    /// Drop every connection every SECS seconds.
    #[arg(long, value_name = "SECS")]
    drop_every: Option<f64>,
    /// Delay every command's response by MS milliseconds.
    #[arg(long, value_name = "MS")]
    delay_ms: Option<u64>,
    /// Answer auth_invalid to everyone.
    #[arg(long)]
    reject_auth: bool,
    /// Restart (close all, bump the version, churn entities) every SECS seconds.
    #[arg(long, value_name = "SECS")]
    restart_every: Option<f64>,
    /// With --restart-every: answer 503 for MS milliseconds after each restart.
    #[arg(long, value_name = "MS")]
    restart_downtime_ms: Option<u64>,
    /// Send a frame that is not JSON to every connection every SECS seconds.
    #[arg(long, value_name = "SECS")]
    malformed_every: Option<f64>,
    /// Stop reading from clients for MS milliseconds every SECS seconds (given with --stall-every).
    #[arg(long, value_name = "MS")]
    stall_ms: Option<u64>,
    /// See --stall-ms.
    #[arg(long, value_name = "SECS")]
    stall_every: Option<f64>,
    /// Send one message of N bytes to every connection every --oversized-every seconds
    /// (once, 1 s after start, when that is not given).
    #[arg(long, value_name = "N")]
    oversized_bytes: Option<usize>,
    /// See --oversized-bytes.
    #[arg(long, value_name = "SECS")]
    oversized_every: Option<f64>,
}

#[tokio::main]
async fn main() -> Result<()> {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("ha_sim=info")),
        )
        .with_writer(std::io::stderr)
        .init();
    let args = Args::parse();
    let config = SimConfig {
        entities: args.entities,
        seed: args.seed.unwrap_or(SimConfig::default().seed),
        token: args.token.clone(),
        rate: args.rate,
        port: args.port,
        ha_version: args.ha_version.clone(),
        max_pending: args.max_pending,
        conformance_fixtures: args.conformance_fixtures,
        ..SimConfig::default()
    };
    let sim = Sim::start(config).await.context("starting the simulator")?;
    println!("ha-sim {} with {} entities at {} events/s", sim.ha_version(), args.entities, args.rate);
    println!("  WebSocket: {}", sim.ws_url());
    println!("  REST:      {}/api/", sim.http_url());

    let faults = sim.faults();
    if let Some(n) = args.drop_after {
        faults.drop_after_messages(n);
    }
    if let Some(ms) = args.delay_ms {
        faults.delay_responses(Duration::from_millis(ms));
    }
    faults.reject_auth(args.reject_auth);
    let mut periodic = Vec::new();
    let mut every =
        |secs: Option<f64>, what: &'static str, action: Box<dyn Fn(&ha_sim::Faults) + Send>| -> Result<()> {
            let Some(secs) = secs else { return Ok(()) };
            let period =
                Duration::try_from_secs_f64(secs).with_context(|| format!("--{what} must be a positive number"))?;
            anyhow::ensure!(!period.is_zero(), "--{what} must be positive");
            let faults = faults.clone();
            periodic.push(tokio::spawn(async move {
                let mut ticker = tokio::time::interval_at(tokio::time::Instant::now() + period, period);
                loop {
                    ticker.tick().await;
                    tracing::info!(fault = what, "injecting");
                    action(&faults);
                }
            }));
            Ok(())
        };
    every(args.drop_every, "drop-every", Box::new(|f| f.drop_all_now()))?;
    let downtime = Duration::from_millis(args.restart_downtime_ms.unwrap_or(0));
    every(args.restart_every, "restart-every", Box::new(move |f| f.restart_with_downtime(downtime)))?;
    every(args.malformed_every, "malformed-every", Box::new(|f| f.send_malformed_frame()))?;
    if let Some(ms) = args.stall_ms {
        let d = Duration::from_millis(ms);
        every(Some(args.stall_every.unwrap_or(10.0)), "stall-every", Box::new(move |f| f.stop_reading(d)))?;
    }
    if let Some(bytes) = args.oversized_bytes {
        every(
            Some(args.oversized_every.unwrap_or(1.0)),
            "oversized-every",
            Box::new(move |f| f.send_oversized(bytes)),
        )?;
        if args.oversized_every.is_none() {
            // Once only: stop the periodic task after its first shot.
            let last = periodic.pop().expect("just pushed");
            let faults = faults.clone();
            last.abort();
            periodic.push(tokio::spawn(async move {
                tokio::time::sleep(Duration::from_secs(1)).await;
                faults.send_oversized(bytes);
            }));
        }
    }

    tokio::signal::ctrl_c().await.context("waiting for Ctrl-C")?;
    println!("stopping");
    for task in periodic {
        task.abort();
    }
    sim.shutdown().await;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_of_the_issue_parse() {
        let args = Args::try_parse_from([
            "ha-sim",
            "--entities",
            "16384",
            "--rate",
            "10000",
            "--port",
            "8123",
            "--token",
            "T",
            "--drop-after",
            "50",
            "--restart-every",
            "60",
            "--restart-downtime-ms",
            "500",
            "--oversized-bytes",
            "5000000",
        ])
        .unwrap();

        assert_eq!((args.entities, args.rate, args.port, args.token.as_str()), (16_384, 10_000.0, 8123, "T"));
        assert_eq!(args.drop_after, Some(50));
        assert_eq!(args.restart_every, Some(60.0));
        assert_eq!(args.restart_downtime_ms, Some(500));
        assert_eq!(args.oversized_bytes, Some(5_000_000));
    }
}
