//! Real-time metrics and alerting for hapulse: a pure core, no sockets and no clock.
//!
//! - Record: [`Counter`], [`Gauge`] and [`Histogram`] take `&self` and never lock; histograms keep
//!   per-interval atomic buckets (1 s × 10 and 10 s × 30 by default) and answer p50 / p90 / p99 /
//!   max over sliding windows through HdrHistogram. [`StdMetrics`] registers hapulse's own metrics
//!   (command latency per type, event lag, events, reconnects, RSS, CPU, state changes per domain)
//!   and the bounded entity views: chattiest entities (space-saving top-K) and largest attribute
//!   payloads (over 16 KiB the recorder drops them).
//! - Read: [`Registry::snapshot`] gives plain data; [`Registry::query`] one number
//!   ([`Query`] = metric, optional label, [`Aggregation`], window).
//! - Alert: [`rules::RuleSet`] parses TOML rules (errors name line and key) on top of built-in
//!   defaults; [`alert::AlertEngine`] steps inactive → pending → firing → resolved with hysteresis.
//! - Sinks: [`exposition::render`] writes Prometheus text; [`publish::plan`] decides which
//!   `sensor.hapulse_*` states and persistent notifications to send, rate-limited and coalesced.
//! - Process: [`procfs::read_self`] reads own RSS and CPU time (pure parsers beside it).
//!
//! Time is [`Millis`] on a monotonic clock, passed in as `now`.
//!
//! ```
//! use std::time::Duration;
//! use ha_monitor::alert::AlertEngine;
//! use ha_monitor::publish::{self, PublisherConfig, PublisherState};
//! use ha_monitor::rules::RuleSet;
//! use ha_monitor::{Aggregation, Millis, Query, Registry, StdMetrics, exposition, names};
//!
//! // Start-up: register the metrics, load the rules (defaults plus the user's), check them.
//! let mut registry = Registry::default();
//! let metrics = StdMetrics::register(&mut registry);
//! let rules = RuleSet::parse(r#"
//!     [[rule]]
//!     name = "slow_services"
//!     metric = "hapulse_command_latency_seconds"
//!     labels = { command = "call_service" }
//!     aggregation = "p99"
//!     window = "1m"
//!     above = "2s"
//!     resolve = "1s"
//!     for = "30s"
//! "#)?;
//! rules.check(&registry)?;
//! let mut alerts = AlertEngine::new(rules);
//!
//! // Hot path: record what happens (any thread, no locks on counters and histograms).
//! for s in 0..60 {
//!     let now = Millis(s * 1000);
//!     metrics.on_event(350, now);
//!     metrics.on_state_changed("sensor.power", 120, Some(Duration::from_millis(4)), now);
//!     metrics.on_command("call_service", Duration::from_millis(2500), now);
//!     alerts.evaluate(&registry, now);
//! }
//!
//! // Read: one number, the alert states, Prometheus text, what to publish into Home Assistant.
//! let now = Millis(60_000);
//! let p99 = registry.query(&Query::new(names::COMMAND_LATENCY, Aggregation::P99, Duration::from_secs(60)), now);
//! assert!(p99.is_some_and(|s| (2.4..2.6).contains(&s)));
//! assert_eq!(alerts.firing().map(|a| a.rule.name.as_str()).collect::<Vec<_>>(), ["slow_services"]);
//! assert!(exposition::render(&registry.snapshot(now)).contains("hapulse_events_total 60\n"));
//!
//! let sensors = publish::default_sensors();
//! let values = publish::read_sensors(&sensors, &registry, now);
//! let mut published = PublisherState::default();
//! let plan = publish::plan(now, &sensors, &values, alerts.statuses(), &published, &PublisherConfig::default());
//! assert_eq!(plan.create[0].notification_id, "hapulse_slow_services");
//! published.commit(&plan, now); // after the HTTP calls succeeded
//! # Ok::<(), ha_monitor::MonitorError>(())
//! ```

mod counter;
mod error;
mod hash;
mod histogram;
mod payloads;
mod stdmetrics;
mod time;
mod topk;
mod window;

pub mod alert;
pub mod exposition;
pub mod procfs;
pub mod publish;
pub mod registry;
pub mod rules;

pub use counter::{Counter, DEFAULT_COUNTER_WINDOWS, Gauge};
pub use error::MonitorError;
pub use histogram::{DEFAULT_HISTOGRAM_WINDOWS, Histogram, MAX_VALUE, WindowStats};
pub use payloads::{LargestPayloads, Payload, RECORDER_ATTRIBUTE_LIMIT};
pub use registry::{Aggregation, MetricSource, Query, Registry, Snapshot};
pub use stdmetrics::{StdMetrics, names};
pub use time::Millis;
pub use topk::{SpaceSaving, TopEntry, TopRate, WindowedTopK};
pub use window::WindowSpec;
