//! How entities change: one realistic next state per domain, with Home Assistant's
//! availability rule (an unavailable entity keeps only its capability attributes).

use std::collections::HashMap;

use ha_proto::{Attributes, EntityId, State, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::Value;

use crate::domains::{self, ARTISTS, CONDITIONS, HVAC_ACTIONS, TITLES, round1};
use crate::sensors;

/// Attributes an entity keeps while unavailable: its capability attributes plus the
/// ones every entity carries (`Entity.__async_calculate_state` in Home Assistant).
const CAPABILITY_KEYS: &[&str] = &[
    "friendly_name",
    "unit_of_measurement",
    "device_class",
    "state_class",
    "supported_features",
    "icon",
    "options",
    "supported_color_modes",
    "min_color_temp_kelvin",
    "max_color_temp_kelvin",
    "min_mireds",
    "max_mireds",
    "effect_list",
    "hvac_modes",
    "min_temp",
    "max_temp",
    "target_temp_step",
    "fan_modes",
    "preset_modes",
    "swing_modes",
    "source_list",
    "sound_mode_list",
    "min",
    "max",
    "step",
    "mode",
    "editable",
];

/// Domains whose entities come from devices and so can become unavailable.
const DEVICE_DOMAINS: &[&str] = &[
    "sensor",
    "binary_sensor",
    "switch",
    "light",
    "climate",
    "media_player",
    "cover",
    "fan",
    "lock",
    "update",
    "camera",
    "button",
    "number",
    "select",
    "device_tracker",
];

/// Whether entities of `domain` come from devices (and so can be unavailable); helpers,
/// automations, scenes, groups, people, the sun and zones cannot.
pub(crate) fn can_be_unavailable(domain: &str) -> bool {
    DEVICE_DOMAINS.contains(&domain)
}

/// What an entity looked like before it became unavailable, to restore it when it returns.
pub(crate) type Stash = HashMap<EntityId, (String, Attributes)>;

/// The capability-only attributes of an unavailable entity.
pub(crate) fn unavailable_attrs(attrs: &Attributes) -> Attributes {
    let mut out = Attributes::new();
    for (k, v) in attrs.iter() {
        if CAPABILITY_KEYS.contains(&k) {
            out.insert(k, v.to_owned());
        }
    }
    out
}

/// The next state text and attributes of `current` at time `at`. Always differs from
/// `current` in state or attributes (Home Assistant fires no `state_changed` otherwise).
pub(crate) fn next<R: Rng>(rng: &mut R, stash: &mut Stash, current: &State, at: Timestamp) -> (String, Attributes) {
    let domain = current.entity_id.domain();
    if current.state == "unavailable"
        && let Some(before) = stash.remove(&current.entity_id)
    {
        return before;
    }
    if can_be_unavailable(domain) && current.state != "unavailable" && rng.random_range(0..1000u32) < 4 {
        return go_unavailable(stash, current);
    }
    let mut attrs = current.attributes.clone();
    let mut state = by_domain(rng, domain, current, &mut attrs, at);
    if state == "unavailable" {
        // Back from unavailable with no remembered state: Home Assistant shows "unknown"
        // until the device reports a value.
        state = "unknown".to_owned();
    }
    if state == current.state && attrs == current.attributes {
        // Nothing this domain can vary: the device dropped off instead.
        return go_unavailable(stash, current);
    }
    (state, attrs)
}

fn go_unavailable(stash: &mut Stash, current: &State) -> (String, Attributes) {
    if current.state == "unavailable" {
        // Unavailable without a known past: it comes back as "unknown".
        return ("unknown".to_owned(), current.attributes.clone());
    }
    stash.insert(current.entity_id.clone(), (current.state.clone(), current.attributes.clone()));
    ("unavailable".to_owned(), unavailable_attrs(&current.attributes))
}

fn toggle(state: &str) -> String {
    if state == "on" { "off" } else { "on" }.to_owned()
}

fn by_domain<R: Rng>(rng: &mut R, domain: &str, cur: &State, attrs: &mut Attributes, at: Timestamp) -> String {
    let state = cur.state.as_str();
    match domain {
        "sensor" => sensor(rng, cur, attrs, at),
        "light" => light(rng, state, attrs),
        "climate" => climate(rng, state, attrs),
        "media_player" => media_player(rng, cur, attrs, at),
        "weather" => weather(rng, state, attrs, at),
        "device_tracker" | "person" => tracker(rng, state, attrs),
        "automation" | "script" => automation(rng, domain, state, attrs, at),
        "scene" | "button" => at.to_string(),
        "input_number" | "number" => {
            let (lo, hi) = (attrs.get_as::<f64>("min").unwrap_or(0.0), attrs.get_as::<f64>("max").unwrap_or(100.0));
            let mut next = format!("{:.1}", rng.random_range(lo..=hi).round());
            if next == state {
                next = format!("{:.1}", if state.parse::<f64>().unwrap_or(lo) > lo { lo } else { hi });
            }
            next
        }
        "input_select" | "select" => {
            let options: Vec<String> = attrs.get_as("options").unwrap_or_default();
            let others: Vec<&String> = options.iter().filter(|o| *o != state).collect();
            others.choose(rng).map_or_else(|| state.to_owned(), |o| (*o).clone())
        }
        "update" => update(rng, state, attrs),
        "cover" => {
            let position = rng.random_range(0..=20u32) * 5;
            attrs.insert_value("current_position", &position);
            if position == 0 { "closed" } else { "open" }.to_owned()
        }
        "sun" => {
            let elevation = attrs.get_as::<f64>("elevation").unwrap_or(10.0) + rng.random_range(-0.8..0.8);
            attrs.insert_value("elevation", &round1(elevation.clamp(-60.0, 60.0)));
            let azimuth = attrs.get_as::<f64>("azimuth").unwrap_or(180.0) + rng.random_range(0.1..1.2);
            attrs.insert_value("azimuth", &round1(azimuth % 360.0));
            if elevation < 0.0 { "below_horizon" } else { "above_horizon" }.to_owned()
        }
        "zone" => {
            let persons = state.parse::<u32>().unwrap_or(0);
            (persons + rng.random_range(1..4u32)).rem_euclid(4).to_string()
        }
        "camera" => {
            // Home Assistant rotates camera access tokens every five minutes.
            let token = format!("{:032x}{:032x}", rng.random::<u128>(), rng.random::<u128>());
            attrs.insert_value("access_token", &token);
            attrs.insert_value("entity_picture", &format!("/api/camera_proxy/{}?token={token}", cur.entity_id));
            if rng.random_bool(0.1) { if state == "idle" { "streaming" } else { "idle" } } else { state }.to_owned()
        }
        "lock" => if state == "locked" { "unlocked" } else { "locked" }.to_owned(),
        "fan" => {
            let on = state != "on";
            attrs.insert_value("percentage", &if on { rng.random_range(1..=4u32) * 25 } else { 0 });
            toggle(state)
        }
        _ => toggle(state),
    }
}

fn sensor<R: Rng>(rng: &mut R, cur: &State, attrs: &mut Attributes, at: Timestamp) -> String {
    let state = cur.state.as_str();
    if let Some(kind) = sensors::numeric_kind(attrs) {
        return sensors::drift(rng, kind, state);
    }
    if let Some(options) = attrs.get_as::<Vec<String>>("options") {
        let others: Vec<&String> = options.iter().filter(|o| *o != state).collect();
        return others.choose(rng).map_or_else(|| state.to_owned(), |o| (*o).clone());
    }
    if attrs.get_as::<String>("device_class").as_deref() == Some("timestamp") {
        return at.to_string();
    }
    if let Some(mut entries) = attrs.get_as::<Vec<Value>>("entries") {
        // The first entry departed; a new one is appended.
        if !entries.is_empty() {
            entries.remove(0);
        }
        let n = entries.len();
        entries.push(sensors::listing_entry(rng, at, n));
        attrs.insert_value("entries", &entries);
        return entries.len().to_string();
    }
    if cur.entity_id.object_id().ends_with("ip_address") {
        return format!("192.168.{}.{}", rng.random_range(0..4u32), rng.random_range(2..255u32));
    }
    match state.parse::<f64>() {
        Ok(v) => format!("{}", v + 1.0),
        Err(_) => {
            format!("{}.{}.{}", rng.random_range(1..5u32), rng.random_range(0..20u32), rng.random_range(0..10u32))
        }
    }
}

fn light<R: Rng>(rng: &mut R, state: &str, attrs: &mut Attributes) -> String {
    let modes: Vec<String> = attrs.get_as("supported_color_modes").unwrap_or_else(|| vec!["onoff".to_owned()]);
    let modes: Vec<&str> = modes.iter().map(String::as_str).collect();
    let on = state == "on";
    if on && modes != ["onoff"] && rng.random_bool(0.7) {
        // Dimming or recolouring while on changes only attributes.
        if rng.random_bool(0.7) {
            let brightness = attrs.get_as::<u32>("brightness").unwrap_or(128);
            let next = (brightness as i64 + rng.random_range(-60..=60i64)).clamp(1, 255);
            let next = if next == brightness as i64 { (next % 255) + 1 } else { next };
            attrs.insert_value("brightness", &next);
        } else {
            domains::light_state(rng, &modes, true, attrs);
        }
        return state.to_owned();
    }
    domains::light_state(rng, &modes, !on, attrs);
    toggle(state)
}

fn climate<R: Rng>(rng: &mut R, state: &str, attrs: &mut Attributes) -> String {
    match rng.random_range(0..100u32) {
        0..=54 => {
            let t = attrs.get_as::<f64>("current_temperature").unwrap_or(20.0);
            let step = if rng.random_bool(0.5) { 0.1 } else { -0.1 } * f64::from(rng.random_range(1..4u32));
            attrs.insert_value("current_temperature", &round1((t + step).clamp(10.0, 30.0)));
        }
        55..=74 => {
            let now: Option<String> = attrs.get_as("hvac_action");
            let others: Vec<&&str> = HVAC_ACTIONS.iter().filter(|a| Some(**a) != now.as_deref()).collect();
            attrs.insert_value("hvac_action", others.choose(rng).map_or("idle", |a| **a));
        }
        75..=84 => {
            let t = attrs.get_as::<f64>("temperature").unwrap_or(20.0);
            let next = if t >= 24.0 { t - 0.5 } else { t + 0.5 };
            attrs.insert_value("temperature", &next);
        }
        85..=89 => {
            let h = attrs.get_as::<i64>("current_humidity").unwrap_or(45);
            attrs.insert_value("current_humidity", &(if h > 60 { h - 1 } else { h + 1 }));
        }
        _ => {
            let modes: Vec<String> = attrs.get_as("hvac_modes").unwrap_or_default();
            let others: Vec<&String> = modes.iter().filter(|m| *m != state).collect();
            if let Some(m) = others.choose(rng) {
                return (*m).clone();
            }
        }
    }
    state.to_owned()
}

fn media_player<R: Rng>(rng: &mut R, cur: &State, attrs: &mut Attributes, at: Timestamp) -> String {
    let state = cur.state.as_str();
    let remove_media = |attrs: &mut Attributes| {
        for key in domains::MEDIA_KEYS {
            attrs.remove(key);
        }
    };
    match state {
        "off" => {
            domains::media_attrs(rng, &cur.entity_id, at, attrs);
            if rng.random_bool(0.5) { "playing" } else { "idle" }.to_owned()
        }
        "playing" => match rng.random_range(0..10u32) {
            0..=4 => {
                // Position report: attributes only.
                let pos = attrs.get_as::<u32>("media_position").unwrap_or(0);
                attrs.insert_value("media_position", &(pos + rng.random_range(5..30u32)));
                attrs.insert_value("media_position_updated_at", &at.to_string());
                "playing".to_owned()
            }
            5..=7 => {
                // Next track: new title, artist, artwork.
                attrs.insert_value("media_title", TITLES.choose(rng).copied().unwrap_or("Track"));
                attrs.insert_value("media_artist", ARTISTS.choose(rng).copied().unwrap_or("Artist"));
                attrs.insert_value("media_position", &0);
                attrs.insert_value("media_duration", &rng.random_range(120..420u32));
                attrs.insert_value("media_position_updated_at", &at.to_string());
                let picture = format!(
                    "/api/media_player_proxy/{}?token={:032x}{:032x}&cache={:016x}",
                    cur.entity_id,
                    rng.random::<u128>(),
                    rng.random::<u128>(),
                    rng.random::<u64>()
                );
                attrs.insert_value("entity_picture", &picture);
                "playing".to_owned()
            }
            8 => "paused".to_owned(),
            _ => {
                remove_media(attrs);
                "off".to_owned()
            }
        },
        "paused" | "idle" | "on" => {
            if rng.random_bool(0.2) {
                remove_media(attrs);
                "off".to_owned()
            } else {
                if attrs.get("media_title").is_none() {
                    domains::media_attrs(rng, &cur.entity_id, at, attrs);
                }
                attrs.insert_value("media_position_updated_at", &at.to_string());
                "playing".to_owned()
            }
        }
        _ => "off".to_owned(),
    }
}

fn weather<R: Rng>(rng: &mut R, state: &str, attrs: &mut Attributes, at: Timestamp) -> String {
    match rng.random_range(0..10u32) {
        0..=4 => {
            let t = attrs.get_as::<f64>("temperature").unwrap_or(10.0);
            attrs.insert_value("temperature", &round1(t + rng.random_range(-0.6..0.6)));
            attrs.insert_value("humidity", &rng.random_range(30..100u32));
            attrs.insert_value("wind_speed", &round1(rng.random_range(0.0..45.0)));
            state.to_owned()
        }
        5 | 6 => {
            let others: Vec<&&str> = CONDITIONS.iter().filter(|c| **c != state).collect();
            others.choose(rng).map_or("cloudy", |c| **c).to_owned()
        }
        _ => {
            // A forecast refresh: same length, new numbers.
            let forecast: Vec<Value> = attrs.get_as("forecast").unwrap_or_default();
            let step = match forecast.len() {
                0..=11 => 24,
                _ => 1,
            };
            let fresh: Vec<Value> =
                (0..forecast.len().max(1)).map(|i| domains::forecast_entry(rng, at, i, step)).collect();
            attrs.insert_value("forecast", &fresh);
            state.to_owned()
        }
    }
}

fn tracker<R: Rng>(rng: &mut R, state: &str, attrs: &mut Attributes) -> String {
    let gps = attrs.get("latitude").is_some();
    if gps && rng.random_bool(0.7) {
        domains::gps_attrs(rng, state == "home", attrs);
        if let Some(b) = attrs.get_as::<u32>("battery_level") {
            attrs.insert_value("battery_level", &b.saturating_sub(1).max(5));
        }
        return state.to_owned();
    }
    let next = if state == "home" { "not_home" } else { "home" };
    if gps {
        domains::gps_attrs(rng, next == "home", attrs);
    }
    next.to_owned()
}

fn automation<R: Rng>(rng: &mut R, domain: &str, state: &str, attrs: &mut Attributes, at: Timestamp) -> String {
    if domain == "script" {
        let running = state == "off";
        if running {
            attrs.insert_value("last_triggered", &at.to_string());
        }
        attrs.insert_value("current", &u32::from(running));
        return toggle(state);
    }
    if state == "on" && rng.random_bool(0.9) {
        attrs.insert_value("last_triggered", &at.to_string());
        attrs.insert_value("current", &u32::from(rng.random_bool(0.2)));
        return state.to_owned();
    }
    toggle(state)
}

fn update<R: Rng>(rng: &mut R, state: &str, attrs: &mut Attributes) -> String {
    let installed: String = attrs.get_as("installed_version").unwrap_or_else(|| "1.0.0".to_owned());
    if state == "off" {
        let latest = format!("{installed}.{}", rng.random_range(1..9u32));
        attrs.insert_value("latest_version", &latest);
        attrs.insert_value("release_summary", "Bug fixes and stability improvements.");
        return "on".to_owned();
    }
    if attrs.get_as::<bool>("in_progress") == Some(false) && rng.random_bool(0.5) {
        attrs.insert_value("in_progress", &true);
        return state.to_owned();
    }
    let latest: String = attrs.get_as("latest_version").unwrap_or(installed);
    attrs.insert_value("installed_version", &latest);
    attrs.insert_value("in_progress", &false);
    attrs.insert_value("release_summary", &Value::Null);
    "off".to_owned()
}
