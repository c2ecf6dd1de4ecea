//! What each domain's entities look like when an install is generated: the state text and
//! attributes, shaped like Home Assistant 2024.3 integrations write them.

use ha_proto::{Attributes, EntityId, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::{Value, json};

use crate::context::Actors;
use crate::names::{self, Namer, room};
use crate::sensors::{self, NUMERIC, OtherKind};

/// The recorder drops attribute sets above this many bytes; generated lists are cut to stay
/// a little under it, as the long tail of real installs does.
pub(crate) const ATTR_CAP: usize = 16_000;

/// Everything a domain builder needs: randomness, names, actors and the install's clock.
#[derive(Debug)]
pub(crate) struct Gen {
    pub(crate) rng: ChaCha8Rng,
    pub(crate) namer: Namer,
    pub(crate) actors: Actors,
    /// The moment the install is observed.
    pub(crate) now: Timestamp,
}

/// A generated entity before its timestamps and context are chosen.
#[derive(Debug)]
pub(crate) struct Built {
    pub(crate) id: EntityId,
    pub(crate) state: String,
    pub(crate) attrs: Attributes,
}

impl Gen {
    /// Reserves a unique id for `domain.base` and returns it with its friendly name.
    fn name(&mut self, domain: &str, base: &str) -> (EntityId, String) {
        let id = self.namer.unique(domain, base);
        let id = EntityId::new(&id).expect("generated ids are valid");
        (id, names::friendly(base))
    }
}

/// Domains of generated installs and their relative weights (per mille, roughly what large
/// real installs show: sensors dominate, then binary sensors, switches, lights, automations).
pub(crate) const DOMAIN_WEIGHTS: &[(&str, u32)] = &[
    ("sensor", 380),
    ("binary_sensor", 130),
    ("switch", 70),
    ("light", 60),
    ("automation", 60),
    ("update", 45),
    ("button", 30),
    ("device_tracker", 25),
    ("number", 20),
    ("select", 20),
    ("input_boolean", 20),
    ("script", 15),
    ("cover", 15),
    ("scene", 10),
    ("input_number", 10),
    ("input_select", 10),
    ("climate", 10),
    ("media_player", 10),
    ("camera", 5),
    ("fan", 5),
    ("lock", 5),
    ("group", 5),
    ("weather", 3),
    ("person", 2),
];

/// Builds one entity of `domain`.
pub(crate) fn build(g: &mut Gen, domain: &str) -> Built {
    match domain {
        "sensor" => sensor(g),
        "binary_sensor" => binary_sensor(g),
        "light" => light(g),
        "climate" => climate(g),
        "media_player" => media_player(g),
        "weather" => weather(g),
        "device_tracker" => device_tracker(g),
        "automation" | "script" => automation(g, domain),
        "scene" => scene(g),
        "input_boolean" | "input_number" | "input_select" => input(g, domain),
        "update" => update(g),
        "cover" => cover(g),
        "button" => button(g),
        "number" | "select" => control(g, domain),
        "person" => person(g),
        "group" => group(g),
        "camera" => camera(g),
        "sun" => sun(g),
        "zone" => zone(g),
        _ => switch_like(g, domain),
    }
}

fn finish(mut attrs: Attributes, friendly: String, supported_features: Option<u32>) -> Attributes {
    attrs.insert_value("friendly_name", &friendly);
    if let Some(f) = supported_features {
        attrs.insert_value("supported_features", &f);
    }
    attrs
}

fn sensor(g: &mut Gen) -> Built {
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

fn binary_sensor(g: &mut Gen) -> Built {
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

fn switch_like(g: &mut Gen, domain: &str) -> Built {
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

/// Light capability sets, by what real bulbs support.
pub(crate) const LIGHT_MODES: &[&[&str]] =
    &[&["onoff"], &["brightness"], &["color_temp"], &["color_temp", "xy"], &["color_temp", "hs"], &["rgbw"]];

const HUE_EFFECTS: &[&str] = &["None", "candle", "fire", "prism", "sunrise", "sparkle", "opal", "glisten"];

fn light(g: &mut Gen) -> Built {
    let place = names::place(&mut g.rng);
    let thing = ["ceiling", "lamp", "spots", "led_strip", "pendant", "floor_lamp", "wall"].choose(&mut g.rng);
    let (id, friendly) = g.name("light", &format!("{place}_{}", thing.copied().unwrap_or("light")));
    let modes = *LIGHT_MODES.choose(&mut g.rng).unwrap_or(&LIGHT_MODES[0]);
    let mut attrs = Attributes::new();
    let colourful = modes.iter().any(|m| *m != "onoff" && *m != "brightness");
    if colourful {
        attrs.insert_value("min_color_temp_kelvin", &2000);
        attrs.insert_value("max_color_temp_kelvin", &6535);
        attrs.insert_value("min_mireds", &153);
        attrs.insert_value("max_mireds", &500);
    }
    let mut features = 0;
    if modes.len() > 1 || modes == ["rgbw"] {
        features = 44;
        if g.rng.random_bool(0.15) {
            // WLED-style strips list a hundred or more effects.
            let effects: Vec<String> = (0..g.rng.random_range(60..190))
                .map(|i| format!("{} {i}", EFFECT_WORDS[i % EFFECT_WORDS.len()]))
                .collect();
            attrs.insert_value("effect_list", &effects);
        } else {
            attrs.insert_value("effect_list", HUE_EFFECTS);
        }
    }
    attrs.insert_value("supported_color_modes", modes);
    let on = g.rng.random_bool(0.3);
    light_state(&mut g.rng, modes, on, &mut attrs);
    let attrs = finish(attrs, friendly, Some(features));
    Built { id, state: if on { "on" } else { "off" }.to_owned(), attrs }
}

const EFFECT_WORDS: &[&str] =
    &["Solid", "Blink", "Breathe", "Wipe", "Scan", "Twinkle", "Fireworks", "Rainbow", "Chase", "Aurora", "Lake"];

/// Writes the light's state attributes for on or off (off: the same keys, as nulls).
pub(crate) fn light_state<R: Rng>(rng: &mut R, modes: &[&str], on: bool, attrs: &mut Attributes) {
    let colour = modes.iter().any(|m| matches!(*m, "xy" | "hs" | "rgbw"));
    let ct = modes.contains(&"color_temp");
    let dimmable = modes != ["onoff"];
    if !on {
        attrs.insert_value("color_mode", &Value::Null);
        for key in ["brightness", "color_temp_kelvin", "color_temp", "hs_color", "rgb_color", "xy_color", "effect"] {
            let relevant = match key {
                "brightness" => dimmable,
                "color_temp_kelvin" | "color_temp" | "hs_color" | "rgb_color" | "xy_color" => colour || ct,
                _ => attrs.get("effect_list").is_some(),
            };
            if relevant {
                attrs.insert_value(key, &Value::Null);
            }
        }
        return;
    }
    let use_ct = ct && (!colour || rng.random_bool(0.5));
    let mode = if use_ct {
        "color_temp"
    } else if colour {
        modes.iter().copied().find(|m| *m != "color_temp").unwrap_or("hs")
    } else {
        modes[0]
    };
    attrs.insert_value("color_mode", mode);
    if dimmable {
        attrs.insert_value("brightness", &rng.random_range(3..=255u32));
    }
    if colour || ct {
        let (kelvin, hue, sat) = if use_ct {
            let k = rng.random_range(2000..=6500u32);
            (Some(k), 30.0 + (k as f64 - 2000.0) / 100.0, 60.0 - (k as f64 - 2000.0) / 80.0)
        } else {
            (None, rng.random_range(0.0..360.0), rng.random_range(20.0..100.0))
        };
        let (r, gr, b) = hs_to_rgb(hue, sat);
        attrs.insert_value("color_temp_kelvin", &kelvin);
        attrs.insert_value("color_temp", &kelvin.map(|k| 1_000_000 / k));
        attrs.insert_value("hs_color", &[round3(hue), round3(sat)]);
        attrs.insert_value("rgb_color", &[r, gr, b]);
        attrs.insert_value("xy_color", &rgb_to_xy(r, gr, b));
    }
    if attrs.get("effect_list").is_some() {
        attrs.insert_value("effect", "None");
    }
}

fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

fn hs_to_rgb(h: f64, s: f64) -> (u8, u8, u8) {
    let s = s / 100.0;
    let c = s;
    let x = c * (1.0 - ((h / 60.0) % 2.0 - 1.0).abs());
    let m = 1.0 - c;
    let (r, g, b) = match (h / 60.0) as u32 {
        0 => (c, x, 0.0),
        1 => (x, c, 0.0),
        2 => (0.0, c, x),
        3 => (0.0, x, c),
        4 => (x, 0.0, c),
        _ => (c, 0.0, x),
    };
    let to = |v: f64| ((v + m) * 255.0).round().clamp(0.0, 255.0) as u8;
    (to(r), to(g), to(b))
}

fn rgb_to_xy(r: u8, g: u8, b: u8) -> [f64; 2] {
    let lin = |c: u8| {
        let c = f64::from(c) / 255.0;
        if c > 0.04045 { ((c + 0.055) / 1.055).powf(2.4) } else { c / 12.92 }
    };
    let (r, g, b) = (lin(r), lin(g), lin(b));
    let x = r * 0.4124 + g * 0.3576 + b * 0.1805;
    let y = r * 0.2126 + g * 0.7152 + b * 0.0722;
    let z = r * 0.0193 + g * 0.1192 + b * 0.9505;
    let sum = (x + y + z).max(1e-9);
    [round3(x / sum), round3(y / sum)]
}

pub(crate) const HVAC_ACTIONS: &[&str] = &["idle", "heating", "cooling", "off", "fan"];

fn climate(g: &mut Gen) -> Built {
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

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

const TV_INPUTS: &[&str] = &["HDMI 1", "HDMI 2", "HDMI 3", "HDMI 4", "Live TV", "AV", "Component", "USB"];
const APPS: &[&str] = &[
    "Netflix",
    "YouTube",
    "Prime Video",
    "Disney+",
    "Spotify",
    "Plex",
    "Kodi",
    "Twitch",
    "Apple TV",
    "ARD Mediathek",
    "ZDF",
    "BBC iPlayer",
    "Jellyfin",
    "Emby",
    "Tidal",
    "Deezer",
    "Arte",
    "Crunchyroll",
    "Paramount+",
    "Max",
];
const RADIO: &[&str] = &["Radio", "FM", "Jazz", "Classic", "Rock", "News", "Lounge", "Chillout", "Hits", "Talk"];
pub(crate) const TITLES: &[&str] = &[
    "Midnight City",
    "Harder, Better, Faster, Stronger",
    "Clair de Lune",
    "Bohemian Rhapsody",
    "Teardrop",
    "The Less I Know the Better",
    "Windowlicker",
    "Roygbiv",
    "Hey Jude",
    "Smells Like Teen Spirit",
    "Gymnopédie No. 1",
];
pub(crate) const ARTISTS: &[&str] =
    &["M83", "Daft Punk", "Claude Debussy", "Queen", "Massive Attack", "Tame Impala", "Aphex Twin", "Boards of Canada"];

fn media_player(g: &mut Gen) -> Built {
    let place = room(&mut g.rng);
    let kind = g.rng.random_range(0..3u32);
    let thing = ["tv", "sonos", "chromecast"][kind as usize];
    let (id, friendly) = g.name("media_player", &format!("{place}_{thing}"));
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    match kind {
        0 => {
            let mut sources: Vec<String> = TV_INPUTS.iter().map(|s| (*s).to_owned()).collect();
            let channels = if rng.random_bool(0.2) { rng.random_range(100..400) } else { rng.random_range(0..30) };
            sources.extend(APPS.iter().map(|s| (*s).to_owned()));
            sources.extend(
                (0..channels)
                    .map(|i| format!("{} {}", ["Das Erste", "BBC One", "Channel", "RTL", "Sky"][i % 5], i + 1)),
            );
            attrs.insert_value("source_list", &sources);
            attrs.insert_value("sound_mode_list", &["Standard", "Cinema", "Music", "Game", "Night", "Voice"]);
        }
        1 => {
            let favourites = match rng.random_range(0..10u32) {
                0..=5 => rng.random_range(3..20),
                6..=8 => rng.random_range(20..80),
                _ => rng.random_range(80..350),
            };
            let sources: Vec<String> = (0..favourites)
                .map(|i| format!("{} {} {}", RADIO[i % RADIO.len()], ARTISTS[i % ARTISTS.len()], i + 1))
                .collect();
            attrs.insert_value("source_list", &sources);
        }
        _ => {}
    }
    let state = ["off", "idle", "playing", "paused", "on"].choose(rng).copied().unwrap_or("off");
    if state != "off" {
        media_attrs(rng, &id, g.now, &mut attrs);
    }
    trim_list(&mut attrs, "source_list");
    Built {
        id,
        state: state.to_owned(),
        attrs: finish(attrs, friendly, Some(if kind == 2 { 152_463 } else { 3_537_469 })),
    }
}

/// The attributes a media player has only while on.
pub(crate) const MEDIA_KEYS: &[&str] = &[
    "volume_level",
    "is_volume_muted",
    "media_content_id",
    "media_content_type",
    "media_duration",
    "media_position",
    "media_position_updated_at",
    "media_title",
    "media_artist",
    "media_album_name",
    "entity_picture",
    "source",
    "shuffle",
    "repeat",
];

/// Writes the "on" attributes of a media player: a track with artwork behind the proxy.
pub(crate) fn media_attrs<R: Rng>(rng: &mut R, id: &EntityId, now: Timestamp, attrs: &mut Attributes) {
    attrs.insert_value("volume_level", &(f64::from(rng.random_range(0..=100u32)) / 100.0));
    attrs.insert_value("is_volume_muted", &false);
    attrs.insert_value("media_content_id", &format!("spotify:track:{:022x}", rng.random::<u128>() >> 40));
    attrs.insert_value("media_content_type", "music");
    attrs.insert_value("media_duration", &rng.random_range(120..420u32));
    attrs.insert_value("media_position", &rng.random_range(0..120u32));
    attrs.insert_value("media_position_updated_at", &now.to_string());
    attrs.insert_value("media_title", TITLES.choose(rng).copied().unwrap_or("Track"));
    attrs.insert_value("media_artist", ARTISTS.choose(rng).copied().unwrap_or("Artist"));
    attrs.insert_value(
        "media_album_name",
        &format!("{} (Remastered {})", TITLES.choose(rng).copied().unwrap_or("Album"), rng.random_range(1990..2024u32)),
    );
    let picture = format!(
        "/api/media_player_proxy/{id}?token={:032x}{:032x}&cache={:016x}",
        rng.random::<u128>(),
        rng.random::<u128>(),
        rng.random::<u64>()
    );
    attrs.insert_value("entity_picture", &picture);
    let source = attrs.get_as::<Vec<String>>("source_list").and_then(|l| l.first().cloned());
    attrs.insert_value("source", &source);
    attrs.insert_value("shuffle", &rng.random_bool(0.3));
    attrs.insert_value("repeat", "off");
}

pub(crate) const CONDITIONS: &[&str] =
    &["sunny", "clear-night", "partlycloudy", "cloudy", "rainy", "pouring", "fog", "windy", "snowy", "lightning-rainy"];

fn weather(g: &mut Gen) -> Built {
    let base = ["home", "forecast_home", "openweathermap", "met_no", "pirate_weather"].choose(&mut g.rng);
    let (id, friendly) = g.name("weather", base.copied().unwrap_or("home"));
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    attrs.insert_value("temperature", &round1(rng.random_range(-5.0..30.0)));
    attrs.insert_value("dew_point", &round1(rng.random_range(-8.0..15.0)));
    attrs.insert_value("temperature_unit", "°C");
    attrs.insert_value("humidity", &rng.random_range(30..100u32));
    attrs.insert_value("cloud_coverage", &rng.random_range(0..100u32));
    attrs.insert_value("pressure", &round1(rng.random_range(990.0..1035.0)));
    attrs.insert_value("pressure_unit", "hPa");
    attrs.insert_value("wind_bearing", &round1(rng.random_range(0.0..360.0)));
    attrs.insert_value("wind_speed", &round1(rng.random_range(0.0..45.0)));
    attrs.insert_value("wind_speed_unit", "km/h");
    attrs.insert_value("visibility_unit", "km");
    attrs.insert_value("precipitation_unit", "mm");
    // Integrations before 2024.3 (and many custom ones still) put forecasts in the attributes:
    // the biggest attribute sets of real installs.
    let (entries, step_hours) = match rng.random_range(0..10u32) {
        0..=3 => (rng.random_range(5..11), 24),
        4..=7 => (rng.random_range(24..49), 1),
        _ => (rng.random_range(48..90), 1),
    };
    let forecast: Vec<Value> = (0..entries).map(|i| forecast_entry(rng, g.now, i, step_hours)).collect();
    attrs.insert_value("forecast", &forecast);
    attrs.insert_value(
        "attribution",
        "Weather forecast from met.no, delivered by the Norwegian Meteorological Institute.",
    );
    trim_list(&mut attrs, "forecast");
    let state = CONDITIONS.choose(rng).copied().unwrap_or("cloudy");
    Built { id, state: state.to_owned(), attrs: finish(attrs, friendly, Some(3)) }
}

/// One forecast entry, `step_hours` apart.
pub(crate) fn forecast_entry<R: Rng>(rng: &mut R, now: Timestamp, i: usize, step_hours: i64) -> Value {
    let at = Timestamp::from_micros((now.as_micros() / 3_600_000_000 + 1 + i as i64 * step_hours) * 3_600_000_000);
    json!({
        "condition": CONDITIONS.choose(rng).copied().unwrap_or("cloudy"),
        "datetime": at.to_string(),
        "wind_bearing": round1(rng.random_range(0.0..360.0)),
        "cloud_coverage": round1(rng.random_range(0.0..100.0)),
        "temperature": round1(rng.random_range(-5.0..30.0)),
        "templow": round1(rng.random_range(-10.0..15.0)),
        "wind_speed": round1(rng.random_range(0.0..45.0)),
        "precipitation": round1(rng.random_range(0.0..4.0)),
        "humidity": rng.random_range(30..100u32),
    })
}

/// Cuts the list attribute `key` until the whole set fits under [`ATTR_CAP`].
fn trim_list(attrs: &mut Attributes, key: &str) {
    let total = attrs.json_len();
    if total <= ATTR_CAP {
        return;
    }
    let Some(mut list) = attrs.get_as::<Vec<Value>>(key) else { return };
    let mut len = total;
    while len > ATTR_CAP
        && let Some(last) = list.pop()
    {
        len -= serde_json::to_string(&last).map_or(0, |s| s.len() + 1);
    }
    attrs.insert_value(key, &list);
}

pub(crate) const PEOPLE: &[&str] = &["anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas"];

fn device_tracker(g: &mut Gen) -> Built {
    let gps = g.rng.random_bool(0.4);
    let who = PEOPLE.choose(&mut g.rng).copied().unwrap_or("anna");
    let thing = if gps {
        "phone"
    } else {
        ["laptop", "tablet", "watch", "console", "printer", "phone_wifi"]
            .choose(&mut g.rng)
            .copied()
            .unwrap_or("laptop")
    };
    let (id, friendly) = g.name("device_tracker", &format!("{who}_{thing}"));
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    let home = rng.random_bool(0.7);
    if gps {
        attrs.insert_value("source_type", "gps");
        attrs.insert_value("battery_level", &rng.random_range(10..=100u32));
        gps_attrs(rng, home, &mut attrs);
        attrs.insert_value("altitude", &round1(rng.random_range(20.0..200.0)));
        attrs.insert_value("course", &rng.random_range(0..360u32));
        attrs.insert_value("speed", &0);
        attrs.insert_value("vertical_accuracy", &rng.random_range(2..30u32));
    } else {
        attrs.insert_value("source_type", "router");
        attrs.insert_value("ip", &format!("192.168.1.{}", rng.random_range(2..255u32)));
        let mac: Vec<String> = (0..6).map(|_| format!("{:02X}", rng.random::<u8>())).collect();
        attrs.insert_value("mac", &mac.join(":"));
        attrs.insert_value("host_name", &format!("{who}-{thing}").replace('_', "-"));
    }
    let state =
        if home { "home" } else { ["not_home", "work", "school", "gym"].choose(rng).copied().unwrap_or("not_home") };
    Built { id, state: state.to_owned(), attrs: finish(attrs, friendly, None) }
}

/// Latitude, longitude and accuracy near home (or farther away).
pub(crate) fn gps_attrs<R: Rng>(rng: &mut R, home: bool, attrs: &mut Attributes) {
    let spread = if home { 0.0005 } else { 0.2 };
    attrs.insert_value("latitude", &(52.5200 + rng.random_range(-spread..spread)));
    attrs.insert_value("longitude", &(13.4050 + rng.random_range(-spread..spread)));
    attrs.insert_value("gps_accuracy", &rng.random_range(4..60u32));
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

fn automation(g: &mut Gen, domain: &str) -> Built {
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

/// A moment up to `max_secs` before `now`.
pub(crate) fn past<R: Rng>(rng: &mut R, now: Timestamp, max_secs: i64) -> Timestamp {
    Timestamp::from_micros(now.as_micros() - rng.random_range(1_000_000..max_secs * 1_000_000))
}

fn random_ids<R: Rng>(rng: &mut R, n: usize) -> Vec<String> {
    (0..n)
        .map(|i| {
            let domain = ["light", "switch", "cover", "media_player", "fan"].choose(rng).copied().unwrap_or("light");
            format!("{domain}.{}_{}", room(rng), i + 1)
        })
        .collect()
}

fn scene(g: &mut Gen) -> Built {
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

fn input(g: &mut Gen, domain: &str) -> Built {
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

fn update(g: &mut Gen) -> Built {
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

fn cover(g: &mut Gen) -> Built {
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

fn button(g: &mut Gen) -> Built {
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

fn control(g: &mut Gen, domain: &str) -> Built {
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

fn person(g: &mut Gen) -> Built {
    let who = PEOPLE.choose(&mut g.rng).copied().unwrap_or("anna");
    let (id, friendly) = g.name("person", who);
    let user = g.actors.users().choose(&mut g.rng).cloned();
    let rng = &mut g.rng;
    let home = rng.random_bool(0.6);
    let mut attrs = Attributes::new();
    attrs.insert_value("editable", &true);
    attrs.insert_value("id", id.object_id());
    gps_attrs(rng, home, &mut attrs);
    let tracker = format!("device_tracker.{}_phone", id.object_id());
    attrs.insert_value("source", &tracker);
    attrs.insert_value("user_id", &user);
    attrs.insert_value("device_trackers", &[&tracker]);
    attrs.insert_value("entity_picture", &format!("/api/image/serve/{:032x}/512x512", rng.random::<u128>()));
    Built { id, state: if home { "home" } else { "not_home" }.to_owned(), attrs: finish(attrs, friendly, None) }
}

fn group(g: &mut Gen) -> Built {
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

fn camera(g: &mut Gen) -> Built {
    let place = room(&mut g.rng);
    let (id, friendly) = g.name("camera", &format!("{place}_camera"));
    let mut attrs = Attributes::new();
    let token = format!("{:032x}{:032x}", g.rng.random::<u128>(), g.rng.random::<u128>());
    attrs.insert_value("access_token", &token);
    attrs.insert_value("frontend_stream_type", "hls");
    attrs.insert_value("entity_picture", &format!("/api/camera_proxy/{id}?token={token}"));
    Built { id, state: "idle".to_owned(), attrs: finish(attrs, friendly, Some(2)) }
}

fn sun(g: &mut Gen) -> Built {
    let id = EntityId::new(&g.namer.unique("sun", "sun")).expect("sun.sun is valid");
    let now = g.now;
    let rng = &mut g.rng;
    let mut attrs = Attributes::new();
    for (key, hours) in [
        ("next_dawn", 20),
        ("next_dusk", 9),
        ("next_midnight", 14),
        ("next_noon", 2),
        ("next_rising", 21),
        ("next_setting", 8),
    ] {
        attrs.insert_value(
            key,
            &Timestamp::from_micros(now.as_micros() + hours * 3_600_000_000 + rng.random_range(0..3_600_000_000i64))
                .to_string(),
        );
    }
    attrs.insert_value("elevation", &round1(rng.random_range(5.0..40.0)));
    attrs.insert_value("azimuth", &round1(rng.random_range(90.0..250.0)));
    attrs.insert_value("rising", &true);
    Built { id, state: "above_horizon".to_owned(), attrs: finish(attrs, "Sun".to_owned(), None) }
}

fn zone(g: &mut Gen) -> Built {
    let (id, friendly) = g.name("zone", "home");
    let mut attrs = Attributes::new();
    attrs.insert_value("latitude", &52.52);
    attrs.insert_value("longitude", &13.405);
    attrs.insert_value("radius", &100);
    attrs.insert_value("passive", &false);
    attrs.insert_value("persons", &Vec::<String>::new());
    attrs.insert_value("editable", &true);
    attrs.insert_value("icon", "mdi:home");
    Built { id, state: "0".to_owned(), attrs: finish(attrs, friendly, None) }
}
