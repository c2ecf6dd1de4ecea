//! hapulse: watch a Home Assistant installation and this client live, and be told inside Home
//! Assistant when something degrades.
//!
//! The library part of the `hapulse` binary, so every piece is testable:
//! - [`monitor`]: the wiring of ha-monitor to ha-client: a [`monitor::Session`] subscribes to every
//!   entity and records state changes (per domain and entity), attribute payload sizes, event lag,
//!   events and bytes per second, reconnects, mirror size, how long the mirror has been out of date,
//!   ping round trips and own RSS and CPU.
//! - [`agent`]: alert rules evaluated every second, and publishing into Home Assistant
//!   (`sensor.hapulse_*` states, one persistent notification per firing rule), rate-limited.
//! - [`prometheus`]: `/metrics` in the Prometheus text format (127.0.0.1 by default).
//! - [`view`] and [`tui`]: what `hapulse watch` shows, as data and as a terminal view.
//! - [`config`]: `hapulse.toml` for `hapulse serve` (errors name file, line and key).
//! - [`token`]: the token from `--token-file`, `HASS_TOKEN` or `SUPERVISOR_TOKEN`, never shown.
//! - [`demo`], [`check`], [`loadtest`]: the `demo`, `check` and `loadtest` subcommands.
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> anyhow::Result<()> {
//! use std::time::Duration;
//! use hapulse::monitor::{Monitor, Session, SessionConfig};
//! use hapulse::view::View;
//!
//! let sim = ha_sim::Sim::start(ha_sim::SimConfig { entities: 50, ..Default::default() }).await?;
//! let config = ha_client::ClientConfig::new(&sim.http_url(), ha_proto::Secret::new("sim-token"))?;
//! let client = ha_client::Client::connect(config).await?;
//!
//! let monitor = Monitor::new();
//! let session = Session::start(client, monitor.clone(), SessionConfig::default()).await?;
//! sim.emit_changes(20);
//! let rtt = monitor.timed("ping", session.client.ping()).await?;
//!
//! let view = View::read(&monitor.registry, &[], monitor.now());
//! assert_eq!(session.entities(), 50);
//! assert!(view.latencies.iter().any(|l| l.command == "ping"));
//! # let _ = rtt; Ok(()) }
//! ```

mod error;

pub mod agent;
pub mod check;
pub mod config;
pub mod demo;
pub mod loadtest;
pub mod monitor;
pub mod prometheus;
pub mod token;
pub mod tui;
pub mod view;

pub use error::HapulseError;
