//! Tests of the publisher plan: attributes, coalescing, rate limits and notifications.

use super::*;
use crate::alert::AlertState;
use crate::rules::RuleSet;

fn one_sensor() -> Vec<SensorSpec> {
    vec![spec(
        "hapulse_memory",
        "hapulse memory",
        "MB",
        Query::new(names::RSS, Aggregation::Value, Duration::ZERO),
        1e-6,
        1,
    )]
}

fn config() -> PublisherConfig {
    PublisherConfig { max_posts: 50, ..PublisherConfig::default() }
}

fn alert(state: AlertState) -> AlertStatus {
    let rule = RuleSet::defaults().rules.into_iter().find(|r| r.name == "memory").unwrap();
    AlertStatus { rule, state, value: Some(450e6) }
}

/// Plans at `now` with memory `mb` and commits the plan; returns it.
fn publish(state: &mut PublisherState, now: u64, mb: Option<f64>, alerts: &[AlertStatus]) -> Plan {
    let p = plan(Millis(now), &one_sensor(), &[mb], alerts, state, &config());
    state.commit(&p, Millis(now));
    p
}

#[test]
fn first_plan_posts_every_sensor_with_measurement_attributes() {
    let state = PublisherState::default();

    let p = plan(Millis(0), &one_sensor(), &[Some(123.456)], &[], &state, &config());

    assert_eq!(p.sensors.len(), 2);
    let memory = &p.sensors[0];
    assert_eq!(memory.path(), "/api/states/sensor.hapulse_memory");
    assert_eq!(
        memory.body,
        json!({"state": "123.5", "attributes": {
            "unit_of_measurement": "MB", "state_class": "measurement", "friendly_name": "hapulse memory"}})
    );
    assert_eq!(p.sensors[1].entity_id, "sensor.hapulse_active_alerts");
    assert_eq!(p.sensors[1].body["state"], "0");
}

#[test]
fn unchanged_values_are_not_posted_again() {
    let mut state = PublisherState::default();
    publish(&mut state, 0, Some(100.0), &[]);

    let p = publish(&mut state, 60_000, Some(100.5), &[]);

    assert!(p.is_empty(), "{p:?}");
}

#[test]
fn a_change_waits_for_min_interval_and_the_latest_value_wins() {
    let mut state = PublisherState::default();
    publish(&mut state, 0, Some(100.0), &[]);

    let early = publish(&mut state, 10_000, Some(150.0), &[]);
    let later = publish(&mut state, 31_000, Some(170.0), &[]);

    assert!(early.sensors.is_empty());
    assert_eq!(later.sensors.len(), 1);
    assert_eq!(later.sensors[0].body["state"], "170.0");
}

#[test]
fn unchanged_sensors_are_refreshed_after_refresh_interval() {
    let mut state = PublisherState::default();
    publish(&mut state, 0, Some(100.0), &[]);

    let p = publish(&mut state, 600_000, Some(100.0), &[]);

    assert_eq!(p.sensors.len(), 2);
}

#[test]
fn missing_data_is_posted_once_as_unknown() {
    let mut state = PublisherState::default();
    publish(&mut state, 0, Some(100.0), &[]);

    let first = publish(&mut state, 40_000, None, &[]);
    let second = publish(&mut state, 80_000, None, &[]);

    assert_eq!(first.sensors[0].body["state"], "unknown");
    assert!(second.is_empty());
}

#[test]
fn firing_alert_creates_one_notification_and_resolving_dismisses_it() {
    let mut state = PublisherState::default();
    let firing = [alert(AlertState::Firing { since: Millis(0) })];

    let created = publish(&mut state, 0, Some(450.0), &firing);
    let again = publish(&mut state, 40_000, Some(450.0), &firing);
    let resolved = publish(&mut state, 80_000, Some(100.0), &[alert(AlertState::Resolved { at: Millis(80_000) })]);

    assert_eq!(created.create.len(), 1);
    assert_eq!(created.create[0].notification_id, "hapulse_memory");
    assert_eq!(created.create[0].body["title"], "hapulse: memory (critical)");
    assert!(again.create.is_empty() && again.dismiss.is_empty());
    assert_eq!(resolved.dismiss, vec!["hapulse_memory".to_string()]);
    assert_eq!(state.notifications().count(), 0);
}

#[test]
fn active_alerts_sensor_lists_the_firing_rules() {
    let state = PublisherState::default();
    let firing = [alert(AlertState::Firing { since: Millis(0) })];

    let p = plan(Millis(0), &[], &[], &firing, &state, &config());

    assert_eq!(p.sensors[0].body["state"], "1");
    assert_eq!(p.sensors[0].body["attributes"]["alerts"], json!(["memory"]));
}

#[test]
fn posts_beyond_max_posts_wait_for_the_next_plan() {
    let specs = default_sensors();
    let values = vec![Some(1.0); specs.len()];
    let mut state = PublisherState::default();
    let cfg = PublisherConfig { max_posts: 4, ..PublisherConfig::default() };

    let first = plan(Millis(0), &specs, &values, &[], &state, &cfg);
    state.commit(&first, Millis(0));
    let second = plan(Millis(1000), &specs, &values, &[], &state, &cfg);

    assert_eq!((first.sensors.len(), second.sensors.len()), (4, 4));
    assert!(second.sensors.iter().all(|s| !first.sensors.iter().any(|f| f.entity_id == s.entity_id)));
}

#[test]
fn default_sensors_read_the_standard_metrics() {
    let mut registry = crate::Registry::default();
    let m = crate::StdMetrics::register(&mut registry);
    m.rss.set(250e6);
    let specs = default_sensors();

    let values = read_sensors(&specs, &registry, Millis(1000));

    let memory = specs.iter().position(|s| s.object_id == "hapulse_memory").unwrap();
    assert_eq!(values[memory], Some(250.0));
    for s in &specs {
        registry.check(&s.query).unwrap();
    }
}

#[test]
fn notifications_assumed_shown_at_start_are_dismissed_unless_firing() {
    let mut state = PublisherState::default();
    state.assume_shown(["memory", "event_lag"]);
    let firing = [alert(AlertState::Firing { since: Millis(0) })];

    let p = plan(Millis(0), &[], &[], &firing, &state, &config());

    assert!(p.create.is_empty());
    assert_eq!(p.dismiss, vec!["hapulse_event_lag".to_string()]);
}
