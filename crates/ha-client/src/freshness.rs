//! How current a mirror is: [`Freshness`], set by the connection task and read by the
//! [`crate::Mirror`]'s holder. It lives in a `watch` channel beside the store (not behind the
//! store's lock), so reading it never waits for a change being applied and `Mirror::read`
//! stays as cheap as before. Times come from tokio's clock, so tests can pause it.

use std::time::Duration;

use tokio::sync::watch;
use tokio::time::Instant;

use crate::error::ClientError;

/// Whether a [`crate::Mirror`] shows Home Assistant as it is now.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub enum Freshness {
    /// The mirror holds the latest snapshot and every change since.
    Current,
    /// The mirror may be out of date since `since`, and a fresh snapshot is on its way: the
    /// connection is being re-established, or the subscription is being re-issued (after a
    /// refused re-subscribe, retried with the connection's backoff; after a malformed message;
    /// after the mirror diverged). The store keeps serving its last content meanwhile.
    Resyncing {
        /// When it stopped being current (tokio's clock); later causes keep this time.
        since: Instant,
        /// The last thing that went wrong while resyncing (`None` while nothing has yet).
        last_error: Option<ClientError>,
    },
    /// The mirror stopped for good and will never change again: Home Assistant answered the
    /// re-subscribe with `unknown_command` or `unauthorized`, or the client stopped.
    Ended {
        /// When it stopped being current (tokio's clock).
        since: Instant,
        /// Why it ended.
        error: ClientError,
    },
}

impl Freshness {
    /// Whether this is [`Freshness::Current`].
    pub fn is_current(&self) -> bool {
        matches!(self, Freshness::Current)
    }

    /// When the mirror stopped being current (`None` while it is current).
    pub fn stale_since(&self) -> Option<Instant> {
        match self {
            Freshness::Current => None,
            Freshness::Resyncing { since, .. } | Freshness::Ended { since, .. } => Some(*since),
        }
    }

    /// How long the mirror has been out of date at `now` (zero while current).
    pub fn stale_for(&self, now: Instant) -> Duration {
        self.stale_since().map_or(Duration::ZERO, |since| now.saturating_duration_since(since))
    }
}

/// The connection task's side of a mirror's freshness.
#[derive(Debug)]
pub(crate) struct FreshnessTx(watch::Sender<Freshness>);

impl FreshnessTx {
    /// A mirror waiting for its first snapshot.
    pub(crate) fn new() -> (Self, watch::Receiver<Freshness>) {
        let (tx, rx) = watch::channel(Freshness::Resyncing { since: Instant::now(), last_error: None });
        (FreshnessTx(tx), rx)
    }

    /// A fresh snapshot was applied.
    pub(crate) fn current(&self) {
        self.0.send_if_modified(|f| match f {
            Freshness::Resyncing { .. } => {
                *f = Freshness::Current;
                true
            }
            Freshness::Current | Freshness::Ended { .. } => false,
        });
    }

    /// The mirror is out of date until the next snapshot; `error` says why, when something
    /// went wrong. Keeps the time it first became stale; never revives an ended mirror.
    pub(crate) fn resyncing(&self, error: Option<ClientError>) {
        self.0.send_if_modified(|f| match f {
            Freshness::Current => {
                *f = Freshness::Resyncing { since: Instant::now(), last_error: error };
                true
            }
            Freshness::Resyncing { last_error, .. } => match error {
                Some(e) => {
                    *last_error = Some(e);
                    true
                }
                None => false,
            },
            Freshness::Ended { .. } => false,
        });
    }

    /// The mirror will never change again.
    pub(crate) fn ended(&self, error: ClientError) {
        self.0.send_modify(|f| {
            let since = f.stale_since().unwrap_or_else(Instant::now);
            *f = Freshness::Ended { since, error };
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn lost() -> ClientError {
        ClientError::ConnectionLost { reason: crate::DisconnectReason::ClosedByServer }
    }

    #[tokio::test(start_paused = true)]
    async fn staleness_keeps_its_first_time_across_later_causes() {
        let (tx, rx) = FreshnessTx::new();
        tx.current();
        let stale_at = Instant::now();

        tx.resyncing(Some(lost()));
        tokio::time::advance(Duration::from_secs(5)).await;
        tx.resyncing(None);

        let f = rx.borrow().clone();
        assert_eq!(f.stale_since(), Some(stale_at));
        assert!(matches!(f, Freshness::Resyncing { last_error: Some(ClientError::ConnectionLost { .. }), .. }));
        assert_eq!(f.stale_for(Instant::now()), Duration::from_secs(5));
    }

    #[tokio::test(start_paused = true)]
    async fn an_ended_mirror_is_never_revived_by_a_resync() {
        let (tx, rx) = FreshnessTx::new();
        tx.current();

        tx.ended(ClientError::Shutdown);
        tx.resyncing(Some(lost()));

        assert!(matches!(*rx.borrow(), Freshness::Ended { error: ClientError::Shutdown, .. }));
    }

    #[tokio::test(start_paused = true)]
    async fn a_snapshot_makes_it_current_and_zero_stale() {
        let (tx, rx) = FreshnessTx::new();
        tokio::time::advance(Duration::from_secs(3)).await;

        tx.current();

        assert!(rx.borrow().is_current());
        assert_eq!(rx.borrow().stale_for(Instant::now()), Duration::ZERO);
    }
}
