//! What to publish into Home Assistant: `sensor.hapulse_*` states and one persistent notification
//! per firing rule. A pure planner over plain data; the binary does the HTTP calls and then
//! [`PublisherState::commit`]s what succeeded.
//!
//! Rate limits so hapulse never floods the installation it watches: a sensor is posted at most once
//! per `min_interval`, only when it moved by more than the epsilon (coalesced: the latest value wins),
//! and again every `refresh_interval` anyway (states set through the REST API vanish when Home
//! Assistant restarts). At most `max_posts` calls per plan; what is left waits for the next one.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use serde_json::json;

use crate::Millis;
use crate::alert::AlertStatus;
use crate::names;
use crate::registry::{Aggregation, MetricSource, Query};

/// One `sensor.hapulse_*` entity fed from a query.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorSpec {
    /// Object id (the part after `sensor.`), e.g. `hapulse_events_per_second`.
    pub object_id: String,
    /// `friendly_name` attribute.
    pub friendly_name: String,
    /// `unit_of_measurement` attribute.
    pub unit: String,
    /// What to read (base units).
    pub query: Query,
    /// Multiplier from base units to `unit` (e.g. 1000 for seconds → ms).
    pub factor: f64,
    /// Decimals in the published state.
    pub decimals: usize,
}

/// Object id of the sensor counting firing alerts (always published).
pub const ACTIVE_ALERTS_SENSOR: &str = "hapulse_active_alerts";

fn spec(object_id: &str, name: &str, unit: &str, query: Query, factor: f64, decimals: usize) -> SensorSpec {
    SensorSpec { object_id: object_id.into(), friendly_name: name.into(), unit: unit.into(), query, factor, decimals }
}

/// The sensors hapulse publishes by default.
pub fn default_sensors() -> Vec<SensorSpec> {
    use Aggregation as A;
    let min = Duration::from_secs(60);
    let five = Duration::from_secs(300);
    let q = |m: &str, a: A, w: Duration| Query::new(m, a, w);
    vec![
        spec(
            "hapulse_events_per_second",
            "hapulse events per second",
            "events/s",
            q(names::EVENTS, A::Rate, min),
            1.0,
            1,
        ),
        spec(
            "hapulse_state_changes_per_second",
            "hapulse state changes per second",
            "changes/s",
            q(names::STATE_CHANGES, A::Rate, min),
            1.0,
            1,
        ),
        spec(
            "hapulse_command_latency_p99",
            "hapulse command latency p99",
            "ms",
            q(names::COMMAND_LATENCY, A::P99, five),
            1000.0,
            1,
        ),
        spec("hapulse_event_lag_p99", "hapulse event lag p99", "ms", q(names::EVENT_LAG, A::P99, min), 1000.0, 1),
        spec("hapulse_ping", "hapulse ping round trip", "ms", q(names::PING_RTT, A::P50, five), 1000.0, 1),
        spec(
            "hapulse_reconnects_last_hour",
            "hapulse reconnects in the last hour",
            "reconnects",
            q(names::RECONNECTS, A::Increase, Duration::from_secs(3600)),
            1.0,
            0,
        ),
        spec("hapulse_memory", "hapulse memory", "MB", q(names::RSS, A::Value, Duration::ZERO), 1e-6, 1),
        spec("hapulse_cpu", "hapulse CPU", "%", q(names::CPU_USAGE, A::Value, Duration::ZERO), 100.0, 1),
        spec(
            "hapulse_entities",
            "hapulse mirrored entities",
            "entities",
            q(names::MIRROR_ENTITIES, A::Value, Duration::ZERO),
            1.0,
            0,
        ),
        spec(
            "hapulse_top_entity_changes_per_second",
            "hapulse busiest entity changes per second",
            "changes/s",
            q(names::ENTITY_CHANGE_RATE, A::Max, Duration::ZERO),
            1.0,
            2,
        ),
    ]
}

/// Reads every sensor's value (in its own unit) at `now`.
pub fn read_sensors(specs: &[SensorSpec], source: &dyn MetricSource, now: Millis) -> Vec<Option<f64>> {
    specs.iter().map(|s| source.value(&s.query, now).map(|v| v * s.factor)).collect()
}

/// Rate limits of the publisher.
#[derive(Debug, Clone, PartialEq)]
pub struct PublisherConfig {
    /// At most one post per sensor per this interval.
    pub min_interval: Duration,
    /// Post unchanged sensors again after this long.
    pub refresh_interval: Duration,
    /// Changes at most this fraction of the last value are skipped ...
    pub relative_epsilon: f64,
    /// ... as are changes at most this large in absolute terms.
    pub absolute_epsilon: f64,
    /// At most this many HTTP calls per plan.
    pub max_posts: usize,
}

impl Default for PublisherConfig {
    fn default() -> Self {
        Self {
            min_interval: Duration::from_secs(30),
            refresh_interval: Duration::from_secs(600),
            relative_epsilon: 0.01,
            absolute_epsilon: 1e-9,
            max_posts: 20,
        }
    }
}

/// One `POST /api/states/sensor.<object_id>`.
#[derive(Debug, Clone, PartialEq)]
pub struct SensorPost {
    /// `sensor.hapulse_...`.
    pub entity_id: String,
    /// The value posted (`None` posts the state `unknown`).
    pub value: Option<f64>,
    /// The JSON body: `{"state": ..., "attributes": {...}}`.
    pub body: serde_json::Value,
}

impl SensorPost {
    /// The REST path to post `body` to.
    pub fn path(&self) -> String {
        format!("/api/states/{}", self.entity_id)
    }
}

/// A persistent notification to create (`POST /api/services/persistent_notification/create`).
#[derive(Debug, Clone, PartialEq)]
pub struct NotificationCreate {
    /// `hapulse_<rule name>`: the same id replaces an earlier one.
    pub notification_id: String,
    /// The JSON body: `{"notification_id", "title", "message"}`.
    pub body: serde_json::Value,
}

/// REST path of creating a notification.
pub const NOTIFICATION_CREATE_PATH: &str = "/api/services/persistent_notification/create";
/// REST path of dismissing a notification; body `{"notification_id": ...}`.
pub const NOTIFICATION_DISMISS_PATH: &str = "/api/services/persistent_notification/dismiss";

/// What to send now.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Plan {
    /// Sensor states to post.
    pub sensors: Vec<SensorPost>,
    /// Notifications to create.
    pub create: Vec<NotificationCreate>,
    /// Notification ids to dismiss.
    pub dismiss: Vec<String>,
}

impl Plan {
    /// Whether there is nothing to send.
    pub fn is_empty(&self) -> bool {
        self.sensors.is_empty() && self.create.is_empty() && self.dismiss.is_empty()
    }
}

/// What Home Assistant was last told.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct PublisherState {
    sensors: BTreeMap<String, (Option<f64>, Millis)>,
    notifications: BTreeSet<String>,
}

impl PublisherState {
    /// Records that the whole `plan` was delivered at `now`.
    pub fn commit(&mut self, plan: &Plan, now: Millis) {
        for s in &plan.sensors {
            self.commit_sensor(s, now);
        }
        for n in &plan.create {
            self.notifications.insert(n.notification_id.clone());
        }
        for id in &plan.dismiss {
            self.notifications.remove(id);
        }
    }

    /// Records one delivered sensor post.
    pub fn commit_sensor(&mut self, post: &SensorPost, now: Millis) {
        self.sensors.insert(post.entity_id.clone(), (post.value, now));
    }

    /// Treats the notifications of `rules` as shown, e.g. at start-up: the first plan then dismisses
    /// those a previous run left behind for rules that no longer fire (dismissing an absent
    /// notification is harmless).
    pub fn assume_shown<'a>(&mut self, rules: impl IntoIterator<Item = &'a str>) {
        self.notifications.extend(rules.into_iter().map(notification_id));
    }

    /// Notification ids believed to be shown.
    pub fn notifications(&self) -> impl Iterator<Item = &str> {
        self.notifications.iter().map(String::as_str)
    }
}

/// Notification id of a rule.
pub fn notification_id(rule: &str) -> String {
    format!("hapulse_{rule}")
}

/// Decides what to publish at `now`: `values[i]` is `specs[i]`'s reading (see [`read_sensors`]).
pub fn plan(
    now: Millis,
    specs: &[SensorSpec],
    values: &[Option<f64>],
    alerts: &[AlertStatus],
    state: &PublisherState,
    config: &PublisherConfig,
) -> Plan {
    let mut out = Plan::default();
    let mut budget = config.max_posts;

    // Notifications first: they are what people act on.
    let firing: Vec<&AlertStatus> = alerts.iter().filter(|a| a.state.is_firing()).collect();
    for a in &firing {
        let id = notification_id(&a.rule.name);
        if budget > 0 && !state.notifications.contains(&id) {
            out.create.push(NotificationCreate { body: notification_body(&id, a), notification_id: id });
            budget -= 1;
        }
    }
    for id in &state.notifications {
        if budget > 0 && !firing.iter().any(|a| notification_id(&a.rule.name) == *id) {
            out.dismiss.push(id.clone());
            budget -= 1;
        }
    }

    // Sensors, the longest unpublished first.
    let active = SensorSpec {
        object_id: ACTIVE_ALERTS_SENSOR.into(),
        friendly_name: "hapulse active alerts".into(),
        unit: "alerts".into(),
        query: Query::new("", Aggregation::Value, Duration::ZERO),
        factor: 1.0,
        decimals: 0,
    };
    let readings = specs.iter().zip(values.iter().copied()).chain([(&active, Some(firing.len() as f64))]);
    let mut due: Vec<(Option<Millis>, SensorPost)> = Vec::new();
    for (spec, value) in readings {
        let entity_id = format!("sensor.{}", spec.object_id);
        let last = state.sensors.get(&entity_id).copied();
        if let Some((last_value, at)) = last {
            let age = now.duration_since(at);
            let moved = match (last_value, value) {
                (Some(a), Some(b)) => (b - a).abs() > config.absolute_epsilon.max(config.relative_epsilon * a.abs()),
                (None, None) => false,
                _ => true,
            };
            if age < config.min_interval || (!moved && age < config.refresh_interval) {
                continue;
            }
        }
        let body = sensor_body(spec, value, &firing);
        due.push((last.map(|(_, at)| at), SensorPost { entity_id, value, body }));
    }
    due.sort_by_key(|(at, _)| *at); // never published (None) first, then oldest
    out.sensors = due.into_iter().take(budget).map(|(_, p)| p).collect();
    out
}

fn sensor_body(spec: &SensorSpec, value: Option<f64>, firing: &[&AlertStatus]) -> serde_json::Value {
    let state = value.map_or_else(|| "unknown".to_string(), |v| format!("{v:.*}", spec.decimals));
    let mut attributes = json!({
        "unit_of_measurement": spec.unit,
        "state_class": "measurement",
        "friendly_name": spec.friendly_name,
    });
    if spec.object_id == ACTIVE_ALERTS_SENSOR {
        attributes["alerts"] = firing.iter().map(|a| a.rule.name.clone()).collect::<Vec<_>>().into();
    }
    json!({ "state": state, "attributes": attributes })
}

fn notification_body(id: &str, a: &AlertStatus) -> serde_json::Value {
    let value = a.value.map_or_else(|| "no data".to_string(), |v| format!("{v:.3}"));
    let message = format!(
        "{}\n\n{} {} of `{}` is {value} (threshold {}, resolves past {}). Severity: {}.",
        a.rule.summary,
        a.rule.query.aggregation,
        if a.rule.query.window.is_zero() { String::new() } else { format!("over {:?}", a.rule.query.window) },
        a.rule.query.metric,
        a.rule.threshold(),
        a.rule.resolve,
        a.rule.severity,
    );
    json!({
        "notification_id": id,
        "title": format!("hapulse: {} ({})", a.rule.name, a.rule.severity),
        "message": message,
    })
}

#[cfg(test)]
mod tests;
