//! Whole installs: the domain mix, timestamps around one restart, contexts and a few
//! unavailable devices.

use ha_proto::{State, Timestamp};
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::INSTALL_NOW;
use crate::changes::{can_be_unavailable, unavailable_attrs};
use crate::context::Actors;
use crate::domains::{self, DOMAIN_WEIGHTS, Gen};
use crate::names::Namer;

/// Entities every real install has once, placed first when the install is big enough.
const SINGLETONS: &[&str] = &["sun", "zone", "weather", "person", "person"];

/// A realistic install of `entities` entities with unique valid ids, deterministic for
/// `(seed, entities)`. Every timestamp lies at or before [`INSTALL_NOW`].
pub fn install(seed: u64, entities: usize) -> Vec<State> {
    let mut rng = ChaCha8Rng::seed_from_u64(seed);
    let actors = Actors::new(&mut rng);
    let now = INSTALL_NOW;
    // Home Assistant gives every entity a fresh state at startup, so nothing changed before
    // the last restart; a third or more of a real install still shows that moment.
    let restart = now.as_micros() - rng.random_range(3_600..3 * 86_400i64) * 1_000_000;
    let mut g = Gen { rng, namer: Namer::with_capacity(entities), actors, now };
    let total: u32 = DOMAIN_WEIGHTS.iter().map(|(_, w)| w).sum();
    let singles = if entities >= 100 { SINGLETONS } else { &[] };
    let mut out = Vec::with_capacity(entities);
    for i in 0..entities {
        let domain = match singles.get(i) {
            Some(d) => d,
            None => pick_domain(&mut g.rng, total),
        };
        let built = domains::build(&mut g, domain);
        let rng = &mut g.rng;
        let last_changed = if rng.random_bool(0.4) {
            restart + rng.random_range(0..90_000_000)
        } else {
            // Roughly log-uniform age (a random power of two, then uniform inside it): many
            // recent changes, fewer old ones; integers only, so identical on every platform.
            let span = now.as_micros() - restart;
            let bits = 64 - span.leading_zeros();
            // From about one second (2^20 µs) up to the whole span since the restart.
            let low = 1i64 << rng.random_range(20.min(bits - 1)..bits);
            now.as_micros() - rng.random_range(low..=(2 * low).min(span))
        };
        let last_updated =
            if rng.random_bool(0.25) { rng.random_range(last_changed..=now.as_micros()) } else { last_changed };
        let last_reported =
            if rng.random_bool(0.3) { rng.random_range(last_updated..=now.as_micros()) } else { last_updated };
        let (state, attrs) = match rng.random_range(0..1000u32) {
            0..=19 if can_be_unavailable(domain) => ("unavailable".to_owned(), unavailable_attrs(&built.attrs)),
            20..=29 if domain == "sensor" => ("unknown".to_owned(), built.attrs),
            _ => (built.state, built.attrs),
        };
        let context = g.actors.context(&mut g.rng, Timestamp::from_micros(last_updated));
        out.push(State {
            entity_id: built.id,
            state,
            attributes: attrs,
            last_changed: Timestamp::from_micros(last_changed),
            last_reported: Some(Timestamp::from_micros(last_reported)),
            last_updated: Timestamp::from_micros(last_updated),
            context,
        });
    }
    out
}

fn pick_domain<R: Rng>(rng: &mut R, total: u32) -> &'static str {
    let mut pick = rng.random_range(0..total);
    for (domain, weight) in DOMAIN_WEIGHTS {
        if pick < *weight {
            return domain;
        }
        pick -= weight;
    }
    "sensor"
}
