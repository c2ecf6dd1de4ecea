//! Metrics, alerting and sinks for hapulse (work in progress).

mod error;
mod fxhash;
mod histogram;
mod time;
mod window;

pub use error::MonitorError;
pub use histogram::{DEFAULT_HISTOGRAM_WINDOWS, Histogram, MAX_VALUE, WindowStats};
pub use time::Millis;
pub use window::WindowSpec;
mod counter;
mod payloads;
mod topk;
pub use counter::{Counter, DEFAULT_COUNTER_WINDOWS, Gauge};
pub use payloads::{LargestPayloads, Payload, RECORDER_ATTRIBUTE_LIMIT};
pub use topk::{SpaceSaving, TopEntry, TopRate, WindowedTopK};
pub mod procfs;
pub mod registry;
mod stdmetrics;
pub use registry::{Aggregation, MetricSource, Query, Registry, Snapshot};
pub use stdmetrics::{StdMetrics, names};
pub mod alert;
pub mod exposition;
pub mod publish;
pub mod rules;
