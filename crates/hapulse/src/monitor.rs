//! The wiring of ha-monitor to ha-client: what the client and the installation do becomes metrics.
//!
//! - [`record_report`] turns one mirror [`ChangeReport`] into state changes per domain and entity,
//!   attribute payload sizes and event lag (pure: the store and both clocks are passed in).
//! - [`StatsDelta`] turns two [`ClientStats`] snapshots into events, bytes and reconnects.
//! - [`Session`] runs it live: the mirror's change stream, a sampler (client stats, mirror size,
//!   how long the mirror has been out of date, process RSS and CPU) and a pinger, all on tokio's
//!   clock so tests can pause it.
//! - [`stale_seconds`] and [`freshness_text`] turn the mirror's [`Freshness`] into the
//!   `hapulse_mirror_stale_seconds` gauge (judged by the `mirror_stale` alert rule) and the text
//!   the views show.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt;
use ha_client::{Client, ClientStats, Freshness, Mirror, StreamItem};
use ha_monitor::procfs::{self, CpuMeter};
use ha_monitor::registry::ActivityConfig;
use ha_monitor::{Millis, Registry, StdMetrics};
use ha_state::{ChangeReport, EntityStore};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio::time::Instant;

/// Monotonic time for the monitor: [`Millis`] since an origin on tokio's clock (so a paused clock
/// in tests pauses it too).
#[derive(Debug, Clone, Copy)]
pub struct Clock {
    origin: Instant,
}

impl Clock {
    /// A clock whose zero is now.
    pub fn start() -> Self {
        Self { origin: Instant::now() }
    }

    /// Time since the origin.
    pub fn now(&self) -> Millis {
        Millis::since(self.origin.into_std(), Instant::now().into_std())
    }
}

/// The registry and the handles to hapulse's standard metrics, shared by every task.
#[derive(Debug)]
pub struct Monitor {
    /// Every metric (read by sinks and alert rules).
    pub registry: Registry,
    /// Recording handles.
    pub metrics: StdMetrics,
    /// The monitor's clock.
    pub clock: Clock,
}

impl Monitor {
    /// A registry with the standard metrics, its clock starting now.
    pub fn new() -> Arc<Self> {
        let mut registry = Registry::new(ActivityConfig::default());
        let metrics = StdMetrics::register(&mut registry);
        Arc::new(Self { registry, metrics, clock: Clock::start() })
    }

    /// Now on the monitor's clock.
    pub fn now(&self) -> Millis {
        self.clock.now()
    }

    /// Runs `fut` (one command) and records its latency under `command`, success or not.
    pub async fn timed<T>(&self, command: &str, fut: impl Future<Output = T>) -> T {
        let started = Instant::now();
        let out = fut.await;
        self.metrics.on_command(command, started.elapsed(), self.now());
        out
    }
}

/// Bytes of JSON an entity's attributes take on the wire (keys, values, quotes, colons, commas).
pub fn attributes_bytes(store: &EntityStore, entity_id: &str) -> usize {
    store.entity(entity_id).map_or(0, |e| {
        let n = e.attribute_count();
        2 + e.attributes().map(|(k, v)| k.len() + 3 + v.get().len()).sum::<usize>() + n.saturating_sub(1)
    })
}

/// Records one applied mirror update at `now`; `wall_now_secs` is the wall clock (Unix seconds)
/// the lag is measured against. A snapshot (`is_snapshot`) sets the scene but is no state change:
/// it is not counted and has no lag.
///
/// Lag is `wall_now - last_updated` of the new state: Home Assistant fires `state_changed` with
/// `time_fired` equal to the new state's `last_updated`, and compressed events carry only the latter.
pub fn record_report(
    metrics: &StdMetrics,
    store: &EntityStore,
    report: &ChangeReport,
    is_snapshot: bool,
    wall_now_secs: f64,
    now: Millis,
) {
    if is_snapshot {
        return;
    }
    for id in report.added.iter().chain(&report.updated) {
        let Some(entity) = store.entity(id.as_str()) else { continue };
        let lag = wall_now_secs - entity.last_updated().as_epoch_secs();
        let lag = Duration::try_from_secs_f64(lag).ok();
        metrics.on_state_changed(id.as_str(), attributes_bytes(store, id.as_str()), lag, now);
    }
}

/// What changed between two client stats snapshots.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatsDelta {
    /// Subscription events received.
    pub events: u64,
    /// Bytes received.
    pub bytes: u64,
    /// Reconnections.
    pub reconnects: u64,
}

impl StatsDelta {
    /// The difference `now - before` (counters only grow; a reset counts as zero).
    pub fn between(before: &ClientStats, now: &ClientStats) -> Self {
        Self {
            events: now.events_in.saturating_sub(before.events_in),
            bytes: now.bytes_in.saturating_sub(before.bytes_in),
            reconnects: now.reconnects.saturating_sub(before.reconnects),
        }
    }

    /// Adds the delta to the metrics at `now`.
    pub fn record(&self, metrics: &StdMetrics, now: Millis) {
        metrics.events.add(self.events, now);
        metrics.received_bytes.add(self.bytes, now);
        if self.reconnects > 0 {
            metrics.reconnects.add(self.reconnects, now);
        }
    }
}

/// Seconds the mirror has been out of date at `now` (0 while current): the value of the
/// `hapulse_mirror_stale_seconds` gauge.
pub fn stale_seconds(freshness: &Freshness, now: Instant) -> f64 {
    freshness.stale_for(now).as_secs_f64()
}

/// The mirror's freshness as the views show it: `mirror current`, `mirror resyncing for 12s
/// (why)`, or `mirror ended 3s ago: why`.
pub fn freshness_text(freshness: &Freshness, now: Instant) -> String {
    let secs = freshness.stale_for(now).as_secs();
    match freshness {
        Freshness::Resyncing { last_error: Some(e), .. } => format!("mirror resyncing for {secs}s ({e})"),
        Freshness::Resyncing { last_error: None, .. } => format!("mirror resyncing for {secs}s"),
        Freshness::Ended { error, .. } => format!("mirror ended, stale for {secs}s: {error}"),
        Freshness::Current => "mirror current".to_owned(),
        _ => format!("mirror stale for {secs}s"),
    }
}

/// How often a [`Session`] samples and pings.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SessionConfig {
    /// Client stats, mirror size and process resources (default 1 s).
    pub sample_every: Duration,
    /// Ping round trips (default 5 s; `None` = never).
    pub ping_every: Option<Duration>,
}

impl Default for SessionConfig {
    fn default() -> Self {
        Self { sample_every: Duration::from_secs(1), ping_every: Some(Duration::from_secs(5)) }
    }
}

/// A live monitoring session: the client, its mirror and the tasks feeding the [`Monitor`].
/// Dropping it stops the tasks.
#[derive(Debug)]
pub struct Session {
    /// The client (clone it freely).
    pub client: Client,
    /// The metrics.
    pub monitor: Arc<Monitor>,
    /// The mirror's store (the mirror itself is owned by the change task).
    pub store: Arc<std::sync::RwLock<EntityStore>>,
    freshness: watch::Receiver<Freshness>,
    tasks: Vec<JoinHandle<()>>,
}

impl Drop for Session {
    fn drop(&mut self) {
        for t in &self.tasks {
            t.abort();
        }
    }
}

impl Session {
    /// Subscribes to every entity and starts recording into `monitor`.
    pub async fn start(
        client: Client,
        monitor: Arc<Monitor>,
        config: SessionConfig,
    ) -> Result<Self, ha_client::ClientError> {
        let mirror = monitor.timed("subscribe_entities", client.subscribe_entities(None)).await?;
        let store = mirror.store();
        let freshness = mirror.watch_freshness();
        let mut tasks = vec![tokio::spawn(consume_changes(mirror, Arc::clone(&monitor)))];
        let sampled = Sampled { store: Arc::clone(&store), freshness: freshness.clone() };
        tasks.push(tokio::spawn(sample(client.clone(), sampled, Arc::clone(&monitor), config.sample_every)));
        if let Some(every) = config.ping_every {
            tasks.push(tokio::spawn(ping(client.clone(), Arc::clone(&monitor), every)));
        }
        Ok(Self { client, monitor, store, freshness, tasks })
    }

    /// Whether the mirror is current, resyncing or ended.
    pub fn freshness(&self) -> Freshness {
        self.freshness.borrow().clone()
    }

    /// Entities in the mirror now.
    pub fn entities(&self) -> usize {
        self.store.read().unwrap_or_else(|p| p.into_inner()).len()
    }
}

fn wall_now_secs() -> f64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0.0, |d| d.as_secs_f64())
}

async fn consume_changes(mut mirror: Mirror, monitor: Arc<Monitor>) {
    // The first report is the initial snapshot; later snapshots (resyncs after a reconnect) are
    // recognised by the mirror's snapshot counter moving.
    let mut snapshots_seen = 0;
    while let Some(item) = mirror.next().await {
        let StreamItem::Item(report) = item else { continue };
        let snapshots = mirror.snapshots();
        let is_snapshot = snapshots != snapshots_seen;
        snapshots_seen = snapshots;
        let now = monitor.now();
        let store = mirror.read();
        record_report(&monitor.metrics, &store, &report, is_snapshot, wall_now_secs(), now);
    }
}

/// What the sampler reads besides the client's stats.
struct Sampled {
    store: Arc<std::sync::RwLock<EntityStore>>,
    freshness: watch::Receiver<Freshness>,
}

async fn sample(client: Client, sampled: Sampled, monitor: Arc<Monitor>, every: Duration) {
    let Sampled { store, freshness } = sampled;
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut last = client.stats();
    let mut cpu = CpuMeter::default();
    loop {
        tick.tick().await;
        let now = monitor.now();
        let stats = client.stats();
        StatsDelta::between(&last, &stats).record(&monitor.metrics, now);
        last = stats;
        let (len, bytes) = {
            let store = store.read().unwrap_or_else(|p| p.into_inner());
            (store.len(), store.approx_heap_bytes())
        };
        monitor.metrics.mirror_entities.set(len as f64);
        monitor.metrics.mirror_bytes.set(bytes as f64);
        monitor.metrics.mirror_stale.set(stale_seconds(&freshness.borrow(), Instant::now()));
        if let Ok(sample) = procfs::read_self() {
            monitor.metrics.on_process_sample(&sample, &mut cpu, now);
        }
    }
}

async fn ping(client: Client, monitor: Arc<Monitor>, every: Duration) {
    let mut tick = tokio::time::interval(every);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        if let Ok(rtt) = client.ping().await {
            let now = monitor.now();
            monitor.metrics.on_ping(rtt, now);
            monitor.metrics.on_command("ping", rtt, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ha_monitor::{Aggregation, Query, names};
    use ha_proto::{CompressedEvent, State};

    fn store_with(json: &str) -> EntityStore {
        let states: Vec<State> = serde_json::from_str(json).unwrap();
        let mut store = EntityStore::new();
        store.replace_from_states(states);
        store
    }

    const STATES: &str = r#"[{"entity_id":"sensor.power","state":"5","attributes":{"unit":"W"},
        "last_changed":"2024-03-20T10:00:00+00:00","last_updated":"2024-03-20T10:00:00+00:00",
        "context":{"id":"c1","parent_id":null,"user_id":null}}]"#;

    #[test]
    fn updated_entity_counts_as_a_state_change_with_its_lag_and_payload() {
        let mut store = store_with(STATES);
        let diff = CompressedEvent::parse(r#"{"c":{"sensor.power":{"+":{"s":"6","lc":1710928800.0}}}}"#).unwrap();
        let report = store.apply_compressed(&diff).unwrap();
        let (mut registry, now) = (Registry::default(), Millis(1000));
        let metrics = StdMetrics::register(&mut registry);

        record_report(&metrics, &store, &report, false, 1_710_928_800.25, now);

        let lag = registry.query(&Query::new(names::EVENT_LAG, Aggregation::Max, Duration::from_secs(10)), now);
        assert_eq!(lag.map(|s| (s * 1000.0).round()), Some(250.0));
        assert_eq!(metrics.state_changes.get("sensor").total(), 1);
        let payload =
            registry.query(&Query::new(names::ENTITY_ATTRIBUTES_BYTES, Aggregation::Max, Duration::ZERO), now);
        assert_eq!(payload, Some(r#"{"unit":"W"}"#.len() as f64));
    }

    #[test]
    fn snapshot_reports_are_not_state_changes() {
        let store = store_with(STATES);
        let mut report = ChangeReport::default();
        report.added.push("sensor.power".parse().unwrap());
        let mut registry = Registry::default();
        let metrics = StdMetrics::register(&mut registry);

        record_report(&metrics, &store, &report, true, 2e9, Millis(0));

        assert_eq!(metrics.state_changes.series().len(), 0);
    }

    #[test]
    fn stats_delta_counts_what_grew() {
        let mut a = empty_stats();
        let mut b = empty_stats();
        (a.events_in, a.bytes_in, a.reconnects) = (10, 1000, 1);
        (b.events_in, b.bytes_in, b.reconnects) = (15, 1600, 2);

        let d = StatsDelta::between(&a, &b);

        assert_eq!(d, StatsDelta { events: 5, bytes: 600, reconnects: 1 });
    }

    #[tokio::test(start_paused = true)]
    async fn stale_gauge_and_text_count_from_when_the_mirror_stopped_being_current() {
        let since = Instant::now();
        let lost = ha_client::ClientError::ConnectionLost { reason: ha_client::DisconnectReason::ClosedByServer };
        let resyncing = Freshness::Resyncing { since, last_error: Some(lost) };
        let ended = Freshness::Ended { since, error: ha_client::ClientError::Shutdown };

        tokio::time::advance(Duration::from_secs(90)).await;
        let now = Instant::now();

        assert_eq!((stale_seconds(&Freshness::Current, now), stale_seconds(&resyncing, now)), (0.0, 90.0));
        assert_eq!(freshness_text(&Freshness::Current, now), "mirror current");
        assert_eq!(freshness_text(&resyncing, now), "mirror resyncing for 90s (connection lost: closed by the server)");
        assert_eq!(freshness_text(&ended, now), "mirror ended, stale for 90s: client is shut down");
    }

    fn empty_stats() -> ClientStats {
        ClientStats {
            commands: Vec::new(),
            frames_in: 0,
            messages_in: 0,
            bytes_in: 0,
            frames_out: 0,
            bytes_out: 0,
            events_in: 0,
            entity_changes: 0,
            lagged: 0,
            connects: 0,
            reconnects: 0,
            resyncs: 0,
            read_windows: 0,
            malformed_frames: 0,
            malformed_messages: 0,
            connected: true,
        }
    }
}
