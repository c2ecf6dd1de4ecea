//! The one error type of ha-state: input the mirror refuses to apply.

use ha_proto::EntityId;

/// Why an update was refused. A refused update leaves the store untouched: every check runs
/// before the first entity is written.
///
/// Not an error: a `c` (change) or `r` (removal) for an entity the store does not hold. That is
/// tolerated the way Home Assistant's own JavaScript client tolerates it (skip it, keep going);
/// the id is listed in [`ChangeReport::unknown`](crate::ChangeReport::unknown) and counted by
/// [`EntityStore::unknown_changes`](crate::EntityStore::unknown_changes), so a caller that wants
/// to resynchronise on divergence can.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum StateError {
    /// [`EntityStore::replace_from_compressed`](crate::EntityStore::replace_from_compressed) was
    /// given an event with changes or removals. The first `subscribe_entities` event holds only
    /// `a`; replacing the store with a later event would silently drop almost every entity.
    #[error("not a snapshot: the event holds {changed} changed and {removed} removed entities besides the added ones")]
    NotASnapshot {
        /// Number of `c` entries.
        changed: usize,
        /// Number of `r` entries.
        removed: usize,
    },
    /// The text given to
    /// [`EntityStore::replace_from_compressed_text`](crate::EntityStore::replace_from_compressed_text)
    /// is not a compressed-state event.
    #[error("snapshot text: {0}")]
    Decode(#[from] ha_proto::ProtoError),
    /// A full compressed state (an `a` entry) whose context is an object without `id`.
    #[error("entity {entity_id} has a context without an id")]
    MissingContextId {
        /// The entity whose state was refused.
        entity_id: EntityId,
    },
}
