//! The many small domains: sensors, binary sensors, switches, automations, helpers, updates,
//! covers, buttons, groups, cameras.

use ha_proto::Attributes;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use super::{Built, Gen, finish, past, random_ids, trim_list};
use crate::names::{self, room};
use crate::sensors::{self, NUMERIC, OtherKind};

pub(super) fn sensor(g: &mut Gen) -> Built {
    let place = names::place(&mut g.rng);
    let mut attrs = Attributes::new();
    if g.rng.random_range(0..100u32) < 85 {
        let total: u32 = NUMERIC.iter().map(|k| k.weight).sum();
        let mut pick = g.rng.random_range(0..total);
        let kind = NUMERIC.iter().find(|k| pick < k.weight || (pick -= k.weight, false).1).unwrap_or(&NUMERIC[0]);
        attrs.insert_value("state_class", kind.state_class);
        attrs.insert_value("unit_of_measurement", kind.unit);
        if let Some(dc) = kind.device_class {
            attrs.insert_value("device_class", dc);
        }
        if kind.increasing && kind.device_class == Some("energy") && g.rng.random_bool(0.3) {
            attrs.insert_value("last_reset", &Value::Null);
        }
        if g.rng.random_bool(0.15) {
            attrs.insert_value("attribution", "Data provided by the device's local API");
        }
        let (id, friendly) = g.name("sensor", &format!("{place}_{}", kind.suffix));
        let state = sensors::format_number(sensors::initial_value(&mut g.rng, kind), kind.decimals);
        return Built { id, state, attrs: finish(attrs, friendly, None) };
    }
    let kind = match g.rng.random_range(0..20u32) {
        0..=5 => OtherKind::Enum,
        6..=10 => OtherKind::Timestamp,
        11..=17 => OtherKind::Text,
        _ => OtherKind::Listing,
    };
    let (state, suffix) = sensors::other(&mut g.rng, kind, g.now, &mut attrs);
    let (id, friendly) = g.name("sensor", &format!("{place}_{suffix}"));
    Built { id, state, attrs: finish(attrs, friendly, None) }
}

const BINARY_CLASSES: &[(&str, &str)] = &[
    ("motion", "motion"),
    ("occupancy", "occupancy"),
    ("door", "door"),
    ("window", "window"),
    ("moisture", "leak"),
    ("connectivity", "status"),
    ("battery", "battery_low"),
    ("problem", "problem"),
    ("smoke", "smoke"),
    ("update", "update_available"),
    ("plug", "plug"),
];

pub(super) fn binary_sensor(g: &mut Gen) -> Built {
    let place = names::place(&mut g.rng);
    let (class, suffix) = *BINARY_CLASSES.choose(&mut g.rng).unwrap_or(&BINARY_CLASSES[0]);
    let (id, friendly) = g.name("binary_sensor", &format!("{place}_{suffix}"));
    let mut attrs = Attributes::new();
    attrs.insert_value("device_class", class);
    let on = if class == "connectivity" { 0.9 } else { 0.15 };
    let state = if g.rng.random_bool(on) { "on" } else { "off" };
    Built { id, state: state.to_owned(), attrs: finish(attrs, friendly, None) }
}

const SWITCH_THINGS: &[&str] =
    &["plug", "socket", "relay", "heater", "pump", "fountain", "christmas_tree", "coffee_maker", "fan", "boiler"];

pub(super) fn switch_like(g: &mut Gen, domain: &str) -> Built {
    let place = names::place(&mut g.rng);
    let thing = match domain {
        "lock" => "door_lock",
        "fan" => "ceiling_fan",
        _ => SWITCH_THINGS.choose(&mut g.rng).copied().unwrap_or("plug"),
    };
    let (id, friendly) = g.name(domain, &format!("{place}_{thing}"));
    let mut attrs = Attributes::new();
    let (state, features) = match domain {
        "lock" => (if g.rng.random_bool(0.8) { "locked" } else { "unlocked" }, Some(0)),
        "fan" => {
            let on = g.rng.random_bool(0.3);
            attrs.insert_value("preset_modes", &["auto", "smart", "sleep", "on"]);
            attrs.insert_value("percentage", &if on { json!(g.rng.random_range(1..=4u32) * 25) } else { json!(0) });
            attrs.insert_value("percentage_step", &25.0);
            attrs.insert_value("preset_mode", &Value::Null);
            (if on { "on" } else { "off" }, Some(57))
        }
        _ => {
            if g.rng.random_bool(0.4) {
                attrs.insert_value("device_class", "outlet");
            }
            (if g.rng.random_bool(0.35) { "on" } else { "off" }, None)
        }
    };
    Built { id, state: state.to_owned(), attrs: finish(attrs, friendly, features) }
}

const AUTOMATION_NAMES: &[&str] = &[
    "turn_on_lights_at_sunset",
    "motion_light",
    "notify_when_washing_machine_done",
    "goodnight",
    "morning_routine",
    "heating_schedule",
    "leak_alarm",
    "away_mode",
    "doorbell_notification",
    "vacuum_when_away",
];

pub(super) fn automation(g: &mut Gen, domain: &str) -> Built {
    let place = room(&mut g.rng);
    let what = AUTOMATION_NAMES.choose(&mut g.rng).copied().unwrap_or("motion_light");
    let (id, friendly) = g.name(domain, &format!("{place}_{what}"));
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    let triggered = rng.random_bool(0.85).then(|| past(rng, g.now, 30 * 86_400).to_string());
    if domain == "automation" {
        attrs.insert_value("id", &(1_600_000_000_000u64 + rng.random_range(0..100_000_000_000u64)).to_string());
    }
    attrs.insert_value("last_triggered", &triggered);
    attrs.insert_value("mode", ["single", "restart", "queued", "parallel"].choose(rng).copied().unwrap_or("single"));
    attrs.insert_value("current", &0);
    if domain == "script" {
        attrs.insert_value("icon", "mdi:script-text");
    }
    let state = if domain == "automation" && rng.random_bool(0.92) { "on" } else { "off" };
    Built { id, state: state.to_owned(), attrs: finish(attrs, friendly, None) }
}

pub(super) fn scene(g: &mut Gen) -> Built {
    let place = room(&mut g.rng);
    let what =
        ["relax", "movie", "dinner", "bright", "night", "reading"].choose(&mut g.rng).copied().unwrap_or("relax");
    let (id, friendly) = g.name("scene", &format!("{place}_{what}"));
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    let n = rng.random_range(1..12);
    attrs.insert_value("entity_id", &random_ids(rng, n));
    attrs.insert_value("id", &(1_600_000_000_000u64 + rng.random_range(0..100_000_000_000u64)).to_string());
    let state = if rng.random_bool(0.6) { past(rng, g.now, 60 * 86_400).to_string() } else { "unknown".to_owned() };
    Built { id, state, attrs: finish(attrs, friendly, None) }
}

pub(super) fn input(g: &mut Gen, domain: &str) -> Built {
    let place = room(&mut g.rng);
    let what = match domain {
        "input_boolean" => ["guest_mode", "vacation", "night_mode", "notifications", "alarm_armed"].choose(&mut g.rng),
        "input_number" => ["target_temperature", "brightness_level", "volume", "timer_minutes"].choose(&mut g.rng),
        _ => ["mode", "scene_choice", "playlist", "fan_speed", "house_mode"].choose(&mut g.rng),
    };
    let (id, friendly) = g.name(domain, &format!("{place}_{}", what.copied().unwrap_or("helper")));
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    let state = match domain {
        "input_boolean" => {
            attrs.insert_value("editable", &true);
            attrs.insert_value("icon", "mdi:toggle-switch");
            if rng.random_bool(0.4) { "on" } else { "off" }.to_owned()
        }
        "input_number" => {
            attrs.insert_value("initial", &Value::Null);
            attrs.insert_value("editable", &true);
            attrs.insert_value("min", &0.0);
            attrs.insert_value("max", &100.0);
            attrs.insert_value("step", &1.0);
            attrs.insert_value("mode", "slider");
            attrs.insert_value("unit_of_measurement", "%");
            format!("{:.1}", f64::from(rng.random_range(0..=100u32)))
        }
        _ => {
            let n = match rng.random_range(0..10u32) {
                0..=7 => rng.random_range(2..10),
                _ => rng.random_range(10..60),
            };
            let options: Vec<String> =
                (0..n).map(|i| format!("{} {}", ["Option", "Mode", "Preset", "Playlist"][i % 4], i + 1)).collect();
            attrs.insert_value("options", &options);
            attrs.insert_value("editable", &true);
            options.choose(rng).cloned().unwrap_or_default()
        }
    };
    Built { id, state, attrs: finish(attrs, friendly, None) }
}

pub(super) fn update(g: &mut Gen) -> Built {
    let place = names::place(&mut g.rng);
    let (id, friendly) = g.name("update", &format!("{place}_firmware"));
    let rng = &mut g.rng;
    let installed =
        format!("{}.{}.{}", rng.random_range(1..4u32), rng.random_range(0..20u32), rng.random_range(0..10u32));
    let pending = rng.random_bool(0.2);
    let latest = if pending { format!("{installed}.1") } else { installed.clone() };
    let mut attrs = Attributes::new();
    attrs.insert_value("auto_update", &false);
    attrs.insert_value("installed_version", &installed);
    attrs.insert_value("in_progress", &false);
    attrs.insert_value("latest_version", &latest);
    let summary = pending.then(|| "Fixes a crash when the device loses Wi-Fi; improves Zigbee pairing; updates certificates. See the release notes for details and breaking changes.".to_owned());
    attrs.insert_value("release_summary", &summary);
    attrs.insert_value("release_url", &format!("https://github.com/esphome/esphome/releases/tag/{latest}"));
    attrs.insert_value("skipped_version", &Value::Null);
    attrs.insert_value("title", "ESPHome");
    attrs.insert_value("entity_picture", "https://brands.home-assistant.io/_/esphome/icon.png");
    Built { id, state: if pending { "on" } else { "off" }.to_owned(), attrs: finish(attrs, friendly, Some(23)) }
}

pub(super) fn cover(g: &mut Gen) -> Built {
    let place = room(&mut g.rng);
    let (class, thing) =
        *[("shade", "blinds"), ("shutter", "shutter"), ("garage", "garage_door"), ("curtain", "curtains")]
            .choose(&mut g.rng)
            .unwrap_or(&("shade", "blinds"));
    let (id, friendly) = g.name("cover", &format!("{place}_{thing}"));
    let position = g.rng.random_range(0..=4u32) * 25;
    let mut attrs = Attributes::new();
    attrs.insert_value("current_position", &position);
    attrs.insert_value("device_class", class);
    Built {
        id,
        state: if position == 0 { "closed" } else { "open" }.to_owned(),
        attrs: finish(attrs, friendly, Some(15)),
    }
}

pub(super) fn button(g: &mut Gen) -> Built {
    let place = names::place(&mut g.rng);
    let what =
        ["restart", "identify", "reboot", "ping", "factory_reset"].choose(&mut g.rng).copied().unwrap_or("restart");
    let (id, friendly) = g.name("button", &format!("{place}_{what}"));
    let mut attrs = Attributes::new();
    if what == "restart" || what == "reboot" {
        attrs.insert_value("device_class", "restart");
    }
    let state =
        if g.rng.random_bool(0.5) { past(&mut g.rng, g.now, 90 * 86_400).to_string() } else { "unknown".to_owned() };
    Built { id, state, attrs: finish(attrs, friendly, None) }
}

pub(super) fn control(g: &mut Gen, domain: &str) -> Built {
    let place = names::place(&mut g.rng);
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    let (base, state) = if domain == "number" {
        attrs.insert_value("min", &0.0);
        attrs.insert_value("max", &254.0);
        attrs.insert_value("step", &1.0);
        attrs.insert_value("mode", "auto");
        (format!("{place}_on_level"), format!("{:.1}", f64::from(rng.random_range(0..=254u32))))
    } else {
        let options = ["previous", "on", "off", "toggle"];
        attrs.insert_value("options", &options);
        (format!("{place}_power_on_behavior"), options.choose(rng).copied().unwrap_or("on").to_owned())
    };
    let (id, friendly) = g.name(domain, &base);
    Built { id, state, attrs: finish(attrs, friendly, None) }
}

pub(super) fn group(g: &mut Gen) -> Built {
    let place = room(&mut g.rng);
    let what = ["all_lights", "downstairs_lights", "all_covers", "batteries", "motion_sensors"].choose(&mut g.rng);
    let (id, friendly) = g.name("group", &format!("{place}_{}", what.copied().unwrap_or("group")));
    let rng = &mut g.rng;
    let n = match rng.random_range(0..10u32) {
        0..=6 => rng.random_range(2..12),
        7 | 8 => rng.random_range(12..60),
        _ => rng.random_range(60..500),
    };
    let mut attrs = Attributes::new();
    attrs.insert_value("entity_id", &random_ids(rng, n));
    attrs.insert_value("order", &rng.random_range(0..50u32));
    attrs.insert_value("icon", "mdi:lightbulb-group");
    trim_list(&mut attrs, "entity_id");
    Built {
        id,
        state: if rng.random_bool(0.5) { "on" } else { "off" }.to_owned(),
        attrs: finish(attrs, friendly, None),
    }
}

pub(super) fn camera(g: &mut Gen) -> Built {
    let place = room(&mut g.rng);
    let (id, friendly) = g.name("camera", &format!("{place}_camera"));
    let mut attrs = Attributes::new();
    let token = format!("{:032x}{:032x}", g.rng.random::<u128>(), g.rng.random::<u128>());
    attrs.insert_value("access_token", &token);
    attrs.insert_value("frontend_stream_type", "hls");
    attrs.insert_value("entity_picture", &format!("/api/camera_proxy/{id}?token={token}"));
    Built { id, state: "idle".to_owned(), attrs: finish(attrs, friendly, Some(2)) }
}
