//! What an update did to the store: ids added, updated, removed and skipped, and (on request)
//! each entity's state before and after.

use ha_proto::{EntityId, State};

/// What one update (a snapshot, a compressed event or a `state_changed` event) did.
///
/// The id lists are always filled; they cost one reference-count increment per entity.
/// [`changes`](Self::changes) is filled only when the store was built with
/// [`StoreConfig::record_changes`](crate::StoreConfig::record_changes), because materialising
/// full states copies every attribute and would dominate the hot path.
///
/// Which entities count as updated:
/// - incremental updates ([`apply_compressed`](crate::EntityStore::apply_compressed),
///   [`apply_state_changed`](crate::EntityStore::apply_state_changed)) list every entity they
///   wrote, even when the new content equals the old one;
/// - replacements ([`replace_from_states`](crate::EntityStore::replace_from_states),
///   [`replace_from_compressed`](crate::EntityStore::replace_from_compressed)) list only entities
///   whose content differs, so a reconnect reports what changed while the client was away.
///
/// Order: `added` and `updated` follow the input; `removed` is sorted by entity id for
/// replacements and follows the input otherwise. An id that appears twice in one input may be
/// listed twice.
#[derive(Debug, Clone, Default, PartialEq)]
#[non_exhaustive]
pub struct ChangeReport {
    /// Entities the store did not hold before.
    pub added: Vec<EntityId>,
    /// Entities the store held and rewrote.
    pub updated: Vec<EntityId>,
    /// Entities the store held and dropped.
    pub removed: Vec<EntityId>,
    /// Changes (`c`) and removals (`r`, or `state_changed` with `new_state: null`) for entities
    /// the store did not hold; they were skipped. Non-empty means the mirror and the server
    /// disagree (a lost message or a bug): a careful caller resubscribes.
    pub unknown: Vec<EntityId>,
    /// Old and new state of every added, updated and removed entity, in the order applied.
    /// Empty unless the store records changes.
    pub changes: Vec<Change>,
}

impl ChangeReport {
    /// An empty report.
    pub fn new() -> Self {
        ChangeReport::default()
    }

    /// Whether the update added, updated or removed nothing (skipped ids do not count).
    pub fn is_empty(&self) -> bool {
        self.added.is_empty() && self.updated.is_empty() && self.removed.is_empty()
    }

    /// Number of entities added, updated or removed (an entity listed twice counts twice).
    pub fn len(&self) -> usize {
        self.added.len() + self.updated.len() + self.removed.len()
    }

    /// Empties every list but keeps their capacity, for reuse with the `_into` methods.
    pub fn clear(&mut self) {
        self.added.clear();
        self.updated.clear();
        self.removed.clear();
        self.unknown.clear();
        self.changes.clear();
    }
}

/// One entity's state before and after an update, as the mirror holds it (so
/// `last_reported` is always `None`, whichever feed the update came from).
#[derive(Debug, Clone, PartialEq)]
pub struct Change {
    /// Which entity.
    pub entity_id: EntityId,
    /// The state before; `None` when the update added the entity.
    pub old: Option<State>,
    /// The state after; `None` when the update removed the entity.
    pub new: Option<State>,
}

impl Change {
    /// Whether the update added the entity.
    pub fn is_added(&self) -> bool {
        self.old.is_none()
    }

    /// Whether the update removed the entity.
    pub fn is_removed(&self) -> bool {
        self.new.is_none()
    }
}
