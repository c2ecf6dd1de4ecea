//! The connection task: owns the one WebSocket, assigns ids, routes results and events,
//! applies mirrors, keeps the heartbeat, and reconnects (re-issuing every subscription)
//! when the connection ends.
//!
//! Invariants:
//! - Only this task assigns ids and writes commands, so ids on a connection strictly increase.
//! - Writes go through an unbounded queue to a separate writer task, and stream items go
//!   into rings that drop the oldest item; so reading never waits on the server reading,
//!   nor on a slow consumer.
//! - When a connection ends, every command still waiting for its answer fails with
//!   `ConnectionLost`; nothing waits forever.

use std::collections::{HashMap, VecDeque};
use std::sync::{Arc, OnceLock, RwLock};
use std::time::Duration;

use futures_util::stream::SplitSink;
use futures_util::{SinkExt, StreamExt};
use ha_proto::raw::RawJson;
use ha_proto::{
    AuthMessage, Command, CompressedEvent, ErrorCode, ErrorInfo, Event, Features, Frame, FrameCopies, FrameItem,
    ProtoError, ServerMessage, StateChangedEventBuf, Want,
};
use ha_state::{ChangeReport, EntityStore, Snapshot, StateError};
use serde_json::value::RawValue;
use tokio::net::TcpStream;
use tokio::sync::{mpsc, oneshot, watch};
use tokio::time::{Instant, sleep, sleep_until, timeout};
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::error::{CapacityError, Error as WsError};
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::{Connector, MaybeTlsStream, WebSocketStream, connect_async_tls_with_config};

use crate::config::ClientConfig;
use crate::error::{ClientError, DisconnectReason};
use crate::freshness::FreshnessTx;
use crate::read_gate::ReadGate;
use crate::stats::{CommandKind, Stats};
use crate::stream::{RingSender, StreamItem};

pub(crate) type Ws = WebSocketStream<MaybeTlsStream<TcpStream>>;

/// How long a connection must have lived for the next reconnect to start again from the
/// smallest backoff delay.
const STABLE_CONNECTION: Duration = Duration::from_secs(10);

/// How much tungstenite reads from the socket at most per call. It zero-fills that much of its
/// buffer before every read, so its default (128 KiB) made the zero-filling half of the client's
/// instructions at 1,000 changes/s (131 k instructions per read; callgrind, 2026-12-04). A frame of
/// Home Assistant's under load is a few kB (250 coalesced changes are about 33 kB), and a larger
/// frame (a snapshot) still arrives whole: the buffer grows to the frame's length, only each read
/// is capped.
const READ_BUFFER: usize = 16 * 1024;

/// Frames at least this large are kept until the next frame has been read. tungstenite reads a
/// frame into its read buffer, grown to fit it, and hands the text out as a view of that buffer.
/// Dropped at once, the view leaves the buffer with no other owner, and the next read takes all of
/// it back: a 16,384-entity snapshot (5 MB) stayed allocated as the read buffer for the life of the
/// connection. While the view lives, the next read cannot, starts a buffer of the usual size, and the
/// big one is freed with the view. The `mirror` example at 10,000 changes/s held 13.8-13.9 MB of RSS
/// after its snapshot this way, against 18.5-18.7 MB (docs/performance.md, twenty-second round).
const HOLD_FRAMES_FROM: usize = 1 << 20;

/// Identifies a subscription across reconnects (its wire id changes; this does not).
pub(crate) type SubKey = u64;

/// The task's maps, all keyed by ids it assigned itself (subscription keys, wire ids), hash
/// with `foldhash`'s fixed-seed hasher, as the mirror's index does: every change of a mirror
/// looks its wire id and its subscription up, and SipHash made those two lookups some 280
/// instructions of the 1,300 or so a change costs the task outside the decode (callgrind of the
/// `mirror` example at 1,000 changes/s). Resistance to flooding buys nothing here: the keys are
/// the task's own counters, and only the server it chose to connect to sends ids to look up.
type IdMap<V> = HashMap<u64, V, foldhash::fast::FixedState>;

/// A successful answer to a command.
#[derive(Debug)]
pub(crate) enum Reply {
    /// `result` with `success: true`, detached from the frame. Kept as `RawJson` (valid JSON by
    /// construction) so that a result the scanner checked is not checked again to become a
    /// `RawValue`; only [`Client::send_raw`](crate::Client::send_raw) asks for one.
    Result(RawJson<'static>),
    /// `pong`.
    Pong,
}

pub(crate) type ReplyTx = oneshot::Sender<Result<Reply, ClientError>>;

/// What the client handles ask of the connection task.
#[derive(Debug)]
pub(crate) enum Request {
    /// Send a command (`body` is the command's JSON without `id`) and route its answer.
    Command { kind: CommandKind, body: String, reply: ReplyTx },
    /// Start a subscription and keep it alive across reconnects until `Unsubscribe`.
    Subscribe {
        key: SubKey,
        kind: CommandKind,
        body: String,
        sink: Sink,
        reply: oneshot::Sender<Result<(), ClientError>>,
    },
    /// End a subscription (sent when its handle is dropped).
    Unsubscribe { key: SubKey },
    /// Close the connection and stop.
    Shutdown,
}

/// Where a subscription's events go.
#[derive(Debug)]
pub(crate) enum Sink {
    /// `subscribe_events`: decoded events.
    Events(RingSender<Event<'static>>),
    /// `subscribe_events` for `state_changed`: events decoded with their data.
    StateChanges(RingSender<StateChangedEventBuf>),
    /// Any other subscription: the raw `event` objects.
    Raw(RingSender<Box<RawValue>>),
    /// `subscribe_entities`: applied to a mirror.
    Entities(MirrorSink),
}

/// The most entities a report's list is sized for ahead (32 KiB of ids): a resync that updated a
/// whole install must not make every later report reserve as much.
const MAX_REPORT_HINT: usize = 4096;

/// A mirror kept current by the connection task.
#[derive(Debug)]
pub(crate) struct MirrorSink {
    pub(crate) store: Arc<RwLock<EntityStore>>,
    pub(crate) changes: RingSender<ChangeReport>,
    /// Counts the snapshots applied (1 after subscribing, +1 per resync).
    pub(crate) snapshots: watch::Sender<u64>,
    /// The next event is a snapshot that must replace the mirror.
    pub(crate) needs_snapshot: bool,
    /// Changes applied from the frame being read, pushed as one report when it is done.
    pub(crate) pending: Option<ChangeReport>,
    /// Entities the last pushed report listed as updated (at most [`MAX_REPORT_HINT`]): the next
    /// report's list is sized for as many, so a steady stream fills it without growing it step by
    /// step.
    pub(crate) report_hint: usize,
    /// Whether the mirror is current, resyncing or ended.
    pub(crate) freshness: FreshnessTx,
}

/// The connection as the client's handles see it.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum ConnectionState {
    /// Authenticated and usable.
    Connected {
        /// 1 for the first connection, +1 per reconnect.
        generation: u64,
        /// Home Assistant's version.
        ha_version: String,
        /// Why the previous connection ended (`None` for the first).
        after: Option<DisconnectReason>,
    },
    /// The connection ended; a reconnect is under way.
    Reconnecting {
        /// Why it ended.
        reason: DisconnectReason,
    },
    /// The client stopped for good (token rejected, or shut down).
    Failed(ClientError),
}

/// State shared between the client's handles and the connection task.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) stats: Arc<Stats>,
    pub(crate) state: watch::Sender<ConnectionState>,
    /// Set once when the task stops for good; later calls fail with it.
    pub(crate) fatal: OnceLock<ClientError>,
}

struct Subscription {
    kind: CommandKind,
    body: String,
    sink: Sink,
    wire_id: Option<u64>,
    /// When a refused re-subscribe is tried again (`None`: no retry waiting).
    retry_at: Option<Instant>,
    /// Re-subscribes refused in a row (the backoff attempt number of the next retry).
    refusals: u32,
}

enum Pending {
    Command { kind: CommandKind, reply: ReplyTx },
    Subscribe { key: SubKey, reply: Option<oneshot::Sender<Result<(), ClientError>>> },
    Heartbeat,
    Ignore,
}

/// The write half of one connection: ids start at 1 on each connection.
struct Link {
    out: mpsc::UnboundedSender<Message>,
    next_id: u64,
    stats: Arc<Stats>,
}

impl Link {
    fn send(&mut self, body: &str) -> u64 {
        let id = self.next_id;
        self.next_id += 1;
        // `body` is a JSON object starting with `{"type":`: put the id in front.
        let text = format!("{{\"id\":{id},{}", &body[1..]);
        Stats::add(&self.stats.frames_out, 1);
        Stats::add(&self.stats.bytes_out, text.len() as u64);
        // A closed queue means the writer died; the session notices that on its own.
        let _ = self.out.send(Message::text(text));
        id
    }
}

pub(crate) fn encode(command: &Command) -> String {
    serde_json::to_string(command).expect("commands serialise")
}

/// What the connection task does with its read gate after a turn of its loop.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum GateStep {
    /// Leave the gate as it is.
    Keep,
    /// Hold reads back and start a window.
    Hold,
    /// Keep holding them, the window starting again from the frame just read.
    Extend,
    /// Read frames as they arrive again.
    Release,
}

/// How many frames in a row must have been read within one window for the stream to count as
/// busy: a window then gathers about as many. A window of two frames cost more than it saved
/// (ha-sim at 1,000 changes/s, a frame every 5 ms, a 10 ms window: 9.3-10.0 µs per change against
/// 8.3-8.8 µs without, alternating): a window costs a timer wake-up and six system calls more than
/// reading its frames as they come, and on a VM a wake-up costs more the longer the process slept
/// (docs/performance.md, sixteenth round: a bare `nanosleep` paid 21 µs per wake-up after 5 ms
/// asleep, 25 µs after 10 ms), so the window's one wake-up saves little over the two it replaces.
const BUSY_FRAMES: usize = 4;

/// When the last frames were read, to tell whether a window would gather enough of them to pay
/// for itself.
#[derive(Debug, Default)]
struct RecentReads {
    /// The previous `BUSY_FRAMES - 1` reads, a ring; `at[next]` is the oldest.
    at: [Option<Instant>; BUSY_FRAMES - 1],
    next: usize,
}

impl RecentReads {
    /// Records a frame read `now`, and says whether it and the `BUSY_FRAMES - 1` reads before it
    /// all fell within one `window`. Frames read together after a window (a held stream) count as
    /// close together: a window that gathered enough of them keeps the stream held, one that
    /// gathered fewer lets it go.
    fn busy(&mut self, now: Instant, window: Duration) -> bool {
        let busy = self.at[self.next].is_some_and(|oldest| now.duration_since(oldest) < window);
        self.at[self.next] = Some(now);
        self.next = (self.next + 1) % self.at.len();
        busy
    }
}

/// The rule of read batching: reads are held back only while nothing waits for a reply and the
/// stream is busy ([`RecentReads::busy`]: the last `BUSY_FRAMES` frames came within a window); a reply
/// awaited releases them at once, so a command's answer is never held back. The window's end
/// (its timer) releases them too. A frame read while they are held (the batch size was reached,
/// or the frames already buffered) starts the window again, once per wake-up (`read_gate.rs`,
/// `restarts`): the data still to come then waits at most a window after the last read, and the
/// batch size, not the timer, paces a fast stream.
fn gate_step(held: bool, awaited: bool, frame_read: bool, busy: bool) -> GateStep {
    match (held, awaited) {
        (true, true) => GateStep::Release,
        (true, false) if frame_read => GateStep::Extend,
        (false, false) if busy => GateStep::Hold,
        _ => GateStep::Keep,
    }
}

/// The end of the read-batching window (never without a gate).
async fn window_end(gate: Option<&ReadGate>) -> std::io::Result<()> {
    match gate {
        Some(gate) => gate.window_end().await,
        None => std::future::pending().await,
    }
}

/// Ends read batching for the connection, not the connection, when its socket option or timer
/// fails: reads are released (as far as the socket still allows) and every frame is read as it
/// arrives from then on.
fn turn_off(gate: &mut Option<ReadGate>, error: &std::io::Error) {
    tracing::warn!(%error, "read batching off for this connection: SO_RCVLOWAT or its timer failed");
    if let Some(mut g) = gate.take() {
        let _ = g.release();
    }
}

/// Opens a connection and authenticates. Never retried on `auth_invalid`.
pub(crate) async fn open(cfg: &ClientConfig) -> Result<(Ws, String), ClientError> {
    let url = cfg.endpoints.websocket.as_str();
    let fail = |reason: String| ClientError::Connect { url: url.to_owned(), reason };
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(READ_BUFFER)
        .max_message_size(Some(cfg.max_message_size))
        .max_frame_size(Some(cfg.max_message_size));
    let handshake = async {
        let tls = Connector::Rustls(cfg.tls.clone().unwrap_or_else(crate::tls::default_config));
        let (mut ws, _) = connect_async_tls_with_config(url, Some(ws_config), true, Some(tls))
            .await
            .map_err(|e| fail(e.to_string()))?;
        match next_auth_message(&mut ws).await.map_err(fail)? {
            ServerMessage::AuthRequired { .. } => {}
            other => return Err(fail(format!("expected auth_required, got {other:?}"))),
        }
        let auth = serde_json::to_string(&AuthMessage { access_token: cfg.token.clone() }).expect("auth serialises");
        ws.send(Message::text(auth)).await.map_err(|e| fail(e.to_string()))?;
        match next_auth_message(&mut ws).await.map_err(fail)? {
            ServerMessage::AuthOk { ha_version } => Ok((ws, ha_version.into_owned())),
            ServerMessage::AuthInvalid { message } => Err(ClientError::AuthInvalid { message: message.into_owned() }),
            other => Err(fail(format!("expected auth_ok or auth_invalid, got {other:?}"))),
        }
    };
    timeout(cfg.command_timeout, handshake)
        .await
        .map_err(|_| fail(format!("no auth_ok within {:?}", cfg.command_timeout)))?
}

async fn next_auth_message(ws: &mut Ws) -> Result<ServerMessage<'static>, String> {
    loop {
        match ws.next().await {
            Some(Ok(Message::Text(text))) => {
                let frame = Frame::parse(text.as_str()).map_err(|e| e.to_string())?;
                return frame
                    .messages
                    .into_iter()
                    .next()
                    .map(ServerMessage::into_owned)
                    .ok_or_else(|| "empty frame".into());
            }
            Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
            Some(Ok(other)) => return Err(format!("unexpected {} frame during auth", frame_kind(&other))),
            Some(Err(e)) => return Err(e.to_string()),
            None => return Err("connection closed during auth".into()),
        }
    }
}

/// Whether a frame may hold a `state_changed` bus event that the scanner decodes: one such event
/// in Home Assistant's envelope (the id last), or a coalesced array in which one begins. (An array
/// of diffs or a result is searched, not copied: the search reads the text once, the copy would
/// write it too.)
fn may_hold_state_changes(text: &str) -> bool {
    let body = text.trim_start_matches([' ', '\t', '\n', '\r']);
    body.starts_with(r#"{"type":"event","event":{"event_type":"state_changed""#)
        || (body.starts_with('[') && body.contains(r#"{"event_type":"state_changed""#))
}

fn frame_kind(msg: &Message) -> &'static str {
    match msg {
        Message::Text(_) => "text",
        Message::Binary(_) => "binary",
        Message::Ping(_) => "ping",
        Message::Pong(_) => "pong",
        Message::Close(_) => "close",
        Message::Frame(_) => "raw",
    }
}

fn disconnect_reason(err: WsError, limit: usize) -> DisconnectReason {
    match err {
        WsError::Capacity(CapacityError::MessageTooLong { size, .. }) => {
            DisconnectReason::MessageTooLarge { size, limit }
        }
        WsError::ConnectionClosed | WsError::AlreadyClosed => DisconnectReason::ClosedByServer,
        WsError::Utf8(_) => DisconnectReason::Malformed("text frame is not UTF-8".into()),
        WsError::Protocol(e) => DisconnectReason::Malformed(e.to_string()),
        other => DisconnectReason::Io(other.to_string()),
    }
}

async fn write_loop(
    mut sink: SplitSink<Ws, Message>,
    mut queue: mpsc::UnboundedReceiver<Message>,
) -> Result<(), WsError> {
    while let Some(msg) = queue.recv().await {
        sink.feed(msg).await?;
        // Write everything queued meanwhile, then flush once.
        while let Ok(more) = queue.try_recv() {
            sink.feed(more).await?;
        }
        sink.flush().await?;
    }
    sink.close().await
}

/// The task behind a [`crate::Client`].
pub(crate) struct Actor {
    cfg: ClientConfig,
    shared: Arc<Shared>,
    requests: mpsc::UnboundedReceiver<Request>,
    backlog: VecDeque<Request>,
    subs: IdMap<Subscription>,
    wire: IdMap<SubKey>,
    pending: IdMap<Pending>,
    link: Option<Link>,
    heartbeat_id: Option<u64>,
    rearm_heartbeat: Option<Instant>,
    generation: u64,
    /// Mirrors holding a pending report for the frame being read.
    dirty: Vec<SubKey>,
    /// The wire ids of the mirrors, gathered at the start of each frame (kept for its capacity).
    mirror_ids: Vec<u64>,
    /// The same for the subscriptions of state changes ([`Sink::StateChanges`]), with their keys.
    change_ids: Vec<(u64, SubKey)>,
    /// The state changes of the frame being read, handed over once it is read (kept for its
    /// buffer).
    detached: Vec<(u64, StateChangedEventBuf)>,
    /// The copies of frames those state changes borrow from, reused once their subscribers have
    /// dropped them.
    copies: FrameCopies,
    /// Set when the earliest re-subscribe retry changed: the retry timer is reset to it.
    rearm_retry: Option<Instant>,
}

impl Actor {
    pub(crate) fn new(cfg: ClientConfig, shared: Arc<Shared>, requests: mpsc::UnboundedReceiver<Request>) -> Self {
        Actor {
            cfg,
            shared,
            requests,
            backlog: VecDeque::new(),
            subs: IdMap::default(),
            wire: IdMap::default(),
            pending: IdMap::default(),
            link: None,
            heartbeat_id: None,
            rearm_heartbeat: None,
            generation: 0,
            dirty: Vec::new(),
            mirror_ids: Vec::new(),
            change_ids: Vec::new(),
            detached: Vec::new(),
            copies: FrameCopies::new(),
            rearm_retry: None,
        }
    }

    /// Runs the connection `ws` (already authenticated), then reconnects until shut down or
    /// the token is rejected.
    pub(crate) async fn run(mut self, ws: Ws, ha_version: String) {
        let mut next = Some((ws, ha_version));
        let mut last_reason = None;
        let mut attempt = 0u32;
        loop {
            if let Some((ws, ha_version)) = next.take() {
                self.generation += 1;
                let stats = Arc::clone(&self.shared.stats);
                Stats::add(&stats.connects, 1);
                if self.generation > 1 {
                    Stats::add(&stats.reconnects, 1);
                }
                stats.connected.store(1, std::sync::atomic::Ordering::Relaxed);
                self.shared.state.send_replace(ConnectionState::Connected {
                    generation: self.generation,
                    ha_version,
                    after: last_reason.take(),
                });
                let started = Instant::now();
                let reason = self.session(ws).await;
                stats.connected.store(0, std::sync::atomic::Ordering::Relaxed);
                self.end_session(&reason);
                if reason == DisconnectReason::Shutdown {
                    self.finish(ClientError::Shutdown);
                    return;
                }
                tracing::info!(%reason, "connection to home assistant lost; reconnecting");
                self.shared.state.send_replace(ConnectionState::Reconnecting { reason: reason.clone() });
                last_reason = Some(reason);
                // A connection that dies right after it was made is no reason to hurry back:
                // only a connection that lived a while resets the backoff.
                if started.elapsed() >= STABLE_CONNECTION {
                    attempt = 0;
                }
            }
            let delay = self.cfg.backoff.delay(attempt, &mut rand::rng());
            attempt = attempt.saturating_add(1);
            if !self.idle_until(Instant::now() + delay).await {
                self.finish(ClientError::Shutdown);
                return;
            }
            match open(&self.cfg).await {
                Ok(pair) => next = Some(pair),
                Err(err @ ClientError::AuthInvalid { .. }) => {
                    tracing::error!(%err, "token rejected on reconnect; not retrying (home assistant bans repeated failures)");
                    self.finish(err);
                    return;
                }
                Err(err) => tracing::debug!(%err, attempt, "reconnect attempt failed"),
            }
        }
    }

    /// Waits until `deadline` while disconnected, queueing commands for the next connection.
    /// Returns false when the client shut down.
    async fn idle_until(&mut self, deadline: Instant) -> bool {
        loop {
            tokio::select! {
                () = sleep_until(deadline) => return true,
                req = self.requests.recv() => match req {
                    None | Some(Request::Shutdown) => return false,
                    Some(Request::Unsubscribe { key }) => {
                        self.subs.remove(&key);
                        self.backlog.retain(|r| !matches!(r, Request::Subscribe { key: k, .. } if *k == key));
                    }
                    Some(other) => {
                        // Callers that gave up (timed out) need no answer: do not hoard them.
                        if self.backlog.len() >= 1024 {
                            self.backlog.retain(|r| match r {
                                Request::Command { reply, .. } => !reply.is_closed(),
                                Request::Subscribe { reply, .. } => !reply.is_closed(),
                                Request::Unsubscribe { .. } | Request::Shutdown => true,
                            });
                        }
                        self.backlog.push_back(other);
                    }
                },
            }
        }
    }

    /// Stops for good: every waiting caller and every later call gets `err`; streams end.
    fn finish(&mut self, err: ClientError) {
        let _ = self.shared.fatal.set(err.clone());
        self.shared.state.send_replace(ConnectionState::Failed(err.clone()));
        for sub in self.subs.values() {
            if let Sink::Entities(mirror) = &sub.sink {
                mirror.freshness.ended(err.clone());
            }
        }
        self.subs.clear();
        self.requests.close();
        let mut rest: Vec<Request> = self.backlog.drain(..).collect();
        while let Ok(req) = self.requests.try_recv() {
            rest.push(req);
        }
        for req in rest {
            match req {
                Request::Command { reply, .. } => {
                    let _ = reply.send(Err(err.clone()));
                }
                Request::Subscribe { reply, .. } => {
                    let _ = reply.send(Err(err.clone()));
                }
                Request::Unsubscribe { .. } | Request::Shutdown => {}
            }
        }
    }

    fn end_session(&mut self, reason: &DisconnectReason) {
        self.link = None;
        self.heartbeat_id = None;
        self.rearm_heartbeat = None;
        self.wire.clear();
        let lost = || ClientError::ConnectionLost { reason: reason.clone() };
        for (_, pending) in self.pending.drain() {
            match pending {
                Pending::Command { reply, .. } => {
                    let _ = reply.send(Err(lost()));
                }
                Pending::Subscribe { key, reply: Some(reply) } => {
                    // Never confirmed: the caller gets an error and no subscription.
                    self.subs.remove(&key);
                    let _ = reply.send(Err(lost()));
                }
                Pending::Subscribe { reply: None, .. } | Pending::Heartbeat | Pending::Ignore => {}
            }
        }
        for sub in self.subs.values_mut() {
            sub.wire_id = None;
            // The next connection re-issues every subscription at once.
            sub.retry_at = None;
            if let Sink::Entities(mirror) = &sub.sink {
                mirror.freshness.resyncing(Some(lost()));
            }
        }
        self.rearm_retry = None;
    }

    async fn session(&mut self, ws: Ws) -> DisconnectReason {
        let mut gate = self.cfg.read_batching.and_then(|batching| {
            ReadGate::new(&ws, batching)
                .inspect_err(|error| {
                    tracing::warn!(%error, "read batching off for this connection: cannot set up its socket or timer");
                })
                .ok()
        });
        let (sink, mut stream) = ws.split();
        let (out, queue) = mpsc::unbounded_channel();
        let mut writer = tokio::spawn(write_loop(sink, queue));
        let mut link = Link { out, next_id: 1, stats: Arc::clone(&self.shared.stats) };
        let features = Command::SupportedFeatures { features: Features { coalesce_messages: Some(1) } };
        let id = link.send(&encode(&features));
        self.pending.insert(id, Pending::Ignore);
        self.link = Some(link);
        self.resubscribe_all();
        for req in std::mem::take(&mut self.backlog) {
            self.on_request(req);
        }

        let heartbeat = self.cfg.heartbeat;
        let first_ping = heartbeat.map_or(Duration::from_secs(86_400 * 365), |h| h.interval);
        let mut heartbeat_timer = std::pin::pin!(sleep(first_ping));
        // Armed only while a refused re-subscribe waits for its retry.
        let mut retry_timer = std::pin::pin!(sleep(Duration::from_secs(86_400 * 365)));
        let mut retry_armed = false;
        // When the last frames were read (only with a gate): a stream is held back only when a
        // window would gather several frames, so a quieter one pays no window for nothing.
        let mut recent = RecentReads::default();
        let limit = self.cfg.max_message_size;
        // The last frame of at least `HOLD_FRAMES_FROM` bytes, dropped when the next frame is read.
        let mut _held: Option<tokio_tungstenite::tungstenite::Utf8Bytes> = None;
        let reason = loop {
            let mut frame_read = false;
            tokio::select! {
                frame = stream.next() => {
                    frame_read = true;
                    let outcome = match frame {
                        None => Err(DisconnectReason::ClosedByServer),
                        Some(Err(e)) => Err(disconnect_reason(e, limit)),
                        Some(Ok(Message::Text(text))) => {
                            let outcome = self.on_text(text.as_str());
                            _held = (text.len() >= HOLD_FRAMES_FROM).then_some(text);
                            outcome
                        }
                        Some(Ok(Message::Binary(_))) => {
                            Stats::add(&self.shared.stats.malformed, 1);
                            Err(DisconnectReason::Malformed("unexpected binary frame".into()))
                        }
                        Some(Ok(Message::Close(_))) => Err(DisconnectReason::ClosedByServer),
                        // Protocol pings are answered by tungstenite itself.
                        Some(Ok(_)) => Ok(()),
                    };
                    if let Err(reason) = outcome {
                        break reason;
                    }
                }
                req = self.requests.recv() => match req {
                    None | Some(Request::Shutdown) => break DisconnectReason::Shutdown,
                    Some(req) => self.on_request(req),
                },
                () = &mut heartbeat_timer, if heartbeat.is_some() => {
                    let h = heartbeat.expect("guarded");
                    if self.heartbeat_id.is_some() {
                        break DisconnectReason::HeartbeatTimeout(h.timeout);
                    }
                    self.heartbeat_id = Some(self.send_command(&encode(&Command::Ping), Pending::Heartbeat));
                    heartbeat_timer.as_mut().reset(Instant::now() + h.timeout);
                }
                () = &mut retry_timer, if retry_armed => {
                    retry_armed = false;
                    self.retry_due_subscriptions();
                }
                ended = window_end(gate.as_ref()), if gate.as_ref().is_some_and(ReadGate::is_held) => {
                    let released = ended.and_then(|()| gate.as_mut().map_or(Ok(()), ReadGate::window_ended));
                    if let Err(error) = released {
                        turn_off(&mut gate, &error);
                    }
                }
                res = &mut writer => break match res {
                    Ok(Err(e)) => disconnect_reason(e, limit),
                    _ => DisconnectReason::Io("writer stopped".into()),
                },
            }
            if let Some(at) = self.rearm_heartbeat.take() {
                heartbeat_timer.as_mut().reset(at);
            }
            if let Some(at) = self.rearm_retry.take() {
                retry_timer.as_mut().reset(at);
                retry_armed = true;
            }
            // Reads are held back only while nothing waits for a reply and the stream is busy
            // ([`RecentReads`]); a window starts with the frame that showed the stream busy.
            if let Some(g) = gate.as_mut() {
                let (awaited, now) = (!self.pending.is_empty(), Instant::now());
                let busy = frame_read && recent.busy(now, g.window());
                let stepped = match gate_step(g.is_held(), awaited, frame_read, busy) {
                    GateStep::Keep => Ok(()),
                    GateStep::Extend => g.extend(now.into_std()),
                    GateStep::Hold => g.hold(now.into_std()).map(|()| Stats::add(&self.shared.stats.read_windows, 1)),
                    GateStep::Release => g.release(),
                };
                if let Err(error) = stepped {
                    turn_off(&mut gate, &error);
                }
            }
        };
        if reason == DisconnectReason::Shutdown {
            if let Some(link) = self.link.take() {
                let _ = link.out.send(Message::Close(None));
            }
            // A clean close when the server reads; never hang on one that does not.
            let _ = timeout(Duration::from_secs(1), &mut writer).await;
        }
        writer.abort();
        reason
    }

    fn send_command(&mut self, body: &str, pending: Pending) -> u64 {
        let link = self.link.as_mut().expect("only called while connected");
        let id = link.send(body);
        self.pending.insert(id, pending);
        id
    }

    fn resubscribe_all(&mut self) {
        let keys: Vec<SubKey> = self.subs.keys().copied().collect();
        for key in keys {
            self.issue_subscription(key, None);
            if let Some(sub) = self.subs.get_mut(&key) {
                match &mut sub.sink {
                    Sink::Events(tx) => tx.push(StreamItem::Reconnected),
                    Sink::StateChanges(tx) => tx.push(StreamItem::Reconnected),
                    Sink::Raw(tx) => tx.push(StreamItem::Reconnected),
                    Sink::Entities(_) => {}
                }
            }
        }
    }

    /// Sends the subscribe command of `key` on the current connection.
    fn issue_subscription(&mut self, key: SubKey, reply: Option<oneshot::Sender<Result<(), ClientError>>>) {
        let (Some(sub), Some(link)) = (self.subs.get_mut(&key), self.link.as_mut()) else { return };
        let id = link.send(&sub.body);
        sub.wire_id = Some(id);
        if let Sink::Entities(m) = &mut sub.sink {
            m.needs_snapshot = true;
            m.freshness.resyncing(None);
        }
        self.wire.insert(id, key);
        self.pending.insert(id, Pending::Subscribe { key, reply });
    }

    fn on_request(&mut self, req: Request) {
        match req {
            Request::Command { kind, body, reply } => {
                if !reply.is_closed() {
                    self.send_command(&body, Pending::Command { kind, reply });
                }
            }
            Request::Subscribe { key, kind, body, sink, reply } => {
                if reply.is_closed() {
                    return;
                }
                self.subs.insert(key, Subscription { kind, body, sink, wire_id: None, retry_at: None, refusals: 0 });
                self.issue_subscription(key, Some(reply));
            }
            Request::Unsubscribe { key } => {
                if let Some(wire_id) = self.subs.remove(&key).and_then(|s| s.wire_id) {
                    self.wire.remove(&wire_id);
                    let body = encode(&Command::UnsubscribeEvents { subscription: wire_id });
                    self.send_command(&body, Pending::Ignore);
                }
            }
            Request::Shutdown => {}
        }
    }

    /// One text frame (a message, or a coalesced array of them), decoded in one pass
    /// ([`Frame::parse_each`]): each event of a mirror is decoded straight into the compressed
    /// types and applied as it is reached; every other message is routed as it comes. A frame
    /// costs no allocation of its own: the mirrors' ids are gathered into a reused buffer.
    fn on_text(&mut self, text: &str) -> Result<(), DisconnectReason> {
        let stats = Arc::clone(&self.shared.stats);
        Stats::add(&stats.frames_in, 1);
        Stats::add(&stats.bytes_in, text.len() as u64);
        // While a mirror waits for its snapshot, a coalesced frame (Home Assistant's writer sends
        // the subscription's result and the snapshot together when both are queued) is taken
        // message by message, so that the snapshot can be decoded one entity at a time. That
        // costs one more scan of such frames, only until the snapshot is in.
        if text.starts_with('[')
            && self.awaits_snapshot()
            && let Ok(messages) = serde_json::from_str::<Vec<&RawValue>>(text)
        {
            let mut outcome = Ok(());
            for message in messages {
                let handled = self.on_messages(message.get());
                outcome = outcome.and(handled);
            }
            return outcome;
        }
        self.on_messages(text)
    }

    /// Whether a mirror waits for its (re)subscription's snapshot.
    fn awaits_snapshot(&self) -> bool {
        self.subs.values().any(|sub| matches!(&sub.sink, Sink::Entities(mirror) if mirror.needs_snapshot))
    }

    /// The messages of a frame (one message, or an array of them): see [`on_text`](Self::on_text).
    fn on_messages(&mut self, text: &str) -> Result<(), DisconnectReason> {
        let stats = Arc::clone(&self.shared.stats);
        if self.on_snapshot_frame(text) {
            Stats::add(&stats.messages_in, 1);
            Stats::add(&stats.events_in, 1);
            self.flush_reports();
            return Ok(());
        }
        // Which wire ids are mirrors, as of the start of the frame: a subscription re-issued while
        // the frame is read gets an id the server has not seen yet, so no message of this frame
        // carries it; an id dropped meanwhile is looked up again below and finds nothing.
        let mut mirrors = std::mem::take(&mut self.mirror_ids);
        mirrors.clear();
        mirrors.extend(
            self.subs.values().filter(|sub| matches!(sub.sink, Sink::Entities(_))).filter_map(|sub| sub.wire_id),
        );
        // The same for the subscriptions of state changes, with their keys: their events are
        // handed over after the frame was read, by the key their id had while it was read.
        let mut changes = std::mem::take(&mut self.change_ids);
        changes.clear();
        changes.extend(self.subs.iter().filter_map(|(key, sub)| match sub.sink {
            Sink::StateChanges(_) => sub.wire_id.map(|id| (id, *key)),
            _ => None,
        }));
        let mut detached = std::mem::take(&mut self.detached);
        let mut copies = std::mem::take(&mut self.copies);
        self.prefetch_mirrors(text);
        let (mut messages, mut events) = (0, 0);
        // The first bad message that costs the connection; the good messages are still applied.
        let mut reset = None;
        let want = |id| {
            if mirrors.contains(&id) {
                Want::Compressed
            } else if changes.iter().any(|&(wire, _)| wire == id) {
                Want::StateChanged
            } else {
                Want::Message
            }
        };
        let mut each = |item: FrameItem<'_>| match item {
            FrameItem::Compressed(frame) => {
                (messages, events) = (messages + 1, events + 1);
                if let Some(&key) = self.wire.get(&frame.id) {
                    self.apply_to_mirror(key, frame.id, &frame.event);
                }
            }
            FrameItem::Message(msg) => {
                messages += 1;
                self.on_message(msg);
            }
            FrameItem::Event { id, event, raw } => {
                messages += 1;
                Stats::add(&stats.events_in, 1);
                if let Some(&key) = self.wire.get(&id) {
                    self.on_event(key, id, raw, Some(event));
                }
            }
            // (Only `parse_frame_each` decodes state changes, and it keeps them.)
            FrameItem::StateChanged { id, raw, .. } => {
                messages += 1;
                Stats::add(&stats.events_in, 1);
                if let Some(&key) = self.wire.get(&id) {
                    self.on_event(key, id, raw, None);
                }
            }
            // A valid message of a mirror's subscription: only that mirror pays (a resync).
            FrameItem::BadEvent { id, error } => {
                (messages, events) = (messages + 1, events + 1);
                let _ = self.on_bad_message(Some(id), &error);
            }
            FrameItem::Invalid(err) if reset.is_none() => {
                let id = match &err {
                    ProtoError::InvalidMessage { id, .. } => *id,
                    _ => None,
                };
                reset = self.on_bad_message(id, &err).err();
            }
            FrameItem::Invalid(_) => {}
        };
        // A frame that may hold state changes for their subscribers is read from a copy, which
        // the state changes then borrow from ([`StateChangedEventBuf::parse_frame_each`]); any
        // other frame as it is.
        let parsed = if !changes.is_empty() && may_hold_state_changes(text) {
            StateChangedEventBuf::parse_frame_each(&mut copies, text, want, &mut each, |id, event| {
                detached.push((id, event));
            })
        } else {
            Frame::parse_each_with(text, false, want, &mut each)
        };
        for (id, event) in detached.drain(..) {
            messages += 1;
            Stats::add(&stats.events_in, 1);
            if let Some(&(_, key)) = changes.iter().find(|&&(wire, _)| wire == id) {
                self.on_state_change(key, event);
            }
        }
        self.detached = detached;
        self.copies = copies;
        self.mirror_ids = mirrors;
        self.change_ids = changes;
        Stats::add(&stats.messages_in, messages);
        Stats::add(&stats.events_in, events);
        // Changes applied before a fault are in the mirror: report them either way.
        self.flush_reports();
        if let Err(e) = parsed {
            Stats::add(&stats.malformed, 1);
            return Err(DisconnectReason::Malformed(e.to_string()));
        }
        reset.map_or(Ok(()), Err)
    }

    /// A message that could not be decoded. With a readable `id`, only what it belonged to pays:
    /// the command waiting for it fails, or its subscription is resynced (re-issued; a mirror gets
    /// a fresh snapshot). Without one (or for the heartbeat's ping) nobody can tell what was lost,
    /// so the connection is reset, as for a frame that cannot be read.
    fn on_bad_message(&mut self, id: Option<u64>, err: &dyn std::fmt::Display) -> Result<(), DisconnectReason> {
        let stats = Arc::clone(&self.shared.stats);
        let reset = || {
            Stats::add(&stats.malformed, 1);
            Err(DisconnectReason::Malformed(err.to_string()))
        };
        let Some(id) = id else { return reset() };
        match self.pending.remove(&id) {
            Some(Pending::Heartbeat) => return reset(),
            Some(Pending::Command { kind, reply }) => {
                let _ = reply.send(Err(ClientError::decode(kind.as_str(), err)));
            }
            Some(Pending::Subscribe { key, reply }) => self.resync(key, id, reply),
            Some(Pending::Ignore) => {}
            None => {
                if let Some(&key) = self.wire.get(&id) {
                    self.resync(key, id, None);
                    self.mark_gap(key);
                }
            }
        }
        Stats::add(&stats.malformed_messages, 1);
        tracing::warn!(%err, id, "skipped a malformed message; only what it belonged to is failed or resynced");
        Ok(())
    }

    /// Re-issues subscription `key` (now on `wire_id`) under a new id: a mirror's next event is
    /// then a snapshot that replaces it. `reply` is the caller's, when it still waits for the
    /// subscription to be confirmed.
    fn resync(&mut self, key: SubKey, wire_id: u64, reply: Option<oneshot::Sender<Result<(), ClientError>>>) {
        self.wire.remove(&wire_id);
        let body = encode(&Command::UnsubscribeEvents { subscription: wire_id });
        self.send_command(&body, Pending::Ignore);
        self.issue_subscription(key, reply);
    }

    /// Home Assistant refused to re-issue subscription `key` (after a reconnect or a resync).
    /// A command it does not know or that this user may not run will never succeed: the
    /// subscription ends (a mirror says [`crate::Freshness::Ended`], a stream ends). Anything
    /// else is retried with the connection's backoff, the mirror staying `Resyncing`.
    fn on_resubscribe_refused(&mut self, key: SubKey, error: ErrorInfo) {
        let Some(sub) = self.subs.get_mut(&key) else { return };
        sub.wire_id = None;
        let err = ClientError::Command { command: sub.kind.as_str(), error: Box::new(error) };
        let permanent =
            err.is_code(ErrorCode::UnknownCommand.as_str()) || err.is_code(ErrorCode::Unauthorized.as_str());
        if permanent {
            tracing::warn!(%err, "home assistant refused to re-subscribe; subscription ended");
            if let Some(Subscription { sink: Sink::Entities(mirror), .. }) = self.subs.remove(&key) {
                mirror.freshness.ended(err);
            }
            return;
        }
        let delay = self.cfg.backoff.delay(sub.refusals, &mut rand::rng());
        sub.refusals = sub.refusals.saturating_add(1);
        sub.retry_at = Some(Instant::now() + delay);
        tracing::warn!(%err, ?delay, "re-subscribing failed; retrying after the backoff delay");
        if let Sink::Entities(mirror) = &sub.sink {
            mirror.freshness.resyncing(Some(err));
        }
        self.rearm_retry = self.subs.values().filter_map(|s| s.retry_at).min();
    }

    /// Re-issues every subscription whose retry is due, and arms the timer for the next one.
    fn retry_due_subscriptions(&mut self) {
        let now = Instant::now();
        let due: Vec<SubKey> =
            self.subs.iter().filter(|(_, s)| s.retry_at.is_some_and(|at| at <= now)).map(|(k, _)| *k).collect();
        for key in due {
            if let Some(sub) = self.subs.get_mut(&key) {
                sub.retry_at = None;
            }
            self.issue_subscription(key, None);
        }
        self.rearm_retry = self.subs.values().filter_map(|s| s.retry_at).min();
    }

    /// Tells the consumer of an event stream that items were missed (mirrors need no marker:
    /// their snapshot replaces them).
    fn mark_gap(&mut self, key: SubKey) {
        match self.subs.get_mut(&key).map(|sub| &mut sub.sink) {
            Some(Sink::Events(tx)) => tx.push(StreamItem::Reconnected),
            Some(Sink::StateChanges(tx)) => tx.push(StreamItem::Reconnected),
            Some(Sink::Raw(tx)) => tx.push(StreamItem::Reconnected),
            Some(Sink::Entities(_)) | None => {}
        }
    }

    /// Pushes the change report of every mirror the last frame touched.
    fn flush_reports(&mut self) {
        for key in self.dirty.drain(..) {
            if let Some(Subscription { sink: Sink::Entities(mirror), .. }) = self.subs.get_mut(&key)
                && let Some(report) = mirror.pending.take()
            {
                mirror.report_hint = report.updated.len().min(MAX_REPORT_HINT);
                mirror.changes.push(StreamItem::Item(report));
            }
        }
    }

    fn on_message(&mut self, msg: ServerMessage<'_>) {
        match msg {
            ServerMessage::Result { id, outcome } => match self.pending.remove(&id) {
                Some(Pending::Command { kind, reply }) => {
                    let result = outcome
                        .map(|raw| Reply::Result(raw.into_owned()))
                        .map_err(|error| ClientError::Command { command: kind.as_str(), error: Box::new(error) });
                    let _ = reply.send(result);
                }
                Some(Pending::Subscribe { key, reply }) => match outcome {
                    Ok(_) => {
                        if let Some(sub) = self.subs.get_mut(&key) {
                            sub.refusals = 0;
                        }
                        if let Some(reply) = reply {
                            let _ = reply.send(Ok(()));
                        }
                    }
                    Err(error) => {
                        self.wire.remove(&id);
                        match reply {
                            // The caller is told; nothing was ever subscribed.
                            Some(reply) => {
                                let kind = self.subs.remove(&key).map_or(CommandKind::Other, |s| s.kind);
                                let err = ClientError::Command { command: kind.as_str(), error: Box::new(error) };
                                let _ = reply.send(Err(err));
                            }
                            None => self.on_resubscribe_refused(key, error),
                        }
                    }
                },
                Some(Pending::Heartbeat | Pending::Ignore) | None => {}
            },
            ServerMessage::Event { id, event } => {
                Stats::add(&self.shared.stats.events_in, 1);
                if let Some(&key) = self.wire.get(&id) {
                    self.on_event(key, id, event, None);
                }
            }
            ServerMessage::Pong { id } => match self.pending.remove(&id) {
                Some(Pending::Command { reply, .. }) => {
                    let _ = reply.send(Ok(Reply::Pong));
                }
                Some(Pending::Heartbeat) => {
                    self.heartbeat_id = None;
                    if let Some(h) = self.cfg.heartbeat {
                        self.rearm_heartbeat = Some(Instant::now() + h.interval);
                    }
                }
                _ => {}
            },
            _ => {}
        }
    }

    /// One event of subscription `key`. A payload that cannot be decoded costs only this
    /// subscription a resync ([`Self::on_bad_message`]).
    /// `decoded` is the event already decoded in the frame's pass, when it was (see
    /// [`FrameItem::Event`]).
    fn on_event(&mut self, key: SubKey, wire_id: u64, event: RawJson<'_>, decoded: Option<Event<'_>>) {
        let Some(sub) = self.subs.get_mut(&key) else { return };
        let bad = match &mut sub.sink {
            Sink::Events(tx) if tx.is_closed() => None,
            Sink::StateChanges(tx) if tx.is_closed() => None,
            Sink::Raw(tx) if tx.is_closed() => None,
            Sink::Events(tx) => {
                match decoded.map_or_else(|| Event::parse_raw(&event).map(Event::into_owned), |e| Ok(e.into_owned())) {
                    Ok(parsed) => {
                        tx.push(StreamItem::Item(parsed));
                        None
                    }
                    Err(e) => Some(e),
                }
            }
            // An event the frame's pass did not decode as a state change (a shape the scanner
            // leaves to serde): decoded from its own copy. Events of another type are not this
            // subscription's (it names `state_changed`).
            Sink::StateChanges(tx) => match StateChangedEventBuf::parse(event.get()) {
                Ok(Some(parsed)) => {
                    tx.push(StreamItem::Item(parsed));
                    None
                }
                Ok(None) => None,
                Err(e) => Some(e),
            },
            Sink::Raw(tx) => {
                tx.push(StreamItem::Item(event.into_boxed()));
                None
            }
            Sink::Entities(_) => match CompressedEvent::parse(event.get()) {
                Ok(diff) => {
                    self.apply_to_mirror(key, wire_id, &diff);
                    None
                }
                Err(e) => Some(e),
            },
        };
        if let Some(err) = bad {
            // The id is the subscription's: never a reason to reset the connection.
            let _ = self.on_bad_message(Some(wire_id), &err);
        }
    }

    /// One `state_changed` event of subscription `key` (a subscriber of state changes), decoded
    /// in the frame's pass.
    fn on_state_change(&mut self, key: SubKey, event: StateChangedEventBuf) {
        if let Some(Sink::StateChanges(tx)) = self.subs.get_mut(&key).map(|sub| &mut sub.sink)
            && !tx.is_closed()
        {
            tx.push(StreamItem::Item(event));
        }
    }

    /// Applies one `subscribe_entities` event to the mirror of subscription `key`: the first
    /// event after (re)subscribing replaces it, later ones update it; a mirror that diverged
    /// from the server is resubscribed for a fresh snapshot.
    /// A frame that is a mirror's snapshot alone (what Home Assistant sends after
    /// `subscribe_entities`): decoded one entity at a time into a mirror of its own
    /// ([`EntityStore::decode_snapshot`]) outside the mirror's lock, which is then held only to
    /// replace the content. The decoded snapshot never exists as a whole (about 8 MB less at the
    /// peak for 16,384 entities). False, having changed nothing, for every other frame, and for
    /// a text that turns out not to be a compressed event: the generic path then decides.
    fn on_snapshot_frame(&mut self, text: &str) -> bool {
        let Some((wire_id, payload)) = ha_proto::lone_event_payload(text) else { return false };
        let Some(&key) = self.wire.get(&wire_id) else { return false };
        match self.subs.get(&key) {
            Some(Subscription { sink: Sink::Entities(mirror), .. }) if mirror.needs_snapshot => {}
            _ => return false,
        }
        let decoded = match EntityStore::decode_snapshot(payload) {
            Err(StateError::Decode(_)) => return false,
            decoded => decoded,
        };
        let entities = decoded.as_ref().map_or(0, Snapshot::len);
        self.replace_mirror(key, wire_id, entities, |store| decoded.map(|s| store.replace_from_snapshot(s)));
        true
    }

    /// Asks every loaded mirror to start loading the entries a big coalesced frame changes, all
    /// at once ([`EntityStore::prefetch_frame`]): between frames the mirror leaves the caches,
    /// and applying one change after another would otherwise wait for memory once per lookup.
    fn prefetch_mirrors(&self, text: &str) {
        if !EntityStore::prefetches_frame(text) {
            return;
        }
        for sub in self.subs.values() {
            if let Sink::Entities(mirror) = &sub.sink
                && !mirror.needs_snapshot
            {
                mirror.store.read().unwrap_or_else(|p| p.into_inner()).prefetch_frame(text);
            }
        }
    }

    fn apply_to_mirror(&mut self, key: SubKey, wire_id: u64, diff: &CompressedEvent<'_>) {
        let Some(Subscription { sink: Sink::Entities(mirror), .. }) = self.subs.get_mut(&key) else { return };
        if mirror.needs_snapshot {
            self.replace_mirror(key, wire_id, diff.len(), |store| store.replace_from_compressed(diff));
            return;
        }
        // Changes of one frame go into one report: fewer allocations and wake-ups.
        if mirror.pending.is_none() {
            self.dirty.push(key);
        }
        let hint = mirror.report_hint;
        let report = mirror.pending.get_or_insert_with(|| {
            let mut report = ChangeReport::new();
            report.updated.reserve(hint);
            report
        });
        let known = report.unknown.len();
        let mut store = mirror.store.write().unwrap_or_else(|p| p.into_inner());
        let applied = store.apply_compressed_into(diff, report).map_err(|e| e.to_string());
        drop(store);
        // A change or removal for an entity the mirror does not hold means it diverged.
        let applied = applied.and_then(|()| match report.unknown.get(known) {
            Some(id) => Err(format!("change for unknown entity {id}")),
            None => Ok(()),
        });
        self.after_mirror_update(key, wire_id, applied.map(|()| diff.len()));
    }

    /// Replaces a mirror's content with its (re)subscription's snapshot; `entities` is what the
    /// snapshot holds (counted as changes).
    fn replace_mirror(
        &mut self,
        key: SubKey,
        wire_id: u64,
        entities: usize,
        replace: impl FnOnce(&mut EntityStore) -> Result<ChangeReport, StateError>,
    ) {
        let stats = Arc::clone(&self.shared.stats);
        let Some(Subscription { sink: Sink::Entities(mirror), .. }) = self.subs.get_mut(&key) else { return };
        let mut store = mirror.store.write().unwrap_or_else(|p| p.into_inner());
        let replaced = replace(&mut store);
        drop(store);
        let applied = replaced.map_err(|e| e.to_string()).map(|report| {
            mirror.needs_snapshot = false;
            if *mirror.snapshots.borrow() > 0 {
                Stats::add(&stats.resyncs, 1);
            }
            // Keep the order: changes batched earlier in this frame come first.
            if let Some(earlier) = mirror.pending.take() {
                mirror.changes.push(StreamItem::Item(earlier));
            }
            mirror.changes.push(StreamItem::Item(report));
            mirror.snapshots.send_modify(|n| *n += 1);
            mirror.freshness.current();
            entities
        });
        self.after_mirror_update(key, wire_id, applied);
    }

    /// Counts what a mirror applied, or starts it over from a snapshot when it refused an update.
    fn after_mirror_update(&mut self, key: SubKey, wire_id: u64, applied: Result<usize, String>) {
        match applied {
            Ok(changes) => Stats::add(&self.shared.stats.entity_changes, changes as u64),
            Err(err) => {
                // The mirror no longer matches the server: start over from a snapshot.
                tracing::warn!(%err, "mirror diverged from home assistant; resubscribing for a fresh snapshot");
                self.resync(key, wire_id, None);
            }
        }
    }
}

#[cfg(test)]
mod state_change_frames {
    const STATE_CHANGE: &str = r#"{"type":"event","event":{"event_type":"state_changed","data":{}},"id":7}"#;

    #[test]
    fn a_state_changed_bus_event_may_hold_state_changes() {
        assert!(super::may_hold_state_changes(STATE_CHANGE));
    }

    #[test]
    fn an_array_with_a_state_changed_event_may_hold_state_changes() {
        let text = format!(r#"[{{"id":3,"type":"event","event":{{"c":{{}}}}}},{STATE_CHANGE}]"#);

        assert!(super::may_hold_state_changes(&text));
    }

    #[test]
    fn an_array_of_diffs_and_results_holds_no_state_change() {
        let text = r#"[{"type":"event","event":{"c":{"light.a":{"+":{"s":"on"}}}},"id":3},{"id":4,"type":"result","success":true,"result":null}]"#;

        assert!(!super::may_hold_state_changes(text));
    }
}

#[cfg(test)]
mod tests {
    // A counting global allocator cannot be written without `unsafe`; it only forwards to
    // `System`, counts on the current thread, and lives in this crate's unit-test binary alone.
    #![allow(unsafe_code)]

    use std::alloc::{GlobalAlloc, Layout, System};
    use std::cell::Cell;

    use ha_state::ChangeReport;

    use super::*;
    use crate::stream::{RingReceiver, ring};

    struct Counting;

    thread_local! {
        static ALLOCATIONS: Cell<usize> = const { Cell::new(0) };
    }

    // Forwards to the system allocator and only bumps a thread-local counter.
    unsafe impl GlobalAlloc for Counting {
        unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as the caller's.
            unsafe { System.alloc(layout) }
        }
        unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
            // SAFETY: same contract as the caller's.
            unsafe { System.dealloc(ptr, layout) }
        }
        unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
            ALLOCATIONS.with(|c| c.set(c.get() + 1));
            // SAFETY: same contract as the caller's.
            unsafe { System.realloc(ptr, layout, new_size) }
        }
    }

    #[global_allocator]
    static GLOBAL: Counting = Counting;

    fn allocations_during<T>(f: impl FnOnce() -> T) -> (T, usize) {
        let before = ALLOCATIONS.with(Cell::get);
        let out = f();
        (out, ALLOCATIONS.with(Cell::get) - before)
    }

    /// The subscription id the tests' mirror has on the wire.
    const MIRROR: u64 = 5;

    /// A connection task holding one mirror on wire id [`MIRROR`] (no connection: only frames are
    /// fed to it), and the mirror's change stream.
    fn actor_with_a_mirror() -> (Actor, RingReceiver<ChangeReport>) {
        let cfg = ClientConfig::new("ws://127.0.0.1:1", ha_proto::Secret::new("token".to_owned())).unwrap();
        let stats = Arc::new(Stats::default());
        let (state, _) = watch::channel(ConnectionState::Reconnecting { reason: DisconnectReason::Shutdown });
        let shared = Arc::new(Shared { stats: Arc::clone(&stats), state, fatal: OnceLock::new() });
        let (_requests_tx, requests) = mpsc::unbounded_channel();
        let mut actor = Actor::new(cfg, shared, requests);
        let (changes, changes_rx) = ring(1024, stats);
        let sink = Sink::Entities(MirrorSink {
            store: Arc::new(RwLock::new(EntityStore::new())),
            changes,
            snapshots: watch::channel(0).0,
            needs_snapshot: true,
            pending: None,
            report_hint: 0,
            freshness: FreshnessTx::new().0,
        });
        let body = encode(&Command::SubscribeEntities { entity_ids: None });
        let sub = Subscription {
            kind: CommandKind::SubscribeEntities,
            body,
            sink,
            wire_id: Some(MIRROR),
            retry_at: None,
            refusals: 0,
        };
        actor.subs.insert(1, sub);
        actor.wire.insert(MIRROR, 1);
        (actor, changes_rx)
    }

    fn mirror_of(actor: &Actor) -> &MirrorSink {
        match &actor.subs[&1].sink {
            Sink::Entities(mirror) => mirror,
            _ => unreachable!("subscription 1 is the mirror"),
        }
    }

    #[test]
    fn a_busy_stream_is_held_back_while_nothing_waits_for_a_reply() {
        assert_eq!(gate_step(false, false, true, true), GateStep::Hold);
    }

    #[test]
    fn a_quiet_stream_is_not_held_back() {
        assert_eq!(gate_step(false, false, true, false), GateStep::Keep);
    }

    #[test]
    fn an_awaited_reply_releases_held_reads_whatever_was_read() {
        let steps = [
            gate_step(true, true, true, true),
            gate_step(true, true, true, false),
            gate_step(true, true, false, false),
        ];

        assert_eq!(steps, [GateStep::Release; 3]);
    }

    #[test]
    fn reads_are_not_held_back_while_a_reply_is_awaited() {
        assert_eq!(gate_step(false, true, true, true), GateStep::Keep);
    }

    #[test]
    fn a_frame_read_while_held_starts_the_window_again() {
        assert_eq!([gate_step(true, false, true, true), gate_step(true, false, true, false)], [GateStep::Extend; 2]);
    }

    #[test]
    fn held_reads_stay_held_on_a_turn_that_read_nothing() {
        assert_eq!(gate_step(true, false, false, false), GateStep::Keep);
    }

    /// Whether each of `reads` (ms after a start) showed the stream busy, for a `window_ms` window.
    fn busy_at(reads: &[u64], window_ms: u64) -> Vec<bool> {
        let (start, mut recent) = (Instant::now(), RecentReads::default());
        reads
            .iter()
            .map(|&ms| recent.busy(start + Duration::from_millis(ms), Duration::from_millis(window_ms)))
            .collect()
    }

    #[test]
    fn four_frames_read_within_a_window_show_the_stream_busy() {
        let busy = busy_at(&[0, 2, 4, 6], 10);

        assert_eq!(busy, [false, false, false, true]);
    }

    #[test]
    fn frames_two_to_a_window_do_not_show_the_stream_busy() {
        // a frame every 5 ms (ha-sim's interval) against a 10 ms window
        let busy = busy_at(&[0, 5, 10, 15, 20, 25, 30], 10);

        assert_eq!(busy, [false; 7]);
    }

    #[test]
    fn a_held_window_that_gathered_four_frames_keeps_the_stream_busy_and_one_of_two_does_not() {
        // reads in bursts after each 10 ms window: four, then four, then two
        let busy = busy_at(&[10, 10, 10, 10, 20, 20, 20, 20, 30, 30], 10);

        assert_eq!(busy[7..], [true, false, false]);
    }

    #[test]
    fn a_snapshot_alone_in_its_frame_fills_the_mirror_and_counts_its_entities() {
        // arrange: a mirror waiting for its snapshot, which comes alone in its frame
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 200);
        let (mut actor, mut changes) = actor_with_a_mirror();
        let text = ha_fixtures::compressed_snapshot_message(&states, MIRROR);

        // act
        let outcome = actor.on_text(&text);

        // assert
        assert!(outcome.is_ok());
        let mirror = mirror_of(&actor);
        assert!(!mirror.needs_snapshot);
        let expected: EntityStore = states.iter().cloned().collect();
        assert_eq!(*mirror.store.read().unwrap(), expected);
        let report = futures_util::FutureExt::now_or_never(futures_util::StreamExt::next(&mut changes));
        assert!(matches!(report, Some(Some(StreamItem::Item(r))) if r.added.len() == 200));
        let stats = actor.shared.stats.snapshot();
        assert_eq!((stats.entity_changes, stats.events_in), (200, 1));
    }

    #[test]
    fn a_snapshot_coalesced_with_its_subscription_result_fills_the_mirror() {
        // arrange: the result of the subscription and the snapshot in one array frame, as Home
        // Assistant's writer sends them when both are queued
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 100);
        let (mut actor, _changes) = actor_with_a_mirror();
        let result = format!(r#"{{"id":{MIRROR},"type":"result","success":true,"result":null}}"#);
        let text = format!("[{result},{}]", ha_fixtures::compressed_snapshot_message(&states, MIRROR));

        // act
        let outcome = actor.on_text(&text);

        // assert
        assert!(outcome.is_ok());
        let expected: EntityStore = states.iter().cloned().collect();
        assert_eq!(*mirror_of(&actor).store.read().unwrap(), expected);
        let stats = actor.shared.stats.snapshot();
        assert_eq!((stats.frames_in, stats.messages_in, stats.entity_changes), (1, 2, 100));
    }

    #[test]
    fn a_snapshot_message_of_another_shape_takes_the_generic_path_to_the_same_mirror() {
        // arrange: the same snapshot with a field after `event`, which the one-entity-at-a-time
        // decoder refuses
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 50);
        let (mut actor, _changes) = actor_with_a_mirror();
        let text = ha_fixtures::compressed_snapshot_message(&states, MIRROR);
        let text = format!("{},\"extra\":1}}", text.strip_suffix('}').unwrap());

        // act
        let outcome = actor.on_text(&text);

        // assert
        assert!(outcome.is_ok());
        let expected: EntityStore = states.iter().cloned().collect();
        assert_eq!(*mirror_of(&actor).store.read().unwrap(), expected);
        assert!(!mirror_of(&actor).needs_snapshot);
    }

    #[test]
    fn a_coalesced_frame_allocates_only_its_report_and_what_the_mirror_keeps() {
        // arrange: a mirror of 200 fixture entities, and 8 of their changes coalesced into one frame
        // as Home Assistant writes them (the id after each payload)
        let states = ha_fixtures::install(ha_fixtures::DEFAULT_SEED, 200);
        let (mut actor, _changes) = actor_with_a_mirror();
        actor.on_text(&ha_fixtures::compressed_snapshot_message(&states, MIRROR)).unwrap();
        let diffs = ha_fixtures::compressed_diff_messages(3, &states, 16, MIRROR);
        let (warm_up, measured) = (format!("[{}]", diffs[..8].join(",")), format!("[{}]", diffs[8..].join(",")));
        actor.on_text(&warm_up).unwrap();
        let kept: usize = diffs[8..]
            .iter()
            .map(|text| {
                let frame = ha_proto::CompressedEventFrame::parse(text).unwrap().unwrap();
                let (_, diff) = &frame.event.changed[0];
                // The decoded diff's Vecs (`changed`, `+.a`, `-.a`) and a box per attribute value
                // the mirror keeps.
                1 + diff.additions.as_ref().map_or(0, |a| a.attributes.as_ref().map_or(0, |p| 1 + p.0.len()))
                    + diff.removals.as_ref().map_or(0, |r| usize::from(!r.attributes.is_empty()))
            })
            .sum();

        // act
        let (outcome, count) = allocations_during(|| actor.on_text(&measured));

        // assert: beyond what each change keeps or decodes (counted above), one block: the list of
        // the frame's change report, sized from the warm-up frame's, not grown step by step; no
        // message list, no copy of the frame or of its elements (the two-pass decode of arrays
        // before 2026-12-05 took 21 here, the report's growth before the size hint 2 more)
        assert!(outcome.is_ok());
        let budget = kept + 1;
        assert!(count <= budget, "{count} allocations for a frame of 8 changes, budget {budget}");
    }
}
