//! The compressed-state format of `subscribe_entities`: `a` (added), `c` (changed, with `+` /
//! `-`), `r` (removed), and the short keys `s`, `a`, `c`, `lc`, `lu`.
//!
//! These types borrow from the frame: a diff event is decoded without building a
//! `serde_json::Value` tree and without copying attribute values.

use std::borrow::Cow;
use std::fmt;

use serde::de::{MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, SerializeSeq};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use crate::cow::CowStr;
use crate::entity_id::{self, EntityId};
use crate::raw::RawJson;
use crate::state::{Attributes, Context, State};
use crate::timestamp::{self, Timestamp};

/// A validated entity id that borrows from the frame.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct EntityKey<'a>(Cow<'a, str>);

impl<'a> EntityKey<'a> {
    /// Validates and wraps an id.
    pub fn new(id: impl Into<Cow<'a, str>>) -> Result<Self, entity_id::InvalidEntityId> {
        let id = id.into();
        entity_id::validate(&id)?;
        Ok(EntityKey(id))
    }

    /// A placeholder the scanner fills in place; never handed out before it is overwritten by
    /// a validated id (the empty text is not one).
    pub(crate) const fn blank() -> Self {
        EntityKey(Cow::Borrowed(""))
    }

    /// Wraps an id that equals one already validated (no second check).
    pub(crate) fn revalidated(id: &'a str, valid: &EntityKey<'_>) -> Option<Self> {
        (id == valid.as_str()).then_some(EntityKey(Cow::Borrowed(id)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// An owned [`EntityId`] (already validated, so this cannot fail).
    pub fn to_entity_id(&self) -> EntityId {
        // Every way to build an `EntityKey` validates its text.
        EntityId::from_validated(&self.0)
    }

    /// Detaches from the frame.
    pub fn into_owned(self) -> EntityKey<'static> {
        EntityKey(Cow::Owned(self.0.into_owned()))
    }
}

impl<'a> From<&'a EntityId> for EntityKey<'a> {
    fn from(id: &'a EntityId) -> Self {
        EntityKey(Cow::Borrowed(id.as_str()))
    }
}

impl Serialize for EntityKey<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for EntityKey<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = crate::cow::borrow(d)?;
        EntityKey::new(text).map_err(serde::de::Error::custom)
    }
}

/// Attribute key/value pairs that borrow from the frame, in received order.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct AttrPatch<'a>(pub Vec<(Cow<'a, str>, RawJson<'a>)>);

impl AttrPatch<'_> {
    /// Copies into owned [`Attributes`].
    pub fn to_attributes(&self) -> Attributes {
        let mut attrs = Attributes::new();
        for (k, v) in &self.0 {
            attrs.insert(k, v.clone().into_boxed());
        }
        attrs
    }
}

impl<'a> From<&'a Attributes> for AttrPatch<'a> {
    fn from(attrs: &'a Attributes) -> Self {
        AttrPatch(attrs.iter().map(|(k, v)| (Cow::Borrowed(k), RawJson::borrowed(v))).collect())
    }
}

impl Serialize for AttrPatch<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(&**k, v)?;
        }
        map.end()
    }
}

impl<'a> AttrPatch<'a> {
    /// Decodes an attributes object, with room for `expected` keys up front (JSON gives no size
    /// hint): a diff's patch holds a few keys, a full state a dozen or more.
    pub(crate) fn deserialize_expecting<'de: 'a, D: Deserializer<'de>>(
        d: D,
        expected: usize,
    ) -> Result<Self, D::Error> {
        struct V(usize);
        impl<'de> Visitor<'de> for V {
            type Value = AttrPatch<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an attributes object")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(self.0));
                while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
                    let v = map.next_value::<&'de RawValue>()?;
                    out.push((k, RawJson::borrowed(v)));
                }
                Ok(AttrPatch(out))
            }
        }
        d.deserialize_map(V(expected))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for AttrPatch<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        AttrPatch::deserialize_expecting(d, 4)
    }
}

/// A context in compressed form: a bare id when `parent_id` and `user_id` are null, else
/// an object. In a diff (`+.c`) the object is partial: only the fields that changed.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct ContextPatch<'a> {
    /// New context id, if sent.
    pub id: Option<Cow<'a, str>>,
    /// New parent id (`Some(None)` = set to null), if sent.
    pub parent_id: Option<Option<Cow<'a, str>>>,
    /// New user id (`Some(None)` = set to null), if sent.
    pub user_id: Option<Option<Cow<'a, str>>>,
    /// Whether it was sent as a bare string (only the id).
    pub bare_id: bool,
}

impl<'a> ContextPatch<'a> {
    /// How Home Assistant compresses a full context: a string when the other fields are null.
    pub fn from_context(ctx: &'a Context) -> Self {
        let bare = ctx.parent_id.is_none() && ctx.user_id.is_none();
        ContextPatch {
            id: Some(Cow::Borrowed(&ctx.id)),
            parent_id: (!bare).then(|| ctx.parent_id.as_deref().map(Cow::Borrowed)),
            user_id: (!bare).then(|| ctx.user_id.as_deref().map(Cow::Borrowed)),
            bare_id: bare,
        }
    }

    /// Applies the patch to `ctx` (Home Assistant's merge rule: a bare id replaces only the id).
    pub fn apply_to(&self, ctx: &mut Context) {
        if let Some(id) = &self.id {
            ctx.id.clear();
            ctx.id.push_str(id);
        }
        if let Some(p) = &self.parent_id {
            ctx.parent_id = p.as_deref().map(str::to_owned);
        }
        if let Some(u) = &self.user_id {
            ctx.user_id = u.as_deref().map(str::to_owned);
        }
    }

    /// The context this patch describes on its own (for added entities).
    pub fn to_context(&self) -> Context {
        let mut ctx = Context::default();
        self.apply_to(&mut ctx);
        ctx
    }
}

impl Serialize for ContextPatch<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        if self.bare_id {
            return s.serialize_str(self.id.as_deref().unwrap_or(""));
        }
        let n = [self.id.is_some(), self.parent_id.is_some(), self.user_id.is_some()].iter().filter(|b| **b).count();
        let mut map = s.serialize_map(Some(n))?;
        if let Some(id) = &self.id {
            map.serialize_entry("id", id)?;
        }
        if let Some(p) = &self.parent_id {
            map.serialize_entry("parent_id", p)?;
        }
        if let Some(u) = &self.user_id {
            map.serialize_entry("user_id", u)?;
        }
        map.end()
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for ContextPatch<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = ContextPatch<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a context id string or context object")
            }
            fn visit_borrowed_str<E: serde::de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
                Ok(ContextPatch { id: Some(Cow::Borrowed(v)), bare_id: true, ..Default::default() })
            }
            fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<Self::Value, E> {
                Ok(ContextPatch { id: Some(Cow::Owned(v.to_owned())), bare_id: true, ..Default::default() })
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = ContextPatch::default();
                while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
                    match &*k {
                        "id" => out.id = Some(map.next_value::<CowStr<'de>>()?.0),
                        "parent_id" => {
                            out.parent_id = Some(map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0));
                        }
                        "user_id" => out.user_id = Some(map.next_value::<Option<CowStr<'de>>>()?.map(|c| c.0)),
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(out)
            }
        }
        d.deserialize_any(V)
    }
}

/// A full state in compressed form (an `a` entry).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CompressedState<'a> {
    /// `s`: the state.
    #[serde(rename = "s", borrow)]
    pub state: Cow<'a, str>,
    /// `a`: all attributes.
    #[serde(rename = "a", default, borrow)]
    pub attributes: AttrPatch<'a>,
    /// `c`: the context.
    #[serde(rename = "c", borrow)]
    pub context: ContextPatch<'a>,
    /// `lc`: last_changed.
    #[serde(rename = "lc", with = "timestamp::epoch_secs")]
    pub last_changed: Timestamp,
    /// `lu`: last_updated, omitted when equal to `lc`.
    #[serde(rename = "lu", default, with = "timestamp::epoch_secs::option", skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
}

impl<'a> CompressedState<'a> {
    /// Compresses a full state the way Home Assistant does.
    pub fn from_state(state: &'a State) -> Self {
        CompressedState {
            state: Cow::Borrowed(&state.state),
            attributes: AttrPatch::from(&state.attributes),
            context: ContextPatch::from_context(&state.context),
            last_changed: state.last_changed,
            last_updated: (state.last_updated != state.last_changed).then_some(state.last_updated),
        }
    }

    /// Expands into a full [`State`]. `last_reported` is not part of the compressed
    /// format and is left `None`.
    pub fn to_state(&self, entity_id: EntityId) -> State {
        State {
            entity_id,
            state: self.state.to_string(),
            attributes: self.attributes.to_attributes(),
            last_changed: self.last_changed,
            last_reported: None,
            last_updated: self.last_updated.unwrap_or(self.last_changed),
            context: self.context.to_context(),
        }
    }
}

/// `+` of a change: what was added or changed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiffAdditions<'a> {
    /// `s`: the new state, only when it changed.
    #[serde(
        rename = "s",
        default,
        borrow,
        deserialize_with = "crate::cow::borrow_option",
        skip_serializing_if = "Option::is_none"
    )]
    pub state: Option<Cow<'a, str>>,
    /// `a`: added or changed attributes (merge them).
    #[serde(rename = "a", default, borrow, skip_serializing_if = "Option::is_none")]
    pub attributes: Option<AttrPatch<'a>>,
    /// `c`: the context change (bare id or partial object).
    #[serde(rename = "c", default, borrow, skip_serializing_if = "Option::is_none")]
    pub context: Option<ContextPatch<'a>>,
    /// `lc`: new last_changed; implies `last_updated = lc`.
    #[serde(rename = "lc", default, with = "timestamp::epoch_secs::option", skip_serializing_if = "Option::is_none")]
    pub last_changed: Option<Timestamp>,
    /// `lu`: new last_updated, when only that changed.
    #[serde(rename = "lu", default, with = "timestamp::epoch_secs::option", skip_serializing_if = "Option::is_none")]
    pub last_updated: Option<Timestamp>,
}

/// `-` of a change: what was removed.
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct DiffRemovals<'a> {
    /// `a`: removed attribute keys.
    #[serde(rename = "a", default, borrow, deserialize_with = "crate::cow::borrow_vec")]
    pub attributes: Vec<Cow<'a, str>>,
}

/// One entity's change (a `c` entry).
#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct StateDiff<'a> {
    /// `+`: additions and changes.
    #[serde(rename = "+", default, borrow, skip_serializing_if = "Option::is_none")]
    pub additions: Option<DiffAdditions<'a>>,
    /// `-`: removals.
    #[serde(rename = "-", default, borrow, skip_serializing_if = "Option::is_none")]
    pub removals: Option<DiffRemovals<'a>>,
}

impl<'a> StateDiff<'a> {
    /// Computes the diff Home Assistant sends for `old` → `new` (`_state_diff` in its
    /// `websocket_api/messages.py`).
    ///
    /// One deliberate difference: Home Assistant tests `old.get(key) != value` with Python
    /// equality, so it does not send a newly added attribute whose value is `null`, nor a
    /// change between values Python deems equal (`1`, `1.0`, `true`). This diff sends them,
    /// so applying it always yields `new` exactly; a mirror fed by a real server can miss them.
    pub fn between(old: &'a State, new: &'a State) -> Self {
        let mut add = DiffAdditions::default();
        if old.state != new.state {
            add.state = Some(Cow::Borrowed(&new.state));
        }
        if old.last_changed != new.last_changed {
            add.last_changed = Some(new.last_changed);
        } else if old.last_updated != new.last_updated {
            add.last_updated = Some(new.last_updated);
        }
        let (oc, nc) = (&old.context, &new.context);
        let mut ctx = ContextPatch::default();
        if oc.parent_id != nc.parent_id {
            ctx.parent_id = Some(nc.parent_id.as_deref().map(Cow::Borrowed));
        }
        if oc.user_id != nc.user_id {
            ctx.user_id = Some(nc.user_id.as_deref().map(Cow::Borrowed));
        }
        if oc.id != nc.id {
            ctx.id = Some(Cow::Borrowed(&nc.id));
            ctx.bare_id = ctx.parent_id.is_none() && ctx.user_id.is_none();
        }
        if ctx.id.is_some() || ctx.parent_id.is_some() || ctx.user_id.is_some() {
            add.context = Some(ctx);
        }
        let mut removals = None;
        if old.attributes != new.attributes {
            let changed: Vec<_> = new
                .attributes
                .iter()
                .filter(|(k, v)| !old.attributes.get(k).is_some_and(|o| crate::raw::same_json(o, v)))
                .map(|(k, v)| (Cow::Borrowed(k), RawJson::borrowed(v)))
                .collect();
            if !changed.is_empty() {
                add.attributes = Some(AttrPatch(changed));
            }
            let removed: Vec<_> = old
                .attributes
                .iter()
                .filter(|(k, _)| new.attributes.get(k).is_none())
                .map(|(k, _)| Cow::Borrowed(k))
                .collect();
            if !removed.is_empty() {
                removals = Some(DiffRemovals { attributes: removed });
            }
        }
        StateDiff { additions: Some(add), removals }
    }
}

/// One `subscribe_entities` event: added, changed and removed entities.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CompressedEvent<'a> {
    /// `a`: entities added (or, in the first event, the whole snapshot).
    pub added: Vec<(EntityKey<'a>, CompressedState<'a>)>,
    /// `c`: entities changed.
    pub changed: Vec<(EntityKey<'a>, StateDiff<'a>)>,
    /// `r`: entities removed.
    pub removed: Vec<EntityKey<'a>>,
}

impl CompressedEvent<'_> {
    /// Number of entities the event touches.
    pub fn len(&self) -> usize {
        self.added.len() + self.changed.len() + self.removed.len()
    }

    /// Whether the event touches no entity.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

struct PairMap<'s, K, V>(&'s [(K, V)]);

impl<K: Serialize, V: Serialize> Serialize for PairMap<'_, K, V> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

struct KeySeq<'s, 'a>(&'s [EntityKey<'a>]);

impl Serialize for KeySeq<'_, '_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut seq = s.serialize_seq(Some(self.0.len()))?;
        for k in self.0 {
            seq.serialize_element(k)?;
        }
        seq.end()
    }
}

impl Serialize for CompressedEvent<'_> {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let n =
            [!self.added.is_empty(), !self.changed.is_empty(), !self.removed.is_empty()].iter().filter(|b| **b).count();
        let mut map = s.serialize_map(Some(n))?;
        if !self.added.is_empty() {
            map.serialize_entry("a", &PairMap(&self.added))?;
        }
        if !self.changed.is_empty() {
            map.serialize_entry("c", &PairMap(&self.changed))?;
        }
        if !self.removed.is_empty() {
            map.serialize_entry("r", &KeySeq(&self.removed))?;
        }
        map.end()
    }
}

pub(crate) struct PairVec<K, V>(pub(crate) Vec<(K, V)>);

impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Deserialize<'de> for PairVec<K, V> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct Vis<K, V>(std::marker::PhantomData<(K, V)>);
        impl<'de, K: Deserialize<'de>, V: Deserialize<'de>> Visitor<'de> for Vis<K, V> {
            type Value = PairVec<K, V>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an object keyed by entity id")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::with_capacity(map.size_hint().unwrap_or(1));
                while let Some(entry) = map.next_entry()? {
                    out.push(entry);
                }
                Ok(PairVec(out))
            }
        }
        d.deserialize_map(Vis(std::marker::PhantomData))
    }
}

impl<'de: 'a, 'a> Deserialize<'de> for CompressedEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = CompressedEvent<'de>;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a compressed state event")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut ev = CompressedEvent::default();
                while let Some(CowStr(k)) = map.next_key::<CowStr<'de>>()? {
                    match &*k {
                        "a" => ev.added = map.next_value::<PairVec<_, _>>()?.0,
                        "c" => ev.changed = map.next_value::<PairVec<_, _>>()?.0,
                        "r" => ev.removed = map.next_value::<Vec<EntityKey<'de>>>()?,
                        _ => {
                            map.next_value::<serde::de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(ev)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, _seq: A) -> Result<Self::Value, A::Error> {
                Err(serde::de::Error::custom("expected an object, found an array"))
            }
        }
        d.deserialize_map(V)
    }
}
