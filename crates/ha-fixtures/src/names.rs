//! Entity naming: unique, valid object ids and friendly names shaped like real installs.

use std::collections::HashSet;

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
}

impl Namer {
    /// Reserves `domain.object_id`, suffixing the object id when it is taken.
    pub(crate) fn unique(&mut self, domain: &str, object_id: &str) -> String {
        let mut id = format!("{domain}.{object_id}");
        let mut n = 2;
        while self.taken.contains(&id) {
            id = format!("{domain}.{object_id}_{n}");
            n += 1;
        }
        self.taken.insert(id.clone());
        id
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
    fn friendly_names_are_title_case() {
        let name = friendly("living_room_tv");

        assert_eq!(name, "Living Room Tv");
    }
}
