//! Mirrors every entity of a Home Assistant (or ha-sim) and prints, once a second, the
//! entity count, entity changes per second and reconnects.
//!
//! `cargo run -p ha-client --example mirror -- --url ws://127.0.0.1:8123 --token T`
//! (or set HASS_URL / HASS_TOKEN).

use std::time::Duration;

use anyhow::Context;
use clap::Parser;
use futures_util::StreamExt;
use ha_client::{Client, ClientConfig, ConnectionState};
use ha_proto::Secret;

#[derive(Debug, Parser)]
struct Args {
    /// Base URL (http, https, ws or wss).
    #[arg(long, env = "HASS_URL")]
    url: String,
    /// Access token.
    #[arg(long, env = "HASS_TOKEN", hide_env_values = true)]
    token: String,
    /// Stop after this many seconds (runs until Ctrl-C when absent).
    #[arg(long)]
    seconds: Option<u64>,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let config = ClientConfig::new(&args.url, Secret::new(args.token)).context("reading --url")?;
    let client = Client::connect(config).await.context("connecting")?;
    let mut mirror = client.subscribe_entities(None).await.context("subscribing to entities")?;
    println!("connected; {} entities", mirror.len());

    let mut tick = tokio::time::interval(Duration::from_secs(1));
    tick.tick().await;
    let mut last = client.stats();
    let mut elapsed = 0u64;
    loop {
        tokio::select! {
            _ = tick.tick() => {}
            // Drain the change stream so `lagged` only counts real lag.
            Some(_) = mirror.next() => continue,
            _ = tokio::signal::ctrl_c() => break,
        }
        elapsed += 1;
        let rtt = client.ping().await.map_or_else(|e| e.to_string(), |d| format!("{d:?}"));
        let now = client.stats();
        let state = match client.state() {
            ConnectionState::Connected { ha_version, .. } => format!("connected to {ha_version}"),
            ConnectionState::Reconnecting { reason } => format!("reconnecting ({reason})"),
            ConnectionState::Failed(err) => format!("stopped: {err}"),
            other => format!("{other:?}"),
        };
        println!(
            "entities {:>6}  changes/s {:>8}  events/s {:>7}  reconnects {:>3}  resyncs {:>3}  lagged {:>5}  ping {rtt}  {state}",
            mirror.len(),
            now.entity_changes - last.entity_changes,
            now.events_in - last.events_in,
            now.reconnects,
            now.resyncs,
            now.lagged,
        );
        last = now;
        if matches!(client.state(), ConnectionState::Failed(_)) || args.seconds.is_some_and(|s| elapsed >= s) {
            break;
        }
    }
    client.close().await;
    Ok(())
}
