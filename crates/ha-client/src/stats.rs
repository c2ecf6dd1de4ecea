//! Instrumentation: counters and latency histograms kept in atomics (no locks on the hot
//! path), and [`ClientStats`], a plain snapshot of them.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::Duration;

/// The command types the client counts separately.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum CommandKind {
    /// `get_states`.
    GetStates,
    /// `get_config`.
    GetConfig,
    /// `get_services`.
    GetServices,
    /// `call_service`.
    CallService,
    /// `fire_event`.
    FireEvent,
    /// `ping` sent by the caller (heartbeat pings are not counted here).
    Ping,
    /// `render_template`.
    RenderTemplate,
    /// `subscribe_events`.
    SubscribeEvents,
    /// `subscribe_entities`.
    SubscribeEntities,
    /// `unsubscribe_events`.
    Unsubscribe,
    /// Any other command sent through [`crate::Client::send_raw`].
    Other,
}

impl CommandKind {
    /// Every kind, in index order.
    pub const ALL: [CommandKind; 11] = [
        CommandKind::GetStates,
        CommandKind::GetConfig,
        CommandKind::GetServices,
        CommandKind::CallService,
        CommandKind::FireEvent,
        CommandKind::Ping,
        CommandKind::RenderTemplate,
        CommandKind::SubscribeEvents,
        CommandKind::SubscribeEntities,
        CommandKind::Unsubscribe,
        CommandKind::Other,
    ];

    /// The wire name (or `other`).
    pub fn as_str(self) -> &'static str {
        match self {
            CommandKind::GetStates => "get_states",
            CommandKind::GetConfig => "get_config",
            CommandKind::GetServices => "get_services",
            CommandKind::CallService => "call_service",
            CommandKind::FireEvent => "fire_event",
            CommandKind::Ping => "ping",
            CommandKind::RenderTemplate => "render_template",
            CommandKind::SubscribeEvents => "subscribe_events",
            CommandKind::SubscribeEntities => "subscribe_entities",
            CommandKind::Unsubscribe => "unsubscribe_events",
            CommandKind::Other => "other",
        }
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// Latency buckets: bucket `i` counts latencies below `2^i` microseconds (the last one
/// takes everything longer).
const BUCKETS: usize = 32;

#[derive(Debug, Default)]
struct CommandCounters {
    sent: AtomicU64,
    ok: AtomicU64,
    errors: AtomicU64,
    total_us: AtomicU64,
    max_us: AtomicU64,
    histogram: [AtomicU64; BUCKETS],
}

/// The live counters, shared by the client's handles and its connection task.
#[derive(Debug, Default)]
pub(crate) struct Stats {
    commands: [CommandCounters; CommandKind::ALL.len()],
    pub(crate) frames_in: AtomicU64,
    pub(crate) messages_in: AtomicU64,
    pub(crate) bytes_in: AtomicU64,
    pub(crate) frames_out: AtomicU64,
    pub(crate) bytes_out: AtomicU64,
    pub(crate) events_in: AtomicU64,
    pub(crate) entity_changes: AtomicU64,
    pub(crate) lagged: AtomicU64,
    pub(crate) connects: AtomicU64,
    pub(crate) reconnects: AtomicU64,
    pub(crate) resyncs: AtomicU64,
    pub(crate) read_windows: AtomicU64,
    pub(crate) malformed: AtomicU64,
    pub(crate) malformed_messages: AtomicU64,
    pub(crate) connected: AtomicU64,
}

impl Stats {
    pub(crate) fn add(counter: &AtomicU64, n: u64) {
        counter.fetch_add(n, Relaxed);
    }

    pub(crate) fn command_sent(&self, kind: CommandKind) {
        self.commands[kind.index()].sent.fetch_add(1, Relaxed);
    }

    pub(crate) fn command_done(&self, kind: CommandKind, ok: bool, latency: Duration) {
        let c = &self.commands[kind.index()];
        if ok { &c.ok } else { &c.errors }.fetch_add(1, Relaxed);
        let us = u64::try_from(latency.as_micros()).unwrap_or(u64::MAX);
        c.total_us.fetch_add(us, Relaxed);
        c.max_us.fetch_max(us, Relaxed);
        c.histogram[bucket(us)].fetch_add(1, Relaxed);
    }

    pub(crate) fn snapshot(&self) -> ClientStats {
        let get = |a: &AtomicU64| a.load(Relaxed);
        let commands = CommandKind::ALL
            .iter()
            .map(|&kind| {
                let c = &self.commands[kind.index()];
                let histogram: Vec<u64> = c.histogram.iter().map(get).collect();
                CommandStats {
                    kind,
                    sent: get(&c.sent),
                    ok: get(&c.ok),
                    errors: get(&c.errors),
                    total_latency: Duration::from_micros(get(&c.total_us)),
                    max_latency: Duration::from_micros(get(&c.max_us)),
                    p50: quantile(&histogram, 0.50),
                    p99: quantile(&histogram, 0.99),
                }
            })
            .collect();
        ClientStats {
            commands,
            frames_in: get(&self.frames_in),
            messages_in: get(&self.messages_in),
            bytes_in: get(&self.bytes_in),
            frames_out: get(&self.frames_out),
            bytes_out: get(&self.bytes_out),
            events_in: get(&self.events_in),
            entity_changes: get(&self.entity_changes),
            lagged: get(&self.lagged),
            connects: get(&self.connects),
            reconnects: get(&self.reconnects),
            resyncs: get(&self.resyncs),
            read_windows: get(&self.read_windows),
            malformed_frames: get(&self.malformed),
            malformed_messages: get(&self.malformed_messages),
            connected: get(&self.connected) == 1,
        }
    }
}

fn bucket(us: u64) -> usize {
    // Bucket i holds [2^(i-1), 2^i) microseconds; 0 holds 0.
    ((u64::BITS - us.leading_zeros()) as usize).min(BUCKETS - 1)
}

/// Upper bound of the bucket holding quantile `q` (a coarse, lock-free estimate).
fn quantile(histogram: &[u64], q: f64) -> Option<Duration> {
    let total: u64 = histogram.iter().sum();
    if total == 0 {
        return None;
    }
    let rank = ((total as f64) * q).ceil().max(1.0) as u64;
    let mut seen = 0;
    for (i, n) in histogram.iter().enumerate() {
        seen += n;
        if seen >= rank {
            return Some(Duration::from_micros(1u64 << i.min(63)));
        }
    }
    None
}

/// Counts and latencies of one command type.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CommandStats {
    /// Which command.
    pub kind: CommandKind,
    /// How many were sent.
    pub sent: u64,
    /// How many succeeded.
    pub ok: u64,
    /// How many failed (server error, timeout or lost connection).
    pub errors: u64,
    /// Sum of the latencies of finished commands.
    pub total_latency: Duration,
    /// The slowest finished command.
    pub max_latency: Duration,
    /// Median latency, rounded up to a power of two microseconds.
    pub p50: Option<Duration>,
    /// 99th percentile latency, rounded up to a power of two microseconds.
    pub p99: Option<Duration>,
}

/// A snapshot of the client's counters (cheap: a few dozen atomic loads).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClientStats {
    /// Per command type, in [`CommandKind::ALL`] order.
    pub commands: Vec<CommandStats>,
    /// WebSocket text frames received.
    pub frames_in: u64,
    /// Messages received (a coalesced frame holds several).
    pub messages_in: u64,
    /// Bytes of text frames received.
    pub bytes_in: u64,
    /// Frames sent.
    pub frames_out: u64,
    /// Bytes sent.
    pub bytes_out: u64,
    /// Subscription events received.
    pub events_in: u64,
    /// Entity changes applied to mirrors (added + changed + removed).
    pub entity_changes: u64,
    /// Stream items dropped because a consumer fell behind (each reported as `Lagged`).
    pub lagged: u64,
    /// Successful connections (first one included).
    pub connects: u64,
    /// Successful reconnections.
    pub reconnects: u64,
    /// Mirrors replaced by a fresh snapshot after a reconnect or resubscribe.
    pub resyncs: u64,
    /// Times reads began to be held back ([`ClientConfig::read_batching`]); 0 without it. A stream
    /// busy enough to reach the batch size within every window stays held: it counts once.
    ///
    /// [`ClientConfig::read_batching`]: crate::ClientConfig::read_batching
    pub read_windows: u64,
    /// Connections reset because of a malformed frame (not JSON, not a frame, or holding a
    /// bad message whose `id` cannot be read).
    pub malformed_frames: u64,
    /// Malformed messages skipped without a reconnect: their `id` could be read, so only the
    /// command they answered failed, or only the subscription they belonged to was resynced.
    pub malformed_messages: u64,
    /// Whether the WebSocket is connected right now.
    pub connected: bool,
}

impl ClientStats {
    /// The stats of one command type.
    pub fn command(&self, kind: CommandKind) -> &CommandStats {
        &self.commands[kind.index()]
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn finished_commands_are_counted_per_kind() {
        let stats = Stats::default();

        stats.command_sent(CommandKind::Ping);
        stats.command_done(CommandKind::Ping, true, Duration::from_micros(300));
        stats.command_sent(CommandKind::CallService);
        stats.command_done(CommandKind::CallService, false, Duration::from_millis(2));
        let snap = stats.snapshot();

        assert_eq!((snap.command(CommandKind::Ping).sent, snap.command(CommandKind::Ping).ok), (1, 1));
        assert_eq!(snap.command(CommandKind::CallService).errors, 1);
        assert_eq!(snap.command(CommandKind::GetStates).sent, 0);
    }

    #[test]
    fn quantiles_are_bucket_upper_bounds() {
        let stats = Stats::default();

        for _ in 0..99 {
            stats.command_done(CommandKind::Ping, true, Duration::from_micros(100));
        }
        stats.command_done(CommandKind::Ping, true, Duration::from_millis(50));
        let ping = stats.snapshot().command(CommandKind::Ping).clone();

        assert_eq!(ping.p50, Some(Duration::from_micros(128)));
        assert_eq!(ping.p99, Some(Duration::from_micros(128)));
        assert_eq!(ping.max_latency, Duration::from_millis(50));
    }

    #[test]
    fn no_samples_means_no_quantile() {
        let stats = Stats::default();

        let snap = stats.snapshot();

        assert_eq!(snap.command(CommandKind::Ping).p99, None);
    }
}
