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
const MAX_BATCH: u64 = 256;

/// The changes to emit under one lock, of the `owed` still due: at most [`MAX_BATCH`], and at most
/// a quarter of what flow control lets a connection fall behind (`max_pending`). The connections'
/// writers, woken by a batch, run only once the generator yields (tokio puts a task woken by
/// another on that worker's own next-task slot, which the other worker cannot take). A batch of
/// 2,000 behind a stall (a starved CPU), two of them before the writer ran, cut clients that had
/// read everything sent to them: in the load test's hold at 102,400 changes/s on 2 cores, a
/// connection whose writer was idle 80-90% of each second still had 2,000-4,096 messages queued
/// when the writer woke; with batches of 256, at most about 550 in steady state.
fn batch_size(owed: u64, max_pending: usize) -> u64 {
    owed.min(MAX_BATCH).min(quarter_of_flow_control(max_pending))
}

/// A quarter of what flow control lets a connection fall behind, at least 1: the most the
/// generator queues at once, in a batch or after a stall.
fn quarter_of_flow_control(max_pending: usize) -> u64 {
    u64::try_from(max_pending / 4).unwrap_or(u64::MAX).max(1)
}

/// The most changes the generator makes up after a stall of its own (a starved CPU, the core lock
/// held for a snapshot): two ticks' worth, and at least a quarter of what flow control lets a
/// connection fall behind (`max_pending`). The rest of what the stall owes is never made: a server
/// that stalls delays its changes, it does not send them at once (Home Assistant, stalled by a
/// long task in its event loop, then works through what its callers queued meanwhile, at its own
/// pace). Until 2026-12-08 a stall was made up to one second's worth, so the 22-88 ms for which a
/// snapshot of 16,384 states held the core lock at 50,000 changes/s (every state changed since the
/// last snapshot, so none of them was cached) came out as one burst of 1,100-4,400 messages to a
/// connection whose writer was still busy with that snapshot, and flow control (4,096) cut the
/// client as it started: in 2 of 6 runs at 50,000/s and 3 of 3 at 100,000/s, none of 9 with this
/// limit (docs/performance.md, twenty-second round). The client then reconnected and loaded the
/// snapshot again, which is what peaked its memory at 26-38 MB instead of 19 MB.
fn catch_up_limit(rate: f64, max_pending: usize) -> u64 {
    let two_ticks = (rate * 2.0 * TICK.as_secs_f64()).ceil() as u64;
    two_ticks.max(quarter_of_flow_control(max_pending))
}

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
        emitted = emitted.max(owed.saturating_sub(catch_up_limit(rate, shared.config.max_pending)));
        while emitted < owed {
            let batch = batch_size(owed - emitted, shared.config.max_pending);
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_batch_is_at_most_a_quarter_of_the_flow_control_limit() {
        let batches =
            [batch_size(100_000, 4096), batch_size(100_000, 400), batch_size(100_000, 2), batch_size(50, 4096)];

        assert_eq!(batches, [256, 100, 1, 50]);
    }

    #[test]
    fn a_stall_is_made_up_to_two_ticks_or_a_quarter_of_the_flow_control_limit() {
        let limits = [
            catch_up_limit(50_000.0, 4096),
            catch_up_limit(256_000.0, 4096),
            catch_up_limit(1_000.0, 4096),
            catch_up_limit(1_000.0, 2),
        ];

        assert_eq!(limits, [1024, 2560, 1024, 10]);
    }
}
