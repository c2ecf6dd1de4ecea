//! Change streams: determinism, Zipf skew towards chatty meters, Home Assistant's timestamp rules.

use std::collections::HashMap;

use ha_fixtures::{ChangeStream, DEFAULT_SEED, MEDIUM, SMALL, install, stream_start};
use ha_proto::State;

fn run(seed: u64, states: &mut [State], n: usize) -> Vec<(usize, State, State)> {
    let mut stream = ChangeStream::new(seed, states, stream_start(states));
    (0..n).map(|_| stream.step(states)).collect()
}

#[test]
fn same_seed_gives_the_same_changes() {
    let mut a = install(DEFAULT_SEED, SMALL);
    let mut b = a.clone();

    let (ca, cb) = (run(9, &mut a, 2_000), run(9, &mut b, 2_000));

    assert_eq!(ca, cb);
    assert_eq!(a, b);
}

#[test]
fn different_seeds_give_different_changes() {
    let mut a = install(DEFAULT_SEED, SMALL);
    let mut b = a.clone();

    let (ca, cb) = (run(1, &mut a, 100), run(2, &mut b, 100));

    assert_ne!(ca, cb);
}

#[test]
fn top_one_percent_of_entities_make_most_changes_and_are_chatty_meters() {
    let original = install(DEFAULT_SEED, MEDIUM);
    let mut states = original.clone();

    let changes = run(DEFAULT_SEED, &mut states, 50_000);

    let mut per_entity: HashMap<usize, usize> = HashMap::new();
    for (i, _, _) in &changes {
        *per_entity.entry(*i).or_default() += 1;
    }
    let mut counts: Vec<(usize, usize)> = per_entity.into_iter().collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
    let top: Vec<(usize, usize)> = counts.into_iter().take(MEDIUM / 100).collect();
    let top_share = top.iter().map(|(_, n)| n).sum::<usize>() as f64 / changes.len() as f64;
    assert!(top_share > 0.4, "top 1 % made only {top_share:.2} of the changes");
    for (i, _) in &top {
        let s = &original[*i];
        let class: Option<String> = s.attributes.get_as("device_class");
        assert_eq!(s.entity_id.domain(), "sensor", "{}", s.entity_id);
        assert!(
            matches!(class.as_deref(), Some("power" | "energy" | "signal_strength" | "voltage" | "current")),
            "{} has class {class:?}",
            s.entity_id
        );
    }
}

#[test]
fn last_changed_moves_exactly_when_the_state_text_changes() {
    let mut states = install(DEFAULT_SEED, SMALL);

    let changes = run(3, &mut states, 20_000);

    let mut attribute_only = 0;
    for (_, old, new) in &changes {
        if old.state == new.state {
            attribute_only += 1;
            assert_eq!(new.last_changed, old.last_changed, "{}", new.entity_id);
        } else {
            assert_eq!(new.last_changed, new.last_updated, "{}", new.entity_id);
        }
        assert!(new.last_updated > old.last_updated, "{}", new.entity_id);
        assert_eq!(new.last_reported, Some(new.last_updated));
    }
    assert!(attribute_only > 100, "only {attribute_only} attribute-only changes");
}

#[test]
fn every_change_changes_state_or_attributes() {
    let mut states = install(DEFAULT_SEED, SMALL);

    let changes = run(4, &mut states, 20_000);

    for (_, old, new) in &changes {
        assert!(old.state != new.state || old.attributes != new.attributes, "no-op change of {}", new.entity_id);
    }
}

#[test]
fn clock_is_monotonic_and_contexts_are_fresh() {
    let mut states = install(DEFAULT_SEED, SMALL);

    let changes = run(5, &mut states, 5_000);

    for pair in changes.windows(2) {
        assert!(pair[1].2.last_updated > pair[0].2.last_updated);
    }
    for (_, old, new) in &changes {
        assert_ne!(old.context.id, new.context.id);
        assert_eq!(new.context.id.len(), 26);
    }
}

#[test]
fn attributes_are_sometimes_added_and_removed() {
    let mut states = install(DEFAULT_SEED, SMALL);

    let changes = run(6, &mut states, 20_000);

    let removed = changes.iter().filter(|(_, o, n)| o.attributes.iter().any(|(k, _)| n.attributes.get(k).is_none()));
    let added = changes.iter().filter(|(_, o, n)| n.attributes.iter().any(|(k, _)| o.attributes.get(k).is_none()));
    assert!(removed.count() > 10);
    assert!(added.count() > 10);
}

#[test]
fn numeric_sensors_stay_numeric_and_meters_only_grow() {
    let mut states = install(DEFAULT_SEED, SMALL);

    let changes = run(8, &mut states, 20_000);

    let meters = changes.iter().filter(|(_, o, n)| {
        o.attributes.get_as::<String>("state_class").as_deref() == Some("total_increasing")
            && o.state.parse::<f64>().is_ok()
            && n.state.parse::<f64>().is_ok()
    });
    let mut seen = 0;
    for (_, old, new) in meters {
        seen += 1;
        assert!(new.state.parse::<f64>().unwrap() > old.state.parse::<f64>().unwrap(), "{}", new.entity_id);
    }
    assert!(seen > 100, "only {seen} meter readings");
}

#[test]
fn states_stay_within_255_characters() {
    let mut states = install(DEFAULT_SEED, SMALL);

    let changes = run(10, &mut states, 20_000);

    assert!(changes.iter().all(|(_, _, n)| n.state.chars().count() <= 255));
}

#[test]
fn unavailable_entities_keep_only_capability_attributes() {
    let mut states = install(DEFAULT_SEED, SMALL);

    let changes = run(11, &mut states, 20_000);

    let went_away: Vec<_> =
        changes.iter().filter(|(_, o, n)| o.state != "unavailable" && n.state == "unavailable").collect();
    assert!(!went_away.is_empty());
    for (_, old, new) in went_away {
        assert!(new.attributes.iter().all(|(k, v)| old.attributes.get(k).is_some_and(|o| o.get() == v.get())));
        assert_eq!(
            new.attributes.get("friendly_name").map(|v| v.get()),
            old.attributes.get("friendly_name").map(|v| v.get())
        );
        for gone in ["brightness", "media_title", "current_temperature"] {
            assert!(new.attributes.get(gone).is_none(), "{} kept {gone}", new.entity_id);
        }
    }
}

#[test]
fn unavailable_entities_come_back_as_they_were_or_unknown() {
    let mut states = install(DEFAULT_SEED, SMALL);
    let mut before_outage = std::collections::HashMap::new();

    let changes = run(12, &mut states, 20_000);

    let mut returns = 0;
    for (_, old, new) in &changes {
        if new.state == "unavailable" {
            before_outage.insert(new.entity_id.clone(), old.clone());
        }
        if old.state == "unavailable" {
            returns += 1;
            assert_ne!(new.state, "unavailable", "{}", new.entity_id);
            if let Some(was) = before_outage.remove(&new.entity_id) {
                assert_eq!((&new.state, &new.attributes), (&was.state, &was.attributes));
            }
        }
    }
    assert!(returns > 10, "only {returns} returns");
}
