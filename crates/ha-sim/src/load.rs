//! Background load: state changes at the configured rate, drawn from the fixtures' change
//! stream (a few chatty entities produce most of them), fanned out in small batches.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use tokio::sync::Notify;
use tokio::time::{Instant, MissedTickBehavior};

use crate::Shared;

/// How often the generator wakes; each wake emits what the rate owes since the last one.
const TICK: Duration = Duration::from_millis(5);

/// Most changes emitted under one lock (keeps command latency low when far behind).
const MAX_BATCH: u64 = 2_000;

/// The rate, changeable while running (`Sim::set_rate`).
#[derive(Debug, Default)]
pub(crate) struct Rate {
    bits: AtomicU64,
    changed: Notify,
}

impl Rate {
    pub(crate) fn new(per_second: f64) -> Self {
        Rate { bits: AtomicU64::new(sanitize(per_second).to_bits()), changed: Notify::new() }
    }

    pub(crate) fn get(&self) -> f64 {
        f64::from_bits(self.bits.load(Ordering::Acquire))
    }

    pub(crate) fn set(&self, per_second: f64) {
        self.bits.store(sanitize(per_second).to_bits(), Ordering::Release);
        self.changed.notify_waiters();
    }
}

fn sanitize(rate: f64) -> f64 {
    if rate.is_finite() && rate > 0.0 { rate } else { 0.0 }
}

/// Emits changes at the current rate until the simulator stops; idles (no timer) at rate 0.
pub(crate) async fn run(shared: Arc<Shared>) {
    loop {
        let changed = shared.rate.changed.notified();
        let rate = shared.rate.get();
        let work = async {
            if rate == 0.0 {
                changed.await;
            } else {
                emit_at(&shared, rate).await;
            }
        };
        tokio::select! {
            () = work => {}
            () = shared.shutdown.cancelled() => return,
        }
    }
}

/// Emits `rate` changes per second until the rate changes.
async fn emit_at(shared: &Shared, rate: f64) {
    let start = Instant::now();
    let mut emitted: u64 = 0;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        ticker.tick().await;
        if shared.rate.get() != rate {
            return;
        }
        let owed = (start.elapsed().as_secs_f64() * rate) as u64;
        // After a stall (a starved CPU, a long snapshot), make up at most one second's
        // worth: a larger burst would only trip every client's flow control.
        emitted = emitted.max(owed.saturating_sub(rate.ceil() as u64));
        while emitted < owed {
            let batch = (owed - emitted).min(MAX_BATCH);
            {
                let mut core = shared.core();
                if shared.rate.get() != rate {
                    // `set_rate` changed it: no batch at the old rate once it returned.
                    return;
                }
                for _ in 0..batch {
                    if let Some(change) = core.world.next_change() {
                        core.publish(&change);
                    }
                }
            }
            emitted += batch;
            shared.load_changes.fetch_add(batch, Ordering::Relaxed);
            if emitted < owed {
                tokio::task::yield_now().await;
            }
        }
    }
}
