//! Bounded subscription streams that never make the producer wait: when a consumer falls
//! behind, the oldest items are dropped and the consumer receives one explicit
//! [`StreamItem::Lagged`] saying how many, before the items that survived.

use std::collections::VecDeque;
use std::fmt;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};

use futures_util::Stream;
use futures_util::task::AtomicWaker;

use crate::stats::Stats;

/// One item of a subscription stream.
#[derive(Debug, Clone, PartialEq)]
pub enum StreamItem<T> {
    /// The next item.
    Item(T),
    /// The consumer fell behind and this many items (the oldest) were dropped.
    Lagged(u64),
    /// The connection was lost and the subscription re-issued on a new one: what happened
    /// while disconnected was not seen. (Mirrors do not need this: they are replaced by a
    /// fresh snapshot, reported as a change.)
    Reconnected,
}

struct Ring<T> {
    queue: VecDeque<StreamItem<T>>,
    lagged: u64,
    closed: bool,
}

struct Shared<T> {
    ring: Mutex<Ring<T>>,
    waker: AtomicWaker,
    capacity: usize,
    stats: Arc<Stats>,
}

impl<T> Shared<T> {
    fn lock(&self) -> MutexGuard<'_, Ring<T>> {
        // A panic while holding this lock leaves the queue consistent, so ignore poisoning.
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The producing side, owned by the connection task.
pub(crate) struct RingSender<T> {
    shared: Arc<Shared<T>>,
}

/// Creates a ring channel of `capacity` items (at least 1).
pub(crate) fn ring<T>(capacity: usize, stats: Arc<Stats>) -> (RingSender<T>, RingReceiver<T>) {
    let capacity = capacity.max(1);
    let shared = Arc::new(Shared {
        ring: Mutex::new(Ring { queue: VecDeque::with_capacity(capacity.min(1024)), lagged: 0, closed: false }),
        waker: AtomicWaker::new(),
        capacity,
        stats,
    });
    (RingSender { shared: Arc::clone(&shared) }, RingReceiver { shared })
}

impl<T> RingSender<T> {
    /// Queues an item without waiting; drops the oldest item when full.
    pub(crate) fn push(&self, item: StreamItem<T>) {
        {
            let mut ring = self.shared.lock();
            if ring.queue.len() >= self.shared.capacity && ring.queue.pop_front().is_some() {
                ring.lagged += 1;
                Stats::add(&self.shared.stats.lagged, 1);
            }
            ring.queue.push_back(item);
        }
        self.shared.waker.wake();
    }

    /// Whether the receiving side is gone.
    pub(crate) fn is_closed(&self) -> bool {
        Arc::strong_count(&self.shared) == 1
    }
}

impl<T> Drop for RingSender<T> {
    fn drop(&mut self) {
        self.shared.lock().closed = true;
        self.shared.waker.wake();
    }
}

impl<T> fmt::Debug for RingSender<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingSender").field("capacity", &self.shared.capacity).finish_non_exhaustive()
    }
}

/// The consuming side: a [`Stream`] of [`StreamItem`]s that ends when the subscription ends.
pub struct RingReceiver<T> {
    shared: Arc<Shared<T>>,
}

impl<T> RingReceiver<T> {
    fn poll_item(&self, cx: &mut Context<'_>) -> Poll<Option<StreamItem<T>>> {
        let take = |ring: &mut Ring<T>| {
            if ring.lagged > 0 {
                return Some(Some(StreamItem::Lagged(std::mem::take(&mut ring.lagged))));
            }
            match ring.queue.pop_front() {
                Some(item) => Some(Some(item)),
                None if ring.closed => Some(None),
                None => None,
            }
        };
        if let Some(out) = take(&mut self.shared.lock()) {
            return Poll::Ready(out);
        }
        self.shared.waker.register(cx.waker());
        // Check again: an item may have arrived between the first look and the registration.
        match take(&mut self.shared.lock()) {
            Some(out) => Poll::Ready(out),
            None => Poll::Pending,
        }
    }

    /// Items waiting to be read.
    pub fn len(&self) -> usize {
        self.shared.lock().queue.len()
    }

    /// Whether no item is waiting.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

impl<T> Stream for RingReceiver<T> {
    type Item = StreamItem<T>;
    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.poll_item(cx)
    }
}

impl<T> fmt::Debug for RingReceiver<T> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RingReceiver").field("capacity", &self.shared.capacity).finish_non_exhaustive()
    }
}

#[cfg(test)]
mod tests {
    use futures_util::StreamExt;

    use super::*;

    fn channel(capacity: usize) -> (RingSender<u32>, RingReceiver<u32>, Arc<Stats>) {
        let stats = Arc::new(Stats::default());
        let (tx, rx) = ring(capacity, Arc::clone(&stats));
        (tx, rx, stats)
    }

    #[tokio::test]
    async fn items_arrive_in_order() {
        let (tx, mut rx, _) = channel(8);

        tx.push(StreamItem::Item(1));
        tx.push(StreamItem::Item(2));
        drop(tx);
        let got: Vec<_> = (&mut rx).collect().await;

        assert_eq!(got, [StreamItem::Item(1), StreamItem::Item(2)]);
    }

    #[tokio::test]
    async fn overflow_drops_oldest_and_reports_lagged_first() {
        let (tx, mut rx, stats) = channel(2);

        for i in 1..=5 {
            tx.push(StreamItem::Item(i));
        }
        drop(tx);
        let got: Vec<_> = (&mut rx).collect().await;

        assert_eq!(got, [StreamItem::Lagged(3), StreamItem::Item(4), StreamItem::Item(5)]);
        assert_eq!(stats.snapshot().lagged, 3);
    }

    #[tokio::test]
    async fn waiting_consumer_is_woken_by_push() {
        let (tx, mut rx, _) = channel(2);
        let consumer = tokio::spawn(async move { rx.next().await });

        tokio::task::yield_now().await;
        tx.push(StreamItem::Item(9));
        let got = consumer.await.unwrap();

        assert_eq!(got, Some(StreamItem::Item(9)));
    }

    #[test]
    fn sender_sees_dropped_receiver() {
        let (tx, rx, _) = channel(2);

        drop(rx);

        assert!(tx.is_closed());
    }
}
