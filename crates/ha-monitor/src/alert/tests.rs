//! Tests of the alert state machine.

use std::time::Duration;

use proptest::prelude::*;

use super::*;
use crate::registry::{Query, Registry};
use crate::{StdMetrics, names};

/// p99 latency above 1.0 for 60 s, resolving below 0.5.
fn rule() -> Rule {
    let text = r#"
        use_default_rules = false
        [[rule]]
        name = "slow"
        metric = "hapulse_command_latency_seconds"
        aggregation = "p99"
        window = "1m"
        above = 1.0
        resolve = 0.5
        for = "60s"
    "#;
    RuleSet::parse(text).unwrap().rules.remove(0)
}

/// Feeds `values` one per 10 s starting at t = 0; returns every state.
fn run(rule: &Rule, values: &[Option<f64>]) -> Vec<AlertState> {
    let mut state = AlertState::Inactive;
    values
        .iter()
        .enumerate()
        .map(|(i, v)| {
            state = step(rule, state, *v, Millis(i as u64 * 10_000));
            state
        })
        .collect()
}

#[test]
fn breach_is_pending_then_fires_after_for() {
    let r = rule();

    let states = run(&r, &[Some(2.0); 8]);

    assert_eq!(states[0], AlertState::Pending { since: Millis(0) });
    assert_eq!(states[5], AlertState::Pending { since: Millis(0) });
    assert_eq!(states[6], AlertState::Firing { since: Millis(60_000) });
    assert_eq!(states[7], AlertState::Firing { since: Millis(60_000) });
}

#[test]
fn short_breach_returns_to_inactive_without_firing() {
    let r = rule();

    let states = run(&r, &[Some(2.0), Some(2.0), Some(0.9), Some(2.0)]);

    assert_eq!(states[2], AlertState::Inactive);
    assert_eq!(states[3], AlertState::Pending { since: Millis(30_000) });
}

#[test]
fn firing_resolves_only_below_the_resolve_threshold() {
    let r = rule();
    let mut values = vec![Some(2.0); 7];
    values.extend([Some(0.8), Some(0.6), Some(0.5), Some(0.4), Some(0.4)]);

    let states = run(&r, &values);

    assert!(states[6..10].iter().all(AlertState::is_firing), "{states:?}");
    assert_eq!(states[10], AlertState::Resolved { at: Millis(100_000) });
    assert_eq!(states[11], AlertState::Inactive);
}

#[test]
fn no_data_resolves_a_firing_alert() {
    let r = rule();
    let mut values = vec![Some(2.0); 7];
    values.push(None);

    let states = run(&r, &values);

    assert_eq!(states[7], AlertState::Resolved { at: Millis(70_000) });
}

#[test]
fn resolved_breaching_again_goes_pending() {
    let r = rule();
    let mut values = vec![Some(2.0); 7];
    values.extend([Some(0.1), Some(3.0)]);

    let states = run(&r, &values);

    assert_eq!(states[8], AlertState::Pending { since: Millis(80_000) });
}

#[test]
fn zero_for_fires_at_the_first_breach() {
    let mut r = rule();
    r.for_duration = Duration::ZERO;

    let states = run(&r, &[Some(0.2), Some(1.5)]);

    assert_eq!(states, vec![AlertState::Inactive, AlertState::Firing { since: Millis(10_000) }]);
}

struct Fixed(Vec<f64>, std::cell::Cell<usize>);

impl crate::MetricSource for Fixed {
    fn value(&self, _: &Query, _: Millis) -> Option<f64> {
        let i = self.1.get();
        self.1.set(i + 1);
        self.0.get(i).copied()
    }
}

#[test]
fn noise_around_the_threshold_does_not_flap() {
    // arrange: breach long enough to fire, then 200 readings jumping around the threshold (1.0)
    // but never below the resolve threshold (0.5)
    let mut values = vec![1.5; 7];
    values.extend((0..200).map(|i| if i % 2 == 0 { 1.2 } else { 0.7 + (i % 7) as f64 * 0.04 }));
    let source = Fixed(values.clone(), Default::default());
    let mut engine = AlertEngine::new(RuleSet { rules: vec![rule()] });

    // act
    let transitions: Vec<Transition> =
        (0..values.len()).flat_map(|i| engine.evaluate(&source, Millis(i as u64 * 10_000))).collect();

    // assert
    let names: Vec<(&str, &str)> = transitions.iter().map(|t| (t.from.name(), t.to.name())).collect();
    assert_eq!(names, vec![("inactive", "pending"), ("pending", "firing")]);
    assert_eq!(engine.firing().count(), 1);
}

proptest! {
    #[test]
    fn healthy_series_never_leaves_inactive(values in proptest::collection::vec(proptest::option::of(0.0f64..=1.0), 1..300)) {
        let r = rule();

        let states = run(&r, &values);

        prop_assert!(states.iter().all(|s| *s == AlertState::Inactive));
    }
}

#[test]
fn engine_fires_on_slow_commands_recorded_in_the_registry() {
    // arrange: 3 s commands every 10 s for three minutes
    let mut registry = Registry::default();
    let metrics = StdMetrics::register(&mut registry);
    let mut engine = AlertEngine::new(RuleSet { rules: vec![rule()] });
    let mut transitions = Vec::new();

    // act
    for i in 0..18u64 {
        let now = Millis(i * 10_000);
        metrics.on_command("call_service", Duration::from_secs(3), now);
        transitions.extend(engine.evaluate(&registry, now));
    }

    // assert
    assert_eq!(transitions.len(), 2);
    assert_eq!(transitions[1].to, AlertState::Firing { since: Millis(60_000) });
    let p99 = transitions[1].value.unwrap();
    assert!((p99 - 3.0).abs() < 3.0 / 64.0, "p99 {p99} is within one bucket of 3 s");
    assert_eq!(engine.statuses()[0].rule.query.metric, names::COMMAND_LATENCY);
}

#[test]
fn relative_rule_fires_when_the_rate_jumps_far_above_the_last_hour() {
    // arrange: 10 events/s for 50 minutes, then 200/s
    let mut registry = Registry::default();
    let metrics = StdMetrics::register(&mut registry);
    let rules = RuleSet::defaults().rules.into_iter().filter(|r| r.name == "event_flood").collect();
    let mut engine = AlertEngine::new(RuleSet { rules });
    let mut firing_at = None;

    // act
    for s in 0..3300u64 {
        let per_second = if s < 3000 { 10 } else { 200 };
        let now = Millis(s * 1000);
        for _ in 0..per_second {
            metrics.on_event(100, now);
        }
        if s % 10 == 0 {
            for t in engine.evaluate(&registry, now) {
                if t.to.is_firing() {
                    firing_at.get_or_insert(s);
                }
            }
        }
    }

    // assert: quiet for the first 50 minutes, firing about `for` (2 min) after the jump
    let at = firing_at.expect("flood fires");
    assert!((3120..3200).contains(&at), "fired at {at} s");
}

#[test]
fn relative_rule_ignores_ratios_below_min_value() {
    let rule = RuleSet::defaults().rules.into_iter().find(|r| r.name == "event_flood").unwrap();
    let quiet_doubling = Fixed(vec![0.4, 0.1], Default::default()); // 1 min rate, then 1 h rate

    let value = rule.read(&quiet_doubling, Millis(0));

    assert_eq!(value, Some(0.0));
}

#[test]
fn healthy_ten_minutes_raise_no_default_alert() {
    // arrange: a busy but healthy installation, sampled every second
    let mut registry = Registry::default();
    let metrics = StdMetrics::register(&mut registry);
    let mut engine = AlertEngine::new(RuleSet::defaults());
    let mut transitions = Vec::new();
    let entities: Vec<String> = (0..50).map(|i| format!("sensor.power_{i}")).collect();

    // act
    for s in 0..600u64 {
        let now = Millis(s * 1000);
        for (i, e) in entities.iter().enumerate() {
            metrics.on_event(400, now);
            metrics.on_state_changed(e, 300 + i, Some(Duration::from_millis(5 + i as u64)), now);
        }
        metrics.on_command("call_service", Duration::from_millis(40 + s % 60), now);
        metrics.on_ping(Duration::from_millis(2), now);
        metrics.rss.set(90e6 + s as f64 * 1e4);
        transitions.extend(engine.evaluate(&registry, now));
    }

    // assert
    assert_eq!(transitions, vec![]);
}

#[test]
fn default_mirror_stale_rule_fires_once_the_mirror_is_stale_past_two_minutes_and_resolves_when_current() {
    // arrange
    let mut registry = Registry::default();
    let metrics = StdMetrics::register(&mut registry);
    let mut engine = AlertEngine::new(RuleSet::defaults());
    let state = |engine: &AlertEngine| {
        engine.statuses().iter().find(|s| s.rule.name == "mirror_stale").expect("a default rule").state
    };

    // act: stale for 0, 60, 120 and 121 s, then current again
    let mut seen = Vec::new();
    for (at, stale) in [(0, 0.0), (60, 60.0), (120, 120.0), (121, 121.0), (122, 0.0)] {
        metrics.mirror_stale.set(stale);
        engine.evaluate(&registry, Millis(at * 1000));
        seen.push(state(&engine).name());
    }

    // assert
    assert_eq!(seen, ["inactive", "inactive", "inactive", "firing", "resolved"]);
    assert_eq!(names::MIRROR_STALE, "hapulse_mirror_stale_seconds");
}
