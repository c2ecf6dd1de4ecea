//! The metrics hapulse records about itself and the installation it watches, with one method per
//! thing that happens.

use std::sync::Arc;
use std::time::Duration;

use crate::procfs::{CpuMeter, ProcessSample};
use crate::registry::{Activity, Family, MetricDesc, Registry, Unit};
use crate::{Counter, Gauge, Histogram, Millis, RECORDER_ATTRIBUTE_LIMIT};

/// Metric names, for rules, sensors and dashboards.
pub mod names {
    /// Events received (any subscription).
    pub const EVENTS: &str = "hapulse_events_total";
    /// Bytes of WebSocket text received.
    pub const RECEIVED_BYTES: &str = "hapulse_received_bytes_total";
    /// State changes applied, by domain.
    pub const STATE_CHANGES: &str = "hapulse_state_changes_total";
    /// Command round-trip time, by command type.
    pub const COMMAND_LATENCY: &str = "hapulse_command_latency_seconds";
    /// Time from an event's `time_fired` to its being applied to the mirror.
    pub const EVENT_LAG: &str = "hapulse_event_lag_seconds";
    /// WebSocket ping round-trip time.
    pub const PING_RTT: &str = "hapulse_ping_rtt_seconds";
    /// Reconnections.
    pub const RECONNECTS: &str = "hapulse_reconnects_total";
    /// State changes whose attributes exceed the recorder's limit.
    pub const OVERSIZED_ATTRIBUTES: &str = "hapulse_oversized_attributes_total";
    /// Entities in the mirror.
    pub const MIRROR_ENTITIES: &str = "hapulse_mirror_entities";
    /// Heap bytes held by the mirror (as the mirror accounts them).
    pub const MIRROR_BYTES: &str = "hapulse_mirror_bytes";
    /// How long the mirror has been out of date (resyncing or ended), in seconds; 0 while current.
    pub const MIRROR_STALE: &str = "hapulse_mirror_stale_seconds";
    /// Resident memory of the hapulse process.
    pub const RSS: &str = "hapulse_process_resident_memory_bytes";
    /// Peak resident memory of the hapulse process.
    pub const PEAK_RSS: &str = "hapulse_process_peak_resident_memory_bytes";
    /// CPU time of the hapulse process.
    pub const CPU_SECONDS: &str = "hapulse_process_cpu_seconds";
    /// CPU usage of the hapulse process (1.0 = one core).
    pub const CPU_USAGE: &str = "hapulse_process_cpu_usage_ratio";
    pub use crate::registry::{PAYLOAD_METRIC as ENTITY_ATTRIBUTES_BYTES, TOP_ENTITY_METRIC as ENTITY_CHANGE_RATE};
}

/// Most command types tracked separately (Home Assistant has a few dozen).
const MAX_COMMAND_TYPES: usize = 64;
/// Most domains tracked separately.
const MAX_DOMAINS: usize = 256;

/// Handles to every standard metric. Cheap to share (`Arc` inside); record from any thread.
#[derive(Debug, Clone)]
pub struct StdMetrics {
    /// Events received.
    pub events: Arc<Counter>,
    /// Bytes received.
    pub received_bytes: Arc<Counter>,
    /// State changes by domain.
    pub state_changes: Arc<Family<Counter>>,
    /// Command latency by command type (µs).
    pub command_latency: Arc<Family<Histogram>>,
    /// Event lag (µs).
    pub event_lag: Arc<Histogram>,
    /// Ping round-trip time (µs).
    pub ping_rtt: Arc<Histogram>,
    /// Reconnections.
    pub reconnects: Arc<Counter>,
    /// Oversized attribute sets.
    pub oversized_attributes: Arc<Counter>,
    /// Entities in the mirror.
    pub mirror_entities: Arc<Gauge>,
    /// Heap bytes of the mirror.
    pub mirror_bytes: Arc<Gauge>,
    /// Seconds the mirror has been out of date (0 while current).
    pub mirror_stale: Arc<Gauge>,
    /// RSS bytes.
    pub rss: Arc<Gauge>,
    /// Peak RSS bytes.
    pub peak_rss: Arc<Gauge>,
    /// CPU seconds.
    pub cpu_seconds: Arc<Gauge>,
    /// CPU usage ratio.
    pub cpu_usage: Arc<Gauge>,
    /// Chattiest entities and largest payloads.
    pub activity: Arc<Activity>,
}

fn desc(name: &'static str, help: &'static str, unit: Unit, label: Option<&'static str>) -> MetricDesc {
    MetricDesc { name, help, unit, label }
}

impl StdMetrics {
    /// Registers the standard metrics in `registry`.
    pub fn register(registry: &mut Registry) -> Self {
        use names::*;
        Self {
            events: registry.counter(desc(EVENTS, "Events received from Home Assistant.", Unit::Count, None)),
            received_bytes: registry.counter(desc(
                RECEIVED_BYTES,
                "Bytes of WebSocket text received.",
                Unit::Bytes,
                None,
            )),
            state_changes: registry.counter_family(
                desc(STATE_CHANGES, "State changes applied to the mirror, by domain.", Unit::Count, Some("domain")),
                MAX_DOMAINS,
            ),
            command_latency: registry.histogram_family(
                desc(COMMAND_LATENCY, "Command round-trip time, by command type.", Unit::Micros, Some("command")),
                MAX_COMMAND_TYPES,
            ),
            event_lag: registry.histogram(desc(EVENT_LAG, "Time from time_fired to applied.", Unit::Micros, None)),
            ping_rtt: registry.histogram(desc(PING_RTT, "WebSocket ping round-trip time.", Unit::Micros, None)),
            reconnects: registry.counter(desc(RECONNECTS, "Reconnections to Home Assistant.", Unit::Count, None)),
            oversized_attributes: registry.counter(desc(
                OVERSIZED_ATTRIBUTES,
                "State changes whose attributes exceed 16384 bytes (the recorder drops them).",
                Unit::Count,
                None,
            )),
            mirror_entities: registry.gauge(desc(MIRROR_ENTITIES, "Entities in the mirror.", Unit::Count, None)),
            mirror_bytes: registry.gauge(desc(MIRROR_BYTES, "Heap bytes held by the mirror.", Unit::Bytes, None)),
            mirror_stale: registry.gauge(desc(
                MIRROR_STALE,
                "Seconds the mirror has been out of date (resyncing or ended); 0 while current.",
                Unit::Count,
                None,
            )),
            rss: registry.gauge(desc(RSS, "Resident memory of the hapulse process.", Unit::Bytes, None)),
            peak_rss: registry.gauge(desc(PEAK_RSS, "Peak resident memory of the hapulse process.", Unit::Bytes, None)),
            cpu_seconds: registry.gauge(desc(CPU_SECONDS, "CPU time used by the hapulse process.", Unit::Count, None)),
            cpu_usage: registry.gauge(desc(
                CPU_USAGE,
                "CPU usage of the hapulse process (1 = one core).",
                Unit::Ratio,
                None,
            )),
            activity: Arc::clone(registry.activity()),
        }
    }

    /// An event frame of `bytes` bytes arrived.
    #[inline]
    pub fn on_event(&self, bytes: usize, now: Millis) {
        self.events.inc(now);
        self.received_bytes.add(bytes as u64, now);
    }

    /// A state change of `entity_id` with `attributes_bytes` of attribute JSON was applied, `lag`
    /// after Home Assistant fired it (`None` when unknown, e.g. compressed events without `time_fired`).
    pub fn on_state_changed(&self, entity_id: &str, attributes_bytes: usize, lag: Option<Duration>, now: Millis) {
        let domain = entity_id.split_once('.').map_or(entity_id, |(d, _)| d);
        self.state_changes.with(domain, |c| c.inc(now));
        self.activity.observe(entity_id, attributes_bytes, now);
        if attributes_bytes > RECORDER_ATTRIBUTE_LIMIT {
            self.oversized_attributes.inc(now);
        }
        if let Some(lag) = lag {
            self.event_lag.record_duration(lag, now);
        }
    }

    /// A command of type `command` (e.g. `call_service`) got its result after `latency`.
    /// For hot paths keep `command_latency.get(command)` and record on it directly.
    pub fn on_command(&self, command: &str, latency: Duration, now: Millis) {
        self.command_latency.with(command, |h| h.record_duration(latency, now));
    }

    /// A ping was answered after `rtt`.
    pub fn on_ping(&self, rtt: Duration, now: Millis) {
        self.ping_rtt.record_duration(rtt, now);
    }

    /// The connection was re-established.
    pub fn on_reconnect(&self, now: Millis) {
        self.reconnects.inc(now);
    }

    /// A process reading was taken at `now`; `cpu` turns CPU time into usage.
    pub fn on_process_sample(&self, sample: &ProcessSample, cpu: &mut CpuMeter, now: Millis) {
        self.rss.set(sample.rss_bytes as f64);
        self.peak_rss.set(sample.peak_rss_bytes as f64);
        self.cpu_seconds.set(sample.cpu.as_secs_f64());
        if let Some(usage) = cpu.update(now, sample.cpu) {
            self.cpu_usage.set(usage);
        }
    }
}
