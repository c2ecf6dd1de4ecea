//! Connections' outgoing queues and the subscriptions that feed them.
//!
//! Every change is serialised once and the bytes are shared (`Arc<str>`) by every
//! subscriber; queues are unbounded channels with a counter, so the world never waits for a
//! slow client: a client too far behind is cut off instead (Home Assistant's flow control).

use std::collections::HashSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use ha_proto::raw::RawJson;
use ha_proto::{CompressedEvent, CompressedState, Context, EntityId, EntityKey, Event, State, StateDiff, Timestamp};
use serde::Serialize;
use tokio::sync::{mpsc, watch};
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;

use crate::trigger::StateTrigger;
use crate::world::{Change, Notification};

/// One item of a connection's queue.
#[derive(Debug)]
pub(crate) enum Out {
    /// A whole message (JSON object text).
    Msg(String),
    /// `{"id":<id>,"type":"event","event":<body>}` with a shared body (Home Assistant's
    /// `event_message`: snapshots, triggers, notifications, templates).
    Event { id: u64, body: Arc<str> },
    /// `{"type":"event","event":<body>,"id":<id>}`: the id comes LAST in Home Assistant's
    /// cached bus events and `subscribe_entities` diffs (captured from 2024.3.3).
    BusEvent { id: u64, body: Arc<str> },
    /// A frame that is not JSON (fault), always sent alone.
    Malformed,
    /// A message of about this many bytes (fault), always sent alone.
    Oversized(usize),
    /// A malformed item (fault), always sent inside an array frame, with whatever else is
    /// queued with it.
    BadItem(String),
}

/// Flow-control limits (Home Assistant: 4096 at any time, or 1024 for 10 s).
#[derive(Debug, Clone, Copy)]
pub(crate) struct FlowLimits {
    pub(crate) max_pending: usize,
    pub(crate) peak: usize,
    pub(crate) peak_time: Duration,
}

/// The sending side of one connection's queue.
#[derive(Debug)]
pub(crate) struct Outbox {
    pub(crate) conn_id: u64,
    tx: mpsc::UnboundedSender<Out>,
    pending: AtomicUsize,
    /// The most messages ever pending at once (the connection's closing log reports it).
    most_pending: AtomicUsize,
    /// Cancelled when the connection must close (abruptly, without a close frame).
    pub(crate) cancel: CancellationToken,
    /// Set when flow control cut the connection.
    pub(crate) overflowed: AtomicBool,
    /// Set when the connection must end without a close frame (the drop faults).
    pub(crate) abrupt: AtomicBool,
    pub(crate) coalesce: AtomicBool,
    limits: FlowLimits,
    peak_since: std::sync::Mutex<Option<Instant>>,
}

impl Outbox {
    pub(crate) fn new(conn_id: u64, limits: FlowLimits) -> (Arc<Outbox>, mpsc::UnboundedReceiver<Out>) {
        let (tx, rx) = mpsc::unbounded_channel();
        let outbox = Outbox {
            conn_id,
            tx,
            pending: AtomicUsize::new(0),
            most_pending: AtomicUsize::new(0),
            cancel: CancellationToken::new(),
            overflowed: AtomicBool::new(false),
            abrupt: AtomicBool::new(false),
            coalesce: AtomicBool::new(false),
            limits,
            peak_since: std::sync::Mutex::new(None),
        };
        (Arc::new(outbox), rx)
    }

    /// Queues a message; never waits. Returns false when the connection is (now) closed.
    pub(crate) fn push(&self, out: Out) -> bool {
        if self.cancel.is_cancelled() {
            return false;
        }
        let pending = self.pending.fetch_add(1, Ordering::AcqRel) + 1;
        // A plain load first: a new peak is rare, and a push should not pay a locked update.
        if pending > self.most_pending.load(Ordering::Relaxed) {
            self.most_pending.fetch_max(pending, Ordering::Relaxed);
        }
        if pending >= self.limits.max_pending || self.peak_exceeded(pending) {
            tracing::warn!(conn = self.conn_id, pending, "client unable to keep up with pending messages");
            self.overflowed.store(true, Ordering::Release);
            self.cancel.cancel();
            return false;
        }
        self.tx.send(out).is_ok()
    }

    fn peak_exceeded(&self, pending: usize) -> bool {
        let mut since = self.peak_since.lock().unwrap_or_else(|e| e.into_inner());
        if pending <= self.limits.peak {
            *since = None;
            return false;
        }
        let now = Instant::now();
        match *since {
            Some(start) => now.duration_since(start) >= self.limits.peak_time,
            None => {
                *since = Some(now);
                false
            }
        }
    }

    /// The peak rule without a new message (Home Assistant checks it with a timer too):
    /// cuts the connection when it has stayed over the peak for the peak time.
    pub(crate) fn check_peak(&self) {
        let pending = self.pending();
        if self.peak_exceeded(pending) {
            tracing::warn!(conn = self.conn_id, pending, "client stayed over the pending-message peak");
            self.overflowed.store(true, Ordering::Release);
            self.cancel.cancel();
        }
    }

    /// Ends the connection at once, without a close frame.
    pub(crate) fn drop_abruptly(&self) {
        self.abrupt.store(true, Ordering::Release);
        self.cancel.cancel();
    }

    /// Messages queued and not yet taken by the writer.
    pub(crate) fn pending(&self) -> usize {
        self.pending.load(Ordering::Acquire)
    }

    /// The most messages that were ever pending at once on this connection.
    pub(crate) fn most_pending(&self) -> usize {
        self.most_pending.load(Ordering::Relaxed)
    }

    /// Called by the writer when it takes `n` messages off the queue to write them: from then on
    /// they are no longer pending (Home Assistant counts its queue's length).
    pub(crate) fn dequeued(&self, n: usize) {
        self.pending.fetch_sub(n, Ordering::AcqRel);
    }
}

/// What a subscription receives.
#[derive(Debug)]
pub(crate) enum SubKind {
    /// `subscribe_events`, optionally of one type.
    Events(Option<String>),
    /// `subscribe_entities`, optionally of some entities.
    Entities(Option<HashSet<EntityId>>),
    /// `subscribe_trigger` with a state trigger.
    Trigger(StateTrigger),
    /// `persistent_notification/subscribe`.
    Notifications,
}

/// What happened to persistent notifications (the `type` of a
/// `persistent_notification/subscribe` event).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum NoteUpdate {
    /// The subscription's first event: every notification.
    Current,
    /// Created or replaced (Home Assistant 2024.3.3 says `added` for a replacement too).
    Added,
    /// Dismissed.
    Removed,
}

impl NoteUpdate {
    fn as_str(self) -> &'static str {
        match self {
            NoteUpdate::Current => "current",
            NoteUpdate::Added => "added",
            NoteUpdate::Removed => "removed",
        }
    }
}

/// One notification as the subscription sends it, in Home Assistant's key order.
#[derive(Serialize)]
struct NoteRef<'a> {
    message: &'a str,
    notification_id: &'a str,
    title: Option<&'a str>,
    created_at: Timestamp,
}

/// The event body of a `persistent_notification/subscribe` event:
/// `{"type":"added","notifications":{"<id>":{"message":…,"notification_id":…,"title":…,"created_at":…}}}`.
pub(crate) fn encode_notifications(update: NoteUpdate, notes: &[Notification]) -> Arc<str> {
    let mut out = String::with_capacity(64 + notes.len() * 128);
    out.push_str("{\"type\":\"");
    out.push_str(update.as_str());
    out.push_str("\",\"notifications\":{");
    for (i, note) in notes.iter().enumerate() {
        if i > 0 {
            out.push(',');
        }
        out.push_str(&serde_json::to_string(&note.notification_id).expect("strings serialise"));
        out.push(':');
        let body = NoteRef {
            message: &note.message,
            notification_id: &note.notification_id,
            title: note.title.as_deref(),
            created_at: note.created_at,
        };
        out.push_str(&serde_json::to_string(&body).expect("notifications serialise"));
    }
    out.push_str("}}");
    out.into()
}

#[derive(Debug)]
struct Sub {
    outbox: Arc<Outbox>,
    id: u64,
    kind: SubKind,
}

/// The live subscriptions of every connection.
#[derive(Debug, Default)]
pub(crate) struct Hub {
    subs: Vec<Sub>,
    /// The number of live subscriptions, for tests that wait for a (re)subscription.
    count: watch::Sender<usize>,
}

/// Events that `subscribe_events` without a type does not receive (Home Assistant's
/// `EVENTS_EXCLUDED_FROM_MATCH_ALL`).
const NOT_FOR_MATCH_ALL: &[&str] = &["homeassistant_close", "state_reported"];

#[derive(Serialize)]
struct StateChangedRef<'a> {
    entity_id: &'a EntityId,
    old_state: Option<&'a State>,
    new_state: Option<&'a State>,
}

impl Hub {
    pub(crate) fn add(&mut self, outbox: Arc<Outbox>, id: u64, kind: SubKind) {
        self.subs.push(Sub { outbox, id, kind });
        self.counted();
    }

    /// Removes one subscription of a connection; whether it existed.
    pub(crate) fn remove(&mut self, conn_id: u64, id: u64) -> bool {
        let before = self.subs.len();
        self.subs.retain(|s| !(s.outbox.conn_id == conn_id && s.id == id));
        self.counted();
        before != self.subs.len()
    }

    /// Drops every subscription of a connection.
    pub(crate) fn remove_conn(&mut self, conn_id: u64) {
        self.subs.retain(|s| s.outbox.conn_id != conn_id);
        self.counted();
    }

    /// Drops every subscription.
    pub(crate) fn clear(&mut self) {
        self.subs.clear();
        self.counted();
    }

    /// Watches the number of live subscriptions.
    pub(crate) fn count(&self) -> watch::Receiver<usize> {
        self.count.subscribe()
    }

    fn counted(&self) {
        self.count.send_replace(self.subs.len());
    }

    /// Every `subscribe_entities` subscription that receives changes of `entity_id`: its
    /// connection's queue and its id.
    pub(crate) fn entities_subscribers(&self, entity_id: &str) -> Vec<(Arc<Outbox>, u64)> {
        self.subs
            .iter()
            .filter(|s| match &s.kind {
                SubKind::Entities(None) => true,
                SubKind::Entities(Some(ids)) => ids.iter().any(|id| id.as_str() == entity_id),
                _ => false,
            })
            .map(|s| (Arc::clone(&s.outbox), s.id))
            .collect()
    }

    /// Listener counts per event type (`GET /api/events`).
    pub(crate) fn listener_counts(&self) -> Vec<(String, u64)> {
        let mut counts: std::collections::BTreeMap<String, u64> = std::collections::BTreeMap::new();
        for sub in &self.subs {
            let name = match &sub.kind {
                SubKind::Events(Some(t)) => t.clone(),
                SubKind::Events(None) => "*".to_owned(),
                SubKind::Entities(_) | SubKind::Trigger(_) => "state_changed".to_owned(),
                // Home Assistant's notification subscriptions are dispatcher signals, not
                // bus listeners.
                SubKind::Notifications => continue,
            };
            *counts.entry(name).or_default() += 1;
        }
        counts.into_iter().collect()
    }

    /// Sends a state change to every interested subscriber, serialising each form once.
    pub(crate) fn state_changed(&mut self, change: &Change) {
        let mut full: Option<Arc<str>> = None;
        let mut compressed: Option<Arc<str>> = None;
        let mut fired: Option<Arc<str>> = None;
        let mut closed = false;
        for sub in &self.subs {
            let mut bus = true;
            let body = match &sub.kind {
                SubKind::Events(filter) => {
                    if filter.as_deref().is_some_and(|t| t != ha_proto::STATE_CHANGED) {
                        continue;
                    }
                    full.get_or_insert_with(|| encode_state_changed(change)).clone()
                }
                SubKind::Entities(filter) => {
                    if filter.as_ref().is_some_and(|f| !f.contains(&change.entity_id)) {
                        continue;
                    }
                    compressed.get_or_insert_with(|| encode_compressed(change)).clone()
                }
                SubKind::Notifications => continue,
                SubKind::Trigger(trigger) => {
                    let (old, new) = (change.old.as_deref(), change.new.as_deref());
                    if !trigger.fires(old, new) {
                        continue;
                    }
                    let (Some(old), Some(new)) = (old, new) else { continue };
                    bus = false;
                    fired
                        .get_or_insert_with(|| {
                            serde_json::to_string(&StateTrigger::event(old, new)).expect("serialises").into()
                        })
                        .clone()
                }
            };
            let out = if bus { Out::BusEvent { id: sub.id, body } } else { Out::Event { id: sub.id, body } };
            closed |= !sub.outbox.push(out);
        }
        if closed {
            self.subs.retain(|s| !s.outbox.cancel.is_cancelled());
            self.counted();
        }
    }

    /// Sends any other event to `subscribe_events` subscribers.
    pub(crate) fn event(&mut self, event_type: &str, data: RawJson<'_>, context: &Context, time_fired: Timestamp) {
        let mut body: Option<Arc<str>> = None;
        let mut closed = false;
        for sub in &self.subs {
            let wanted = match &sub.kind {
                SubKind::Events(Some(t)) => t == event_type,
                SubKind::Events(None) => !NOT_FOR_MATCH_ALL.contains(&event_type),
                SubKind::Entities(_) | SubKind::Trigger(_) | SubKind::Notifications => false,
            };
            if !wanted {
                continue;
            }
            let body = body
                .get_or_insert_with(|| {
                    let event = Event {
                        event_type: event_type.into(),
                        data: data.clone(),
                        origin: Some("LOCAL".into()),
                        time_fired,
                        context: context.clone(),
                    };
                    serde_json::to_string(&event).expect("events serialise").into()
                })
                .clone();
            closed |= !sub.outbox.push(Out::BusEvent { id: sub.id, body });
        }
        if closed {
            self.subs.retain(|s| !s.outbox.cancel.is_cancelled());
            self.counted();
        }
    }
    /// Tells `persistent_notification/subscribe` subscribers that notifications were added
    /// or removed (nothing is sent for an empty list).
    pub(crate) fn notifications(&mut self, update: NoteUpdate, notes: &[Notification]) {
        if notes.is_empty() {
            return;
        }
        let mut body: Option<Arc<str>> = None;
        let mut closed = false;
        for sub in &self.subs {
            if !matches!(sub.kind, SubKind::Notifications) {
                continue;
            }
            let body = body.get_or_insert_with(|| encode_notifications(update, notes)).clone();
            closed |= !sub.outbox.push(Out::Event { id: sub.id, body });
        }
        if closed {
            self.subs.retain(|s| !s.outbox.cancel.is_cancelled());
            self.counted();
        }
    }
}

/// The `event` object of a `state_changed` event.
pub(crate) fn encode_state_changed(change: &Change) -> Arc<str> {
    let data = StateChangedRef {
        entity_id: &change.entity_id,
        old_state: change.old.as_deref(),
        new_state: change.new.as_deref(),
    };
    let event = Event {
        event_type: ha_proto::STATE_CHANGED.into(),
        data: RawJson::from_value(&data),
        origin: Some("LOCAL".into()),
        time_fired: change.time_fired,
        context: change.context.clone(),
    };
    serde_json::to_string(&event).expect("events serialise").into()
}

/// The `subscribe_entities` event for one change: `a`, `c` or `r`.
pub(crate) fn encode_compressed(change: &Change) -> Arc<str> {
    let key = EntityKey::from(&change.entity_id);
    let event = match (&change.old, &change.new) {
        (Some(old), Some(new)) => {
            CompressedEvent { changed: vec![(key, StateDiff::between(old, new))], ..CompressedEvent::default() }
        }
        (None, Some(new)) => {
            CompressedEvent { added: vec![(key, CompressedState::from_state(new))], ..CompressedEvent::default() }
        }
        _ => CompressedEvent { removed: vec![key], ..CompressedEvent::default() },
    };
    serde_json::to_string(&event).expect("compressed events serialise").into()
}

/// The snapshot event of `subscribe_entities`: every (filtered) state under `a`, joined from
/// each state's cached entry.
///
/// Home Assistant caches each state object's compressed JSON (`as_compressed_state_json`), so its
/// snapshot of a large installation is a join of ready bytes. Serialising 16,384 states afresh
/// took ha-sim 10-60 ms under the core lock, during which the load generator owed its stream; it
/// then emitted that backlog at once to a connection whose writer was still busy with the 5 MB
/// snapshot. At 64,000 changes/s that alone was up to 3,200 of the 4,096 messages flow control
/// allows, and the load test's hold saw new connections cut before their first diff.
///
/// States are immutable and replaced on change (`Arc<State>`), so an entry is keyed by the state
/// object it was made from and holds it, which keeps the key's address from being reused while
/// the entry lives.
#[derive(Debug, Default)]
pub(crate) struct SnapshotCache {
    /// `"<entity_id>":{<compressed state>}` by the address of the state it encodes.
    entries: std::collections::HashMap<usize, (Arc<State>, Box<str>)>,
    /// The length of the last snapshot, to size the next one.
    last_len: usize,
}

impl SnapshotCache {
    /// The snapshot event of `states`, byte for byte what serialising a [`CompressedEvent`] of
    /// them gives.
    pub(crate) fn encode<'s>(&mut self, states: impl Iterator<Item = &'s Arc<State>>) -> Arc<str> {
        // Entries of states only the cache still holds are stale: the world replaced them.
        self.entries.retain(|_, (state, _)| Arc::strong_count(state) > 1);
        let mut text = String::with_capacity(self.last_len);
        text.push_str(r#"{"a":{"#);
        let mut first = true;
        for state in states {
            let (_, entry) = self
                .entries
                .entry(Arc::as_ptr(state) as usize)
                .or_insert_with(|| (Arc::clone(state), encode_entry(state)));
            if !first {
                text.push(',');
            }
            first = false;
            text.push_str(entry);
        }
        text.push_str("}}");
        self.last_len = text.len();
        // Home Assistant sends `{"a":{}}` when nothing matches, which this is then too.
        text.into()
    }
}

/// One entry of a snapshot's `a` map: the entity id and its compressed state.
fn encode_entry(state: &State) -> Box<str> {
    let key = serde_json::to_string(&EntityKey::from(&state.entity_id)).expect("entity ids serialise");
    let value = serde_json::to_string(&CompressedState::from_state(state)).expect("compressed states serialise");
    let mut entry = String::with_capacity(key.len() + 1 + value.len());
    entry.push_str(&key);
    entry.push(':');
    entry.push_str(&value);
    entry.into_boxed_str()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::world::World;

    /// What serde writes for the compressed event of `states` (the snapshot before the cache).
    fn serde_snapshot<'s>(states: impl Iterator<Item = &'s Arc<State>>) -> String {
        let added = states.map(|s| (EntityKey::from(&s.entity_id), CompressedState::from_state(s))).collect();
        serde_json::to_string(&CompressedEvent { added, ..CompressedEvent::default() }).unwrap()
    }

    #[test]
    fn a_snapshot_is_what_serde_writes_for_its_compressed_event() {
        let world = World::new(7, 300, 16);
        let mut cache = SnapshotCache::default();

        let text = cache.encode(world.states().iter());

        assert_eq!(*text, *serde_snapshot(world.states().iter()));
    }

    /// A world of 300 entities whose every state `cache` encoded, then 500 changes later.
    fn changed_after_caching(cache: &mut SnapshotCache, history: usize) -> World {
        let mut world = World::new(7, 300, history);
        cache.encode(world.states().iter());
        for _ in 0..500 {
            world.next_change();
        }
        world
    }

    #[test]
    fn a_snapshot_after_changes_holds_the_new_states_not_the_cached_ones() {
        let mut cache = SnapshotCache::default();
        let world = changed_after_caching(&mut cache, 16);

        let text = cache.encode(world.states().iter());

        assert_eq!(*text, *serde_snapshot(world.states().iter()));
    }

    #[test]
    fn a_filtered_snapshot_holds_only_the_filtered_states() {
        let world = World::new(7, 300, 16);
        let mut cache = SnapshotCache::default();
        cache.encode(world.states().iter());
        let lights = || world.states().iter().filter(|s| s.entity_id.domain() == "light");

        let text = cache.encode(lights());

        assert_eq!(*text, *serde_snapshot(lights()));
    }

    #[test]
    fn a_snapshot_of_nothing_is_an_empty_added_map() {
        let mut cache = SnapshotCache::default();

        let text = cache.encode(std::iter::empty());

        assert_eq!(&*text, r#"{"a":{}}"#);
    }

    #[test]
    fn the_snapshot_cache_drops_the_entries_of_replaced_states() {
        let mut cache = SnapshotCache::default();
        let world = changed_after_caching(&mut cache, 0);

        cache.encode(world.states().iter());

        assert_eq!(cache.entries.len(), world.states().len());
    }

    fn limits() -> FlowLimits {
        FlowLimits { max_pending: 100, peak: 5, peak_time: Duration::from_secs(10) }
    }

    #[tokio::test(start_paused = true)]
    async fn a_client_over_the_peak_for_the_peak_time_is_cut() {
        let (outbox, _rx) = Outbox::new(1, limits());
        for _ in 0..10 {
            assert!(outbox.push(Out::Msg(String::new())));
        }

        tokio::time::advance(Duration::from_secs(10)).await;
        let accepted = outbox.push(Out::Msg(String::new()));

        assert!(!accepted);
        assert!(outbox.cancel.is_cancelled());
    }

    #[tokio::test(start_paused = true)]
    async fn dropping_below_the_peak_resets_the_peak_timer() {
        let (outbox, _rx) = Outbox::new(1, limits());
        for _ in 0..10 {
            outbox.push(Out::Msg(String::new()));
        }
        outbox.dequeued(10);
        outbox.push(Out::Msg(String::new()));

        tokio::time::advance(Duration::from_secs(10)).await;
        let accepted = outbox.push(Out::Msg(String::new()));

        assert!(accepted);
    }

    #[tokio::test(start_paused = true)]
    async fn staying_over_the_peak_is_cut_even_without_new_messages() {
        let (outbox, _rx) = Outbox::new(1, limits());
        for _ in 0..10 {
            outbox.push(Out::Msg(String::new()));
        }

        tokio::time::advance(Duration::from_secs(10)).await;
        outbox.check_peak();

        assert!(outbox.cancel.is_cancelled());
    }

    #[test]
    fn max_pending_cuts_at_once() {
        let (outbox, _rx) =
            Outbox::new(1, FlowLimits { max_pending: 3, peak: 100, peak_time: Duration::from_secs(10) });

        let results: Vec<bool> = (0..3).map(|_| outbox.push(Out::Msg(String::new()))).collect();

        assert_eq!(results, [true, true, false]);
        assert!(outbox.overflowed.load(Ordering::Acquire));
    }
}
