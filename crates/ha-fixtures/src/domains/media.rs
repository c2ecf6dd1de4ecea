//! The biggest attribute sets: media players (source lists, tracks, artwork) and weather
//! entities (forecast arrays).

use ha_proto::{Attributes, EntityId, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;
use serde_json::{Value, json};

use super::{Built, Gen, finish, round1, trim_list};
use crate::names::room;

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

pub(super) fn media_player(g: &mut Gen) -> Built {
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

pub(super) fn weather(g: &mut Gen) -> Built {
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
