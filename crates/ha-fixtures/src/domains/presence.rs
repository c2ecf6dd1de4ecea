//! Presence and the sky: device trackers, people, `sun.sun` and `zone.home`.

use ha_proto::{Attributes, EntityId, Timestamp};
use rand::Rng;
use rand::seq::IndexedRandom;

use super::{Built, Gen, finish, round1};

pub(crate) const PEOPLE: &[&str] = &["anna", "ben", "clara", "david", "emma", "felix", "greta", "hugo", "ida", "jonas"];

pub(super) fn device_tracker(g: &mut Gen) -> Built {
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

pub(super) fn person(g: &mut Gen) -> Built {
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

pub(super) fn sun(g: &mut Gen) -> Built {
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

pub(super) fn zone(g: &mut Gen) -> Built {
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
