//! What each domain's entities look like when an install is generated: the state text and
//! attributes, shaped like Home Assistant 2024.3 integrations write them.

mod basic;
mod climate;
mod light;
mod media;
mod presence;

use ha_proto::{Attributes, EntityId, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;
use rand_chacha::ChaCha8Rng;
use serde_json::Value;

use crate::context::Actors;
use crate::names::{self, Namer, room};

pub(crate) use climate::HVAC_ACTIONS;
pub(crate) use light::light_state;
pub(crate) use media::{ARTISTS, CONDITIONS, MEDIA_KEYS, TITLES, forecast_entry, media_attrs};
pub(crate) use presence::gps_attrs;

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
    pub(super) fn name(&mut self, domain: &str, base: &str) -> (EntityId, String) {
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
    ("weather", 2),
    ("person", 1),
];

/// Builds one entity of `domain`.
pub(crate) fn build(g: &mut Gen, domain: &str) -> Built {
    match domain {
        "sensor" => basic::sensor(g),
        "binary_sensor" => basic::binary_sensor(g),
        "light" => light::light(g),
        "climate" => climate::climate(g),
        "media_player" => media::media_player(g),
        "weather" => media::weather(g),
        "device_tracker" => presence::device_tracker(g),
        "automation" | "script" => basic::automation(g, domain),
        "scene" => basic::scene(g),
        "input_boolean" | "input_number" | "input_select" => basic::input(g, domain),
        "update" => basic::update(g),
        "cover" => basic::cover(g),
        "button" => basic::button(g),
        "number" | "select" => basic::control(g, domain),
        "person" => presence::person(g),
        "group" => basic::group(g),
        "camera" => basic::camera(g),
        "sun" => presence::sun(g),
        "zone" => presence::zone(g),
        _ => basic::switch_like(g, domain),
    }
}

pub(super) fn finish(mut attrs: Attributes, friendly: String, supported_features: Option<u32>) -> Attributes {
    attrs.insert_value("friendly_name", &friendly);
    if let Some(f) = supported_features {
        attrs.insert_value("supported_features", &f);
    }
    attrs
}

pub(super) fn round3(x: f64) -> f64 {
    (x * 1000.0).round() / 1000.0
}

pub(crate) fn round1(x: f64) -> f64 {
    (x * 10.0).round() / 10.0
}

/// Cuts the list attribute `key` until the whole set fits under [`ATTR_CAP`].
pub(super) fn trim_list(attrs: &mut Attributes, key: &str) {
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
