//! Handles of live subscriptions: [`Subscription`] (a stream of events) and [`Mirror`] (an
//! entity store the connection task keeps current, plus its change stream). Dropping a
//! handle unsubscribes.

use std::pin::Pin;
use std::sync::{Arc, RwLock, RwLockReadGuard};
use std::task::{Context, Poll};

use futures_util::Stream;
use ha_proto::State;
use ha_state::{ChangeReport, EntityStore};
use tokio::sync::{mpsc, watch};

use crate::conn::{Request, SubKey};
use crate::freshness::Freshness;
use crate::stream::{RingReceiver, StreamItem};

/// Sends `unsubscribe` for its subscription when dropped.
#[derive(Debug)]
pub(crate) struct SubscriptionGuard {
    pub(crate) tx: mpsc::WeakUnboundedSender<Request>,
    pub(crate) key: SubKey,
}

impl Drop for SubscriptionGuard {
    fn drop(&mut self) {
        if let Some(tx) = self.tx.upgrade() {
            let _ = tx.send(Request::Unsubscribe { key: self.key });
        }
    }
}

/// A live subscription: a [`Stream`] of [`StreamItem`]s that survives reconnects (it is
/// re-issued on the new connection and says [`StreamItem::Reconnected`]), reports
/// [`StreamItem::Lagged`] when the consumer falls behind, and ends when the client stops.
/// Dropping it unsubscribes.
#[derive(Debug)]
pub struct Subscription<T> {
    pub(crate) rx: RingReceiver<T>,
    pub(crate) _guard: SubscriptionGuard,
}

impl<T> Stream for Subscription<T> {
    type Item = StreamItem<T>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.rx).poll_next(cx)
    }
}

impl<T> Subscription<T> {
    /// Items waiting to be read.
    pub fn backlog(&self) -> usize {
        self.rx.len()
    }
}

/// A live mirror of Home Assistant's entities (`subscribe_entities`).
///
/// The store is updated by the connection task as events arrive, so reading it always gives
/// the latest state, whether or not anyone reads [`Mirror::changes`]. After a reconnect the
/// store is replaced by the fresh snapshot (entities deleted meanwhile disappear). Hold
/// read guards briefly: the connection task waits for them to apply the next change.
/// Dropping the mirror unsubscribes (clones of [`Mirror::store`] then stop updating).
///
/// The store never pretends to be current: [`Mirror::freshness`] says whether it is
/// [`Freshness::Current`], [`Freshness::Resyncing`] since some time (while the client
/// reconnects, or re-subscribes after a refusal, retried with the connection's backoff), or
/// [`Freshness::Ended`] with the error (Home Assistant answered the re-subscribe with
/// `unknown_command` or `unauthorized`, or the client stopped). While not current, reads
/// return the last content the mirror had.
#[derive(Debug)]
pub struct Mirror {
    pub(crate) store: Arc<RwLock<EntityStore>>,
    pub(crate) changes: Subscription<ChangeReport>,
    pub(crate) snapshots: watch::Receiver<u64>,
    pub(crate) freshness: watch::Receiver<Freshness>,
}

impl Mirror {
    /// The shared store.
    pub fn store(&self) -> Arc<RwLock<EntityStore>> {
        Arc::clone(&self.store)
    }

    /// Read access to the store.
    pub fn read(&self) -> RwLockReadGuard<'_, EntityStore> {
        self.store.read().unwrap_or_else(|p| p.into_inner())
    }

    /// Every mirrored state, sorted by entity id.
    pub fn states(&self) -> Vec<State> {
        self.read().to_states()
    }

    /// One mirrored state.
    pub fn get(&self, entity_id: &str) -> Option<State> {
        self.read().get(entity_id)
    }

    /// Number of mirrored entities.
    pub fn len(&self) -> usize {
        self.read().len()
    }

    /// Whether the mirror holds no entity.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The change stream: one [`ChangeReport`] per frame that changed the mirror (a
    /// coalesced frame may carry many events), and one per snapshot.
    pub fn changes(&mut self) -> &mut Subscription<ChangeReport> {
        &mut self.changes
    }

    /// How many snapshots have been applied: 1 after subscribing, +1 for each resync
    /// (after a reconnect, or after the mirror diverged).
    pub fn snapshots(&self) -> u64 {
        *self.snapshots.borrow()
    }

    /// Whether the mirror is current, resyncing (since when, and the last error), or ended.
    pub fn freshness(&self) -> Freshness {
        self.freshness.borrow().clone()
    }

    /// Whether the mirror is current (cheaper than [`Mirror::freshness`]: nothing is cloned).
    pub fn is_current(&self) -> bool {
        self.freshness.borrow().is_current()
    }

    /// A receiver that sees every change of [`Mirror::freshness`]; it keeps the last value
    /// (for example [`Freshness::Ended`]) after the mirror stopped.
    pub fn watch_freshness(&self) -> watch::Receiver<Freshness> {
        self.freshness.clone()
    }

    /// Waits until at least `n` snapshots have been applied. Fails when the subscription ended.
    pub async fn wait_for_snapshot(&mut self, n: u64) -> Result<u64, crate::ClientError> {
        self.snapshots.wait_for(|have| *have >= n).await.map(|have| *have).map_err(|_| crate::ClientError::Shutdown)
    }
}

impl Stream for Mirror {
    type Item = StreamItem<ChangeReport>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        Pin::new(&mut self.changes).poll_next(cx)
    }
}
