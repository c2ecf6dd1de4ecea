//! The simulated home's data: the state machine (Home Assistant's `async_set` rules), the
//! persistent notifications, a ring of recent changes for `/api/history`, and the ids and
//! clock that stamp them. Plain data: no I/O, no locks, the wall clock only through [`Clock`].

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::Arc;
use std::time::{SystemTime, UNIX_EPOCH};

use ha_proto::{Attributes, Context, EntityId, State, Timestamp};

use ha_fixtures::ChangeStream;

/// A persistent notification (`persistent_notification.create`), as tests read them back.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct Notification {
    /// Its id: the caller's `notification_id`, or a generated one.
    pub notification_id: String,
    /// Optional title.
    pub title: Option<String>,
    /// The message text.
    pub message: String,
    /// When it was created (or last replaced).
    pub created_at: Timestamp,
}

/// One state-machine change: `old` is `None` for an added entity, `new` for a removed one.
#[derive(Debug, Clone)]
pub(crate) struct Change {
    pub(crate) entity_id: EntityId,
    pub(crate) old: Option<Arc<State>>,
    pub(crate) new: Option<Arc<State>>,
    pub(crate) context: Context,
    pub(crate) time_fired: Timestamp,
}

/// A strictly increasing microsecond clock over the system clock (two changes never share
/// a timestamp, so diffs always carry `lc`/`lu`).
#[derive(Debug, Default)]
pub(crate) struct Clock {
    last: i64,
}

impl Clock {
    pub(crate) fn now(&mut self) -> Timestamp {
        let wall = SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_micros() as i64);
        self.last = wall.max(self.last + 1);
        Timestamp::from_micros(self.last)
    }
}

/// Context ids in Home Assistant's format: ULIDs (48-bit milliseconds, 80 random bits,
/// Crockford base32), from a deterministic generator.
#[derive(Debug)]
pub(crate) struct IdGen {
    state: u64,
}

const CROCKFORD: &[u8; 32] = b"0123456789ABCDEFGHJKMNPQRSTVWXYZ";

impl IdGen {
    pub(crate) fn new(seed: u64) -> Self {
        IdGen { state: seed ^ 0x05EE_D1D5 }
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.state = self.state.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.state;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// A ULID for `at`.
    pub(crate) fn ulid(&mut self, at: Timestamp) -> String {
        let millis = (at.as_micros() / 1000).max(0) as u128 & ((1 << 48) - 1);
        let random = ((self.next_u64() as u128) << 16 | (self.next_u64() as u128 & 0xFFFF)) & ((1 << 80) - 1);
        let value = millis << 80 | random;
        (0..26).map(|i| CROCKFORD[(value >> (125 - 5 * i) & 31) as usize] as char).collect()
    }

    /// 32 lowercase hex digits (Home Assistant's uuid4 hex, used for notification ids).
    pub(crate) fn hex32(&mut self) -> String {
        format!("{:016x}{:016x}", self.next_u64(), self.next_u64())
    }
}

/// The state machine and everything else the simulated home remembers.
#[derive(Debug)]
pub(crate) struct World {
    /// States in install order (the order [`ChangeStream`] indexes).
    states: Vec<Arc<State>>,
    index: HashMap<EntityId, usize>,
    /// Entities written through `set_state` / `POST /api/states` that no integration owns:
    /// like in Home Assistant they vanish on restart.
    ephemeral: HashSet<EntityId>,
    /// Entities the restart fault never churns (the conformance fixtures).
    kept: HashSet<EntityId>,
    notifications: Vec<Notification>,
    history: VecDeque<Arc<State>>,
    history_capacity: usize,
    changes: ChangeStream,
    /// Set when a removal shifted the indices the change stream was built over.
    changes_stale: bool,
    seed: u64,
    generation: u64,
    rebuilds: u64,
    pub(crate) clock: Clock,
    pub(crate) ids: IdGen,
}

/// Whether a `set` should write even when nothing changed (Home Assistant's `force_update`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Force {
    No,
    Yes,
}

impl World {
    /// A world of `entities` fixture states.
    pub(crate) fn new(seed: u64, entities: usize, history_capacity: usize) -> Self {
        let mut clock = Clock::default();
        let now = clock.now();
        let states: Vec<Arc<State>> = ha_fixtures::install(seed, entities)
            .into_iter()
            .map(|s| Arc::new(State { last_reported: None, ..s }))
            .collect();
        let index = states.iter().enumerate().map(|(i, s)| (s.entity_id.clone(), i)).collect();
        let plain: Vec<State> = states.iter().map(|s| (**s).clone()).collect();
        let mut world = World {
            changes: ChangeStream::new(seed, &plain, now),
            changes_stale: false,
            states,
            index,
            ephemeral: HashSet::new(),
            kept: HashSet::new(),
            notifications: Vec::new(),
            history: VecDeque::with_capacity(history_capacity.min(1 << 16)),
            history_capacity,
            seed,
            generation: 0,
            rebuilds: 0,
            clock,
            ids: IdGen::new(seed),
        };
        // The recorder knows the states the home started with.
        for state in world.states.clone() {
            world.record(&state);
        }
        world
    }

    /// Adds the entities of `cargo xtask ha-conformance`'s configuration, with the
    /// attributes Home Assistant 2024.3.3 gives them (captured where the findings show them).
    pub(crate) fn install_conformance_fixtures(&mut self) {
        let number = |name: &str| {
            serde_json::json!({"initial": 50.0, "editable": false, "min": 0.0, "max": 100.0, "step": 1.0,
                               "mode": "slider", "friendly_name": name})
        };
        let fixtures = [
            (
                "input_boolean.hapulse_switch",
                "off",
                serde_json::json!({"editable": false, "friendly_name": "hapulse switch"}),
            ),
            (
                "input_boolean.hapulse_spare",
                "off",
                serde_json::json!({"editable": false, "friendly_name": "hapulse spare"}),
            ),
            ("input_number.hapulse_level", "50.0", number("hapulse level")),
            ("input_number.hapulse_spare_level", "50.0", number("hapulse spare level")),
            (
                "script.hapulse_echo",
                "off",
                serde_json::json!({"last_triggered": null, "mode": "single", "current": 0, "friendly_name": "hapulse echo"}),
            ),
            (
                "zone.home",
                "0",
                serde_json::json!({"latitude": 52.3731, "longitude": 4.8922, "radius": 100, "passive": false,
                                   "persons": [], "editable": true, "icon": "mdi:home", "friendly_name": "Simulated Home"}),
            ),
            (
                "person.hapulse_conformance",
                "unknown",
                serde_json::json!({"editable": true, "id": "hapulse_conformance", "device_trackers": [],
                                   "friendly_name": "hapulse conformance"}),
            ),
        ];
        for (id, state, attributes) in fixtures {
            let id = EntityId::new(id).expect("fixture ids are valid");
            let attributes: Attributes = serde_json::from_value(attributes).expect("fixture attributes are an object");
            let context = self.context(None);
            self.set(&id, state, attributes, context, Force::No);
            self.ephemeral.remove(&id);
            self.kept.insert(id);
        }
    }

    /// Every state, in install order.
    pub(crate) fn states(&self) -> &[Arc<State>] {
        &self.states
    }

    /// One state.
    pub(crate) fn get(&self, entity_id: &str) -> Option<&Arc<State>> {
        self.index.get(entity_id).map(|&i| &self.states[i])
    }

    /// Number of entities.
    pub(crate) fn len(&self) -> usize {
        self.states.len()
    }

    /// A fresh context with the given user (service calls carry the caller's user id).
    pub(crate) fn context(&mut self, user_id: Option<&str>) -> Context {
        let now = self.clock.now();
        Context { id: self.ids.ulid(now), parent_id: None, user_id: user_id.map(str::to_owned) }
    }

    /// Home Assistant's `StateMachine.async_set`: `last_changed` moves only when the state
    /// text changes, `last_updated` when state or attributes change; an unchanged write
    /// changes and fires nothing. States never carry `last_reported`: Home Assistant
    /// 2024.3.3 has none (captured: REST, `get_states` and `state_changed` alike).
    pub(crate) fn set(
        &mut self,
        entity_id: &EntityId,
        state: &str,
        attributes: Attributes,
        context: Context,
        force: Force,
    ) -> Option<Change> {
        let now = self.clock.now();
        let old = self.get(entity_id.as_str()).cloned();
        let (last_changed, last_updated) = match &old {
            Some(old) => {
                let same_state = old.state == state && force == Force::No;
                if same_state && old.attributes == attributes {
                    return None;
                }
                (if same_state { old.last_changed } else { now }, now)
            }
            None => {
                self.ephemeral.insert(entity_id.clone());
                self.changes_stale = true;
                (now, now)
            }
        };
        let new = Arc::new(State {
            entity_id: entity_id.clone(),
            state: state.to_owned(),
            attributes,
            last_changed,
            last_reported: None,
            last_updated,
            context: context.clone(),
        });
        self.put(new.clone());
        self.record(&new);
        Some(Change { entity_id: entity_id.clone(), old, new: Some(new), context, time_fired: now })
    }

    /// Removes an entity (Home Assistant's `async_remove`).
    pub(crate) fn remove(&mut self, entity_id: &str, context: Context) -> Option<Change> {
        let i = self.index.remove(entity_id)?;
        let old = self.states.swap_remove(i);
        if let Some(moved) = self.states.get(i) {
            self.index.insert(moved.entity_id.clone(), i);
        }
        self.ephemeral.remove(entity_id);
        self.changes_stale = true;
        let now = self.clock.now();
        Some(Change { entity_id: old.entity_id.clone(), old: Some(old), new: None, context, time_fired: now })
    }

    /// One realistic change from the fixtures' change stream (a few entities change most).
    /// The stream decides what changes; the world stamps it with its own clock and context.
    pub(crate) fn next_change(&mut self) -> Option<Change> {
        if self.states.is_empty() {
            return None;
        }
        if self.changes_stale {
            self.rebuild_changes();
        }
        let i = self.changes.next_index() % self.states.len();
        let current = self.states[i].clone();
        let proposed = self.changes.next_state(&current);
        // The stream's context (sometimes with a user or parent, as in real installs) is
        // kept; its clock is not: the world stamps changes with its own.
        let context = proposed.context;
        let force = if proposed.state == current.state && proposed.attributes == current.attributes {
            // The stream asked for a change that changes nothing: report it as an update so
            // that load tests see the rate they asked for.
            Force::Yes
        } else {
            Force::No
        };
        self.set(&current.entity_id, &proposed.state, proposed.attributes, context, force)
    }

    fn put(&mut self, state: Arc<State>) {
        match self.index.get(&state.entity_id) {
            Some(&i) => self.states[i] = state,
            None => {
                self.index.insert(state.entity_id.clone(), self.states.len());
                self.states.push(state);
            }
        }
    }

    fn record(&mut self, state: &Arc<State>) {
        if self.history_capacity == 0 {
            return;
        }
        if self.history.len() == self.history_capacity {
            self.history.pop_front();
        }
        self.history.push_back(state.clone());
    }

    /// Recorded states (oldest first).
    pub(crate) fn history(&self) -> &VecDeque<Arc<State>> {
        &self.history
    }

    /// Creates or replaces a notification (a replaced one keeps its place); returns it.
    pub(crate) fn notify(
        &mut self,
        notification_id: Option<String>,
        title: Option<String>,
        message: String,
    ) -> Notification {
        let now = self.clock.now();
        let notification_id = notification_id.unwrap_or_else(|| self.ids.hex32());
        let note = Notification { notification_id, title, message, created_at: now };
        match self.notifications.iter_mut().find(|n| n.notification_id == note.notification_id) {
            Some(slot) => *slot = note.clone(),
            None => self.notifications.push(note.clone()),
        }
        note
    }

    /// Dismisses one notification; the one removed, if it existed.
    pub(crate) fn dismiss(&mut self, notification_id: &str) -> Option<Notification> {
        let at = self.notifications.iter().position(|n| n.notification_id == notification_id)?;
        Some(self.notifications.remove(at))
    }

    /// Dismisses all notifications; those removed.
    pub(crate) fn dismiss_all(&mut self) -> Vec<Notification> {
        std::mem::take(&mut self.notifications)
    }

    /// The notifications, oldest first.
    pub(crate) fn notifications(&self) -> &[Notification] {
        &self.notifications
    }

    /// What a Home Assistant restart does to the state machine while no client watches:
    /// ephemeral states vanish, `churn` fixture entities are removed and as many new ones
    /// appear. Fires nothing (nobody is connected). Returns (removed, added) ids.
    pub(crate) fn restart(&mut self, churn: usize) -> (Vec<EntityId>, Vec<EntityId>) {
        self.generation += 1;
        let mut removed: Vec<EntityId> = self.ephemeral.drain().collect();
        let owned: Vec<EntityId> = self
            .states
            .iter()
            .map(|s| s.entity_id.clone())
            .filter(|id| !removed.contains(id) && !self.kept.contains(id))
            .collect();
        let churn = churn.min(owned.len());
        for _ in 0..churn {
            let pick = owned[(self.ids.next_u64() % owned.len() as u64) as usize].clone();
            if !removed.contains(&pick) {
                removed.push(pick);
            }
        }
        for id in &removed {
            if let Some(i) = self.index.remove(id) {
                self.states.swap_remove(i);
                if let Some(moved) = self.states.get(i) {
                    self.index.insert(moved.entity_id.clone(), i);
                }
            }
        }
        let now = self.clock.now();
        let mut added = Vec::new();
        for template in ha_fixtures::install(self.seed ^ self.generation.wrapping_mul(0x9E37), churn) {
            let id = format!("{}.{}_r{}", template.entity_id.domain(), template.entity_id.object_id(), self.generation);
            let Ok(id) = EntityId::new(&id) else { continue };
            if self.index.contains_key(&id) {
                continue;
            }
            let context = Context::from_id(self.ids.ulid(now));
            let state = State {
                entity_id: id.clone(),
                last_changed: now,
                last_updated: now,
                last_reported: None,
                context,
                ..template
            };
            let state = Arc::new(state);
            self.put(state.clone());
            self.record(&state);
            added.push(id);
        }
        // `input_boolean.hapulse_spare` has `initial: false` in the conformance
        // configuration: off again after every restart (the others restore their state).
        if let Some(spare) = self.kept.iter().find(|id| id.as_str() == "input_boolean.hapulse_spare").cloned() {
            let context = Context::from_id(self.ids.ulid(now));
            if let Some(old) = self.get(spare.as_str()).cloned() {
                self.set(&spare, "off", old.attributes.clone(), context, Force::No);
            }
        }
        self.rebuild_changes();
        (removed, added)
    }

    fn rebuild_changes(&mut self) {
        self.changes_stale = false;
        self.rebuilds += 1;
        let plain: Vec<State> = self.states.iter().map(|s| (**s).clone()).collect();
        if !plain.is_empty() {
            let now = self.clock.now();
            self.changes = ChangeStream::new(self.seed ^ self.rebuilds.wrapping_mul(0x9E37_79B9), &plain, now);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn attrs(pairs: &[(&str, &str)]) -> Attributes {
        let mut a = Attributes::new();
        for (k, v) in pairs {
            a.insert_value(k, v);
        }
        a
    }

    #[test]
    fn set_with_same_state_keeps_last_changed_but_moves_last_updated() {
        let mut world = World::new(1, 0, 16);
        let id = EntityId::new("sensor.a").unwrap();
        let first = world.set(&id, "1", attrs(&[("x", "1")]), Context::from_id("c1"), Force::No).unwrap();

        let second = world.set(&id, "1", attrs(&[("x", "2")]), Context::from_id("c2"), Force::No).unwrap();

        let (before, after) = (first.new.unwrap(), second.new.unwrap());
        assert_eq!(after.last_changed, before.last_changed);
        assert!(after.last_updated > before.last_updated);
    }

    #[test]
    fn unchanged_write_fires_nothing() {
        let mut world = World::new(1, 0, 16);
        let id = EntityId::new("sensor.a").unwrap();
        world.set(&id, "1", Attributes::new(), Context::from_id("c1"), Force::No);

        let change = world.set(&id, "1", Attributes::new(), Context::from_id("c2"), Force::No);

        assert!(change.is_none());
    }

    #[test]
    fn remove_keeps_the_index_consistent() {
        let mut world = World::new(1, 5, 16);
        let first = world.states()[0].entity_id.clone();
        let last = world.states()[4].entity_id.clone();

        world.remove(first.as_str(), Context::from_id("c"));

        assert_eq!(world.len(), 4);
        assert!(world.get(first.as_str()).is_none());
        assert_eq!(world.get(last.as_str()).unwrap().entity_id, last);
    }

    #[test]
    fn restart_drops_ephemeral_entities_and_churns_the_rest() {
        let mut world = World::new(1, 20, 16);
        let temp = EntityId::new("sensor.temporary").unwrap();
        world.set(&temp, "1", Attributes::new(), Context::from_id("c"), Force::No);

        let (removed, added) = world.restart(3);

        assert!(removed.contains(&temp));
        assert!(world.get("sensor.temporary").is_none());
        assert_eq!(added.len(), 3);
        assert!(added.iter().all(|id| world.get(id.as_str()).is_some()));
        assert!(removed.iter().all(|id| world.get(id.as_str()).is_none()));
    }

    #[test]
    fn ulids_are_26_crockford_characters() {
        let mut ids = IdGen::new(7);

        let id = ids.ulid(Timestamp::from_micros(1_700_000_000_000_000));

        assert_eq!(id.len(), 26);
        assert!(id.bytes().all(|b| CROCKFORD.contains(&b)));
    }

    #[test]
    fn repeated_restarts_keep_the_index_consistent() {
        let mut world = World::new(3, 2_000, 16);

        for _ in 0..30 {
            world.restart(100);
            for _ in 0..50 {
                world.next_change();
            }
        }

        assert!(world.states().iter().enumerate().all(|(i, s)| world.index[&s.entity_id] == i));
        assert_eq!(world.index.len(), world.len());
    }
}
