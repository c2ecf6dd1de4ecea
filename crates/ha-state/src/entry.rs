//! One stored entity, Home Assistant's merge rules applied to it, and [`EntityRef`], the cheap
//! read-only view callers get.

use std::borrow::Cow;
use std::fmt;
use std::mem::size_of;

use compact_str::CompactString;
use ha_proto::{
    Attributes, CompressedState, Context, ContextView, EntityId, EntityKey, State, StateDiff, StateView, Timestamp,
};

use crate::attrs::{AttributeValue, Attrs, owned_raw};
use crate::context::StoredContext;
use crate::error::StateError;
use crate::heap;
use crate::shapes::Shapes;

/// One entity as the store holds it. There is no `last_reported`: the compressed feed does not
/// carry it, and the mirror must hold the same data whichever feed built it.
#[derive(Clone)]
#[repr(C, align(64))]
pub(crate) struct Entry {
    /// Inline up to 24 bytes (`on`, `23.5`, `unavailable`): no heap block for a typical state.
    pub(crate) state: CompactString,
    pub(crate) id: EntityId,
    /// Raw JSON per key, in received order; keys are unique.
    pub(crate) attrs: Attrs,
    pub(crate) last_changed: Timestamp,
    pub(crate) last_updated: Timestamp,
    /// The id inside the entry (no heap block of its own).
    pub(crate) context: StoredContext,
    /// Index of the entity's domain in the store's domain table.
    pub(crate) domain: u32,
    /// Position of this entry's slot in its domain's member list.
    pub(crate) domain_pos: u32,
}

/// Overwrites the state text with `src`, reusing its buffer (state texts are short and change
/// often; reusing the buffer keeps the hot path free of allocations).
fn assign_state(dst: &mut CompactString, src: &str) {
    dst.clear();
    dst.push_str(src);
}

impl Entry {
    /// An empty entry for `id`, to be filled by [`FullState::write_into`].
    pub(crate) fn empty(id: EntityId) -> Self {
        Entry {
            id,
            state: CompactString::default(),
            attrs: Attrs::default(),
            last_changed: Timestamp::default(),
            last_updated: Timestamp::default(),
            context: StoredContext::default(),
            domain: 0,
            domain_pos: 0,
        }
    }

    /// Whether the entry holds exactly these attributes (order ignored, values compared as JSON).
    fn holds_attributes<'v>(&self, attrs: impl ExactSizeIterator<Item = (&'v str, &'v str)> + Clone) -> bool {
        self.attrs.same_as(attrs)
    }

    /// Applies a `c` entry with Home Assistant's merge rules:
    /// `+.s` sets the state; `+.lc` sets last_changed and last_updated, else `+.lu` sets
    /// last_updated; `+.c` as a string replaces the context id only, as an object the fields it
    /// names; `+.a` merges attributes; then `-.a` removes attribute keys.
    pub(crate) fn apply_diff(&mut self, diff: &StateDiff<'_>, shapes: &mut Shapes) {
        if let Some(add) = &diff.additions {
            if let Some(state) = &add.state {
                assign_state(&mut self.state, state);
            }
            if let Some(lc) = add.last_changed {
                self.last_changed = lc;
                self.last_updated = lc;
            } else if let Some(lu) = add.last_updated {
                self.last_updated = lu;
            }
            if let Some(ctx) = &add.context {
                self.context.apply(ctx);
            }
            if let Some(attrs) = &add.attributes {
                for (k, v) in &attrs.0 {
                    self.attrs.set(k, v.get(), shapes);
                }
            }
        }
        if let Some(removals) = &diff.removals {
            for k in &removals.attributes {
                self.attrs.remove(k, shapes);
            }
        }
    }

    /// Same entity content (everything but the store's own bookkeeping). Attribute order is
    /// ignored and values compare as JSON.
    pub(crate) fn same_content(&self, other: &Entry) -> bool {
        self.id == other.id
            && self.state == other.state
            && self.last_changed == other.last_changed
            && self.last_updated == other.last_updated
            && self.context == other.context
            && other.attrs.same_as(self.attrs.iter())
    }

    /// The full state (with `last_reported: None`).
    pub(crate) fn to_state(&self) -> State {
        let mut attributes = Attributes::new();
        for (k, v) in self.attrs.iter() {
            attributes.insert(k, owned_raw(v));
        }
        State {
            entity_id: self.id.clone(),
            state: self.state.as_str().to_owned(),
            attributes,
            last_changed: self.last_changed,
            last_reported: None,
            last_updated: self.last_updated,
            context: self.context.to_context(),
        }
    }

    /// Heap owned by this entry alone. The entity id is counted here (the index holds no copy);
    /// attribute key lists are interned and counted by the store's `Shapes`.
    pub(crate) fn heap_bytes(&self) -> usize {
        heap::arc_str(self.id.as_str())
            + if self.state.is_heap_allocated() { heap::buffer::<u8>(self.state.capacity()) } else { 0 }
            + self.attrs.heap_bytes()
            + self.context.heap_bytes()
    }
}

/// A full state from any feed: a [`State`] (`get_states`, REST, `state_changed`) or an `a`
/// entry of a compressed event. Lets snapshots and upserts share one code path.
pub(crate) trait FullState {
    fn entity_id(&self) -> &str;
    fn owned_id(&self) -> EntityId;
    fn validate(&self) -> Result<(), StateError>;
    /// Whether `entry` already holds exactly this state.
    fn same_as(&self, entry: &Entry) -> bool;
    /// Overwrites every field of `entry` but its id and bookkeeping.
    fn write_into(self, entry: &mut Entry, shapes: &mut Shapes);
}

impl FullState for State {
    fn entity_id(&self) -> &str {
        self.entity_id.as_str()
    }

    fn owned_id(&self) -> EntityId {
        self.entity_id.clone()
    }

    fn validate(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn same_as(&self, e: &Entry) -> bool {
        self.state == e.state
            && self.last_changed == e.last_changed
            && self.last_updated == e.last_updated
            && held_context(&e.context, &self.context)
            && e.holds_attributes(self.attributes.iter().map(|(k, v)| (k, v.get())))
    }

    fn write_into(self, e: &mut Entry, shapes: &mut Shapes) {
        assign_state(&mut e.state, &self.state);
        e.last_changed = self.last_changed;
        e.last_updated = self.last_updated;
        e.context.set(&self.context.id, self.context.parent_id.as_deref(), self.context.user_id.as_deref());
        let attrs = self.attributes.iter().map(|(k, v)| (k, v.get()));
        e.attrs.replace(attrs, shapes);
    }
}

impl FullState for (&EntityKey<'_>, &CompressedState<'_>) {
    fn entity_id(&self) -> &str {
        self.0.as_str()
    }

    fn owned_id(&self) -> EntityId {
        self.0.to_entity_id()
    }

    fn validate(&self) -> Result<(), StateError> {
        match self.1.context.id {
            Some(_) => Ok(()),
            None => Err(StateError::MissingContextId { entity_id: self.0.to_entity_id() }),
        }
    }

    fn same_as(&self, e: &Entry) -> bool {
        let cs = self.1;
        let ctx = &cs.context;
        cs.state == e.state
            && cs.last_changed == e.last_changed
            && cs.last_updated.unwrap_or(cs.last_changed) == e.last_updated
            && ctx.id.as_deref().is_some_and(|id| e.context.is(id, nullable(&ctx.parent_id), nullable(&ctx.user_id)))
            && e.holds_attributes(cs.attributes.0.iter().map(|(k, v)| (&**k, v.get())))
    }

    fn write_into(self, e: &mut Entry, shapes: &mut Shapes) {
        let cs = self.1;
        assign_state(&mut e.state, &cs.state);
        e.last_changed = cs.last_changed;
        e.last_updated = cs.last_updated.unwrap_or(cs.last_changed);
        let ctx = &cs.context;
        e.context.set(ctx.id.as_deref().unwrap_or_default(), nullable(&ctx.parent_id), nullable(&ctx.user_id));
        let attrs = cs.attributes.0.iter().map(|(k, v)| (&**k, v.get()));
        e.attrs.replace(attrs, shapes);
    }
}

/// A borrowed full state (`new_state` of a `state_changed` event) written into an entry it may
/// already be: every buffer of the entry is reused, and an attribute value is copied only when
/// its text differs from the one held (so an update that changes one attribute allocates once).
impl FullState for &StateView<'_> {
    fn entity_id(&self) -> &str {
        self.entity_id.as_str()
    }

    fn owned_id(&self) -> EntityId {
        self.entity_id.to_entity_id()
    }

    fn validate(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn same_as(&self, e: &Entry) -> bool {
        self.state == e.state
            && self.last_changed == e.last_changed
            && self.last_updated == e.last_updated
            && e.context.is(&self.context.id, self.context.parent_id.as_deref(), self.context.user_id.as_deref())
            && e.holds_attributes(self.attributes.0.iter().map(|(k, v)| (&**k, v.get())))
    }

    fn write_into(self, e: &mut Entry, shapes: &mut Shapes) {
        assign_state(&mut e.state, &self.state);
        e.last_changed = self.last_changed;
        e.last_updated = self.last_updated;
        e.context.set(&self.context.id, self.context.parent_id.as_deref(), self.context.user_id.as_deref());
        let attrs = self.attributes.0.iter().map(|(k, v)| (&**k, v.get()));
        // Usually the same keys in the same order as held: then only changed values are copied.
        if e.attrs.has_keys_in_order(attrs.clone().map(|(k, _)| k)) {
            e.attrs.set_values_in_order(attrs.map(|(_, v)| v));
        } else {
            e.attrs.replace(attrs, shapes);
        }
    }
}

/// An entry of another store (a snapshot decoded into a mirror of its own first) written into
/// this one; attribute keys are interned again, in this store's interner.
impl FullState for &Entry {
    fn entity_id(&self) -> &str {
        self.id.as_str()
    }

    fn owned_id(&self) -> EntityId {
        self.id.clone()
    }

    fn validate(&self) -> Result<(), StateError> {
        Ok(())
    }

    fn same_as(&self, e: &Entry) -> bool {
        self.same_content(e)
    }

    fn write_into(self, e: &mut Entry, shapes: &mut Shapes) {
        assign_state(&mut e.state, &self.state);
        e.last_changed = self.last_changed;
        e.last_updated = self.last_updated;
        e.context.clone_from(&self.context);
        e.attrs.replace(self.attrs.iter(), shapes);
    }
}

/// Whether `held` is `context`.
fn held_context(held: &StoredContext, context: &Context) -> bool {
    held.is(&context.id, context.parent_id.as_deref(), context.user_id.as_deref())
}

/// A context field of a full compressed state: absent and `null` both mean none.
fn nullable<'s>(field: &'s Option<Option<Cow<'_, str>>>) -> Option<&'s str> {
    field.as_ref().and_then(|v| v.as_deref())
}

/// A read-only view of one stored entity; copying it is free.
///
/// Everything is borrowed from the store; [`to_state`](Self::to_state) materialises an owned
/// [`State`] (with `last_reported: None`, which the mirror never holds).
#[derive(Clone, Copy)]
pub struct EntityRef<'a> {
    entry: &'a Entry,
}

impl<'a> EntityRef<'a> {
    #[inline]
    pub(crate) fn new(entry: &'a Entry) -> Self {
        EntityRef { entry }
    }

    /// The entity id.
    pub fn entity_id(&self) -> &'a EntityId {
        &self.entry.id
    }

    /// The domain, e.g. `light` for `light.kitchen`.
    pub fn domain(&self) -> &'a str {
        self.entry.id.domain()
    }

    /// The state text.
    #[inline]
    pub fn state(&self) -> &'a str {
        &self.entry.state
    }

    /// One attribute's raw JSON, `None` when absent: `.get()` gives the text, `.decode()` a value.
    pub fn attribute(&self, key: &str) -> Option<AttributeValue<'a>> {
        self.entry.attrs.get(key).map(AttributeValue::new)
    }

    /// Every attribute as key and raw JSON, in the order received.
    pub fn attributes(&self) -> impl ExactSizeIterator<Item = (&'a str, AttributeValue<'a>)> + 'a {
        self.entry.attrs.iter().map(|(k, v)| (k, AttributeValue::new(v)))
    }

    /// Number of attributes.
    pub fn attribute_count(&self) -> usize {
        self.entry.attrs.len()
    }

    /// When the state text last changed.
    pub fn last_changed(&self) -> Timestamp {
        self.entry.last_changed
    }

    /// When the state or the attributes last changed.
    pub fn last_updated(&self) -> Timestamp {
        self.entry.last_updated
    }

    /// What caused the last change, borrowed ([`ContextView::to_context`] gives an owned copy).
    pub fn context(&self) -> ContextView<'a> {
        self.entry.context.view()
    }

    /// The full state, owned (`last_reported: None`).
    pub fn to_state(&self) -> State {
        self.entry.to_state()
    }

    /// Heap bytes this entity holds on its own (shared attribute keys not included).
    pub fn approx_heap_bytes(&self) -> usize {
        self.entry.heap_bytes() + size_of::<Entry>()
    }
}

impl fmt::Debug for EntityRef<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Attrs<'e>(&'e Entry);
        impl fmt::Debug for Attrs<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_map().entries(self.0.attrs.iter()).finish()
            }
        }
        let e = self.entry;
        f.debug_struct("EntityRef")
            .field("entity_id", &e.id)
            .field("state", &e.state)
            .field("attributes", &Attrs(e))
            .field("last_changed", &e.last_changed)
            .field("last_updated", &e.last_updated)
            .field("context", &e.context)
            .finish()
    }
}

/// Equal when the entities' content is equal (attribute order ignored, values as JSON).
impl PartialEq for EntityRef<'_> {
    fn eq(&self, other: &Self) -> bool {
        self.entry.same_content(other.entry)
    }
}
