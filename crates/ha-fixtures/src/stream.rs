//! `ChangeStream`: which entity changes next (Zipf-skewed towards chatty power, energy and
//! signal sensors) and what its next state is.

use ha_proto::{State, Timestamp};
use rand::seq::SliceRandom;
use rand::{Rng, SeedableRng};
use rand_chacha::ChaCha8Rng;

use crate::changes::{self, Stash};
use crate::context::Actors;
use crate::sensors::{self, CHATTY_CLASSES};

/// A deterministic stream of realistic state changes over a fixed set of entities.
///
/// Entities are ranked by how chatty they are (power, energy, signal, voltage and current
/// sensors first, then other measurements and trackers, then the rest; shuffled within each
/// group) and chosen with Zipf weights `1 / rank`.
#[derive(Debug, Clone)]
pub struct ChangeStream {
    rng: ChaCha8Rng,
    actors: Actors,
    /// The stream's clock, microseconds since the epoch.
    clock: i64,
    /// `order[rank]` = index into the states given to `new`.
    order: Vec<u32>,
    /// Running sums of the Zipf weights by rank.
    cumulative: Vec<f64>,
    /// States of entities that went unavailable, to restore when they return.
    stash: Stash,
}

impl ChangeStream {
    /// A stream over `states` (at least one), its clock starting at `start`.
    pub fn new(seed: u64, states: &[State], start: Timestamp) -> Self {
        let mut rng = ChaCha8Rng::seed_from_u64(seed ^ 0x5EED_C4A7_6E57_0000);
        let actors = Actors::new(&mut rng);
        let mut tiers: [Vec<u32>; 3] = Default::default();
        for (i, s) in states.iter().enumerate() {
            tiers[tier(s)].push(i as u32);
        }
        let mut order = Vec::with_capacity(states.len());
        for mut group in tiers {
            group.shuffle(&mut rng);
            order.extend(group);
        }
        let mut sum = 0.0;
        let cumulative = (1..=order.len())
            .map(|rank| {
                // Zipf with exponent 1: the top 1 % of 10,000 entities make about half of the
                // changes. A plain division (unlike powf) is bit-identical on every platform.
                sum += 1.0 / rank as f64;
                sum
            })
            .collect();
        ChangeStream { rng, actors, clock: start.as_micros(), order, cumulative, stash: Stash::new() }
    }

    /// Index (into the `states` slice given to [`ChangeStream::new`]) of the next entity to change.
    ///
    /// # Panics
    /// When the stream was made over no states.
    pub fn next_index(&mut self) -> usize {
        let total = *self.cumulative.last().expect("a change stream needs at least one entity");
        let u = self.rng.random::<f64>() * total;
        let rank = self.cumulative.partition_point(|&c| c <= u).min(self.order.len() - 1);
        self.order[rank] as usize
    }

    /// The next realistic state of `current`.
    ///
    /// Advances the stream's clock (monotonic, never before `current.last_updated`), gives a
    /// new context, and changes the state text or attributes or both (never neither).
    /// `last_changed` moves only when the state text changes, as in Home Assistant;
    /// `last_updated` and `last_reported` always move.
    pub fn next_state(&mut self, current: &State) -> State {
        let gap = if self.rng.random_bool(0.2) {
            self.rng.random_range(1..=1_000)
        } else {
            self.rng.random_range(1..=60_000)
        };
        self.clock = (self.clock + gap).max(current.last_updated.as_micros() + 1);
        let at = Timestamp::from_micros(self.clock);
        let (state, attributes) = changes::next(&mut self.rng, &mut self.stash, current, at);
        let last_changed = if state == current.state { current.last_changed } else { at };
        State {
            entity_id: current.entity_id.clone(),
            state,
            attributes,
            last_changed,
            last_reported: Some(at),
            last_updated: at,
            context: self.actors.context(&mut self.rng, at),
        }
    }

    /// Applies the next change to `states` (the slice given to `new`, or its evolution) in
    /// place and returns `(index, old, new)`.
    pub fn step(&mut self, states: &mut [State]) -> (usize, State, State) {
        let index = self.next_index();
        let new = self.next_state(&states[index]);
        let old = std::mem::replace(&mut states[index], new.clone());
        (index, old, new)
    }

    /// The stream's clock: the time of the latest change.
    pub fn now(&self) -> Timestamp {
        Timestamp::from_micros(self.clock)
    }
}

/// 0 = chatty meters, 1 = other frequently reporting things, 2 = the rest.
fn tier(s: &State) -> usize {
    match s.entity_id.domain() {
        "sensor" => {
            let class: Option<String> = s.attributes.get_as("device_class");
            if class.as_deref().is_some_and(|c| CHATTY_CLASSES.contains(&c)) {
                0
            } else if sensors::numeric_kind(&s.attributes).is_some() {
                1
            } else {
                2
            }
        }
        "device_tracker" | "media_player" | "climate" | "light" | "binary_sensor" | "sun" | "person" => 1,
        _ => 2,
    }
}
