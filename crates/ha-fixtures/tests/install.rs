//! Installs: determinism, counts, valid unique ids, domain mix, attribute sizes, timestamps.

use std::collections::{HashMap, HashSet};

use ha_fixtures::{DEFAULT_SEED, INSTALL_NOW, MAX, MEDIUM, SMALL, install};
use ha_proto::EntityId;

#[test]
fn same_seed_gives_the_same_install() {
    let (a, b) = (install(DEFAULT_SEED, SMALL), install(DEFAULT_SEED, SMALL));

    assert_eq!(a, b);
}

#[test]
fn different_seeds_give_different_installs() {
    let a = install(1, SMALL);

    let b = install(2, SMALL);

    assert_ne!(a, b);
}

#[test]
fn install_has_exactly_the_requested_number_of_entities() {
    for n in [0, 1, 7, 99, 100, SMALL, MAX] {
        let states = install(DEFAULT_SEED, n);

        assert_eq!(states.len(), n);
    }
}

#[test]
fn ids_are_valid_and_unique_at_the_maximum_size() {
    let states = install(DEFAULT_SEED, MAX);

    let ids: HashSet<&str> = states.iter().map(|s| s.entity_id.as_str()).collect();

    assert_eq!(ids.len(), MAX);
    for id in ids {
        assert!(EntityId::new(id).is_ok(), "{id}");
    }
}

#[test]
fn domain_mix_is_roughly_as_intended() {
    let states = install(DEFAULT_SEED, MEDIUM);

    let mut count: HashMap<&str, usize> = HashMap::new();
    for s in &states {
        *count.entry(s.entity_id.domain()).or_default() += 1;
    }

    let share = |d: &str| count.get(d).copied().unwrap_or(0) as f64 / MEDIUM as f64;
    assert!((0.34..0.42).contains(&share("sensor")), "sensor {}", share("sensor"));
    assert!((0.10..0.16).contains(&share("binary_sensor")), "binary_sensor {}", share("binary_sensor"));
    assert!((0.04..0.08).contains(&share("light")), "light {}", share("light"));
    for d in ["switch", "automation", "climate", "media_player", "weather", "device_tracker", "input_boolean"] {
        assert!(share(d) > 0.0, "{d} missing");
    }
    assert_eq!(count.get("sun"), Some(&1));
    assert!(count.len() >= 20, "only {} domains", count.len());
}

#[test]
fn attribute_sizes_have_a_small_median_and_a_long_tail_under_the_recorder_limit() {
    let states = install(DEFAULT_SEED, MEDIUM);

    let mut sizes: Vec<usize> = states.iter().map(|s| s.attributes.json_len()).collect();
    sizes.sort_unstable();

    let median = sizes[sizes.len() / 2];
    let max = sizes[sizes.len() - 1];
    let over_4k = sizes.iter().filter(|&&n| n > 4096).count();
    assert!((100..=600).contains(&median), "median {median}");
    assert!((8_000..=16_384).contains(&max), "max {max}");
    assert!(over_4k >= 5, "only {over_4k} attribute sets over 4 KB");
}

#[test]
fn json_len_matches_the_serialised_attributes() {
    let states = install(DEFAULT_SEED, SMALL);

    for s in &states {
        let text = serde_json::to_string(&s.attributes).unwrap();

        assert_eq!(text.len(), s.attributes.json_len(), "{}", s.entity_id);
    }
}

#[test]
fn timestamps_are_ordered_and_not_after_install_now() {
    let states = install(DEFAULT_SEED, MEDIUM);

    for s in &states {
        let reported = s.last_reported.expect("2024.3 states carry last_reported");

        assert!(s.last_changed <= s.last_updated, "{}", s.entity_id);
        assert!(s.last_updated <= reported, "{}", s.entity_id);
        assert!(reported <= INSTALL_NOW, "{}", s.entity_id);
        assert!(INSTALL_NOW.micros_since(s.last_changed) < 4 * 86_400 * 1_000_000, "{}", s.entity_id);
    }
}

#[test]
fn contexts_are_ulid_like_and_some_carry_users_and_parents() {
    let states = install(DEFAULT_SEED, SMALL);

    let users = states.iter().filter(|s| s.context.user_id.is_some()).count();
    let parents = states.iter().filter(|s| s.context.parent_id.is_some()).count();

    for s in &states {
        assert_eq!(s.context.id.len(), 26);
        assert!(s.context.id.bytes().all(|b| b.is_ascii_digit() || b.is_ascii_uppercase()));
    }
    assert!((30..150).contains(&users), "{users} contexts with a user");
    assert!((50..200).contains(&parents), "{parents} contexts with a parent");
}

#[test]
fn states_fit_home_assistants_limit() {
    let states = install(DEFAULT_SEED, MEDIUM);

    let longest = states.iter().map(|s| s.state.chars().count()).max().unwrap();

    assert!(longest <= 255, "{longest}");
}

#[test]
fn sensors_carry_unit_device_class_and_state_class() {
    let states = install(DEFAULT_SEED, SMALL);

    let power = states
        .iter()
        .find(|s| s.attributes.get_as::<String>("device_class").as_deref() == Some("power") && s.state != "unavailable")
        .expect("a power sensor");

    assert_eq!(power.entity_id.domain(), "sensor");
    assert_eq!(power.attributes.get_as::<String>("unit_of_measurement").as_deref(), Some("W"));
    assert_eq!(power.attributes.get_as::<String>("state_class").as_deref(), Some("measurement"));
    assert!(power.state == "unknown" || power.state.parse::<f64>().is_ok(), "{}", power.state);
}

#[test]
fn lights_carry_colour_attributes() {
    let states = install(DEFAULT_SEED, SMALL);

    let colour_on = states
        .iter()
        .filter(|s| s.entity_id.domain() == "light" && s.state == "on")
        .find(|s| s.attributes.get("xy_color").is_some_and(|v| v.get() != "null"))
        .expect("a coloured light that is on");

    for key in ["brightness", "color_mode", "supported_color_modes", "hs_color", "rgb_color", "min_color_temp_kelvin"] {
        assert!(colour_on.attributes.get(key).is_some(), "{key} missing on {}", colour_on.entity_id);
    }
}

#[test]
fn only_device_entities_are_unavailable() {
    let states = install(DEFAULT_SEED, MEDIUM);

    let unavailable: Vec<&str> =
        states.iter().filter(|s| s.state == "unavailable").map(|s| s.entity_id.domain()).collect();

    assert!(unavailable.len() > MEDIUM / 200, "only {} unavailable", unavailable.len());
    for domain in unavailable {
        assert!(
            !matches!(domain, "automation" | "script" | "scene" | "group" | "person" | "zone" | "sun")
                && !domain.starts_with("input_"),
            "{domain} entity unavailable"
        );
    }
}
