//! Property tests with oracles:
//! 1. the same random history fed as full `state_changed` events and as compressed diffs
//!    (built by `StateDiff::between` / `CompressedState::from_state`, serialised and parsed
//!    again so the real parser runs) gives identical stores and identical reports;
//! 2. after any history the store equals a fresh snapshot of the truth, and replacing it with
//!    any other snapshot (a reconnect) equals a fresh store built from that snapshot.

mod common;

use std::collections::BTreeMap;

use common::expected;
use ha_proto::{CompressedEvent, CompressedState, Context, EntityId, EntityKey, State, StateChangedData, StateDiff};
use ha_proto::{Timestamp, raw::RawJson};
use ha_state::{ChangeReport, EntityStore};
use proptest::prelude::*;
use serde_json::Value;

const IDS: [&str; 8] = [
    "light.a",
    "light.b",
    "sensor.power_1",
    "sensor.t",
    "switch.fan",
    "climate.hall",
    "media_player.tv",
    "input_number.x",
];
const KEYS: [&str; 6] = ["friendly_name", "brightness", "unit_of_measurement", "hs_color", "source_list", "k"];
const STATES: [&str; 7] = ["on", "off", "unavailable", "21.5", "", "ü °C \"quoted\" \\", "0123456789abcdef"];
const CONTEXT_IDS: [&str; 3] = ["01H0640ES8JCY1NGTNW3V41T5T", "01H0640ES8JCY1NGTNW3V41T5V", "c"];
const PARENTS: [Option<&str>; 3] = [None, Some("01HPARENT0000000000000000A"), Some("01HPARENT0000000000000000B")];
const USERS: [Option<&str>; 3] = [None, Some("8f2c0e1a3b4d"), Some("other-user")];

/// One step of the random history, interpreted against the truth.
#[derive(Debug, Clone)]
enum Op {
    /// Add the entity, or change it if the truth holds it.
    Upsert {
        id: usize,
        state: usize,
        /// Attribute key index and new value (`None` removes the key).
        edits: Vec<(usize, Option<Value>)>,
        /// Indexes into CONTEXT_IDS, PARENTS, USERS.
        context: (usize, usize, usize),
        /// 0: timestamps stay, 1: only last_updated moves, 2: last_changed and last_updated move.
        time: u8,
        /// Microseconds the clock advances.
        dt: i64,
    },
    /// Remove the entity if the truth holds it.
    Remove { id: usize },
}

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1.0e9f64..1.0e9).prop_map(Value::from),
        "\\PC{0,8}".prop_map(Value::String),
    ];
    leaf.prop_recursive(2, 12, 3, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..3).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,4}", inner, 0..3)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn op() -> impl Strategy<Value = Op> {
    let upsert = (
        0..IDS.len(),
        0..STATES.len(),
        prop::collection::vec((0..KEYS.len(), prop::option::weighted(0.75, json_value())), 0..4),
        (0..CONTEXT_IDS.len(), 0..PARENTS.len(), 0..USERS.len()),
        0u8..3,
        1i64..5_000_000,
    )
        .prop_map(|(id, state, edits, context, time, dt)| Op::Upsert { id, state, edits, context, time, dt });
    prop_oneof![4 => upsert, 1 => (0..IDS.len()).prop_map(|id| Op::Remove { id })]
}

/// What happened to the truth in one step.
enum Transition {
    Added(State),
    Updated(State, State),
    Removed(State),
}

/// The real world: Home Assistant's state machine, as a plain map.
struct Truth {
    states: BTreeMap<EntityId, State>,
    /// Microseconds after 2023-11-14T22:13:20Z; whole microseconds, so epoch floats are exact.
    clock: i64,
}

impl Truth {
    fn new() -> Self {
        Truth { states: BTreeMap::new(), clock: 0 }
    }

    fn now(&self) -> Timestamp {
        Timestamp::from_micros(1_700_000_000_000_000 + self.clock)
    }

    fn step(&mut self, op: &Op) -> Option<Transition> {
        match op {
            Op::Remove { id } => self.states.remove(IDS[*id]).map(Transition::Removed),
            Op::Upsert { id, state, edits, context, time, dt } => {
                self.clock += dt;
                let now = self.now();
                let ctx = Context {
                    id: CONTEXT_IDS[context.0].to_owned(),
                    parent_id: PARENTS[context.1].map(str::to_owned),
                    user_id: USERS[context.2].map(str::to_owned),
                };
                let old = self.states.get(IDS[*id]).cloned();
                let mut new = old.clone().unwrap_or_else(|| State {
                    entity_id: EntityId::new(IDS[*id]).unwrap(),
                    state: String::new(),
                    attributes: Default::default(),
                    last_changed: now,
                    last_reported: None,
                    last_updated: now,
                    context: ctx.clone(),
                });
                new.state = STATES[*state].to_owned();
                new.context = ctx;
                new.last_reported = Some(now);
                for (key, value) in edits {
                    match value {
                        Some(v) => new.attributes.insert(KEYS[*key], RawJson::from_value(v).into_boxed()),
                        None => drop(new.attributes.remove(KEYS[*key])),
                    }
                }
                match (&old, time) {
                    // An added entity may have last_updated after last_changed.
                    (None, 1) => new.last_updated = Timestamp::from_micros(now.as_micros() + 1),
                    (Some(_), 1) => new.last_updated = now,
                    // Home Assistant's rule: when last_changed moves, last_updated moves with it.
                    (Some(_), 2) => (new.last_changed, new.last_updated) = (now, now),
                    _ => {}
                }
                self.states.insert(new.entity_id.clone(), new.clone());
                Some(match old {
                    Some(old) => Transition::Updated(old, new),
                    None => Transition::Added(new),
                })
            }
        }
    }

    fn snapshot(&self) -> Vec<State> {
        self.states.values().cloned().collect()
    }
}

fn history(ops: &[Op]) -> (Truth, Vec<Transition>) {
    let mut truth = Truth::new();
    let transitions = ops.iter().filter_map(|op| truth.step(op)).collect();
    (truth, transitions)
}

/// The `state_changed` data of a transition, through JSON and back.
fn full_event(t: &Transition) -> StateChangedData {
    let (old, new) = match t {
        Transition::Added(new) => (None, Some(new.clone())),
        Transition::Updated(old, new) => (Some(old.clone()), Some(new.clone())),
        Transition::Removed(old) => (Some(old.clone()), None),
    };
    let entity_id = new.as_ref().or(old.as_ref()).unwrap().entity_id.clone();
    let json = serde_json::to_string(&StateChangedData { entity_id, old_state: old, new_state: new }).unwrap();
    serde_json::from_str(&json).unwrap()
}

/// The compressed event Home Assistant sends for a transition, as JSON text.
fn compressed_json(t: &Transition) -> String {
    let event = match t {
        Transition::Added(new) => CompressedEvent {
            added: vec![(EntityKey::from(&new.entity_id), CompressedState::from_state(new))],
            ..Default::default()
        },
        Transition::Updated(old, new) => CompressedEvent {
            changed: vec![(EntityKey::from(&new.entity_id), StateDiff::between(old, new))],
            ..Default::default()
        },
        Transition::Removed(old) => {
            CompressedEvent { removed: vec![EntityKey::from(&old.entity_id)], ..Default::default() }
        }
    };
    serde_json::to_string(&event).unwrap()
}

fn snapshot_json(states: &[State]) -> String {
    let added = states.iter().map(|s| (EntityKey::from(&s.entity_id), CompressedState::from_state(s))).collect();
    serde_json::to_string(&CompressedEvent { added, ..Default::default() }).unwrap()
}

fn ids(report: &ChangeReport) -> (Vec<String>, Vec<String>, Vec<String>) {
    let text = |v: &[EntityId]| v.iter().map(|id| id.to_string()).collect::<Vec<_>>();
    (text(&report.added), text(&report.updated), text(&report.removed))
}

fn fresh(states: Vec<State>) -> EntityStore {
    let mut store = EntityStore::new();
    store.replace_from_states(states);
    store
}

/// Builds the two stores from the same snapshot and feeds them the same transitions.
fn feed_both(initial: &[State], transitions: &[Transition]) -> Result<(EntityStore, EntityStore), TestCaseError> {
    let mut full = fresh(initial.to_vec());
    let mut compressed = EntityStore::new();
    compressed.replace_from_compressed(&CompressedEvent::parse(&snapshot_json(initial)).unwrap()).unwrap();
    prop_assert_eq!(&full, &compressed);
    for t in transitions {
        let by_full = full.apply_state_changed(full_event(t));
        let json = compressed_json(t);
        let by_diff = compressed.apply_compressed(&CompressedEvent::parse(&json).unwrap()).unwrap();
        prop_assert_eq!(ids(&by_full), ids(&by_diff), "reports differ for {}", json);
        prop_assert!(by_full.unknown.is_empty() && by_diff.unknown.is_empty());
    }
    Ok((full, compressed))
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn full_events_and_compressed_diffs_build_identical_stores(
        setup in prop::collection::vec(op(), 0..12),
        ops in prop::collection::vec(op(), 0..40),
    ) {
        let (mut truth, _) = history(&setup);
        let initial = truth.snapshot();
        let transitions: Vec<Transition> = ops.iter().filter_map(|op| truth.step(op)).collect();

        let (full, compressed) = feed_both(&initial, &transitions)?;

        prop_assert_eq!(&full, &compressed);
        prop_assert_eq!(full.to_states(), compressed.to_states());
    }

    #[test]
    fn after_any_history_the_store_equals_a_fresh_snapshot_of_the_truth(
        ops in prop::collection::vec(op(), 0..50),
    ) {
        let (truth, transitions) = history(&ops);

        let (full, compressed) = feed_both(&[], &transitions)?;

        let snapshot = fresh(truth.snapshot());
        prop_assert_eq!(full.to_states(), expected(truth.snapshot()));
        prop_assert_eq!(&full, &snapshot);
        prop_assert_eq!(&compressed, &snapshot);
        prop_assert_eq!(full.len(), truth.states.len());
    }

    #[test]
    fn replacing_after_any_history_equals_a_fresh_store_of_the_new_snapshot(
        before in prop::collection::vec(op(), 0..30),
        elsewhere in prop::collection::vec(op(), 0..30),
    ) {
        // arrange: a store that followed one history, and the snapshot of another (a reconnect)
        let (_, transitions) = history(&before);
        let (_, mut store) = feed_both(&[], &transitions)?;
        let held: Vec<String> = store.iter().map(|e| e.entity_id().to_string()).collect();
        let (truth, _) = history(&elsewhere);
        let json = snapshot_json(&truth.snapshot());

        let report = store.replace_from_compressed(&CompressedEvent::parse(&json).unwrap()).unwrap();

        prop_assert_eq!(&store, &fresh(truth.snapshot()));
        let mut gone: Vec<String> = held.into_iter().filter(|id| !truth.states.contains_key(id.as_str())).collect();
        gone.sort();
        prop_assert_eq!(ids(&report).2, gone);
    }
}
