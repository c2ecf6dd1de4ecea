//! Shared helpers for ha-client's tests against ha-sim: a sim, a client configured for fast
//! reconnects, hang guards (never speed assertions) and mirror comparison.
#![allow(dead_code, unreachable_pub)]

use std::future::Future;
use std::time::Duration;

use ha_client::{BackoffPolicy, Client, ClientConfig, ConnectionState, Mirror};
use ha_proto::{Secret, State};
use ha_sim::{Sim, SimConfig};

/// A guard against hangs (never an assertion about speed).
pub const HANG: Duration = Duration::from_secs(30);

/// Fails the test if `fut` does not finish within [`HANG`].
pub async fn within<F: Future>(fut: F) -> F::Output {
    tokio::time::timeout(HANG, fut).await.expect("operation hung")
}

/// A simulator with `entities` entities and no background load.
pub async fn sim(entities: usize) -> Sim {
    Sim::start(SimConfig { entities, ..SimConfig::default() }).await.expect("sim starts")
}

/// A client configuration for `sim` with near-instant reconnects.
pub fn config(sim: &Sim) -> ClientConfig {
    let mut cfg = ClientConfig::new(&sim.http_url(), Secret::new("sim-token")).expect("valid url");
    cfg.backoff = BackoffPolicy { base: Duration::from_millis(2), cap: Duration::from_millis(20), factor: 2.0 };
    cfg
}

/// A connected client for `sim`.
pub async fn client(sim: &Sim) -> Client {
    within(Client::connect(config(sim))).await.expect("client connects")
}

/// The sim's truth as a mirror holds it (mirrors do not carry `last_reported`).
pub fn truth(sim: &Sim) -> Vec<State> {
    sim.states()
        .into_iter()
        .map(|mut s| {
            s.last_reported = None;
            s
        })
        .collect()
}

/// The connection generation now (0 when not connected).
pub fn generation(client: &Client) -> u64 {
    match client.state() {
        ConnectionState::Connected { generation, .. } => generation,
        _ => 0,
    }
}

/// Waits until the client answers a ping on a connection that did not change during the
/// ping. Everything the server queued before that pong (snapshots, events) has then been
/// applied, because one task reads frames in order. Faults must be cleared first.
pub async fn settle(client: &Client) {
    within(async {
        loop {
            let stats = client.stats();
            let before = stats.connects;
            if stats.connected && client.ping().await.is_ok() && client.stats().connects == before {
                return;
            }
            // The connection the ping ran on is gone (or was never up): wait for the next one.
            let _ = client.wait_for_generation(before + 1).await;
        }
    })
    .await;
}

/// Asserts the mirror equals the sim's truth, every field but `last_reported`.
pub fn assert_mirror_matches(mirror: &Mirror, sim: &Sim) {
    let mine = mirror.states();
    let truth = truth(sim);
    assert_eq!(mine.len(), truth.len(), "entity count differs");
    for (m, t) in mine.iter().zip(&truth) {
        assert_eq!(m, t, "entity {} differs", t.entity_id);
    }
}

/// The first entity of a domain.
pub fn first_of(sim: &Sim, domain: &str) -> String {
    sim.states()
        .into_iter()
        .find(|s| s.entity_id.domain() == domain)
        .unwrap_or_else(|| panic!("no {domain} entity in the sim"))
        .entity_id
        .to_string()
}
