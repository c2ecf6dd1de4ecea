//! The registry: named, optionally labelled metrics with bounded cardinality, read as a [`Snapshot`]
//! or through [`Query`]s (what alert rules and Home Assistant sensors ask for).

use std::collections::HashMap;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use crate::hash::HashBuild;
use crate::histogram::{DEFAULT_HISTOGRAM_WINDOWS, Histogram, WindowStats};
use crate::{Counter, Gauge, LargestPayloads, Millis, TopRate, WindowedTopK};

/// Label value that collects every series beyond a family's `max_series`.
pub const OTHER_LABEL: &str = "__other__";

/// The unit a metric records in; exposition and queries convert to base units (seconds, bytes).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    /// Recorded in microseconds, exposed in seconds.
    Micros,
    /// Bytes.
    Bytes,
    /// A plain count or number.
    Count,
    /// A fraction (1.0 = 100 %).
    Ratio,
}

impl Unit {
    /// Converts a recorded value to base units.
    pub fn to_base(self, v: f64) -> f64 {
        match self {
            Unit::Micros => v / 1e6,
            _ => v,
        }
    }
}

/// What a metric is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum MetricKind {
    /// Monotonic count ([`Counter`]).
    Counter,
    /// Current value ([`Gauge`]).
    Gauge,
    /// Distribution over sliding windows ([`Histogram`]), exposed as a Prometheus summary.
    Histogram,
}

/// Static description of a metric.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct MetricDesc {
    /// Prometheus name, e.g. `hapulse_events_total`.
    pub name: &'static str,
    /// One-line help text.
    pub help: &'static str,
    /// Unit of the recorded values.
    pub unit: Unit,
    /// Name of the one label of a family (`None` for a single series).
    pub label: Option<&'static str>,
}

/// Series of one metric, keyed by label value: at most `max_series` distinct values, later ones
/// share the series [`OTHER_LABEL`]. Look a series up once and keep the `Arc` on hot paths.
#[derive(Debug)]
pub struct Family<M> {
    desc: MetricDesc,
    max_series: usize,
    series: RwLock<HashMap<Arc<str>, Arc<M>, HashBuild>>,
    make: fn() -> M,
}

impl<M> Family<M> {
    fn new(desc: MetricDesc, max_series: usize, make: fn() -> M) -> Self {
        Self { desc, max_series: max_series.max(1), series: RwLock::new(HashMap::default()), make }
    }

    /// Calls `f` on the series for `label_value` (see [`Family::get`]) without touching its `Arc`.
    #[inline]
    pub fn with<R>(&self, label_value: &str, f: impl FnOnce(&M) -> R) -> R {
        if let Some(m) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(label_value) {
            return f(m);
        }
        f(&self.get(label_value))
    }

    /// The series for `label_value`, created on first use ([`OTHER_LABEL`] once the family is full).
    pub fn get(&self, label_value: &str) -> Arc<M> {
        if let Some(m) = self.series.read().unwrap_or_else(|e| e.into_inner()).get(label_value) {
            return Arc::clone(m);
        }
        let mut series = self.series.write().unwrap_or_else(|e| e.into_inner());
        let key = if series.len() >= self.max_series && !series.contains_key(label_value) {
            OTHER_LABEL
        } else {
            label_value
        };
        Arc::clone(series.entry(key.into()).or_insert_with(|| Arc::new((self.make)())))
    }

    /// The description.
    pub fn desc(&self) -> &MetricDesc {
        &self.desc
    }

    /// Every series with its label value, sorted by label value.
    pub fn series(&self) -> Vec<(Arc<str>, Arc<M>)> {
        let mut out: Vec<_> = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, v)| (Arc::clone(k), Arc::clone(v)))
            .collect();
        out.sort_by(|a, b| a.0.cmp(&b.0));
        out
    }
}

/// The entity-level view of the installation: chattiest entities and largest attribute payloads.
#[derive(Debug)]
pub struct Activity {
    inner: Mutex<ActivityInner>,
}

#[derive(Debug)]
struct ActivityInner {
    entities: WindowedTopK,
    payloads: LargestPayloads,
}

/// Sizes of the bounded structures.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ActivityConfig {
    /// Counters of the space-saving summary of entities (what is reported is a top part of it).
    pub entity_capacity: usize,
    /// Rotation interval of the entity summary; rates cover one to two intervals.
    pub entity_interval: Duration,
    /// Entities kept by the largest-payload list.
    pub payload_capacity: usize,
}

impl Default for ActivityConfig {
    fn default() -> Self {
        Self { entity_capacity: 256, entity_interval: Duration::from_secs(60), payload_capacity: 10 }
    }
}

impl Activity {
    /// Empty summaries sized by `config`.
    pub fn new(config: ActivityConfig) -> Self {
        Self {
            inner: Mutex::new(ActivityInner {
                entities: WindowedTopK::new(config.entity_capacity, config.entity_interval),
                payloads: LargestPayloads::new(config.payload_capacity),
            }),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, ActivityInner> {
        self.inner.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Notes a state change of `entity_id` whose attributes are `attributes_bytes` of JSON.
    pub fn observe(&self, entity_id: &str, attributes_bytes: usize, now: Millis) {
        let mut inner = self.lock();
        inner.entities.observe(entity_id, now);
        inner.payloads.observe(entity_id, attributes_bytes);
    }

    /// The `k` chattiest entities with their state changes per second.
    pub fn top_entities(&self, k: usize, now: Millis) -> Vec<TopRate> {
        self.lock().entities.top(k, now)
    }

    /// The entities with the largest attribute payloads.
    pub fn largest_payloads(&self) -> Vec<crate::Payload> {
        self.lock().payloads.largest()
    }
}

#[derive(Debug)]
enum Entry {
    Counter(Arc<Family<Counter>>),
    Gauge(Arc<Family<Gauge>>),
    Histogram(Arc<Family<Histogram>>),
}

impl Entry {
    fn desc(&self) -> &MetricDesc {
        match self {
            Entry::Counter(f) => f.desc(),
            Entry::Gauge(f) => f.desc(),
            Entry::Histogram(f) => f.desc(),
        }
    }

    fn kind(&self) -> MetricKind {
        match self {
            Entry::Counter(_) => MetricKind::Counter,
            Entry::Gauge(_) => MetricKind::Gauge,
            Entry::Histogram(_) => MetricKind::Histogram,
        }
    }
}

/// Name of the virtual gauge family holding the chattiest entities' state changes per second.
pub const TOP_ENTITY_METRIC: &str = "hapulse_entity_state_changes_per_second";
/// Name of the virtual gauge family holding the largest attribute payloads.
pub const PAYLOAD_METRIC: &str = "hapulse_entity_attributes_bytes";

/// How many top entities a snapshot reports.
const TOP_REPORTED: usize = 10;

/// All metrics of one process. Register at start-up (`&mut self`), record through the returned
/// handles from any thread, read with [`Registry::snapshot`] or [`Registry::query`].
#[derive(Debug)]
pub struct Registry {
    entries: Vec<Entry>,
    activity: Arc<Activity>,
    /// Windows reported for each histogram in snapshots (default 10 s and 5 min).
    pub snapshot_windows: Vec<Duration>,
}

impl Default for Registry {
    fn default() -> Self {
        Self::new(ActivityConfig::default())
    }
}

impl Registry {
    /// An empty registry with entity summaries sized by `activity`.
    pub fn new(activity: ActivityConfig) -> Self {
        Self {
            entries: Vec::new(),
            activity: Arc::new(Activity::new(activity)),
            snapshot_windows: DEFAULT_HISTOGRAM_WINDOWS.iter().map(|w| w.span()).collect(),
        }
    }

    fn position(&self, name: &str) -> Option<usize> {
        self.entries.iter().position(|e| e.desc().name == name)
    }

    fn push(&mut self, entry: Entry) {
        assert!(self.position(entry.desc().name).is_none(), "metric {} registered twice", entry.desc().name);
        self.entries.push(entry);
    }

    /// Registers a counter family of at most `max_series` series.
    pub fn counter_family(&mut self, desc: MetricDesc, max_series: usize) -> Arc<Family<Counter>> {
        let f = Arc::new(Family::new(desc, max_series, Counter::default));
        self.push(Entry::Counter(Arc::clone(&f)));
        f
    }

    /// Registers a single counter.
    pub fn counter(&mut self, desc: MetricDesc) -> Arc<Counter> {
        self.counter_family(desc, 1).get("")
    }

    /// Registers a gauge family of at most `max_series` series.
    pub fn gauge_family(&mut self, desc: MetricDesc, max_series: usize) -> Arc<Family<Gauge>> {
        let f = Arc::new(Family::new(desc, max_series, Gauge::default));
        self.push(Entry::Gauge(Arc::clone(&f)));
        f
    }

    /// Registers a single gauge.
    pub fn gauge(&mut self, desc: MetricDesc) -> Arc<Gauge> {
        self.gauge_family(desc, 1).get("")
    }

    /// Registers a histogram family (default windows) of at most `max_series` series.
    pub fn histogram_family(&mut self, desc: MetricDesc, max_series: usize) -> Arc<Family<Histogram>> {
        let f = Arc::new(Family::new(desc, max_series, Histogram::default));
        self.push(Entry::Histogram(Arc::clone(&f)));
        f
    }

    /// Registers a single histogram.
    pub fn histogram(&mut self, desc: MetricDesc) -> Arc<Histogram> {
        self.histogram_family(desc, 1).get("")
    }

    /// The entity-level summaries.
    pub fn activity(&self) -> &Arc<Activity> {
        &self.activity
    }

    /// Whether `query` names a known metric with an aggregation it supports and a window where
    /// the aggregation needs one.
    pub fn check(&self, query: &Query) -> Result<(), QueryError> {
        use Aggregation as A;
        let kind = match query.metric.as_str() {
            TOP_ENTITY_METRIC | PAYLOAD_METRIC => MetricKind::Gauge,
            name => self.position(name).map(|i| self.entries[i].kind()).ok_or_else(|| {
                let known: Vec<&str> = self.entries.iter().map(|e| e.desc().name).collect();
                let known = known.join(", ");
                QueryError::UnknownMetric(format!(
                    "unknown metric {name:?}; known: {known}, {TOP_ENTITY_METRIC}, {PAYLOAD_METRIC}"
                ))
            })?,
        };
        let ok = match kind {
            MetricKind::Counter => matches!(query.aggregation, A::Value | A::Rate | A::Increase),
            MetricKind::Gauge => matches!(query.aggregation, A::Value | A::Max),
            MetricKind::Histogram => !matches!(query.aggregation, A::Value | A::Increase),
        };
        if !ok {
            let m = format!("aggregation {} does not apply to a {kind:?} metric", query.aggregation);
            return Err(QueryError::Aggregation(m));
        }
        if kind != MetricKind::Gauge && query.aggregation != A::Value && query.window.is_zero() {
            return Err(QueryError::Window(format!("aggregation {} needs a window", query.aggregation)));
        }
        Ok(())
    }

    /// Evaluates `query` at `now` in base units (seconds, bytes, per second). `None` when the metric
    /// is unknown, the label matches no series, or a histogram window holds no sample.
    pub fn query(&self, query: &Query, now: Millis) -> Option<f64> {
        use Aggregation as A;
        let wanted = |label: &str| query.label.as_ref().is_none_or(|(_, v)| v == label);
        match query.metric.as_str() {
            TOP_ENTITY_METRIC => {
                let top = self.activity.top_entities(TOP_REPORTED, now);
                return top.iter().filter(|t| wanted(&t.key)).map(|t| t.per_second).reduce(f64::max);
            }
            PAYLOAD_METRIC => {
                let largest = self.activity.largest_payloads();
                return largest.iter().filter(|p| wanted(&p.entity_id)).map(|p| p.max_bytes as f64).reduce(f64::max);
            }
            _ => {}
        }
        let entry = &self.entries[self.position(&query.metric)?];
        let unit = entry.desc().unit;
        match entry {
            Entry::Counter(f) => {
                let series: Vec<_> = f.series().into_iter().filter(|(l, _)| wanted(l)).collect();
                if series.is_empty() && query.label.is_some() {
                    return None;
                }
                let per = |c: &Counter| match query.aggregation {
                    A::Value => c.total() as f64,
                    A::Increase => c.increase(now, query.window).0 as f64,
                    _ => c.rate(now, query.window),
                };
                Some(unit.to_base(series.iter().map(|(_, c)| per(c)).sum::<f64>()))
            }
            Entry::Gauge(f) => {
                let values = f.series().into_iter().filter(|(l, _)| wanted(l)).map(|(_, g)| g.get());
                let v = match query.aggregation {
                    A::Max => values.reduce(f64::max),
                    _ => values.reduce(|a, b| a + b),
                };
                v.map(|v| unit.to_base(v))
            }
            Entry::Histogram(f) => {
                let mut merged: Option<(hdrhistogram::Histogram<u64>, u64)> = None;
                for (_, h) in f.series().into_iter().filter(|(l, _)| wanted(l)) {
                    let (hdr, max) = h.merged(now, query.window);
                    match &mut merged {
                        None => merged = Some((hdr, max)),
                        Some((acc, m)) => {
                            acc.add(&hdr).ok()?;
                            *m = (*m).max(max);
                        }
                    }
                }
                let (hdr, max) = merged.filter(|(h, _)| !h.is_empty())?;
                let q = |q: f64| unit.to_base(hdr.value_at_quantile(q).min(max) as f64);
                Some(match query.aggregation {
                    A::P50 => q(0.5),
                    A::P90 => q(0.9),
                    A::P99 => q(0.99),
                    A::Max => unit.to_base(max as f64),
                    A::Mean => unit.to_base(hdr.mean()),
                    A::Count => hdr.len() as f64,
                    _ => {
                        let secs = query.window.as_secs_f64().max(1.0);
                        hdr.len() as f64 / secs
                    }
                })
            }
        }
    }

    /// Reads every metric at `now` into plain data.
    pub fn snapshot(&self, now: Millis) -> Snapshot {
        let mut metrics = Vec::with_capacity(self.entries.len() + 2);
        for entry in &self.entries {
            let desc = *entry.desc();
            let labels = |l: &str| desc.label.map(|k| vec![(k.to_string(), l.to_string())]).unwrap_or_default();
            let series = match entry {
                Entry::Counter(f) => f
                    .series()
                    .iter()
                    .map(|(l, c)| Series { labels: labels(l), value: SeriesValue::Counter(c.total()) })
                    .collect(),
                Entry::Gauge(f) => f
                    .series()
                    .iter()
                    .map(|(l, g)| Series { labels: labels(l), value: SeriesValue::Gauge(g.get()) })
                    .collect(),
                Entry::Histogram(f) => f
                    .series()
                    .iter()
                    .map(|(l, h)| Series {
                        labels: labels(l),
                        value: SeriesValue::Summary {
                            count: h.total_count(),
                            sum: h.total_sum(),
                            windows: self.snapshot_windows.iter().map(|w| (*w, h.window_stats(now, *w))).collect(),
                        },
                    })
                    .collect(),
            };
            metrics.push(MetricSnapshot {
                name: desc.name.into(),
                help: desc.help.into(),
                unit: desc.unit,
                kind: entry.kind(),
                series,
            });
        }
        let entity = |id: &str| vec![("entity_id".to_string(), id.to_string())];
        metrics.push(MetricSnapshot {
            name: TOP_ENTITY_METRIC.into(),
            help: "State changes per second of the chattiest entities (last one to two minutes, estimated).".into(),
            unit: Unit::Count,
            kind: MetricKind::Gauge,
            series: self
                .activity
                .top_entities(TOP_REPORTED, now)
                .iter()
                .map(|t| Series { labels: entity(&t.key), value: SeriesValue::Gauge(t.per_second) })
                .collect(),
        });
        metrics.push(MetricSnapshot {
            name: PAYLOAD_METRIC.into(),
            help: "Largest attribute payloads seen, bytes of JSON (the recorder drops sets over 16384).".into(),
            unit: Unit::Bytes,
            kind: MetricKind::Gauge,
            series: self
                .activity
                .largest_payloads()
                .iter()
                .map(|p| Series { labels: entity(&p.entity_id), value: SeriesValue::Gauge(p.max_bytes as f64) })
                .collect(),
        });
        Snapshot { at: now, metrics }
    }
}

/// How a rule or sensor reduces a metric to one number.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Aggregation {
    /// Current value of a gauge (sum over series), or a counter's total.
    Value,
    /// Counter increase (or histogram samples) per second over the window.
    Rate,
    /// Counter increase over the window.
    Increase,
    /// Histogram samples in the window.
    Count,
    /// Histogram median over the window.
    P50,
    /// Histogram 90th percentile over the window.
    P90,
    /// Histogram 99th percentile over the window.
    P99,
    /// Histogram exact maximum over the window, or the largest gauge series.
    Max,
    /// Histogram mean over the window.
    Mean,
}

impl std::fmt::Display for Aggregation {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let s = match self {
            Aggregation::Value => "value",
            Aggregation::Rate => "rate",
            Aggregation::Increase => "increase",
            Aggregation::Count => "count",
            Aggregation::P50 => "p50",
            Aggregation::P90 => "p90",
            Aggregation::P99 => "p99",
            Aggregation::Max => "max",
            Aggregation::Mean => "mean",
        };
        f.write_str(s)
    }
}

/// Why a [`Query`] cannot be answered; each variant holds the explanation.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum QueryError {
    /// No metric of that name.
    UnknownMetric(String),
    /// The aggregation does not apply to the metric's kind.
    Aggregation(String),
    /// The aggregation needs a window and none was given.
    Window(String),
}

impl QueryError {
    /// The rule key at fault: `metric`, `aggregation` or `window`.
    pub fn key(&self) -> &'static str {
        match self {
            QueryError::UnknownMetric(_) => "metric",
            QueryError::Aggregation(_) => "aggregation",
            QueryError::Window(_) => "window",
        }
    }

    /// The explanation.
    pub fn message(&self) -> &str {
        match self {
            QueryError::UnknownMetric(m) | QueryError::Aggregation(m) | QueryError::Window(m) => m,
        }
    }
}

/// One number to read from the registry.
#[derive(Debug, Clone, PartialEq)]
pub struct Query {
    /// Metric name.
    pub metric: String,
    /// Only the series with this label (name, value); all series merged when `None`.
    pub label: Option<(String, String)>,
    /// How to reduce it.
    pub aggregation: Aggregation,
    /// Over which window (ignored by `value`).
    pub window: Duration,
}

impl Query {
    /// A query over all series of `metric`.
    pub fn new(metric: &str, aggregation: Aggregation, window: Duration) -> Self {
        Self { metric: metric.into(), label: None, aggregation, window }
    }
}

/// Anything that answers [`Query`]s; the [`Registry`] does, tests use fakes.
pub trait MetricSource {
    /// The query's value at `now`, `None` when there is no data.
    fn value(&self, query: &Query, now: Millis) -> Option<f64>;
}

impl MetricSource for Registry {
    fn value(&self, query: &Query, now: Millis) -> Option<f64> {
        self.query(query, now)
    }
}

/// Every metric's values at one instant, as plain data.
#[derive(Debug, Clone, PartialEq)]
pub struct Snapshot {
    /// When it was taken.
    pub at: Millis,
    /// The metrics in registration order, then the entity-level gauges.
    pub metrics: Vec<MetricSnapshot>,
}

/// One metric in a [`Snapshot`].
#[derive(Debug, Clone, PartialEq)]
pub struct MetricSnapshot {
    /// Prometheus name.
    pub name: String,
    /// Help text.
    pub help: String,
    /// Unit of the recorded values (summaries are converted with [`Unit::to_base`] when rendered).
    pub unit: Unit,
    /// Kind.
    pub kind: MetricKind,
    /// Series, sorted by label value.
    pub series: Vec<Series>,
}

/// One series of a metric.
#[derive(Debug, Clone, PartialEq)]
pub struct Series {
    /// Label pairs (empty for a single-series metric).
    pub labels: Vec<(String, String)>,
    /// Its value.
    pub value: SeriesValue,
}

/// The value of a series.
#[derive(Debug, Clone, PartialEq)]
pub enum SeriesValue {
    /// Counter total.
    Counter(u64),
    /// Gauge value.
    Gauge(f64),
    /// Histogram: lifetime count and sum (recorded unit) and stats per snapshot window.
    Summary {
        /// Samples since start.
        count: u64,
        /// Sum of samples since start, recorded unit.
        sum: u64,
        /// Stats of each window, `None` when it is empty.
        windows: Vec<(Duration, Option<WindowStats>)>,
    },
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::StdMetrics;
    use crate::names::*;

    const NOW: Millis = Millis(100_000);

    fn registry() -> (Registry, StdMetrics) {
        let mut r = Registry::default();
        let m = StdMetrics::register(&mut r);
        (r, m)
    }

    #[test]
    fn family_beyond_max_series_shares_the_other_series() {
        let mut r = Registry::default();
        let f = r.counter_family(MetricDesc { name: "x_total", help: "x", unit: Unit::Count, label: Some("k") }, 2);

        for k in ["a", "b", "c", "d", "a"] {
            f.get(k).inc(NOW);
        }

        let labels: Vec<(String, u64)> = f.series().iter().map(|(l, c)| (l.to_string(), c.total())).collect();
        assert_eq!(labels, vec![(OTHER_LABEL.into(), 2), ("a".into(), 2), ("b".into(), 1)]);
    }

    #[test]
    fn histogram_query_merges_all_labels_and_converts_to_seconds() {
        let (r, m) = registry();
        m.on_command("get_states", Duration::from_millis(100), NOW);
        m.on_command("call_service", Duration::from_millis(3000), NOW);

        let all = r.query(&Query::new(COMMAND_LATENCY, Aggregation::Max, Duration::from_secs(10)), NOW);
        let one = r.query(
            &Query {
                label: Some(("command".into(), "get_states".into())),
                ..Query::new(COMMAND_LATENCY, Aggregation::Max, Duration::from_secs(10))
            },
            NOW,
        );

        assert_eq!((all, one), (Some(3.0), Some(0.1)));
    }

    #[test]
    fn empty_histogram_window_has_no_value() {
        let (r, _) = registry();

        let v = r.query(&Query::new(EVENT_LAG, Aggregation::P99, Duration::from_secs(300)), NOW);

        assert_eq!(v, None);
    }

    #[test]
    fn counter_rate_sums_domains() {
        let (r, m) = registry();
        for i in 0..20 {
            m.on_state_changed(if i % 2 == 0 { "light.a" } else { "sensor.b" }, 10, None, Millis(90_000 + i * 500));
        }

        let rate = r.query(&Query::new(STATE_CHANGES, Aggregation::Rate, Duration::from_secs(10)), NOW);

        assert_eq!(rate, Some(2.0));
    }

    #[test]
    fn check_rejects_unknown_metric_and_wrong_aggregation() {
        let (r, _) = registry();

        let unknown = r.check(&Query::new("nope", Aggregation::Value, Duration::ZERO));
        let wrong = r.check(&Query::new(RSS, Aggregation::P99, Duration::ZERO));
        let no_window = r.check(&Query::new(RECONNECTS, Aggregation::Increase, Duration::ZERO));
        let fine = r.check(&Query::new(RECONNECTS, Aggregation::Increase, Duration::from_secs(3600)));

        assert!(unknown.unwrap_err().message().contains("unknown metric \"nope\""));
        assert_eq!(wrong.unwrap_err().key(), "aggregation");
        assert_eq!(no_window.unwrap_err().key(), "window");
        assert_eq!(fine, Ok(()));
    }

    #[test]
    fn snapshot_reports_top_entities_and_large_payloads() {
        let (r, m) = registry();
        for _ in 0..5 {
            m.on_state_changed("sensor.power", 20_000, None, NOW);
        }
        m.on_state_changed("light.kitchen", 300, None, NOW);

        let snap = r.snapshot(NOW);

        let top = snap.metrics.iter().find(|m| m.name == TOP_ENTITY_METRIC).unwrap();
        assert_eq!(top.series[0].labels, vec![("entity_id".to_string(), "sensor.power".to_string())]);
        let oversized = snap.metrics.iter().find(|m| m.name == OVERSIZED_ATTRIBUTES).unwrap();
        assert_eq!(oversized.series[0].value, SeriesValue::Counter(5));
        let largest = r.query(&Query::new(PAYLOAD_METRIC, Aggregation::Max, Duration::ZERO), NOW);
        assert_eq!(largest, Some(20_000.0));
    }
}
