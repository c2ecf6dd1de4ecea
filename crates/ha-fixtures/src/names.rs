//! Entity naming: unique, valid object ids and friendly names shaped like real installs.

use std::collections::{HashMap, HashSet};

use rand::Rng;
use rand::seq::IndexedRandom;

/// Rooms and areas, as people name them.
pub(crate) const ROOMS: &[&str] = &[
    "living_room",
    "kitchen",
    "bedroom",
    "master_bedroom",
    "office",
    "bathroom",
    "hallway",
    "garage",
    "garden",
    "basement",
    "attic",
    "guest_room",
    "kids_room",
    "dining_room",
    "laundry",
    "porch",
    "driveway",
    "patio",
    "stairs",
    "loft",
    "nursery",
    "pantry",
    "workshop",
    "shed",
    "terrace",
    "entrance",
    "upstairs",
    "downstairs",
];

/// Device vendors and firmwares whose names end up in entity ids (zigbee2mqtt, ESPHome, Shelly...).
const VENDORS: &[&str] =
    &["shelly_plug_s", "shellyplus1pm", "esphome", "tasmota", "sonoff", "athom", "aqara", "hue", "tuya", "zwave"];

/// Keeps object ids unique per domain the way Home Assistant does: `_2`, `_3`... on collision.
#[derive(Debug, Default)]
pub(crate) struct Namer {
    taken: HashSet<String>,
    /// Per wanted id, the first suffix not yet tried (every smaller one is taken), so that
    /// popular names do not probe `_2`, `_3`... from the start each time.
    next_suffix: HashMap<String, u32>,
}

impl Namer {
    /// A namer sized for about `n` ids (growing the sets cost more than naming itself).
    pub(crate) fn with_capacity(n: usize) -> Self {
        Namer { taken: HashSet::with_capacity(n), next_suffix: HashMap::with_capacity(n) }
    }

    /// Reserves `domain.object_id`, suffixing the object id when it is taken (the smallest
    /// free suffix, as Home Assistant's entity registry does).
    pub(crate) fn unique(&mut self, domain: &str, object_id: &str) -> String {
        let wanted = format!("{domain}.{object_id}");
        let n = self.next_suffix.entry(wanted.clone()).or_insert(1);
        loop {
            let id = if *n == 1 { wanted.clone() } else { format!("{wanted}_{n}") };
            *n += 1;
            if self.taken.insert(id.clone()) {
                return id;
            }
        }
    }
}

/// A random room.
pub(crate) fn room<R: Rng>(rng: &mut R) -> &'static str {
    ROOMS.choose(rng).copied().unwrap_or("home")
}

/// An object-id prefix: usually a room, sometimes a device with a hex serial
/// (`shelly_plug_s_c8c9a3`, `0x00158d0001a2b3c4`), as integrations create them.
pub(crate) fn place<R: Rng>(rng: &mut R) -> String {
    match rng.random_range(0..10u32) {
        0..=6 => room(rng).to_owned(),
        7 | 8 => {
            format!("{}_{:06x}", VENDORS.choose(rng).copied().unwrap_or("esphome"), rng.random_range(0..1u32 << 24))
        }
        _ => format!("0x{:016x}", rng.random::<u64>()),
    }
}

/// `living_room_tv` → `Living Room Tv`; hex serials stay as they are.
pub(crate) fn friendly(object_id: &str) -> String {
    let mut out = String::with_capacity(object_id.len());
    for (i, word) in object_id.split('_').enumerate() {
        if i > 0 {
            out.push(' ');
        }
        let mut chars = word.chars();
        if let Some(first) = chars.next() {
            out.extend(first.to_uppercase());
            out.push_str(chars.as_str());
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn namer_suffixes_collisions() {
        let mut namer = Namer::default();

        let ids =
            [namer.unique("light", "kitchen"), namer.unique("light", "kitchen"), namer.unique("light", "kitchen")];

        assert_eq!(ids, ["light.kitchen", "light.kitchen_2", "light.kitchen_3"]);
    }

    #[test]
    fn namer_skips_suffixes_taken_by_other_names() {
        let mut namer = Namer::default();
        namer.unique("light", "kitchen_2");

        let ids = [namer.unique("light", "kitchen"), namer.unique("light", "kitchen")];

        assert_eq!(ids, ["light.kitchen", "light.kitchen_3"]);
    }

    #[test]
    fn friendly_names_are_title_case() {
        let name = friendly("living_room_tv");

        assert_eq!(name, "Living Room Tv");
    }
}
