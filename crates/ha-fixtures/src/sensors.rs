//! The `sensor` domain: numeric measurements with unit / device_class / state_class, plus
//! text, enum and timestamp sensors, and a few with long list attributes.

use ha_proto::{Attributes, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;

/// One kind of numeric sensor: how it is named, described and how its value moves.
#[derive(Debug, Clone, Copy)]
pub(crate) struct NumericKind {
    /// Object id suffix, e.g. `power`.
    pub(crate) suffix: &'static str,
    pub(crate) device_class: Option<&'static str>,
    pub(crate) unit: &'static str,
    pub(crate) state_class: &'static str,
    pub(crate) lo: f64,
    pub(crate) hi: f64,
    pub(crate) decimals: usize,
    /// Typical change per update.
    pub(crate) step: f64,
    /// Only ever grows (energy and other meters).
    pub(crate) increasing: bool,
    /// Relative share among numeric sensors.
    pub(crate) weight: u32,
}

const fn kind(
    suffix: &'static str,
    device_class: Option<&'static str>,
    unit: &'static str,
    state_class: &'static str,
    (lo, hi, decimals, step): (f64, f64, usize, f64),
    weight: u32,
) -> NumericKind {
    let increasing = matches!(state_class.as_bytes(), b"total_increasing");
    NumericKind { suffix, device_class, unit, state_class, lo, hi, decimals, step, increasing, weight }
}

/// Numeric sensor kinds, weighted roughly like a smart-plug and climate-sensor heavy install.
pub(crate) const NUMERIC: &[NumericKind] = &[
    kind("power", Some("power"), "W", "measurement", (0.0, 3500.0, 1, 45.0), 14),
    kind("energy", Some("energy"), "kWh", "total_increasing", (0.0, 25_000.0, 3, 0.004), 10),
    kind("rssi", Some("signal_strength"), "dBm", "measurement", (-95.0, -30.0, 0, 3.0), 8),
    kind("voltage", Some("voltage"), "V", "measurement", (225.0, 245.0, 1, 0.7), 4),
    kind("current", Some("current"), "A", "measurement", (0.0, 16.0, 2, 0.15), 3),
    kind("temperature", Some("temperature"), "°C", "measurement", (12.0, 28.0, 1, 0.2), 12),
    kind("humidity", Some("humidity"), "%", "measurement", (25.0, 80.0, 0, 1.0), 8),
    kind("battery", Some("battery"), "%", "measurement", (3.0, 100.0, 0, 1.0), 9),
    kind("illuminance", Some("illuminance"), "lx", "measurement", (0.0, 1500.0, 0, 30.0), 4),
    kind("pressure", Some("atmospheric_pressure"), "hPa", "measurement", (980.0, 1040.0, 1, 0.3), 2),
    kind("co2", Some("carbon_dioxide"), "ppm", "measurement", (400.0, 1800.0, 0, 20.0), 2),
    kind("water_total", Some("water"), "m³", "total_increasing", (0.0, 2_000.0, 3, 0.002), 2),
    kind("gas_total", Some("gas"), "m³", "total_increasing", (0.0, 8_000.0, 3, 0.003), 1),
    kind("download_speed", Some("data_rate"), "Mbit/s", "measurement", (5.0, 950.0, 2, 25.0), 1),
    kind("cpu_load", None, "%", "measurement", (0.0, 100.0, 1, 4.0), 2),
    kind("uptime", Some("duration"), "s", "total_increasing", (0.0, 3_000_000.0, 0, 60.0), 1),
];

/// Device classes whose sensors dominate state changes in real installs.
pub(crate) const CHATTY_CLASSES: &[&str] = &["power", "energy", "signal_strength", "voltage", "current"];

/// The numeric kind a sensor belongs to, judged by its device class, then its unit.
pub(crate) fn numeric_kind(attrs: &Attributes) -> Option<&'static NumericKind> {
    let device_class: Option<String> = attrs.get_as("device_class");
    let unit: Option<String> = attrs.get_as("unit_of_measurement");
    let unit = unit?;
    NUMERIC
        .iter()
        .find(|k| k.device_class == device_class.as_deref() && k.unit == unit)
        .or_else(|| NUMERIC.iter().find(|k| k.unit == unit))
}

/// Formats like integrations report: a fixed number of decimals.
pub(crate) fn format_number(value: f64, decimals: usize) -> String {
    format!("{value:.decimals$}")
}

/// A fresh value inside the kind's range.
pub(crate) fn initial_value<R: Rng>(rng: &mut R, kind: &NumericKind) -> f64 {
    if kind.increasing {
        // Meters have been counting for a while: skew towards the low end.
        let u = rng.random::<f64>();
        kind.lo + (kind.hi - kind.lo) * u * u * u
    } else {
        rng.random_range(kind.lo..=kind.hi)
    }
}

/// The next reading: a random walk inside the range (meters only grow), always giving a
/// different text so that Home Assistant would record a change.
pub(crate) fn drift<R: Rng>(rng: &mut R, kind: &NumericKind, current: &str) -> String {
    let unit_step = [1.0, 0.1, 0.01, 0.001][kind.decimals.min(3)];
    let Ok(value) = current.parse::<f64>() else {
        return format_number(initial_value(rng, kind), kind.decimals);
    };
    let delta =
        if kind.increasing { kind.step * rng.random_range(0.2..3.0) } else { kind.step * rng.random_range(-2.0..2.0) };
    let mut next = value + delta;
    if !kind.increasing && !(kind.lo..=kind.hi).contains(&next) {
        next = value - delta;
    }
    let mut text = format_number(next, kind.decimals);
    if text == current {
        next = if kind.increasing || next < kind.hi { value + unit_step } else { value - unit_step };
        text = format_number(next, kind.decimals);
    }
    text
}

/// What non-numeric sensors look like.
#[derive(Debug, Clone, Copy)]
pub(crate) enum OtherKind {
    /// `device_class: enum` with an `options` list (appliance status).
    Enum,
    /// `device_class: timestamp` (last boot, next alarm).
    Timestamp,
    /// Plain text (firmware version, IP address).
    Text,
    /// A sensor with a long list attribute (departures, waste collection, calendar).
    Listing,
}

/// Appliance program states of `enum` sensors.
pub(crate) const APPLIANCE_STATES: &[&str] =
    &["off", "standby", "washing", "rinsing", "spinning", "drying", "finished", "paused", "error"];

const LISTING_NAMES: &[&str] = &["departures", "waste_collection", "upcoming_events", "next_trains", "release_notes"];
const STREETS: &[&str] = &["Main St", "Station Rd", "Market Square", "Park Ave", "Harbour", "Old Town", "Airport"];
const LINES: &[&str] = &["S1", "S8", "U2", "U6", "Bus 42", "Bus 147", "Tram 9", "RE7", "ICE 1021", "N81"];

/// Fills state and attributes for a non-numeric sensor. Returns the state text and object suffix.
pub(crate) fn other<R: Rng>(rng: &mut R, kind: OtherKind, now: Timestamp, attrs: &mut Attributes) -> (String, String) {
    match kind {
        OtherKind::Enum => {
            attrs.insert_value("options", APPLIANCE_STATES);
            attrs.insert_value("device_class", "enum");
            let state = APPLIANCE_STATES.choose(rng).copied().unwrap_or("off");
            let suffix = ["washing_machine_status", "dryer_status", "dishwasher_program", "robot_vacuum_status"]
                .choose(rng)
                .copied()
                .unwrap_or("status");
            (state.to_owned(), suffix.to_owned())
        }
        OtherKind::Timestamp => {
            attrs.insert_value("device_class", "timestamp");
            let at = Timestamp::from_micros(now.as_micros() - rng.random_range(0..30 * 86_400i64) * 1_000_000);
            let suffix = ["last_boot", "last_restart", "next_alarm", "last_seen"].choose(rng).copied().unwrap_or("x");
            (at.to_string(), suffix.to_owned())
        }
        OtherKind::Text => {
            let (state, suffix) = if rng.random_bool(0.5) {
                (
                    format!(
                        "{}.{}.{}",
                        rng.random_range(1..5u32),
                        rng.random_range(0..20u32),
                        rng.random_range(0..10u32)
                    ),
                    "firmware",
                )
            } else {
                (format!("192.168.{}.{}", rng.random_range(0..4u32), rng.random_range(2..255u32)), "ip_address")
            };
            attrs.insert_value("icon", if suffix == "firmware" { "mdi:chip" } else { "mdi:ip-network" });
            (state, suffix.to_owned())
        }
        OtherKind::Listing => {
            let suffix = LISTING_NAMES.choose(rng).copied().unwrap_or("listing");
            let n = listing_len(rng);
            let entries: Vec<_> = (0..n).map(|i| listing_entry(rng, now, i)).collect();
            attrs.insert_value("entries", &entries);
            attrs.insert_value("attribution", "Data provided by the public transport and municipal open data APIs");
            attrs.insert_value("icon", "mdi:format-list-bulleted");
            (n.to_string(), suffix.to_owned())
        }
    }
}

/// Listing lengths: mostly short, a long tail (each entry is about 200 bytes).
fn listing_len<R: Rng>(rng: &mut R) -> usize {
    match rng.random_range(0..10u32) {
        0..=5 => rng.random_range(3..12),
        6..=8 => rng.random_range(12..30),
        _ => rng.random_range(30..75),
    }
}

/// One entry of a listing sensor.
pub(crate) fn listing_entry<R: Rng>(rng: &mut R, now: Timestamp, i: usize) -> serde_json::Value {
    let at = Timestamp::from_micros(now.as_micros() + (i as i64 * 7 + rng.random_range(1..7i64)) * 60_000_000);
    serde_json::json!({
        "line": LINES.choose(rng).copied().unwrap_or("S1"),
        "direction": STREETS.choose(rng).copied().unwrap_or("Main St"),
        "departure": at.to_string(),
        "delay_minutes": rng.random_range(0..6u32),
        "platform": rng.random_range(1..12u32).to_string(),
        "cancelled": rng.random_bool(0.03),
    })
}
