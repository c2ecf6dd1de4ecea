//! End-to-end set-up over loopback: a `ha-sim` simulator on 127.0.0.1 and a `ha-client` connected
//! to it, on a multi-threaded tokio runtime that the benchmark thread drives with `block_on`.

use std::time::{Duration, Instant};

use futures_util::StreamExt;
use ha_client::{Client, ClientConfig, Mirror, ServiceCall, StreamItem};
use ha_proto::{Secret, Target};
use ha_sim::{Sim, SimConfig};
use tokio::runtime::Runtime;

/// A running simulator and a client connected to it.
#[derive(Debug)]
pub struct Loopback {
    /// The runtime both run on (drive it with `block_on`).
    pub runtime: Runtime,
    /// The simulator (its world has `entities` fixture entities).
    pub sim: Sim,
    /// The connected client.
    pub client: Client,
}

/// Queue limits far above any burst a benchmark makes: the simulator's flow control (which cuts a
/// client 4,096 messages behind, like Home Assistant) and the client's stream ring must not
/// interfere with a measurement of throughput.
const UNLIMITED: usize = 1 << 22;

impl Loopback {
    /// Starts a simulator with `entities` fixture entities and connects a client.
    ///
    /// # Panics
    /// When the runtime, the simulator or the connection cannot start.
    pub fn start(entities: usize) -> Loopback {
        let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build().expect("tokio runtime");
        let (sim, client) = runtime.block_on(async {
            let sim = Sim::start(SimConfig {
                entities,
                max_pending: UNLIMITED,
                pending_peak: UNLIMITED,
                ..SimConfig::default()
            })
            .await
            .expect("simulator starts");
            let mut config =
                ClientConfig::new(&sim.http_url(), Secret::new(SimConfig::default().token)).expect("client config");
            config.stream_capacity = UNLIMITED;
            let client = Client::connect(config).await.expect("client connects to the simulator");
            (sim, client)
        });
        Loopback { runtime, sim, client }
    }

    /// `light.turn_on` with a fixed brightness for the first light of the world: after the first
    /// call nothing changes, so each call is a pure round trip without event fan-out.
    ///
    /// # Panics
    /// When the world has no light.
    pub fn light_call(&self) -> ServiceCall {
        let light = self
            .sim
            .states()
            .into_iter()
            .find(|s| s.entity_id.as_str().starts_with("light."))
            .expect("the fixture world has a light");
        ServiceCall::new("light", "turn_on")
            .target(Target::entities([light.entity_id.as_str().to_owned()]))
            .data(serde_json::json!({"brightness": 200}))
    }

    /// Makes `calls` round trips of `call`; returns the time they took.
    ///
    /// # Panics
    /// When a call fails.
    pub fn round_trips(&self, call: &ServiceCall, calls: u64) -> Duration {
        self.runtime.block_on(async {
            let start = Instant::now();
            for _ in 0..calls {
                std::hint::black_box(self.client.call_service(call).await.expect("call_service succeeds"));
            }
            start.elapsed()
        })
    }

    /// Subscribes a mirror and waits for its snapshot.
    ///
    /// # Panics
    /// When subscribing fails.
    pub fn mirror(&self) -> Mirror {
        self.runtime.block_on(async {
            let mut mirror = self.client.subscribe_entities(None).await.expect("subscribe_entities succeeds");
            mirror.wait_for_snapshot(1).await.expect("the snapshot arrives");
            // The snapshot's own report is not a change the measurement should count.
            match mirror.next().await {
                Some(StreamItem::Item(report)) => assert!(!report.added.is_empty(), "the first report is the snapshot"),
                other => panic!("expected the snapshot's report, got {other:?}"),
            }
            mirror
        })
    }

    /// Has the simulator make `n` changes and waits until the mirror has applied all of them
    /// (counted from the mirror's change stream: a report covers the events of one frame, each
    /// change updates one entity); returns the time from the first change to the last one applied.
    ///
    /// # Panics
    /// When the mirror's stream ends or lags (the stream capacity is set far above a burst), the
    /// mirror is resynced (a reconnect lost events, so the
    /// count would never be reached), or the changes do not all arrive within [`CHANGES_TIMEOUT`]:
    /// a benchmark must fail loudly rather than hang or measure something else.
    pub fn changes_end_to_end(&self, mirror: &mut Mirror, n: usize) -> Duration {
        let _context = self.runtime.enter();
        let snapshots = mirror.snapshots();
        let start = Instant::now();
        // Called from the benchmark thread (not a runtime worker): the simulator's writer and the
        // client's connection task run on the workers meanwhile.
        self.sim.emit_changes(n);
        let mut seen = 0_u64;
        let waited = self.runtime.block_on(tokio::time::timeout(CHANGES_TIMEOUT, async {
            while seen < n as u64 {
                match mirror.next().await {
                    Some(StreamItem::Item(report)) => {
                        assert_eq!(mirror.snapshots(), snapshots, "the mirror was resynced during the burst");
                        seen += (report.updated.len() + report.added.len() + report.removed.len()) as u64;
                        std::hint::black_box(report);
                    }
                    other => panic!("mirror stream interrupted after {seen} of {n} changes: {other:?}"),
                }
            }
        }));
        let elapsed = start.elapsed();
        if waited.is_err() {
            let stats = self.client.stats();
            panic!(
                "only {seen} of {n} changes reached the mirror within {CHANGES_TIMEOUT:?} (snapshots {} -> {}, \
                 reconnects {}, resyncs {}, events in {}, connected {})",
                snapshots,
                mirror.snapshots(),
                stats.reconnects,
                stats.resyncs,
                stats.events_in,
                stats.connected
            );
        }
        elapsed
    }
}

/// Longest wait for one burst of changes to reach the mirror (100,000 take seconds even on a
/// loaded machine).
pub const CHANGES_TIMEOUT: Duration = Duration::from_secs(120);
