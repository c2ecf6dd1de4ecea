//! Fault injection: a cheap handle that tests (and the binary's flags) use to make the
//! simulator misbehave the ways real installs do.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use ha_proto::ErrorCode;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::Shared;
use crate::hub::Out;

/// Standing faults, read by every connection's tasks.
#[derive(Debug, Default)]
pub(crate) struct FaultState {
    /// `(generation, n)`: close each connection after `n` more messages; a new generation
    /// restarts the count on existing connections.
    drop_after: Mutex<Option<(u64, u64)>>,
    drop_generation: AtomicU64,
    delay: Mutex<Duration>,
    stop_reading_until: Mutex<Option<Instant>>,
    pub(crate) reject_auth: AtomicBool,
    /// While set and in the future, HTTP and WebSocket requests get 503 (restarting).
    down_until: Mutex<Option<Instant>>,
    /// `(command type, times left, code)`: the next commands of that type are answered with
    /// an error of that code instead of being run.
    refuse: Mutex<Option<(String, u64, ErrorCode)>>,
    /// Woken when a fault that readers must notice at once is set.
    pub(crate) changed: Notify,
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|e| e.into_inner())
}

impl FaultState {
    pub(crate) fn drop_after(&self) -> Option<(u64, u64)> {
        *lock(&self.drop_after)
    }

    pub(crate) fn delay(&self) -> Duration {
        *lock(&self.delay)
    }

    /// Whether "Home Assistant" is down (restarting) now.
    pub(crate) fn is_down(&self) -> bool {
        lock(&self.down_until).is_some_and(|until| until > Instant::now())
    }

    /// Whether the command of type `command_type` must be refused now; counts it when so.
    pub(crate) fn take_refusal(&self, command_type: &str) -> Option<ErrorCode> {
        let mut refuse = lock(&self.refuse);
        let (ty, left, code) = refuse.as_mut()?;
        if ty != command_type || *left == 0 {
            return None;
        }
        *left -= 1;
        Some(code.clone())
    }

    /// When reading may resume, if it is paused now.
    pub(crate) fn reading_paused_until(&self) -> Option<Instant> {
        lock(&self.stop_reading_until).filter(|until| *until > Instant::now())
    }
}

/// One malformed item for [`Faults::send_malformed_in_array`].
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum MalformedItem {
    /// For each `subscribe_entities` subscription that receives changes of this entity: an
    /// `event` message with the subscription's id whose `event` is not a compressed-states
    /// event (a readable id, a bad payload).
    EntitiesPayload {
        /// The entity whose subscribers get it.
        entity_id: String,
    },
    /// For each `subscribe_entities` subscription that receives changes of this entity: an
    /// `event` message with the subscription's id but no `event` field (a readable id, a bad
    /// envelope).
    EntitiesEnvelope {
        /// The entity whose subscribers get it.
        entity_id: String,
    },
    /// To every connection: an `event` message whose `id` is text, so no client can tell
    /// which subscription it belonged to.
    UnreadableId,
}

impl MalformedItem {
    /// The item's text for subscription `id`.
    fn render(&self, id: u64) -> String {
        match self {
            MalformedItem::EntitiesPayload { .. } => format!(r#"{{"id":{id},"type":"event","event":{{"a":42}}}}"#),
            MalformedItem::EntitiesEnvelope { .. } => format!(r#"{{"id":{id},"type":"event"}}"#),
            MalformedItem::UnreadableId => r#"{"id":"unreadable","type":"event","event":{}}"#.to_owned(),
        }
    }
}

/// A handle on the simulator's faults; clones share the simulator.
#[derive(Clone)]
pub struct Faults {
    shared: Arc<Shared>,
}

impl fmt::Debug for Faults {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Faults").finish_non_exhaustive()
    }
}

impl Faults {
    pub(crate) fn new(shared: Arc<Shared>) -> Self {
        Faults { shared }
    }

    fn state(&self) -> &FaultState {
        &self.shared.faults
    }

    /// Closes every WebSocket connection now, abruptly (no close frame).
    pub fn drop_all_now(&self) {
        let mut core = self.shared.core();
        self.shared.close_all(&mut core, true);
    }

    /// Closes each connection (abruptly) after it has been sent `n` more messages; also
    /// applies to connections opened later (counted from `auth_ok`, excluded).
    pub fn drop_after_messages(&self, n: u64) {
        let generation = self.state().drop_generation.fetch_add(1, Ordering::AcqRel) + 1;
        *lock(&self.state().drop_after) = Some((generation, n));
    }

    /// Delays every command's handling (and so its response) by `d`; `Duration::ZERO` = off.
    /// Commands already waiting are released when the delay is switched off (or cleared).
    pub fn delay_responses(&self, d: Duration) {
        *lock(&self.state().delay) = d;
        self.state().changed.notify_waiters();
    }

    /// Stops reading from every client for `d` (commands wait; events keep flowing).
    pub fn stop_reading(&self, d: Duration) {
        *lock(&self.state().stop_reading_until) = Some(Instant::now() + d);
        self.state().changed.notify_waiters();
    }

    /// Sends one frame that is not JSON to each connection.
    pub fn send_malformed_frame(&self) {
        for outbox in self.shared.core().conns.values() {
            outbox.push(Out::Malformed);
        }
    }

    /// Queues one malformed item (see [`MalformedItem`] for which connections get it). It is
    /// always sent inside an array frame, together with whatever else that connection's writer
    /// sends in the same batch: messages queued just before and after it (while the writer
    /// does not run, e.g. between two awaits of a current-thread runtime) share its frame once
    /// the client enabled coalescing.
    pub fn send_malformed_in_array(&self, item: MalformedItem) {
        let core = self.shared.core();
        match &item {
            MalformedItem::EntitiesPayload { entity_id } | MalformedItem::EntitiesEnvelope { entity_id } => {
                for (outbox, id) in core.hub.entities_subscribers(entity_id) {
                    outbox.push(Out::BadItem(item.render(id)));
                }
            }
            MalformedItem::UnreadableId => {
                for outbox in core.conns.values() {
                    outbox.push(Out::BadItem(item.render(0)));
                }
            }
        }
    }

    /// Answers the next `times` commands of type `command_type` (e.g. `subscribe_entities`)
    /// with an error of `code` instead of running them, as Home Assistant does for a command it
    /// does not know (`unknown_command`), one the user may not run (`unauthorized`) or one that
    /// failed (`home_assistant_error`). Replaces an earlier refusal; [`Faults::clear`] ends it.
    pub fn refuse_commands(&self, command_type: &str, times: u64, code: ErrorCode) {
        *lock(&self.state().refuse) = Some((command_type.to_owned(), times, code));
    }

    /// Answers `auth_invalid` even for the right token while `on`.
    pub fn reject_auth(&self, on: bool) {
        self.state().reject_auth.store(on, Ordering::Release);
    }

    /// Restarts "Home Assistant": ends every connection without a close frame (as a
    /// stopping Home Assistant 2024.3.3 does), bumps `ha_version`'s patch
    /// number, drops entities written over the API and replaces some fixture entities
    /// with new ones, all while no client is connected (so no client sees a removal).
    pub fn restart(&self) {
        self.shared.restart();
    }

    /// Like [`Faults::restart`], then answers every HTTP and WebSocket request with
    /// `503 Service Unavailable` for `downtime` (or until [`Faults::clear`]), so clients
    /// must back off and retry as they would while Home Assistant starts.
    pub fn restart_with_downtime(&self, downtime: Duration) {
        *lock(&self.state().down_until) = Some(Instant::now() + downtime);
        self.shared.restart();
    }

    /// Sends one message of about `bytes` bytes to each connection.
    pub fn send_oversized(&self, bytes: usize) {
        for outbox in self.shared.core().conns.values() {
            outbox.push(Out::Oversized(bytes));
        }
    }

    /// Removes every standing fault (drop-after, delay, stopped reading, rejected auth,
    /// refused commands, restart downtime).
    pub fn clear(&self) {
        *lock(&self.state().down_until) = None;
        *lock(&self.state().drop_after) = None;
        *lock(&self.state().delay) = Duration::ZERO;
        *lock(&self.state().stop_reading_until) = None;
        *lock(&self.state().refuse) = None;
        self.state().reject_auth.store(false, Ordering::Release);
        self.state().changed.notify_waiters();
    }
}
