//! Background load: state changes at the configured rate, drawn from the fixtures' change
//! stream (a few chatty entities produce most of them), fanned out in small batches.

use std::sync::Arc;
use std::time::Duration;

use tokio::time::{Instant, MissedTickBehavior};

use crate::Shared;

/// How often the generator wakes; each wake emits what the rate owes since the last one.
const TICK: Duration = Duration::from_millis(5);

/// Most changes emitted under one lock (keeps command latency low when far behind).
const MAX_BATCH: u64 = 2_000;

/// Emits `rate` changes per second until the simulator stops.
pub(crate) async fn run(shared: Arc<Shared>) {
    let rate = shared.config.rate;
    let start = Instant::now();
    let mut emitted: u64 = 0;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(MissedTickBehavior::Skip);
    loop {
        tokio::select! {
            _ = ticker.tick() => {}
            () = shared.shutdown.cancelled() => return,
        }
        let owed = (start.elapsed().as_secs_f64() * rate) as u64;
        // After a stall (a starved CPU, a long snapshot), make up at most one second's
        // worth: a larger burst would only trip every client's flow control.
        emitted = emitted.max(owed.saturating_sub(rate.ceil() as u64));
        while emitted < owed {
            let batch = (owed - emitted).min(MAX_BATCH);
            {
                let mut core = shared.core();
                for _ in 0..batch {
                    if let Some(change) = core.world.next_change() {
                        core.publish(&change);
                    }
                }
            }
            emitted += batch;
            shared.load_changes.fetch_add(batch, std::sync::atomic::Ordering::Relaxed);
            if emitted < owed {
                tokio::task::yield_now().await;
            }
        }
    }
}
