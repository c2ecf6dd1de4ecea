//! The compressed format against its oracle, the full state: compressing a random state,
//! sending it as JSON and expanding it gives the state back, and `StateDiff::between`
//! applied by Home Assistant's merge rules turns the old state into the new one.

use std::borrow::Cow;

use ha_proto::{
    Attributes, CompressedEvent, CompressedState, Context, EntityId, EntityKey, State, StateDiff, Timestamp,
};
use proptest::prelude::*;
use serde_json::Value;
use serde_json::value::{RawValue, to_raw_value};

// Epoch-second floats keep whole microseconds while their ulp stays below 1 µs, that is for
// |t| < 2^33 s (years 1698..2242); Home Assistant has the same limit.
const LIMIT_MICROS: i64 = ((1i64 << 33) - 1) * 1_000_000;

fn json_value() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        (-1e9f64..1e9).prop_map(Value::from),
        ".{0,12}".prop_map(Value::String),
    ];
    leaf.prop_recursive(3, 24, 4, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::btree_map("[a-z_]{1,8}", inner, 0..4)
                .prop_map(|m| Value::Object(m.into_iter().collect())),
        ]
    })
}

fn raw(value: &Value) -> Box<RawValue> {
    to_raw_value(value).unwrap()
}

fn attributes() -> impl Strategy<Value = Attributes> {
    prop::collection::vec(("[a-z_]{1,10}|.{1,6}", json_value()), 0..8)
        .prop_map(|pairs| pairs.into_iter().map(|(k, v)| (k, raw(&v))).collect())
}

fn context() -> impl Strategy<Value = Context> {
    ("[0-9A-HJKMNP-TV-Z]{26}", prop::option::of("[0-9A-Z]{26}"), prop::option::of("[0-9a-f]{32}"))
        .prop_map(|(id, parent_id, user_id)| Context { id, parent_id, user_id })
}

fn entity_id() -> impl Strategy<Value = EntityId> {
    "[a-z][a-z0-9]{0,6}(_[a-z0-9]{1,4})?\\.[a-z0-9]{1,8}(_[a-z0-9]{1,4}){0,2}".prop_map(|s| EntityId::new(&s).unwrap())
}

fn state() -> impl Strategy<Value = State> {
    (
        entity_id(),
        ".{0,30}",
        attributes(),
        -LIMIT_MICROS..LIMIT_MICROS - 10_000_000,
        prop_oneof![Just(0i64), 0..10_000_000i64],
        context(),
        any::<bool>(),
    )
        .prop_map(|(entity_id, state, attributes, lc, lu_after, context, reported)| {
            let last_changed = Timestamp::from_micros(lc);
            let last_updated = Timestamp::from_micros(lc + lu_after);
            State {
                entity_id,
                state,
                attributes,
                last_changed,
                last_reported: reported.then_some(last_updated),
                last_updated,
                context,
            }
        })
}

/// What can happen to a state between two `state_changed` events, following Home
/// Assistant's rules: a new `last_changed` always comes with `last_updated` equal to it.
#[derive(Debug, Clone)]
struct Change {
    state: Option<String>,
    changed_after: Option<i64>,
    updated_after: Option<i64>,
    new_context: Option<Context>,
    keep_parent: bool,
    keep_user: bool,
    remove: Vec<prop::sample::Index>,
    set: Vec<(String, Value)>,
    reset_existing: Vec<(prop::sample::Index, Value)>,
}

fn change() -> impl Strategy<Value = Change> {
    (
        prop::option::of(".{0,10}"),
        prop::option::of(1..5_000_000i64),
        prop::option::of(1..5_000_000i64),
        prop::option::of(context()),
        any::<bool>(),
        any::<bool>(),
        prop::collection::vec(any::<prop::sample::Index>(), 0..3),
        prop::collection::vec(("[a-z_]{1,10}", json_value()), 0..3),
        prop::collection::vec((any::<prop::sample::Index>(), json_value()), 0..3),
    )
        .prop_map(
            |(
                state,
                changed_after,
                updated_after,
                new_context,
                keep_parent,
                keep_user,
                remove,
                set,
                reset_existing,
            )| {
                Change {
                    state,
                    changed_after,
                    updated_after,
                    new_context,
                    keep_parent,
                    keep_user,
                    remove,
                    set,
                    reset_existing,
                }
            },
        )
}

fn changed(old: &State, c: &Change) -> State {
    let mut new = old.clone();
    if let Some(s) = &c.state {
        new.state.clone_from(s);
    }
    if let Some(after) = c.changed_after {
        new.last_changed = Timestamp::from_micros(old.last_updated.as_micros() + after);
        new.last_updated = new.last_changed;
    } else if let Some(after) = c.updated_after {
        new.last_updated = Timestamp::from_micros(old.last_updated.as_micros() + after);
    }
    if let Some(ctx) = &c.new_context {
        new.context = Context {
            id: ctx.id.clone(),
            parent_id: if c.keep_parent { old.context.parent_id.clone() } else { ctx.parent_id.clone() },
            user_id: if c.keep_user { old.context.user_id.clone() } else { ctx.user_id.clone() },
        };
    }
    let keys: Vec<String> = old.attributes.iter().map(|(k, _)| k.to_owned()).collect();
    if !keys.is_empty() {
        for i in &c.remove {
            new.attributes.remove(&keys[i.index(keys.len())]);
        }
        for (i, v) in &c.reset_existing {
            new.attributes.insert(&keys[i.index(keys.len())], raw(v));
        }
    }
    for (k, v) in &c.set {
        new.attributes.insert(k, raw(v));
    }
    new.last_reported = Some(new.last_updated);
    new
}

/// Home Assistant's merge rules for one `c` entry, written out independently of ha-state.
fn apply(old: &State, diff: &StateDiff<'_>) -> State {
    let mut s = old.clone();
    if let Some(add) = &diff.additions {
        if let Some(state) = &add.state {
            s.state = state.to_string();
        }
        if let Some(lc) = add.last_changed {
            s.last_changed = lc;
            s.last_updated = lc;
        } else if let Some(lu) = add.last_updated {
            s.last_updated = lu;
        }
        if let Some(ctx) = &add.context {
            ctx.apply_to(&mut s.context);
        }
        if let Some(attrs) = &add.attributes {
            for (k, v) in &attrs.0 {
                s.attributes.insert(k, v.clone().into_boxed());
            }
        }
    }
    if let Some(removals) = &diff.removals {
        for k in &removals.attributes {
            s.attributes.remove(k);
        }
    }
    s
}

fn without_last_reported(mut s: State) -> State {
    s.last_reported = None;
    s
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 512, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn compressed_state_survives_the_wire(original in state()) {
        // arrange
        let key = EntityKey::from(&original.entity_id);
        let event = CompressedEvent { added: vec![(key, CompressedState::from_state(&original))], ..Default::default() };
        let wire = serde_json::to_string(&event).unwrap();

        // act
        let parsed = CompressedEvent::parse(&wire).unwrap();
        let (key, compressed) = &parsed.added[0];
        let expanded = compressed.to_state(key.to_entity_id());

        // assert
        prop_assert_eq!(expanded, without_last_reported(original));
    }

    #[test]
    fn diff_between_states_applied_by_merge_rules_gives_the_new_state(old in state(), change in change()) {
        // arrange
        let new = changed(&old, &change);
        let diff = StateDiff::between(&old, &new);
        let key = EntityKey::from(&new.entity_id);
        let wire = serde_json::to_string(&CompressedEvent { changed: vec![(key, diff)], ..Default::default() }).unwrap();

        // act
        let parsed = CompressedEvent::parse(&wire).unwrap();
        let applied = apply(&old, &parsed.changed[0].1);

        // assert
        prop_assert_eq!(without_last_reported(applied), without_last_reported(new));
    }

    #[test]
    fn diff_between_equal_states_changes_nothing(old in state()) {
        // act
        let diff = StateDiff::between(&old, &old);

        // assert
        let add = diff.additions.unwrap();
        prop_assert!(add.state.is_none() && add.attributes.is_none() && add.context.is_none());
        prop_assert!(add.last_changed.is_none() && add.last_updated.is_none() && diff.removals.is_none());
    }
}

#[test]
fn compressed_context_is_a_bare_id_only_when_parent_and_user_are_null() {
    // arrange
    let bare = Context::from_id("01HSBDFGQ4C7MXV0Q1J4V2TZ9N");
    let with_user = Context { user_id: Some("9c7e0b5a2f1d4e3c8b6a7d5e4f3c2b1a".into()), ..bare.clone() };

    // act
    let texts = [&bare, &with_user].map(|c| serde_json::to_string(&ha_proto::ContextPatch::from_context(c)).unwrap());

    // assert
    assert_eq!(texts[0], r#""01HSBDFGQ4C7MXV0Q1J4V2TZ9N""#);
    assert_eq!(
        texts[1],
        r#"{"id":"01HSBDFGQ4C7MXV0Q1J4V2TZ9N","parent_id":null,"user_id":"9c7e0b5a2f1d4e3c8b6a7d5e4f3c2b1a"}"#
    );
}

#[test]
fn diff_of_only_a_new_context_id_sends_a_bare_string() {
    // arrange
    let old = State {
        entity_id: EntityId::new("light.kitchen").unwrap(),
        state: "on".into(),
        attributes: Attributes::new(),
        last_changed: Timestamp::from_micros(1_710_928_800_123_456),
        last_reported: None,
        last_updated: Timestamp::from_micros(1_710_928_800_123_456),
        context: Context::from_id("01HSBDFGQ4C7MXV0Q1J4V2TZ9N"),
    };
    let new = State { context: Context::from_id("01HSBE9R2T5W8Z1B4D7G0J3L6N"), ..old.clone() };

    // act
    let diff = StateDiff::between(&old, &new);

    // assert
    let context = diff.additions.unwrap().context.unwrap();
    assert_eq!(serde_json::to_string(&context).unwrap(), r#""01HSBE9R2T5W8Z1B4D7G0J3L6N""#);
    assert_eq!(context.id, Some(Cow::Borrowed("01HSBE9R2T5W8Z1B4D7G0J3L6N")));
}
