//! A simulated Home Assistant 2024.3 on 127.0.0.1: the WebSocket API (`/api/websocket`),
//! the REST API (`/api/...`), a world of fixture entities that changes at a chosen rate,
//! and fault injection for tests.
//!
//! # Design
//!
//! - One lock (`Core`) holds the world (state machine, notifications, history ring), the
//!   subscriptions and the open connections. A change is applied and fanned out under it,
//!   so every subscriber sees changes in the same order, and `subscribe_entities` registers
//!   its listener and takes its snapshot atomically (no change falls in between).
//! - Each change is serialised once per form (full `state_changed` event, compressed diff,
//!   trigger event) and the text is shared by every subscriber; each connection has a
//!   counted, unbounded queue drained by its own writer task, so the world never waits for
//!   a slow client. A client too far behind is cut (Home Assistant's flow control:
//!   `max_pending` at any time, or `pending_peak` for `pending_peak_time`).
//! - The writer coalesces what is queued into one array frame once the client sent
//!   `supported_features` with `coalesce_messages`, and sends aiohttp-style heartbeats.
//!
//! # Fidelity
//!
//! Shapes, codes and messages follow Home Assistant 2024.3 (`websocket_api`, `api`, `history`).
//! Known differences: one admin user, no permissions; only the services listed by
//! `get_services` exist; `subscribe_trigger` supports the `state` platform only;
//! `render_template` understands `{{ states('entity_id') }}` only; commands ha-proto does
//! not know (`manifest/list`, `entity/source`, ...) get `unknown_command`, except
//! `persistent_notification/subscribe` and `execute_script` (`variables` and `stop` with
//! `response_variable` only); every `script.*` entity is also a service (responses
//! optional, echoing a `value` field as `{"echo": value}` like the conformance fixture);
//! no IP ban. [`SimConfig::conformance_fixtures`] (`--conformance-fixtures`) installs the
//! conformance server's helpers, and the real-server suite (`tests/real_ha.rs` of
//! ha-client) then passes against the sim as well (its restart test needs the xtask).
//!
//! Checked against a real Home Assistant 2024.3.3 (the conformance suite's server), whose
//! captured behaviour wins over the docs: states carry no `last_reported`; `return_response`
//! misuse is `unknown_error` with Python's `ValueError` text (checked before the service
//! data); REST ignores `?return_response` (always the plain array of changed states) and
//! answers service errors with a plain `400: Bad Request`, unknown paths with a plain
//! `404: Not Found`; `get_config` has `whitelist_external_dirs` and no `radius`/`debug`;
//! REST state paths lowercase the entity id; a REST removal fires with a fresh context
//! without user; persistent notifications are not entities but reach
//! `persistent_notification/subscribe` (`current`, then `added` — also for a replacement —
//! and `removed`; dismissing an unknown id says nothing); a REST 401, and a rejected
//! WebSocket login whose client does not drop the connection at once, create `http-login`
//! (`Sim::auth_failures` counts every rejection); a stopping server and the auth timeout end connections without a close
//! frame, other closes send close code 1000; binary frames after auth are ignored; a bad
//! envelope is answered with the id as sent (`null`, `"15"`, 0 for a non-object).
//! Deliberate differences: the simulated home has a recorder, so `/api/history/period`
//! answers (in the recorder's shape: `entity_id, state, attributes, last_changed,
//! last_updated`, minimal entries `state, last_changed`) where the conformance server,
//! which has none, answers `404: Not Found`; and results leave in the order the commands
//! came, while Home Assistant may let a quick result overtake a slow `call_service` one
//! (clients must match results by id anyway).
//!
//! ```
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), ha_sim::SimError> {
//! use ha_sim::{Sim, SimConfig};
//!
//! let sim = Sim::start(SimConfig { entities: 10, ..SimConfig::default() }).await?;
//! assert!(sim.ws_url().ends_with("/api/websocket"));
//! assert_eq!(sim.states().len(), 10);
//! sim.faults().reject_auth(true); // every login now gets auth_invalid
//! sim.shutdown().await;
//! # Ok(()) }
//! ```

mod commands;
mod conn;
mod faults;
mod history;
mod hub;
mod load;
mod rest;
mod services;
mod trigger;
mod world;

use std::collections::HashMap;
use std::fmt;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use ha_proto::{Attributes, EntityId, State};
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

pub use faults::{Faults, MalformedItem};
pub use world::Notification;

use crate::hub::{FlowLimits, Hub, Outbox};
use crate::world::{Change, Force, World};

/// How the simulator is set up. Start from `SimConfig::default()` and change what matters.
#[derive(Clone)]
pub struct SimConfig {
    /// World size, populated from the fixtures.
    pub entities: usize,
    /// Seed of the fixtures and of the change stream.
    pub seed: u64,
    /// The only valid access token (REST Bearer and WebSocket auth). Never logged.
    pub token: String,
    /// Background state changes per second (0 = none; tests drive changes explicitly).
    pub rate: f64,
    /// Port to bind on 127.0.0.1 (0 = any free port).
    pub port: u16,
    /// The `ha_version` announced (bumped by the restart fault).
    pub ha_version: String,
    /// How long a new connection may take to send its auth message.
    pub auth_timeout: Duration,
    /// Flow control: a client this many messages behind is disconnected. Counted as Home
    /// Assistant counts them: messages queued and not yet taken by the connection's writer (a
    /// frame being written no longer counts).
    pub max_pending: usize,
    /// Flow control: a client more than this many messages behind for `pending_peak_time`
    /// is disconnected too.
    pub pending_peak: usize,
    /// See `pending_peak`.
    pub pending_peak_time: Duration,
    /// Interval of WebSocket protocol pings; a ping unanswered by the next one closes the
    /// connection. `Duration::ZERO` switches the heartbeat off.
    pub heartbeat: Duration,
    /// How many recent state changes `/api/history/period` can see.
    pub history_capacity: usize,
    /// How many entities the restart fault removes (and adds); `None` = 5% (at least one).
    pub restart_churn: Option<usize>,
    /// Also install the entities of `cargo xtask ha-conformance`'s configuration
    /// (`input_boolean.hapulse_switch`/`hapulse_spare`, `input_number.hapulse_level`/
    /// `hapulse_spare_level`, `script.hapulse_echo`, `zone.home`,
    /// `person.hapulse_conformance`), so the real-server suite can run against the sim.
    /// They survive restarts (the restart fault never churns them).
    pub conformance_fixtures: bool,
}

impl Default for SimConfig {
    fn default() -> Self {
        SimConfig {
            entities: 100,
            seed: ha_fixtures::DEFAULT_SEED,
            token: "sim-token".to_owned(),
            rate: 0.0,
            port: 0,
            ha_version: "2024.3.3".to_owned(),
            auth_timeout: Duration::from_secs(10),
            max_pending: 4096,
            pending_peak: 1024,
            pending_peak_time: Duration::from_secs(10),
            heartbeat: Duration::from_secs(55),
            history_capacity: 100_000,
            restart_churn: None,
            conformance_fixtures: false,
        }
    }
}

impl fmt::Debug for SimConfig {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SimConfig")
            .field("entities", &self.entities)
            .field("seed", &self.seed)
            .field("token", &"***")
            .field("rate", &self.rate)
            .field("port", &self.port)
            .field("ha_version", &self.ha_version)
            .field("auth_timeout", &self.auth_timeout)
            .field("max_pending", &self.max_pending)
            .field("heartbeat", &self.heartbeat)
            .finish_non_exhaustive()
    }
}

/// Why the simulator could not start.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SimError {
    /// The listening socket could not be bound.
    #[error("cannot bind 127.0.0.1:{port}")]
    Bind {
        /// The requested port.
        port: u16,
        /// The operating system's reason.
        #[source]
        source: std::io::Error,
    },
}

/// Everything the server's tasks share.
pub(crate) struct Shared {
    pub(crate) config: SimConfig,
    pub(crate) core: Mutex<Core>,
    pub(crate) faults: faults::FaultState,
    pub(crate) connections: watch::Sender<usize>,
    pub(crate) auth_failures: AtomicUsize,
    /// State changes made by the background load so far.
    pub(crate) load_changes: AtomicU64,
    /// The background load's rate (changes per second).
    pub(crate) rate: load::Rate,
    pub(crate) next_conn: AtomicU64,
    pub(crate) shutdown: CancellationToken,
    /// The user every token belongs to (an admin), as context `user_id`.
    pub(crate) user_id: String,
}

impl fmt::Debug for Shared {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Shared").field("config", &self.config).finish_non_exhaustive()
    }
}

/// The state behind the one lock: the world, the subscriptions and the open connections.
/// Changes are applied and fanned out under the lock, so every subscriber sees them in the
/// same order and a new subscription never misses one.
#[derive(Debug)]
pub(crate) struct Core {
    pub(crate) world: World,
    pub(crate) hub: Hub,
    /// Each state's snapshot entry, as Home Assistant caches them.
    pub(crate) snapshots: hub::SnapshotCache,
    pub(crate) conns: HashMap<u64, Arc<Outbox>>,
    pub(crate) ha_version: String,
    /// Extra valid tokens (`auth/long_lived_access_token`).
    pub(crate) extra_tokens: Vec<ha_proto::Secret>,
}

impl Core {
    /// Sends a change the world made to every interested subscriber.
    pub(crate) fn publish(&mut self, change: &Change) {
        self.hub.state_changed(change);
    }
}

impl Shared {
    /// The world of `config` with no connection, no fault and the load at `config.rate`.
    pub(crate) fn new(config: SimConfig) -> Shared {
        let mut world = World::new(config.seed, config.entities, config.history_capacity);
        if config.conformance_fixtures {
            world.install_conformance_fixtures();
        }
        let mut ids = world::IdGen::new(config.seed ^ 0x05E5);
        let user_id = ids.hex32();
        // As in a Home Assistant whose frontend has connected once: every state's compressed JSON
        // is cached, so even the first `subscribe_entities` joins ready entries.
        let mut snapshots = hub::SnapshotCache::default();
        snapshots.encode(world.states().iter());
        Shared {
            core: Mutex::new(Core {
                world,
                hub: Hub::default(),
                snapshots,
                conns: HashMap::new(),
                ha_version: config.ha_version.clone(),
                extra_tokens: Vec::new(),
            }),
            faults: faults::FaultState::default(),
            connections: watch::channel(0).0,
            auth_failures: AtomicUsize::new(0),
            load_changes: AtomicU64::new(0),
            rate: load::Rate::new(config.rate),
            next_conn: AtomicU64::new(1),
            shutdown: CancellationToken::new(),
            user_id,
            config,
        }
    }

    pub(crate) fn core(&self) -> MutexGuard<'_, Core> {
        self.core.lock().unwrap_or_else(|e| e.into_inner())
    }

    pub(crate) fn limits(&self) -> FlowLimits {
        FlowLimits {
            max_pending: self.config.max_pending.max(1),
            peak: self.config.pending_peak.max(1),
            peak_time: self.config.pending_peak_time,
        }
    }

    /// Whether `token` is valid (compared without early exit).
    pub(crate) fn token_ok(&self, token: &str) -> bool {
        let same = |a: &str, b: &str| {
            a.len() == b.len() && a.bytes().zip(b.bytes()).fold(0u8, |acc, (x, y)| acc | (x ^ y)) == 0
        };
        same(token, &self.config.token) || self.core().extra_tokens.iter().any(|t| same(token, t.expose()))
    }

    // The connection count is published under the lock, so counts never go out of order.
    pub(crate) fn conn_opened(&self, outbox: Arc<Outbox>) {
        let mut core = self.core();
        core.conns.insert(outbox.conn_id, outbox);
        self.connections.send_replace(core.conns.len());
    }

    pub(crate) fn conn_closed(&self, conn_id: u64) {
        let mut core = self.core();
        core.hub.remove_conn(conn_id);
        core.conns.remove(&conn_id);
        self.connections.send_replace(core.conns.len());
    }

    /// Ends every connection now and forgets them at once, so that `connections()` and
    /// `wait_for_connections` only count connections opened afterwards.
    pub(crate) fn close_all(&self, core: &mut Core, abrupt: bool) {
        for (_, outbox) in core.conns.drain() {
            core.hub.remove_conn(outbox.conn_id);
            if abrupt {
                outbox.drop_abruptly();
            } else {
                outbox.cancel.cancel();
            }
        }
        self.connections.send_replace(0);
    }

    /// A rejected token (WebSocket `auth_invalid` or REST 401): like Home Assistant's
    /// `process_wrong_login`, creates (or replaces) the persistent notification `http-login`.
    /// Its text follows Home Assistant's source for a client on 127.0.0.1.
    pub(crate) fn login_failed(&self) {
        let mut core = self.core();
        let note = core.world.notify(
            Some(LOGIN_NOTIFICATION_ID.to_owned()),
            Some("Login attempt failed".to_owned()),
            "Login attempt or request with invalid authentication from localhost (127.0.0.1). See the log for details."
                .to_owned(),
        );
        core.hub.notifications(hub::NoteUpdate::Added, &[note]);
    }

    fn restart_churn(&self, len: usize) -> usize {
        self.config.restart_churn.unwrap_or((len / 20).max(1))
    }

    /// Closes every connection, then changes the world as a restart would. A restart
    /// starts with a stop, and a stopping Home Assistant drops its WebSockets without a
    /// close frame (captured from 2024.3.3).
    pub(crate) fn restart(&self) {
        let mut core = self.core();
        self.close_all(&mut core, true);
        core.hub.clear();
        let churn = self.restart_churn(core.world.len());
        core.world.restart(churn);
        core.ha_version = bump_patch(&core.ha_version);
    }
}

/// The persistent notification every rejected login creates or replaces.
pub const LOGIN_NOTIFICATION_ID: &str = "http-login";

/// `2024.3.3` → `2024.3.4` (a version without a numeric patch gets `.1`).
fn bump_patch(version: &str) -> String {
    match version.rsplit_once('.') {
        Some((head, patch)) => match patch.parse::<u64>() {
            Ok(n) => format!("{head}.{}", n + 1),
            Err(_) => format!("{version}.1"),
        },
        None => format!("{version}.1"),
    }
}

/// A running simulator. Dropping it (or [`Sim::shutdown`]) stops it.
#[derive(Debug)]
pub struct Sim {
    shared: Arc<Shared>,
    addr: SocketAddr,
    server: Option<JoinHandle<()>>,
    tasks: Vec<JoinHandle<()>>,
}

/// The listener with Nagle's algorithm off on every accepted connection, as aiohttp (Home
/// Assistant's server) does. axum leaves it on; then a small frame (a command's result, a few
/// changes) written while an earlier one is still unacknowledged waits for the client's delayed
/// ACK, up to 40 ms on Linux: that was the whole `call_service` p99 of about 40 ms, and the event
/// lag p99 of about 40 ms, that `cargo xtask load` measured at 2,000-16,000 changes/s
/// (docs/performance.md).
fn without_nagle(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    listener.tap_io(|tcp| {
        if let Err(err) = tcp.set_nodelay(true) {
            tracing::warn!(%err, "could not turn Nagle's algorithm off on a connection");
        }
    })
}

impl Sim {
    /// Binds 127.0.0.1 and starts serving.
    pub async fn start(config: SimConfig) -> Result<Sim, SimError> {
        let port = config.port;
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", port))
            .await
            .map_err(|source| SimError::Bind { port, source })?;
        let addr = listener.local_addr().map_err(|source| SimError::Bind { port, source })?;
        let shared = Arc::new(Shared::new(config));
        let app = rest::router(shared.clone());
        let stop = shared.shutdown.clone();
        let server = tokio::spawn(async move {
            let serve =
                axum::serve(without_nagle(listener), app).with_graceful_shutdown(async move { stop.cancelled().await });
            if let Err(err) = serve.await {
                tracing::error!(%err, "server stopped");
            }
        });
        let tasks = vec![tokio::spawn(load::run(shared.clone()))];
        tracing::info!(%addr, entities = shared.config.entities, "ha-sim listening");
        Ok(Sim { shared, addr, server: Some(server), tasks })
    }

    /// The bound address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://127.0.0.1:PORT`.
    pub fn http_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// `ws://127.0.0.1:PORT/api/websocket`.
    pub fn ws_url(&self) -> String {
        format!("ws://{}/api/websocket", self.addr)
    }

    /// The fault-injection handle.
    pub fn faults(&self) -> Faults {
        Faults::new(self.shared.clone())
    }

    /// The `ha_version` announced now.
    pub fn ha_version(&self) -> String {
        self.shared.core().ha_version.clone()
    }

    /// Every current state (the truth), sorted by entity id.
    pub fn states(&self) -> Vec<State> {
        let mut states: Vec<State> = self.shared.core().world.states().iter().map(|s| (**s).clone()).collect();
        states.sort_by(|a, b| a.entity_id.as_str().cmp(b.entity_id.as_str()));
        states
    }

    /// The persistent notifications, oldest first.
    pub fn notifications(&self) -> Vec<Notification> {
        self.shared.core().world.notifications().to_vec()
    }

    /// Writes a state like an integration would (no user in the context) and fires
    /// `state_changed` when something changed. Returns the state now held.
    ///
    /// # Panics
    /// When `entity_id` is not a valid entity id.
    pub fn set_state(&self, entity_id: &str, state: &str, attributes: Attributes) -> State {
        let id = EntityId::new(entity_id).unwrap_or_else(|e| panic!("set_state: {e}"));
        let mut core = self.shared.core();
        let context = core.world.context(None);
        if let Some(change) = core.world.set(&id, state, attributes, context, Force::No) {
            core.publish(&change);
        }
        (**core.world.get(entity_id).expect("just written")).clone()
    }

    /// Removes an entity, firing `state_changed` with `new_state: null`; whether it existed.
    pub fn remove_state(&self, entity_id: &str) -> bool {
        let mut core = self.shared.core();
        let context = core.world.context(None);
        match core.world.remove(entity_id, context) {
            Some(change) => {
                core.publish(&change);
                true
            }
            None => false,
        }
    }

    /// Makes `n` realistic changes now (the fixtures' change stream) and sends them to
    /// subscribers before returning.
    pub fn emit_changes(&self, n: usize) {
        let mut core = self.shared.core();
        for _ in 0..n {
            if let Some(change) = core.world.next_change() {
                core.publish(&change);
            }
        }
    }

    /// Open, authenticated WebSocket connections.
    pub fn connections(&self) -> usize {
        *self.shared.connections.borrow()
    }

    /// How many auth attempts were rejected.
    pub fn auth_failures(&self) -> usize {
        self.shared.auth_failures.load(Ordering::Acquire)
    }

    /// Changes the background load's rate (changes per second; 0 stops it), e.g. to freeze
    /// the world before comparing a mirror with [`Sim::states`].
    pub fn set_rate(&self, per_second: f64) {
        self.shared.rate.set(per_second);
        // A batch at the old rate may be running; it holds the lock, so once we have had
        // the lock none is (and later batches see the new rate).
        drop(self.shared.core());
    }

    /// State changes the background load (`rate`) has made so far.
    pub fn load_changes(&self) -> u64 {
        self.shared.load_changes.load(Ordering::Relaxed)
    }

    /// Resolves once at least `n` authenticated connections are open.
    pub async fn wait_for_connections(&self, n: usize) {
        let mut rx = self.shared.connections.subscribe();
        // The sender lives as long as `self`, so this cannot fail.
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// Live subscriptions of every kind, on every connection.
    pub fn subscriptions(&self) -> usize {
        *self.shared.core().hub.count().borrow()
    }

    /// Resolves once at least `n` subscriptions are live (e.g. after a client re-subscribed
    /// following a reconnect).
    pub async fn wait_for_subscriptions(&self, n: usize) {
        let mut rx = self.shared.core().hub.count();
        let _ = rx.wait_for(|count| *count >= n).await;
    }

    /// Fires an event on the bus, as an integration would (no user in the context).
    pub fn fire_event(&self, event_type: &str, data: serde_json::Value) {
        let mut core = self.shared.core();
        let context = core.world.context(None);
        let now = core.world.clock.now();
        core.hub.event(event_type, ha_proto::raw::RawJson::from_value(&data), &context, now);
    }

    /// Resolves once at most `n` authenticated connections are open.
    pub async fn wait_for_connections_at_most(&self, n: usize) {
        let mut rx = self.shared.connections.subscribe();
        let _ = rx.wait_for(|count| *count <= n).await;
    }

    /// Stops serving, closes every connection and waits for the server to finish.
    pub async fn shutdown(mut self) {
        self.stop();
        if let Some(server) = self.server.take() {
            let _ = server.await;
        }
    }

    fn stop(&mut self) {
        self.shared.shutdown.cancel();
        for outbox in self.shared.core().conns.values() {
            outbox.cancel.cancel();
        }
        for task in self.tasks.drain(..) {
            task.abort();
        }
    }
}

impl Drop for Sim {
    fn drop(&mut self) {
        self.stop();
    }
}

#[cfg(test)]
mod tests {
    #[tokio::test]
    async fn accepted_connections_have_nagles_algorithm_off() {
        // arrange
        let listener = tokio::net::TcpListener::bind(("127.0.0.1", 0)).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::without_nagle(listener);
        let _client = tokio::net::TcpStream::connect(addr).await.unwrap();

        // act
        let (accepted, _) = axum::serve::Listener::accept(&mut listener).await;

        // assert
        assert!(accepted.nodelay().unwrap());
    }

    use super::*;

    #[test]
    fn bump_patch_increments_the_last_number() {
        assert_eq!(bump_patch("2024.3.3"), "2024.3.4");
        assert_eq!(bump_patch("2024.3.dev"), "2024.3.dev.1");
    }

    #[test]
    fn config_debug_hides_the_token() {
        let config = SimConfig { token: "very-secret".to_owned(), ..SimConfig::default() };

        let shown = format!("{config:?}");

        assert!(!shown.contains("very-secret"));
    }
}
