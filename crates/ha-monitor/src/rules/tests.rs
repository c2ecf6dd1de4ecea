//! Tests of rule parsing: defaults, units, and errors that name the line and the key.

use super::*;
use crate::{MonitorError, StdMetrics};

fn err_of(text: &str) -> (usize, String, String) {
    match RuleSet::parse(text).unwrap_err() {
        MonitorError::Config { line, key, message, .. } => (line, key, message),
        other => panic!("unexpected error {other:?}"),
    }
}

const LATENCY: &str = r#"
[[rule]]
name = "slow"
metric = "hapulse_command_latency_seconds"
aggregation = "p99"
window = "5m"
above = "2s"
resolve = "500ms"
for = "1m"
severity = "critical"
"#;

#[test]
fn defaults_parse_and_match_the_standard_metrics() {
    let mut registry = Registry::default();
    StdMetrics::register(&mut registry);

    let defaults = RuleSet::defaults();

    assert!(defaults.rules.len() >= 5);
    defaults.check(&registry).unwrap();
}

#[test]
fn rule_reads_units_of_thresholds_and_durations() {
    let set = RuleSet::parse(&format!("use_default_rules = false\n{LATENCY}")).unwrap();

    let rule = &set.rules[0];
    assert_eq!(rule.condition, Condition::Above(2.0));
    assert_eq!((rule.resolve, rule.for_duration), (0.5, Duration::from_secs(60)));
    assert_eq!((rule.query.window, rule.severity), (Duration::from_secs(300), Severity::Critical));
}

#[test]
fn user_rule_is_added_after_the_defaults() {
    let set = RuleSet::parse(LATENCY).unwrap();

    assert_eq!(set.rules.len(), RuleSet::defaults().rules.len() + 1);
    assert_eq!(set.rules.last().unwrap().name, "slow");
}

#[test]
fn user_rule_with_a_default_name_replaces_it() {
    let text = LATENCY.replace("\"slow\"", "\"memory\"");

    let set = RuleSet::parse(&text).unwrap();

    let memory: Vec<&Rule> = set.rules.iter().filter(|r| r.name == "memory").collect();
    assert_eq!(memory.len(), 1);
    assert_eq!(memory[0].query.metric, "hapulse_command_latency_seconds");
}

#[test]
fn sizes_in_bytes_are_understood() {
    assert_eq!(parse_amount("400MB"), Ok(400e6));
    assert_eq!(parse_amount("1GiB"), Ok(1024.0 * 1024.0 * 1024.0));
    assert_eq!(parse_amount("2.5"), Ok(2.5));
    assert!(parse_amount("3 parsecs").is_err());
}

#[test]
fn bad_duration_names_line_and_key() {
    let text = LATENCY.replace("for = \"1m\"", "for = \"1 fortnight\"");

    let (line, key, message) = err_of(&text);

    assert_eq!((line, key.as_str()), (9, "for"));
    assert!(message.contains("fortnight") && message.contains("\"slow\""), "{message}");
}

#[test]
fn unknown_key_names_line_and_key() {
    let text = LATENCY.replace("severity", "severty");

    let (line, key, _) = err_of(&text);

    assert_eq!((line, key.as_str()), (10, "severty"));
}

#[test]
fn missing_key_is_named() {
    let text = LATENCY.replace("metric = \"hapulse_command_latency_seconds\"\n", "");

    let (_, key, message) = err_of(&text);

    assert_eq!(key, "metric");
    assert!(message.contains("missing"), "{message}");
}

#[test]
fn wrong_value_type_names_line_and_key() {
    let text = LATENCY.replace("aggregation = \"p99\"", "aggregation = \"p42\"");

    let (line, key, _) = err_of(&text);

    assert_eq!((line, key.as_str()), (5, "aggregation"));
}

#[test]
fn resolve_on_the_unhealthy_side_is_rejected() {
    let text = LATENCY.replace("resolve = \"500ms\"", "resolve = \"3s\"");

    let (line, key, _) = err_of(&text);

    assert_eq!((line, key.as_str()), (8, "resolve"));
}

#[test]
fn above_and_below_together_are_rejected() {
    let text = LATENCY.replace("resolve = \"500ms\"", "below = 1");

    let (line, key, _) = err_of(&text);

    assert_eq!((line, key.as_str()), (8, "below"));
}

#[test]
fn toml_syntax_error_gives_its_line() {
    let text = LATENCY.replace("window = \"5m\"", "window = \"5m");

    let (line, key, _) = err_of(&text);

    assert_eq!((line, key.as_str()), (6, "window"));
}

#[test]
fn unknown_metric_is_reported_by_check_with_line_and_key() {
    let mut registry = Registry::default();
    StdMetrics::register(&mut registry);
    let set = RuleSet::parse(&LATENCY.replace("hapulse_command_latency_seconds", "hapulse_nope")).unwrap();

    let err = set.check(&registry).unwrap_err();

    let MonitorError::Config { line, key, .. } = &err else { panic!("{err:?}") };
    assert_eq!((*line, key.as_str()), (4, "metric"));
    assert!(err.to_string().starts_with("alert config line 4 column 10, key `metric`"), "{err}");
}

#[test]
fn missing_window_is_reported_by_check_at_the_aggregation() {
    let mut registry = Registry::default();
    StdMetrics::register(&mut registry);
    let set = RuleSet::parse(&LATENCY.replace("window = \"5m\"\n", "")).unwrap();

    let err = set.check(&registry).unwrap_err();

    let MonitorError::Config { line, key, .. } = &err else { panic!("{err:?}") };
    assert_eq!((*line, key.as_str()), (5, "window"));
}

#[test]
fn duplicate_rule_name_points_at_the_second_name() {
    let text = format!("use_default_rules = false\n{LATENCY}{LATENCY}");

    let (line, key, _) = err_of(&text);

    assert_eq!((line, key.as_str()), (14, "name"));
}

#[test]
fn relative_to_must_be_longer_than_the_window() {
    let text = LATENCY.replace("for = \"1m\"", "relative_to = \"1m\"");

    let (line, key, _) = err_of(&text);

    assert_eq!((line, key.as_str()), (9, "relative_to"));
}
