//! Climate entities: HVAC modes, fan / swing / preset modes and temperatures.

use ha_proto::Attributes;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::Value;

use super::{Built, Gen, finish, round1};
use crate::names::room;

pub(crate) const HVAC_ACTIONS: &[&str] = &["idle", "heating", "cooling", "off", "fan"];

pub(super) fn climate(g: &mut Gen) -> Built {
    let place = room(&mut g.rng);
    let thing = ["thermostat", "heat_pump", "air_conditioner", "radiator", "floor_heating"].choose(&mut g.rng);
    let (id, friendly) = g.name("climate", &format!("{place}_{}", thing.copied().unwrap_or("thermostat")));
    let rng = &mut g.rng;
    let full = rng.random_bool(0.5);
    let hvac_modes: &[&str] =
        if full { &["off", "heat", "cool", "heat_cool", "auto", "dry", "fan_only"] } else { &["off", "heat"] };
    let mut attrs = Attributes::new();
    attrs.insert_value("hvac_modes", hvac_modes);
    attrs.insert_value("min_temp", &7.0);
    attrs.insert_value("max_temp", &35.0);
    attrs.insert_value("target_temp_step", &0.5);
    if full {
        attrs.insert_value(
            "fan_modes",
            &["auto", "low", "medium_low", "medium", "medium_high", "high", "quiet", "turbo"],
        );
        attrs.insert_value("swing_modes", &["off", "vertical", "horizontal", "both"]);
    }
    attrs.insert_value("preset_modes", &["none", "eco", "away", "boost", "comfort", "home", "sleep", "activity"]);
    attrs.insert_value("current_temperature", &round1(rng.random_range(16.0..25.0)));
    attrs.insert_value("temperature", &(f64::from(rng.random_range(36..48u32)) / 2.0));
    attrs.insert_value("target_temp_high", &Value::Null);
    attrs.insert_value("target_temp_low", &Value::Null);
    attrs.insert_value("current_humidity", &rng.random_range(30..65u32));
    if full {
        attrs.insert_value("fan_mode", "auto");
        attrs.insert_value("swing_mode", "off");
    }
    attrs.insert_value("hvac_action", HVAC_ACTIONS.choose(rng).copied().unwrap_or("idle"));
    attrs.insert_value("preset_mode", "home");
    let state = hvac_modes.choose(rng).copied().unwrap_or("heat");
    Built { id, state: state.to_owned(), attrs: finish(attrs, friendly, Some(if full { 441 } else { 401 })) }
}
