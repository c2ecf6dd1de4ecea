//! An async Home Assistant client: one multiplexed WebSocket shared by any number of
//! callers, typed commands, subscriptions that survive reconnects, a live entity mirror,
//! and a pooled REST client.
//!
//! - [`Client::connect`] authenticates; the client then reconnects by itself (exponential
//!   backoff with full jitter), except after `auth_invalid`, which it surfaces as
//!   [`ClientError::AuthInvalid`] and never retries (Home Assistant bans IPs that keep failing).
//! - [`Client::subscribe_entities`] returns a [`Mirror`]: an `ha_state::EntityStore` kept
//!   current by the connection task itself, replaced by a fresh snapshot after each reconnect.
//!   [`Mirror::freshness`] says whether it is current, resyncing since when (reconnecting, or
//!   re-subscribing: a refused re-subscribe is retried with the backoff), or ended with the error.
//! - [`Client::subscribe_state_changes`] streams `state_changed` events already decoded
//!   ([`ha_proto::StateChangedEventBuf`]: the frame's pass decodes each event once, and the events
//!   of a frame share one copy of its text), for a mirror of one's own or any consumer of state
//!   changes; [`Client::subscribe_events`] gives events of any type with their `data` raw.
//! - Streams never make the connection wait: a consumer that falls behind gets
//!   [`StreamItem::Lagged`] instead of silently missing items.
//! - [`Client::stats`] is a cheap snapshot of counters and latencies.
//!
//! # Design
//!
//! One task per client owns the WebSocket (`conn.rs`). Callers send it requests over an
//! unbounded channel and wait on a oneshot with the command timeout; the task gives each
//! command the next id of the connection, remembers the oneshot under that id, and routes
//! `result` / `pong` back by id. Writes go through a second task, so a server that stops
//! reading never blocks the reader. Events go to per-subscription rings that drop the
//! oldest item and report `Lagged(n)`; mirrors are applied in the reader itself, one
//! change report per frame. A frame (one message, or a coalesced array of them) is decoded in
//! one pass, a mirror's events straight into the compressed types (`ha_proto::Frame::parse_each_with`).
//!
//! Where the change stream is read decides what a frame costs: read it in a spawned task
//! (`tokio::spawn`), not in the future `block_on` (or `#[tokio::main]`) runs. On the
//! multi-threaded runtime the connection task then wakes the consumer on its own worker, and a
//! frame costs one thread wake-up instead of two (`mirror` example, 1,000 changes/s: about 1.0
//! instead of 2.0 context switches per frame, and about half the CPU; see docs/performance.md).
//!
//! A client wakes less often than a busy server sends: [`ClientConfig::read_batching`] holds a
//! busy stream's frames back in the kernel for up to a window and reads them with one wake-up
//! (replies to commands are never held back). By default, on Linux, the window is 10 ms and a
//! stream counts as busy when four frames come within it; against Home Assistant that cut the CPU
//! per change by a half to two thirds on the project's test machines, a 50 ms window by four
//! fifths or more. Set it to `None` to read every frame as it arrives.
//!
//! When a connection ends (close, I/O error, malformed or oversized frame, missing pong),
//! every command waiting for an answer fails with [`ClientError::ConnectionLost`], and the
//! task reconnects after `BackoffPolicy::delay` (full jitter). On the new connection it sends
//! `supported_features` (coalescing), re-issues every live subscription under new ids (the
//! caller's stream continues, with a [`StreamItem::Reconnected`] marker), and marks every
//! mirror so that the next event, the fresh snapshot, REPLACES its store: entities deleted
//! while the client was away disappear. A mirror that receives a change for an entity it
//! does not hold resubscribes for a fresh snapshot the same way. `auth_invalid` stops the
//! task for good: retrying would feed Home Assistant's IP ban.
//!
//! One malformed message inside a frame costs only what it belonged to: the other messages are
//! applied, the bad one is counted ([`ClientStats::malformed_messages`]) and, when its `id` can be
//! read, only that command fails or only that subscription is re-issued (a mirror gets a fresh
//! snapshot). A bad message whose `id` cannot be read resets the connection as above.
//!
//! ```no_run
//! use ha_client::{Client, ClientConfig, ServiceCall};
//! use ha_proto::{Secret, Target};
//!
//! # async fn demo() -> Result<(), ha_client::ClientError> {
//! let config = ClientConfig::new("http://127.0.0.1:8123", Secret::new("TOKEN"))?;
//! let client = Client::connect(config).await?;
//!
//! let mirror = client.subscribe_entities(None).await?;
//! println!("{} entities", mirror.len());
//!
//! let call = ServiceCall::new("light", "turn_on").target(Target::entities(["light.kitchen"]));
//! client.call_service(&call).await?;
//! println!("round trip {:?}", client.ping().await?);
//! # Ok(()) }
//! ```

mod backoff;
mod client;
mod config;
mod conn;
mod credentials;
mod error;
mod freshness;
// Read batching's kernel side: SO_RCVLOWAT and a timerfd (Linux); elsewhere it is never on.
#[cfg(target_os = "linux")]
mod read_gate;
#[cfg(not(target_os = "linux"))]
#[path = "read_gate_unsupported.rs"]
mod read_gate;
mod rest;
mod stats;
mod stream;
mod subscription;
mod tls;

pub use backoff::BackoffPolicy;
pub use client::{Client, ServiceCall};
pub use config::{ClientConfig, Endpoints, Heartbeat, ReadBatching, SUPERVISOR_URL};
pub use conn::ConnectionState;
pub use credentials::{Credentials, HASS_TOKEN, HASS_URL, SUPERVISOR_TOKEN, TokenSource, resolve_credentials};
pub use error::{ClientError, DisconnectReason};
pub use freshness::Freshness;
pub use ha_state::ChangeReport;
pub use rest::{HistoryQuery, RestClient, RestServiceResult, SetStateOutcome};
pub use stats::{ClientStats, CommandKind, CommandStats};
pub use stream::{RingReceiver, StreamItem};
pub use subscription::{Mirror, Subscription};
