//! `hapulse demo`: a simulated Home Assistant in-process (ha-sim: 10,000 entities, 200 state
//! changes per second, every connection dropped every 45 s) watched by hapulse, so a newcomer
//! sees everything work without a Home Assistant of their own.

use std::time::Duration;

use ha_sim::{Sim, SimConfig};
use tokio::task::JoinHandle;

/// The token of the in-process simulator (it listens on 127.0.0.1 only and lives as long as the demo).
pub const DEMO_TOKEN: &str = "hapulse-demo";

/// How the demo's simulator behaves.
#[derive(Debug, Clone, PartialEq)]
pub struct DemoConfig {
    /// Entities (default 10,000).
    pub entities: usize,
    /// State changes per second (default 200).
    pub rate: f64,
    /// Every this often, every connection is dropped (default 45 s; `None` = never).
    pub drop_every: Option<Duration>,
}

impl Default for DemoConfig {
    fn default() -> Self {
        Self { entities: 10_000, rate: 200.0, drop_every: Some(Duration::from_secs(45)) }
    }
}

/// A running demo simulator with its fault injector; dropping it stops both.
#[derive(Debug)]
pub struct DemoSim {
    /// The simulator.
    pub sim: Sim,
    faults: Option<JoinHandle<()>>,
}

impl Drop for DemoSim {
    fn drop(&mut self) {
        if let Some(f) = &self.faults {
            f.abort();
        }
    }
}

impl DemoSim {
    /// Starts the simulator on a free loopback port and the periodic fault.
    pub async fn start(config: &DemoConfig) -> Result<Self, ha_sim::SimError> {
        let sim = Sim::start(SimConfig {
            entities: config.entities,
            rate: config.rate,
            token: DEMO_TOKEN.into(),
            ..SimConfig::default()
        })
        .await?;
        let faults = config.drop_every.map(|every| {
            let faults = sim.faults();
            tokio::spawn(async move {
                let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + every, every);
                loop {
                    tick.tick().await;
                    tracing::info!("demo fault: dropping every connection");
                    faults.drop_all_now();
                }
            })
        });
        Ok(Self { sim, faults })
    }

    /// One line saying what runs.
    pub fn describe(&self, config: &DemoConfig) -> String {
        let fault = config
            .drop_every
            .map_or_else(|| "no faults".into(), |d| format!("every connection dropped every {}s", d.as_secs()));
        format!(
            "ha-sim at {} with {} entities, {} state changes/s, {fault}",
            self.sim.http_url(),
            config.entities,
            config.rate
        )
    }
}
