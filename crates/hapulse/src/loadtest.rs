//! The client side of `cargo xtask load`, run as `hapulse loadtest probe|hold` in its own process
//! (so its RSS is its own): the full hapulse pipeline (client, mirror, metrics) under load.
//!
//! - [`probe`]: subscribe, warm up, then measure what is applied against the offered rate.
//! - [`hold`]: the same plus many concurrent `call_service` callers for a duration; RSS sampled
//!   four times a second; at the end, lost updates are counted by comparing the mirror with
//!   `GET /api/states`, once it has caught up or 10 s after the list was taken.
//!
//! Both print one JSON line (the result) on stdout.

use std::sync::{Arc, Mutex};
use std::time::Duration;

use ha_client::{Client, ClientConfig, ServiceCall};
use ha_monitor::{Aggregation, Query, names, procfs};
use ha_proto::{Secret, State, Target};
use ha_state::EntityStore;
use hdrhistogram::Histogram;
use serde::Serialize;
use tokio::time::Instant;

use crate::HapulseError;
use crate::monitor::{Monitor, Session, SessionConfig};

/// What a probe measured.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct ProbeResult {
    /// Entity changes applied per second after the warm-up.
    pub applied_per_second: f64,
    /// Event lag p99 over the measurement, ms (`None` without changes).
    pub lag_p99_ms: Option<f64>,
    /// Stream items dropped because a consumer fell behind.
    pub lagged: u64,
    /// Reconnections (a flow-control cut shows up here).
    pub reconnects: u64,
    /// `call_service` latency p99 of the callers, ms.
    pub call_p99_ms: Option<f64>,
    /// `call_service` calls that failed (a flow-control cut fails the calls in flight).
    pub call_errors: u64,
}

/// What a hold run measured (a superset of what `target/perf/load.json` needs).
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct HoldResult {
    /// Seconds measured (after the warm-up).
    pub measured_seconds: f64,
    /// Entity changes applied per second.
    pub events_per_second: f64,
    /// `call_service` calls completed.
    pub calls: u64,
    /// Calls that failed.
    pub call_errors: u64,
    /// Command latency percentiles, ms.
    pub p50_latency_ms: f64,
    /// 99th percentile.
    pub p99_latency_ms: f64,
    /// Slowest call.
    pub max_latency_ms: f64,
    /// Event lag p99 over the last minute, ms.
    pub lag_p99_ms: Option<f64>,
    /// Peak resident memory of this process (`VmHWM`), bytes.
    pub peak_rss_bytes: f64,
    /// Slope of RSS after the warm-up, bytes per minute: Theil–Sen (the median of the slopes
    /// between every pair of samples), so sustained growth counts and a single allocator step does not.
    pub rss_slope_bytes_per_min: f64,
    /// Least-squares slope of the same samples, bytes per minute (for comparison).
    pub rss_slope_lsq_bytes_per_min: f64,
    /// RSS at the end, bytes.
    pub final_rss_bytes: f64,
    /// Reconnections.
    pub reconnects: u64,
    /// Entities whose mirrored state is older than (or differs at the same time from) the server's.
    pub lost_updates: u64,
    /// Entities compared.
    pub compared_entities: u64,
}

/// Settings of a hold run.
#[derive(Debug, Clone)]
pub struct HoldConfig {
    /// How long to hold after the warm-up.
    pub duration: Duration,
    /// Warm-up (not measured for the slope and the rates).
    pub warmup: Duration,
    /// Concurrent callers.
    pub callers: usize,
    /// Pause of each caller between calls.
    pub call_pause: Duration,
}

async fn connect(url: &str, token: Secret) -> Result<(Client, Arc<Monitor>, Session), HapulseError> {
    let config = ClientConfig::new(url, token)?;
    let client = Client::connect(config).await?;
    let monitor = Monitor::new();
    let session = Session::start(client.clone(), Arc::clone(&monitor), SessionConfig::default()).await?;
    Ok((client, monitor, session))
}

/// Connects, starts `callers` concurrent callers (as the hold will), warms up for `warmup`, then
/// measures for `seconds`.
pub async fn probe(
    url: &str,
    token: Secret,
    warmup: Duration,
    seconds: Duration,
    callers: usize,
) -> Result<ProbeResult, HapulseError> {
    let (client, monitor, session) = connect(url, token).await?;
    let callers = Callers::spawn(&client, &monitor, &session, callers, Duration::from_millis(50));
    tokio::time::sleep(warmup).await;
    let before = client.stats();
    let started = Instant::now();
    tokio::time::sleep(seconds).await;
    let after = client.stats();
    let elapsed = started.elapsed().as_secs_f64();
    let lag = monitor.registry.query(&Query::new(names::EVENT_LAG, Aggregation::P99, seconds), monitor.now());
    let (calls, call_errors) = callers.stop().await;
    client.close().await;
    Ok(ProbeResult {
        call_errors,
        call_p99_ms: if calls.is_empty() { None } else { Some(calls.value_at_quantile(0.99) as f64 / 1000.0) },
        applied_per_second: after.entity_changes.saturating_sub(before.entity_changes) as f64 / elapsed,
        lag_p99_ms: lag.map(|s| s * 1000.0),
        lagged: after.lagged.saturating_sub(before.lagged),
        reconnects: after.reconnects,
    })
}

/// Least-squares slope of `(seconds, bytes)` samples, in bytes per minute (0 with fewer than 2).
pub fn slope_per_minute(samples: &[(f64, f64)]) -> f64 {
    let n = samples.len() as f64;
    if samples.len() < 2 {
        return 0.0;
    }
    let (mx, my) = samples.iter().fold((0.0, 0.0), |(a, b), (x, y)| (a + x / n, b + y / n));
    let (num, den) =
        samples.iter().fold((0.0, 0.0), |(num, den), (x, y)| (num + (x - mx) * (y - my), den + (x - mx).powi(2)));
    if den == 0.0 { 0.0 } else { num / den * 60.0 }
}

/// Concurrent `call_service` callers toggling lights, each timing its calls.
struct Callers {
    tasks: Vec<tokio::task::JoinHandle<()>>,
    latencies: Arc<Mutex<Histogram<u64>>>,
    errors: Arc<std::sync::atomic::AtomicU64>,
}

impl Callers {
    fn spawn(client: &Client, monitor: &Arc<Monitor>, session: &Session, n: usize, pause: Duration) -> Self {
        let lights: Vec<String> = {
            let store = session.store.read().unwrap_or_else(|p| p.into_inner());
            store.domain("light").map(|e| e.entity_id().as_str().to_owned()).take(256).collect()
        };
        let latencies =
            Arc::new(Mutex::new(Histogram::<u64>::new_with_bounds(1, 3_600_000_000, 3).expect("valid bounds")));
        let errors = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let tasks = (0..n)
            .map(|i| {
                let (client, monitor, latencies, errors) =
                    (client.clone(), Arc::clone(monitor), Arc::clone(&latencies), Arc::clone(&errors));
                let targets = lights.clone();
                tokio::spawn(async move {
                    let mut k = i;
                    loop {
                        let call = match targets.get(k % targets.len().max(1)) {
                            Some(id) => ServiceCall::new("light", "toggle").target(Target::entities([id.clone()])),
                            None => ServiceCall::new("homeassistant", "check_config"),
                        };
                        // Callers walk the lights with a stride, so two rarely toggle the same one.
                        k += n;
                        let started = Instant::now();
                        let ok = monitor.timed("call_service", client.call_service(&call)).await.is_ok();
                        let us = u64::try_from(started.elapsed().as_micros()).unwrap_or(u64::MAX).max(1);
                        latencies.lock().unwrap_or_else(|p| p.into_inner()).saturating_record(us);
                        if !ok {
                            errors.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        }
                        tokio::time::sleep(pause).await;
                    }
                })
            })
            .collect();
        Self { tasks, latencies, errors }
    }

    /// Stops every caller; returns the latencies (µs) and the number of failed calls.
    async fn stop(self) -> (Histogram<u64>, u64) {
        for t in &self.tasks {
            t.abort();
        }
        for t in self.tasks {
            let _ = t.await;
        }
        let h = self.latencies.lock().unwrap_or_else(|p| p.into_inner()).clone();
        (h, self.errors.load(std::sync::atomic::Ordering::Relaxed))
    }
}

/// Theil–Sen slope of `(seconds, bytes)` samples in bytes per minute: the median of the slopes of
/// every pair (samples thinned to at most 400 first). Robust to isolated steps and spikes; a
/// sustained trend still shows. 0 with fewer than 2 samples.
pub fn robust_slope_per_minute(samples: &[(f64, f64)]) -> f64 {
    let stride = samples.len().div_ceil(400).max(1);
    let thin: Vec<(f64, f64)> = samples.iter().step_by(stride).copied().collect();
    let mut slopes = Vec::with_capacity(thin.len() * thin.len() / 2);
    for (i, a) in thin.iter().enumerate() {
        for b in &thin[i + 1..] {
            if b.0 != a.0 {
                slopes.push((b.1 - a.1) / (b.0 - a.0));
            }
        }
    }
    if slopes.is_empty() {
        return 0.0;
    }
    slopes.sort_by(f64::total_cmp);
    let mid = slopes.len() / 2;
    let median = if slopes.len() % 2 == 0 { (slopes[mid - 1] + slopes[mid]) / 2.0 } else { slopes[mid] };
    median * 60.0
}

/// Counts lost updates: entities whose mirrored state is older than the server's, differs from it
/// at the same `last_updated`, or is missing on either side. Newer in the mirror is fine (it
/// changed after the server's list was taken).
pub fn lost_updates(server: &[State], mirror: &EntityStore) -> u64 {
    let mut lost = 0;
    for s in server {
        match mirror.get(s.entity_id.as_str()) {
            None => lost += 1,
            Some(m) if m.last_updated > s.last_updated => {}
            Some(m) => {
                let same = m.last_updated == s.last_updated
                    && m.state == s.state
                    && m.attributes == s.attributes
                    && m.last_changed == s.last_changed;
                if !same {
                    lost += 1;
                }
            }
        }
    }
    let extra = mirror.len().saturating_sub(server.len());
    lost + extra as u64
}

/// How long after `GET /api/states` the hold's mirror may take to catch up with it before its
/// differences count as lost updates: a few resyncs' worth (a resync of 16,384 entities took under
/// 3 s in the overloaded holds of docs/performance.md, eleventh round).
const CONVERGE_WITHIN: Duration = Duration::from_secs(10);

/// Runs the hold phase: mirror plus `config.callers` concurrent `call_service` callers.
pub async fn hold(url: &str, token: Secret, config: &HoldConfig) -> Result<HoldResult, HapulseError> {
    let (client, monitor, session) = connect(url, token).await?;
    let callers = Callers::spawn(&client, &monitor, &session, config.callers, config.call_pause);

    let started = Instant::now();
    let total = config.warmup + config.duration;
    let mut rss: Vec<(f64, f64)> = Vec::new();
    let mut tick = tokio::time::interval(Duration::from_millis(250));
    let mut changes_at_warm = None;
    while started.elapsed() < total {
        tick.tick().await;
        let t = started.elapsed();
        if t >= config.warmup {
            if changes_at_warm.is_none() {
                changes_at_warm = Some((client.stats().entity_changes, Instant::now()));
            }
            if let Ok(s) = procfs::read_self() {
                rss.push((t.as_secs_f64(), s.rss_bytes as f64));
            }
        }
    }
    let (changes0, t0) = changes_at_warm.unwrap_or((0, started));
    let measured = t0.elapsed().as_secs_f64().max(1e-3);
    let events_per_second = client.stats().entity_changes.saturating_sub(changes0) as f64 / measured;
    let (h, call_errors) = callers.stop().await;

    let server = client.rest().get_states().await?;
    // Give the mirror time to catch up past the moment the server's list was taken. The stream
    // still runs: a client pushed past its limit may be between a disconnect and its resync at
    // any given instant, which is lag, not loss. An update is lost when the mirror has not
    // caught up with the list within CONVERGE_WITHIN.
    let converging = Instant::now();
    let (lost, compared) = loop {
        let lost = {
            let store = session.store.read().unwrap_or_else(|p| p.into_inner());
            lost_updates(&server, &store)
        };
        if lost == 0 || converging.elapsed() >= CONVERGE_WITHIN {
            break (lost, server.len() as u64);
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    };
    let lag =
        monitor.registry.query(&Query::new(names::EVENT_LAG, Aggregation::P99, Duration::from_secs(60)), monitor.now());
    let proc = procfs::read_self().ok();
    let q = |q: f64| if h.is_empty() { 0.0 } else { h.value_at_quantile(q) as f64 / 1000.0 };
    let stats = client.stats();
    client.close().await;
    Ok(HoldResult {
        measured_seconds: measured,
        events_per_second,
        calls: h.len(),
        call_errors,
        p50_latency_ms: q(0.5),
        p99_latency_ms: q(0.99),
        max_latency_ms: if h.is_empty() { 0.0 } else { h.max() as f64 / 1000.0 },
        lag_p99_ms: lag.map(|s| s * 1000.0),
        peak_rss_bytes: proc.as_ref().map_or(0.0, |p| p.peak_rss_bytes as f64),
        rss_slope_bytes_per_min: robust_slope_per_minute(&rss),
        rss_slope_lsq_bytes_per_min: slope_per_minute(&rss),
        final_rss_bytes: proc.as_ref().map_or(0.0, |p| p.rss_bytes as f64),
        reconnects: stats.reconnects,
        lost_updates: lost,
        compared_entities: compared,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn slope_of_a_line_is_its_gradient_per_minute() {
        let samples: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 1000.0 + 2.0 * f64::from(i))).collect();

        let slope = slope_per_minute(&samples);

        assert!((slope - 120.0).abs() < 1e-9, "{slope}");
    }

    #[test]
    fn one_allocator_step_is_no_robust_slope_but_a_steady_climb_is() {
        let step: Vec<(f64, f64)> = (0..60).map(|i| (f64::from(i), if i < 20 { 5e7 } else { 5.1e7 })).collect();
        let climb: Vec<(f64, f64)> = (0..60).map(|i| (f64::from(i), 5e7 + 1000.0 * f64::from(i))).collect();

        let (s, c) = (robust_slope_per_minute(&step), robust_slope_per_minute(&climb));

        assert_eq!(s, 0.0);
        assert!((c - 60_000.0).abs() < 1e-6, "{c}");
    }

    #[test]
    fn flat_memory_has_zero_slope() {
        let samples: Vec<(f64, f64)> = (0..10).map(|i| (f64::from(i), 5e7)).collect();

        assert_eq!(slope_per_minute(&samples), 0.0);
    }

    fn state(id: &str, s: &str, updated: &str) -> State {
        serde_json::from_value(serde_json::json!({
            "entity_id": id, "state": s, "attributes": {}, "last_changed": updated, "last_updated": updated,
            "context": {"id": "c", "parent_id": null, "user_id": null}
        }))
        .unwrap()
    }

    #[test]
    fn mirror_behind_the_server_counts_as_lost_but_ahead_does_not() {
        let t1 = "2024-03-20T10:00:01+00:00";
        let t2 = "2024-03-20T10:00:02+00:00";
        let mut mirror = EntityStore::new();
        mirror.replace_from_states(vec![state("light.a", "on", t1), state("light.b", "on", t2)]);
        let server = [state("light.a", "off", t2), state("light.b", "off", t1)];

        let lost = lost_updates(&server, &mirror);

        assert_eq!(lost, 1);
    }

    #[test]
    fn identical_mirror_loses_nothing() {
        let t = "2024-03-20T10:00:01+00:00";
        let server = vec![state("light.a", "on", t), state("sensor.b", "5", t)];
        let mut mirror = EntityStore::new();
        mirror.replace_from_states(server.clone());

        assert_eq!(lost_updates(&server, &mirror), 0);
    }
}
