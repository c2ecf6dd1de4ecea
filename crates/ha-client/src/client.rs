//! [`Client`]: the handle users hold. Cheap to clone; every clone shares one connection
//! task, one WebSocket and one REST connection pool.

use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use futures_util::StreamExt;
use ha_proto::raw::RawJson;
use ha_proto::rest::{CallServiceResult, FireEventResult, HaConfig, Services};
use ha_proto::{Command, Event, State, StateChangedEventBuf, Target};
use ha_state::EntityStore;
use serde::de::DeserializeOwned;
use serde_json::Value;
use serde_json::value::RawValue;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, timeout};

use crate::config::ClientConfig;
use crate::conn::{self, Actor, ConnectionState, MirrorSink, Reply, Request, Shared, Sink};
use crate::error::ClientError;
use crate::freshness::FreshnessTx;
use crate::rest::RestClient;
use crate::stats::{ClientStats, CommandKind, Stats};
use crate::stream::{StreamItem, ring};
use crate::subscription::{Mirror, Subscription, SubscriptionGuard};

/// A service call: domain, service, data, target and whether to ask for the response.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceCall {
    /// e.g. `light`.
    pub domain: String,
    /// e.g. `turn_on`.
    pub service: String,
    /// Service data (`service_data`).
    pub data: Option<Value>,
    /// Entities, devices or areas to act on.
    pub target: Option<Target>,
    /// Ask for the service's response (only services that give one accept it).
    pub return_response: bool,
}

impl ServiceCall {
    /// A call without data or target.
    pub fn new(domain: impl Into<String>, service: impl Into<String>) -> Self {
        ServiceCall { domain: domain.into(), service: service.into(), data: None, target: None, return_response: false }
    }

    /// With service data.
    pub fn data(mut self, data: Value) -> Self {
        self.data = Some(data);
        self
    }

    /// With a target.
    pub fn target(mut self, target: Target) -> Self {
        self.target = Some(target);
        self
    }

    /// Asking for the service response.
    pub fn return_response(mut self) -> Self {
        self.return_response = true;
        self
    }

    fn to_command(&self) -> Command {
        Command::CallService {
            domain: self.domain.clone(),
            service: self.service.clone(),
            service_data: self.data.clone(),
            target: self.target.clone(),
            return_response: self.return_response.then_some(true),
        }
    }
}

struct Inner {
    cfg: ClientConfig,
    tx: mpsc::UnboundedSender<Request>,
    shared: Arc<Shared>,
    next_key: AtomicU64,
    rest: RestClient,
}

/// An async Home Assistant client over one multiplexed WebSocket (plus REST).
///
/// Any number of tasks may call it at once; commands are sent on the one connection and
/// answers routed back by id. The connection is re-established on its own after it ends
/// (with backoff), except after `auth_invalid`. Dropping the last clone closes it.
#[derive(Clone)]
pub struct Client {
    inner: Arc<Inner>,
}

impl fmt::Debug for Client {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Client").field("config", &self.inner.cfg).field("state", &self.state()).finish()
    }
}

impl Client {
    /// Connects and authenticates. Fails with [`ClientError::AuthInvalid`] for a rejected
    /// token (never retried) and [`ClientError::Connect`] when the server cannot be reached
    /// (later disconnects are retried on their own).
    pub async fn connect(cfg: ClientConfig) -> Result<Client, ClientError> {
        let rest = RestClient::new(&cfg)?;
        let (ws, ha_version) = conn::open(&cfg).await?;
        let (state, _) =
            watch::channel(ConnectionState::Connected { generation: 1, ha_version: ha_version.clone(), after: None });
        let shared = Arc::new(Shared { stats: Arc::new(Stats::default()), state, fatal: OnceLock::new() });
        let (tx, rx) = mpsc::unbounded_channel();
        tokio::spawn(Actor::new(cfg.clone(), Arc::clone(&shared), rx).run(ws, ha_version));
        Ok(Client { inner: Arc::new(Inner { cfg, tx, shared, next_key: AtomicU64::new(1), rest }) })
    }

    /// The settings in use.
    pub fn config(&self) -> &ClientConfig {
        &self.inner.cfg
    }

    /// A snapshot of the counters.
    pub fn stats(&self) -> ClientStats {
        self.inner.shared.stats.snapshot()
    }

    /// The connection state now.
    pub fn state(&self) -> ConnectionState {
        self.inner.shared.state.borrow().clone()
    }

    /// A receiver that sees every change of the connection state.
    pub fn watch_state(&self) -> watch::Receiver<ConnectionState> {
        self.inner.shared.state.subscribe()
    }

    /// Waits until connection number `generation` (1 = first, 2 = after the first
    /// reconnect, ...) is up, and returns the state then. Fails if the client stops first.
    pub async fn wait_for_generation(&self, generation: u64) -> Result<ConnectionState, ClientError> {
        let mut rx = self.watch_state();
        let state = rx
            .wait_for(|s| match s {
                ConnectionState::Connected { generation: g, .. } => *g >= generation,
                ConnectionState::Failed(_) => true,
                ConnectionState::Reconnecting { .. } => false,
            })
            .await
            .map_err(|_| self.stopped())?
            .clone();
        match state {
            ConnectionState::Failed(err) => Err(err),
            other => Ok(other),
        }
    }

    /// The REST client (shares the configuration; its own pooled HTTP connections).
    pub fn rest(&self) -> &RestClient {
        &self.inner.rest
    }

    /// Closes the connection; every later call fails with [`ClientError::Shutdown`].
    pub async fn close(&self) {
        let _ = self.inner.tx.send(Request::Shutdown);
        let mut rx = self.watch_state();
        let _ = rx.wait_for(|s| matches!(s, ConnectionState::Failed(_))).await;
    }

    fn stopped(&self) -> ClientError {
        self.inner.shared.fatal.get().cloned().unwrap_or(ClientError::Shutdown)
    }

    async fn request(&self, kind: CommandKind, command: &Command) -> Result<Reply, ClientError> {
        let stats = &self.inner.shared.stats;
        let after = self.inner.cfg.command_timeout;
        let (reply, rx) = oneshot::channel();
        let started = Instant::now();
        stats.command_sent(kind);
        let outcome = if self.inner.tx.send(Request::Command { kind, body: conn::encode(command), reply }).is_err() {
            Err(self.stopped())
        } else {
            match timeout(after, rx).await {
                Err(_) => Err(ClientError::Timeout { command: kind.as_str(), after }),
                Ok(Err(_)) => Err(self.stopped()),
                Ok(Ok(result)) => result,
            }
        };
        stats.command_done(kind, outcome.is_ok(), started.elapsed());
        outcome
    }

    async fn call<T: DeserializeOwned>(&self, kind: CommandKind, command: &Command) -> Result<T, ClientError> {
        let raw = self.send_raw_kind(kind, command).await?;
        serde_json::from_str(raw.get()).map_err(|e| ClientError::decode(kind.as_str(), e))
    }

    async fn send_raw_kind(&self, kind: CommandKind, command: &Command) -> Result<RawJson<'static>, ClientError> {
        match self.request(kind, command).await? {
            Reply::Result(raw) => Ok(raw),
            Reply::Pong => Err(ClientError::decode(kind.as_str(), "got pong instead of a result")),
        }
    }

    /// Sends any command and returns its raw result.
    pub async fn send_raw(&self, command: &Command) -> Result<Box<RawValue>, ClientError> {
        self.send_raw_kind(CommandKind::Other, command).await.map(RawJson::into_boxed)
    }

    /// Every current state (`get_states`).
    pub async fn get_states(&self) -> Result<Vec<State>, ClientError> {
        let raw = self.send_raw_kind(CommandKind::GetStates, &Command::GetStates).await?;
        ha_proto::parse_states(raw.get()).map_err(|e| ClientError::decode("get_states", e))
    }

    /// The core configuration (`get_config`).
    pub async fn get_config(&self) -> Result<HaConfig, ClientError> {
        self.call(CommandKind::GetConfig, &Command::GetConfig).await
    }

    /// Every service (`get_services`).
    pub async fn get_services(&self) -> Result<Services, ClientError> {
        self.call(CommandKind::GetServices, &Command::GetServices).await
    }

    /// Calls a service (`call_service`).
    pub async fn call_service(&self, call: &ServiceCall) -> Result<CallServiceResult, ClientError> {
        self.call(CommandKind::CallService, &call.to_command()).await
    }

    /// Fires an event (`fire_event`, admin only).
    pub async fn fire_event(&self, event_type: &str, data: Option<Value>) -> Result<FireEventResult, ClientError> {
        let command = Command::FireEvent { event_type: event_type.to_owned(), event_data: data };
        self.call(CommandKind::FireEvent, &command).await
    }

    /// Sends `ping` and returns the round-trip time.
    pub async fn ping(&self) -> Result<Duration, ClientError> {
        let started = Instant::now();
        match self.request(CommandKind::Ping, &Command::Ping).await? {
            Reply::Pong => Ok(started.elapsed()),
            Reply::Result(_) => Err(ClientError::decode("ping", "got a result instead of pong")),
        }
    }

    /// Renders a template once (`render_template`) and returns the result (a string, or a
    /// number, list, ... when the template renders to one).
    pub async fn render_template(&self, template: &str) -> Result<Value, ClientError> {
        let command = Command::RenderTemplate {
            template: template.to_owned(),
            variables: None,
            timeout: None,
            strict: None,
            report_errors: None,
        };
        let mut sub = self.subscribe_kind(CommandKind::RenderTemplate, &command).await?;
        let after = self.inner.cfg.command_timeout;
        loop {
            let item = timeout(after, sub.next())
                .await
                .map_err(|_| ClientError::Timeout { command: "render_template", after })?
                .ok_or_else(|| self.stopped())?;
            if let StreamItem::Item(raw) = item {
                #[derive(serde::Deserialize)]
                struct Rendered {
                    result: Value,
                }
                let rendered: Rendered =
                    serde_json::from_str(raw.get()).map_err(|e| ClientError::decode("render_template", e))?;
                return Ok(rendered.result);
            }
        }
    }

    /// Subscribes to events of one type, or of all types with `None` (`subscribe_events`).
    pub async fn subscribe_events(
        &self,
        event_type: Option<&str>,
    ) -> Result<Subscription<Event<'static>>, ClientError> {
        let command = Command::SubscribeEvents { event_type: event_type.map(str::to_owned) };
        let (tx, rx) = ring(self.inner.cfg.stream_capacity, Arc::clone(&self.inner.shared.stats));
        let guard = self.subscribe_sink(CommandKind::SubscribeEvents, &command, Sink::Events(tx)).await?;
        Ok(Subscription { rx, _guard: guard })
    }

    /// Subscribes to `state_changed` events, decoded with their data (`subscribe_events` for
    /// `state_changed`): what [`subscribe_events`](Self::subscribe_events) then
    /// [`Event::state_change`] give, for less work, since each event's data is decoded once, in
    /// the pass that reads the frame, and moved onto the event's own copy of its text (see
    /// [`StateChangedEventBuf`]). Feed [`StateChangedEventBuf::get`]'s `change` to
    /// `ha_state::EntityStore::apply_state_change_into`.
    pub async fn subscribe_state_changes(&self) -> Result<Subscription<StateChangedEventBuf>, ClientError> {
        let command = Command::SubscribeEvents { event_type: Some(ha_proto::STATE_CHANGED.to_owned()) };
        let (tx, rx) = ring(self.inner.cfg.stream_capacity, Arc::clone(&self.inner.shared.stats));
        let guard = self.subscribe_sink(CommandKind::SubscribeEvents, &command, Sink::StateChanges(tx)).await?;
        Ok(Subscription { rx, _guard: guard })
    }

    /// Any other subscription (`subscribe_trigger`, `render_template`, ...): raw event objects.
    pub async fn subscribe_raw(&self, command: &Command) -> Result<Subscription<Box<RawValue>>, ClientError> {
        self.subscribe_kind(CommandKind::Other, command).await
    }

    async fn subscribe_kind(
        &self,
        kind: CommandKind,
        command: &Command,
    ) -> Result<Subscription<Box<RawValue>>, ClientError> {
        let (tx, rx) = ring(self.inner.cfg.stream_capacity, Arc::clone(&self.inner.shared.stats));
        let guard = self.subscribe_sink(kind, command, Sink::Raw(tx)).await?;
        Ok(Subscription { rx, _guard: guard })
    }

    /// Mirrors the states of every entity, or of the listed ones (`subscribe_entities`).
    /// Returns once the first snapshot is in the mirror.
    pub async fn subscribe_entities(&self, entity_ids: Option<Vec<String>>) -> Result<Mirror, ClientError> {
        let started = Instant::now();
        let command = Command::SubscribeEntities { entity_ids };
        let store = Arc::new(RwLock::new(EntityStore::new()));
        let (changes_tx, changes_rx) = ring(self.inner.cfg.stream_capacity, Arc::clone(&self.inner.shared.stats));
        let (snapshots_tx, snapshots) = watch::channel(0);
        let (freshness_tx, freshness) = FreshnessTx::new();
        let sink = Sink::Entities(MirrorSink {
            store: Arc::clone(&store),
            changes: changes_tx,
            snapshots: snapshots_tx,
            needs_snapshot: true,
            pending: None,
            report_hint: 0,
            freshness: freshness_tx,
        });
        let guard = self.subscribe_sink(CommandKind::SubscribeEntities, &command, sink).await?;
        let changes = Subscription { rx: changes_rx, _guard: guard };
        let mut mirror = Mirror { store, changes, snapshots, freshness };
        let after = self.inner.cfg.command_timeout;
        let left = after.saturating_sub(started.elapsed());
        match timeout(left, mirror.wait_for_snapshot(1)).await {
            Ok(Ok(_)) => Ok(mirror),
            Ok(Err(_)) => Err(self.stopped()),
            Err(_) => Err(ClientError::Timeout { command: "subscribe_entities", after }),
        }
    }

    async fn subscribe_sink(
        &self,
        kind: CommandKind,
        command: &Command,
        sink: Sink,
    ) -> Result<SubscriptionGuard, ClientError> {
        let stats = &self.inner.shared.stats;
        let after = self.inner.cfg.command_timeout;
        let key = self.inner.next_key.fetch_add(1, Ordering::Relaxed);
        // Made first, so that a failure or timeout below unsubscribes whatever got registered.
        let guard = SubscriptionGuard { tx: self.inner.tx.downgrade(), key };
        let (reply, rx) = oneshot::channel();
        let started = Instant::now();
        stats.command_sent(kind);
        let request = Request::Subscribe { key, kind, body: conn::encode(command), sink, reply };
        let outcome = if self.inner.tx.send(request).is_err() {
            Err(self.stopped())
        } else {
            match timeout(after, rx).await {
                Err(_) => Err(ClientError::Timeout { command: kind.as_str(), after }),
                Ok(Err(_)) => Err(self.stopped()),
                Ok(Ok(result)) => result,
            }
        };
        stats.command_done(kind, outcome.is_ok(), started.elapsed());
        outcome.map(|()| guard)
    }
}
