//! Lights: colour modes, and the colour values they report (as nulls when off).

use ha_proto::Attributes;
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::Value;

use super::{Built, Gen, finish, round3};
use crate::names;

/// Light capability sets, by what real bulbs support.
pub(crate) const LIGHT_MODES: &[&[&str]] =
    &[&["onoff"], &["brightness"], &["color_temp"], &["color_temp", "xy"], &["color_temp", "hs"], &["rgbw"]];

const HUE_EFFECTS: &[&str] = &["None", "candle", "fire", "prism", "sunrise", "sparkle", "opal", "glisten"];

pub(super) fn light(g: &mut Gen) -> Built {
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
        // sRGB gamma approximated by a square: only +, * and / keep results identical on
        // every platform (libm's powf may differ in the last bit).
        c * c
    };
    let (r, g, b) = (lin(r), lin(g), lin(b));
    let x = r * 0.4124 + g * 0.3576 + b * 0.1805;
    let y = r * 0.2126 + g * 0.7152 + b * 0.0722;
    let z = r * 0.0193 + g * 0.1192 + b * 0.9505;
    let sum = (x + y + z).max(1e-9);
    [round3(x / sum), round3(y / sum)]
}
