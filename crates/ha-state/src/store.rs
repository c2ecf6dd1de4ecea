//! [`EntityStore`]: the entity mirror, its slot table, id index and domain index.
//!
//! Layout: entries live in a slot table (`slots`, holes reused through `free`), so an entry
//! never moves while it exists. `index` maps an entity id to its slot; each domain keeps the
//! list of its slots, and each entry remembers its position in that list, so adding and
//! removing stay O(1) and a domain query touches only that domain's entities.

use std::fmt;
use std::mem::size_of;

use ha_proto::{CompressedEvent, EntityId, State, StateChange, StateChangedData, StateView};

use crate::entry::{EntityRef, Entry, FullState};
use crate::error::StateError;
use crate::hash::FastMap;
use crate::heap;
use crate::index::{self, IdIndex};
use crate::prefetch;
use crate::report::{Change, ChangeReport};
use crate::shapes::Shapes;

/// Ids [`EntityStore::prefetch`] asks for at once: enough to cover the misses a CPU can have in
/// flight, few enough for the batch to live on the stack.
const PREFETCH_BATCH: usize = 32;

/// Changes of one frame that [`EntityStore::prefetch_frame`] prefetches at most.
const PREFETCH_MAX_FRAME_IDS: usize = 256;

/// Bytes below which [`EntityStore::prefetch_frame`] does nothing.
const PREFETCH_MIN_FRAME: usize = 2048;

/// Entities below which [`EntityStore::prefetch`] does nothing.
const PREFETCH_MIN_ENTITIES: usize = 4096;

/// How a store behaves.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StoreConfig {
    /// Fill [`ChangeReport::changes`] with every entity's full state before and after each
    /// update. Off by default: it copies every touched entity twice.
    pub record_changes: bool,
}

#[derive(Debug, Clone, Default)]
struct Domain {
    name: Box<str>,
    /// Slots of the entities in this domain, in no particular order.
    members: Vec<u32>,
}

/// A mirror of Home Assistant's entity states.
///
/// Fed by a snapshot ([`replace_from_states`](Self::replace_from_states) with a `get_states`
/// result, or [`replace_from_compressed`](Self::replace_from_compressed) with the first
/// `subscribe_entities` event), then by updates ([`apply_compressed`](Self::apply_compressed)
/// or [`apply_state_changed`](Self::apply_state_changed)). Every update returns a
/// [`ChangeReport`].
///
/// The mirror does not hold `last_reported`: the compressed feed does not carry it, and the
/// store must be identical whichever feed built it. Everything the store hands out has
/// `last_reported: None`.
///
/// Pure: no I/O, no clock, no async, no interior mutability; clone it to keep a copy.
#[derive(Clone, Default)]
pub struct EntityStore {
    slots: Vec<Option<Entry>>,
    free: Vec<u32>,
    index: IdIndex,
    domains: Vec<Domain>,
    domain_index: FastMap<Box<str>, u32>,
    shapes: Shapes,
    config: StoreConfig,
    unknown_changes: u64,
}

impl EntityStore {
    /// An empty store that does not record changes.
    pub fn new() -> Self {
        EntityStore::default()
    }

    /// An empty store with the given configuration.
    pub fn with_config(config: StoreConfig) -> Self {
        EntityStore { config, ..EntityStore::default() }
    }

    /// The configuration.
    pub fn config(&self) -> StoreConfig {
        self.config
    }

    /// Changes the configuration; it applies from the next update on.
    pub fn set_config(&mut self, config: StoreConfig) {
        self.config = config;
    }

    /// Number of entities.
    pub fn len(&self) -> usize {
        self.index.len()
    }

    /// Whether the store holds no entity.
    pub fn is_empty(&self) -> bool {
        self.index.is_empty()
    }

    /// How many changes and removals for entities the store did not hold were skipped since
    /// the store was created (see [`ChangeReport::unknown`]).
    pub fn unknown_changes(&self) -> u64 {
        self.unknown_changes
    }

    /// Number of distinct attribute keys the store holds (each is stored once, shared by
    /// every entity that has it).
    pub fn distinct_attribute_keys(&self) -> usize {
        self.shapes.key_count()
    }

    // ---- feeding ----

    /// Replaces everything with a `get_states` result (or a REST `GET /api/states` list):
    /// entities absent from `states` are removed. `last_reported` is dropped.
    ///
    /// The report lists added and removed entities and those whose content differs.
    pub fn replace_from_states(&mut self, states: Vec<State>) -> ChangeReport {
        let mut report = ChangeReport::new();
        self.replace_with(states, &mut report);
        report
    }

    /// [`replace_from_states`](Self::replace_from_states) for states borrowed from the frame
    /// (`ha_proto::parse_state_views`): the same result without decoding an owned [`State`]
    /// first, so no text or value is allocated twice.
    pub fn replace_from_state_views(&mut self, states: &[StateView<'_>]) -> ChangeReport {
        let mut report = ChangeReport::new();
        self.replace_with(states, &mut report);
        report
    }

    /// Replaces everything with the first event of a `subscribe_entities` subscription, whose
    /// `a` map is the snapshot. Entities absent from it are removed: after a reconnect the new
    /// snapshot never says `r` for entities deleted meanwhile, so merging would keep them.
    ///
    /// Fails, leaving the store untouched, when the event also holds `c` or `r` entries (it is
    /// not a snapshot) or a state is invalid.
    pub fn replace_from_compressed(&mut self, event: &CompressedEvent<'_>) -> Result<ChangeReport, StateError> {
        if !event.changed.is_empty() || !event.removed.is_empty() {
            return Err(StateError::NotASnapshot { changed: event.changed.len(), removed: event.removed.len() });
        }
        validate_added(event)?;
        let mut report = ChangeReport::new();
        self.replace_with(event.added.iter().map(|(k, s)| (k, s)), &mut report);
        Ok(report)
    }

    /// [`replace_from_compressed`](Self::replace_from_compressed) from the event's text (the
    /// `event` object of the message, e.g. from [`ha_proto::lone_event_payload`]):
    /// [`decode_snapshot`](Self::decode_snapshot) then
    /// [`replace_from_snapshot`](Self::replace_from_snapshot). The decoded snapshot never exists
    /// as a whole, which saves about 8 MB at the peak and a fifth of the time for 16,384 entities.
    ///
    /// Fails, leaving the store untouched, when the text is not a compressed event
    /// ([`StateError::Decode`]), holds `c` or `r` entries, or a state is invalid.
    pub fn replace_from_compressed_text(&mut self, json: &str) -> Result<ChangeReport, StateError> {
        let snapshot = Self::decode_snapshot(json)?;
        Ok(self.replace_from_snapshot(snapshot))
    }

    /// Decodes the text of a `subscribe_entities` snapshot event one entity at a time
    /// ([`ha_proto::parse_snapshot_each`]) into a mirror of its own, without touching any store:
    /// a client can decode while readers still use the old mirror, and then hold the write lock
    /// only for [`replace_from_snapshot`](Self::replace_from_snapshot).
    ///
    /// Fails when the text is not a compressed event ([`StateError::Decode`]), holds `c` or `r`
    /// entries ([`StateError::NotASnapshot`]), or a state is invalid.
    pub fn decode_snapshot(json: &str) -> Result<Snapshot, StateError> {
        let mut store = EntityStore::new();
        // The index sized up front from the text (a compressed state takes some 250 bytes or
        // more), so that it is not rehashed as it grows: 2% of the snapshot's instructions. Its
        // bucket count is a power of two either way, so an estimate a little high costs nothing
        // more; the slots grow as they fill (reserving them too raised the peak heap by 7%).
        store.index.reserve(json.len() / 250);
        let mut report = ChangeReport::new();
        let mut refused = None;
        let rest = ha_proto::parse_snapshot_each(json, |key, state| {
            let src = (&key, state);
            match src.validate() {
                Ok(()) => {
                    store.put(src, &mut report);
                    true
                }
                Err(e) => {
                    refused = Some(e);
                    false
                }
            }
        })?;
        let Some(rest) = rest else {
            return Err(refused.expect("decoding stops only on a refused state"));
        };
        if rest.changed > 0 || rest.removed > 0 {
            return Err(StateError::NotASnapshot { changed: rest.changed, removed: rest.removed });
        }
        Ok(Snapshot { store, report })
    }

    /// Decodes a state list (a `get_states` result, a `GET /api/states` body) one state at a
    /// time ([`ha_proto::parse_state_views_each`]) into a mirror of its own, as
    /// [`decode_snapshot`](Self::decode_snapshot) does for a `subscribe_entities` snapshot: the
    /// decoded list never exists as a whole, and [`replace_from_snapshot`](Self::replace_from_snapshot)
    /// then gives the store and report that
    /// [`replace_from_state_views`](Self::replace_from_state_views) gives.
    ///
    /// Fails when the text is not a state list ([`StateError::Decode`]).
    pub fn decode_state_list(json: &str) -> Result<Snapshot, StateError> {
        let ((), snapshot) = Self::decode_states(json.len(), |put| ha_proto::parse_state_views_each(json, put))?;
        Ok(snapshot)
    }

    /// [`decode_state_list`](Self::decode_state_list) from the frame that holds the answer to
    /// `get_states`, in one pass over the frame ([`ha_proto::parse_state_list_result_each`]):
    /// parsing the frame with `Frame::parse` first would check the whole list once more.
    ///
    /// `Ok(Some((id, snapshot)))` for one successful result holding a state list (`id` is the
    /// command's); `Ok(None)` for any other frame, which is left to `Frame::parse`; fails when the
    /// frame is not JSON or its list is not a state list ([`StateError::Decode`]).
    pub fn decode_state_list_result(frame: &str) -> Result<Option<(u64, Snapshot)>, StateError> {
        let (id, snapshot) =
            Self::decode_states(frame.len(), |put| ha_proto::parse_state_list_result_each(frame, put))?;
        Ok(id.map(|id| (id, snapshot)))
    }

    /// A mirror of its own for the states `read` hands to the `put` it is given, sized for
    /// `json_len` bytes of state list.
    fn decode_states<R>(
        json_len: usize,
        read: impl FnOnce(&mut dyn FnMut(&StateView<'_>)) -> Result<R, ha_proto::ProtoError>,
    ) -> Result<(R, Snapshot), StateError> {
        let mut store = EntityStore::new();
        // A full state takes some 500 bytes of JSON or more (see `decode_snapshot`).
        store.index.reserve(json_len / 500);
        let mut report = ChangeReport::new();
        let out = read(&mut |view| {
            store.put(view, &mut report);
        })?;
        Ok((out, Snapshot { store, report }))
    }

    /// Replaces everything with a decoded snapshot, with the report
    /// [`replace_from_compressed`](Self::replace_from_compressed) gives: an empty store takes the
    /// snapshot's mirror as it is; a loaded one is merged (entities whose content is unchanged
    /// keep their buffers, the absent ones go).
    pub fn replace_from_snapshot(&mut self, snapshot: Snapshot) -> ChangeReport {
        let Snapshot { store: mut fresh, report: mut added } = snapshot;
        // A snapshot that names an entity twice (legal JSON, never sent) is merged, so that the
        // report is built as `replace_from_compressed` builds it.
        if self.is_empty() && added.updated.is_empty() {
            if self.config.record_changes {
                added.changes = fresh
                    .iter()
                    .map(|e| Change { entity_id: e.entity_id().clone(), old: None, new: Some(e.to_state()) })
                    .collect();
            }
            fresh.config = self.config;
            fresh.unknown_changes = self.unknown_changes;
            *self = fresh;
            return added;
        }
        let mut report = ChangeReport::new();
        self.replace_with(fresh.slots.iter().flatten(), &mut report);
        report
    }

    /// Applies a later `subscribe_entities` event with Home Assistant's merge rules.
    ///
    /// Order within the event, as Home Assistant's JavaScript client does it: `a` (an entry for
    /// an id the store holds replaces it whole), then `r`, then `c` (merged, see the crate
    /// docs). `c` and `r` entries for entities the store does not hold are skipped and listed in
    /// [`ChangeReport::unknown`].
    ///
    /// Fails, leaving the store untouched, when an `a` entry is invalid.
    pub fn apply_compressed(&mut self, event: &CompressedEvent<'_>) -> Result<ChangeReport, StateError> {
        let mut report = ChangeReport::new();
        self.apply_compressed_into(event, &mut report)?;
        Ok(report)
    }

    /// [`apply_compressed`](Self::apply_compressed) appending to a caller-owned report, so a
    /// loop that reuses one report (clearing it in between) does not allocate per event.
    /// On error nothing is appended.
    pub fn apply_compressed_into(
        &mut self,
        event: &CompressedEvent<'_>,
        report: &mut ChangeReport,
    ) -> Result<(), StateError> {
        validate_added(event)?;
        if event.changed.len() > 1 {
            self.prefetch(event.changed.iter().map(|(key, _)| key.as_str()));
        }
        for (key, state) in &event.added {
            self.upsert((key, state), report);
        }
        for key in &event.removed {
            if !self.remove_id(key.as_str(), report) {
                self.skip_unknown(key.to_entity_id(), report);
            }
        }
        let record = self.config.record_changes;
        for (key, diff) in &event.changed {
            let Some(slot) = self.slot_of(key.as_str()) else {
                self.skip_unknown(key.to_entity_id(), report);
                continue;
            };
            let entry = live_mut(&mut self.slots, slot);
            let old = record.then(|| entry.to_state());
            entry.apply_diff(diff, &mut self.shapes);
            report.updated.push(entry.id.clone());
            if record {
                report.changes.push(Change { entity_id: entry.id.clone(), old, new: Some(entry.to_state()) });
            }
        }
        Ok(())
    }

    /// Applies the data of a `state_changed` event: `new_state: null` removes the entity,
    /// otherwise `new_state` replaces it whole (or adds it).
    ///
    /// Whether the entity counts as added or updated depends on whether the store held it, not
    /// on `old_state` (which the store does not need): the two agree on a consistent stream,
    /// and the store's view is the one that keeps the report truthful when they do not. The
    /// entity is keyed by `new_state.entity_id` when there is a new state, else by `entity_id`.
    pub fn apply_state_changed(&mut self, data: StateChangedData) -> ChangeReport {
        let mut report = ChangeReport::new();
        self.apply_state_changed_into(data, &mut report);
        report
    }

    /// [`apply_state_changed`](Self::apply_state_changed) appending to a caller-owned report.
    pub fn apply_state_changed_into(&mut self, data: StateChangedData, report: &mut ChangeReport) {
        match data.new_state {
            Some(state) => self.upsert(state, report),
            None => {
                if !self.remove_id(data.entity_id.as_str(), report) {
                    self.skip_unknown(data.entity_id, report);
                }
            }
        }
    }

    /// [`apply_state_changed_into`](Self::apply_state_changed_into) for the borrowed data that
    /// [`ha_proto::StateChangedFrame::parse`] or [`ha_proto::Event::state_change`] give, with
    /// the same rules. An entity the store holds is updated in place: its buffers are reused
    /// and only attribute values whose text changed are copied, so an update allocates nothing
    /// else (an entity that is added is allocated, as it must be).
    pub fn apply_state_change_into(&mut self, change: &StateChange<'_>, report: &mut ChangeReport) {
        match &change.new_state {
            Some(state) => self.upsert(state, report),
            None => {
                if !self.remove_id(change.entity_id.as_str(), report) {
                    self.skip_unknown(change.entity_id.to_entity_id(), report);
                }
            }
        }
    }

    /// Asks the CPU to start loading what applying changes to the entities `ids` will read:
    /// their index buckets, entries, id texts and attribute buffers, for all of them at once.
    /// Applying then finds them in the caches instead of waiting for memory once per lookup.
    ///
    /// A hint for a batch of updates whose ids are known before they are decoded (the changes of
    /// a coalesced frame, found with [`ha_proto::changed_id_hints`]): it changes nothing, reads
    /// nothing it returns, and ignores ids the store does not hold, so a wrong guess costs only
    /// time. Worth it when the mirror is not in the caches (a client between frames) and there
    /// are several ids; a warm mirror gains nothing.
    ///
    /// Does nothing for a store of fewer than 4,096 entities: such a mirror (about 1 MB with its
    /// index and texts, less for smaller ones) tends to stay in a core's own cache between frames,
    /// and the hint would cost its instructions for nothing.
    pub fn prefetch<'i>(&self, ids: impl IntoIterator<Item = &'i str>) {
        if self.len() < PREFETCH_MIN_ENTITIES {
            return;
        }
        let mut batch = [""; PREFETCH_BATCH];
        let mut n = 0;
        for id in ids {
            batch[n] = id;
            n += 1;
            if n == PREFETCH_BATCH {
                self.prefetch_batch(&batch);
                n = 0;
            }
        }
        self.prefetch_batch(&batch[..n]);
    }

    /// [`prefetch`](Self::prefetch) of the entities a WebSocket text frame changes, guessed with
    /// [`ha_proto::changed_id_hints`], when the frame is a coalesced array of at least 2 KiB
    /// (about a dozen changes): what Home Assistant and ha-sim send under load. Call it before
    /// decoding and applying the frame. A shorter frame changes too few entities for their
    /// overlapped misses to repay the search and the prefetch's own cold code.
    ///
    /// Only the first 256 changes of a frame are prefetched (some 80 KB of lines): a backlog frame
    /// of thousands would fill the caches before its first change is applied and evict what it
    /// fetched.
    pub fn prefetch_frame(&self, frame: &str) {
        if Self::prefetches_frame(frame) {
            self.prefetch(ha_proto::changed_id_hints(frame).take(PREFETCH_MAX_FRAME_IDS));
        }
    }

    /// Whether [`prefetch_frame`](Self::prefetch_frame) acts on `frame` at all (a coalesced
    /// array of at least 2 KiB), so that a caller can skip taking the store's lock for it.
    pub fn prefetches_frame(frame: &str) -> bool {
        frame.len() >= PREFETCH_MIN_FRAME && frame.starts_with('[')
    }

    /// [`prefetch`](Self::prefetch) of up to [`PREFETCH_BATCH`] ids in three rounds, each asking
    /// for every id's next line before waiting for any: the buckets, then the entries (whose
    /// slots the buckets give), then the texts the entries point to.
    fn prefetch_batch(&self, ids: &[&str]) {
        let mut tags = [0u32; PREFETCH_BATCH];
        for (tag, id) in tags.iter_mut().zip(ids) {
            *tag = index::tag(id);
            if let Some(bucket) = self.index.home(*tag) {
                prefetch::line(bucket);
            }
        }
        let mut slots = [None; PREFETCH_BATCH];
        for (slot, &tag) in slots.iter_mut().zip(&tags[..ids.len()]) {
            *slot = self.index.first_candidate(tag).and_then(|s| self.slots.get(s as usize));
            if let Some(entry) = slot {
                prefetch::line(*entry);
            }
        }
        for entry in slots[..ids.len()].iter().flatten().filter_map(|slot| slot.as_ref()) {
            // The entry's second and third lines (timestamps, context), then what it points to.
            prefetch::line(&entry.last_changed);
            prefetch::line(&entry.domain);
            prefetch::text(entry.id.as_str());
            entry.attrs.prefetch();
        }
    }

    // ---- queries ----

    /// The full state of one entity (`last_reported: None`).
    pub fn get(&self, entity_id: &str) -> Option<State> {
        self.entity(entity_id).map(|e| e.to_state())
    }

    /// A borrowed view of one entity (no copying).
    pub fn entity(&self, entity_id: &str) -> Option<EntityRef<'_>> {
        self.slot_of(entity_id).map(|slot| EntityRef::new(live(&self.slots, slot)))
    }

    /// Whether the store holds the entity.
    pub fn contains(&self, entity_id: &str) -> bool {
        self.slot_of(entity_id).is_some()
    }

    /// Every entity, in no particular order.
    pub fn iter(&self) -> impl Iterator<Item = EntityRef<'_>> {
        self.slots.iter().flatten().map(EntityRef::new)
    }

    /// The entities of one domain (`"light"`), in no particular order. Costs one map lookup
    /// plus the domain's own entities; an unknown domain gives nothing.
    /// The iterator borrows only the store, not `domain`.
    pub fn domain<'s>(&'s self, domain: &str) -> impl Iterator<Item = EntityRef<'s>> + use<'s> {
        let members = match self.domain_index.get(domain) {
            Some(&d) => &self.domains[d as usize].members[..],
            None => &[],
        };
        members.iter().map(|&slot| EntityRef::new(live(&self.slots, slot)))
    }

    /// The domains that hold at least one entity, sorted.
    pub fn domains(&self) -> Vec<&str> {
        let mut names: Vec<&str> = self.domains.iter().filter(|d| !d.members.is_empty()).map(|d| &*d.name).collect();
        names.sort_unstable();
        names
    }

    /// Every entity's full state, sorted by entity id (`last_reported: None`).
    pub fn to_states(&self) -> Vec<State> {
        let mut states: Vec<State> = self.iter().map(|e| e.to_state()).collect();
        states.sort_unstable_by(|a, b| a.entity_id.cmp(&b.entity_id));
        states
    }

    /// An estimate of the heap the store uses, in bytes: tables, entity ids, state texts,
    /// contexts, attribute values and the shared attribute keys, each allocation charged what
    /// a typical allocator uses for it. Walks every entity: O(entities + attributes).
    pub fn approx_heap_bytes(&self) -> usize {
        let tables = heap::buffer::<Option<Entry>>(self.slots.capacity())
            + heap::buffer::<u32>(self.free.capacity())
            + heap::buffer::<u64>(self.index.buckets())
            + heap::buffer::<Domain>(self.domains.capacity())
            + heap::hash_table::<(Box<str>, u32)>(self.domain_index.capacity());
        let domains: usize = self
            .domains
            .iter()
            .map(|d| heap::block(d.name.len()) * 2 + heap::buffer::<u32>(d.members.capacity()))
            .sum();
        let entries: usize = self.slots.iter().flatten().map(Entry::heap_bytes).sum();
        tables + domains + entries + self.shapes.heap_bytes()
    }

    // ---- internals ----

    /// The slot of the entity `id`.
    #[inline]
    fn slot_of(&self, id: &str) -> Option<u32> {
        self.index.find(index::tag(id), holds(&self.slots, id))
    }

    /// Takes `id` out of the index; returns the slot it named (still live).
    fn unindex(&mut self, id: &str) -> Option<u32> {
        self.index.remove(index::tag(id), holds(&self.slots, id))
    }

    fn skip_unknown(&mut self, id: EntityId, report: &mut ChangeReport) {
        self.unknown_changes += 1;
        report.unknown.push(id);
    }

    /// Adds or wholly replaces one entity.
    fn upsert<S: FullState>(&mut self, src: S, report: &mut ChangeReport) {
        let record = self.config.record_changes;
        match self.slot_of(src.entity_id()) {
            Some(slot) => {
                let entry = live_mut(&mut self.slots, slot);
                let old = record.then(|| entry.to_state());
                src.write_into(entry, &mut self.shapes);
                report.updated.push(entry.id.clone());
                if record {
                    report.changes.push(Change { entity_id: entry.id.clone(), old, new: Some(entry.to_state()) });
                }
            }
            None => {
                self.insert_new(src, report);
            }
        }
    }

    fn insert_new<S: FullState>(&mut self, src: S, report: &mut ChangeReport) -> u32 {
        // Written in its slot, not moved there once full: an entry is some 200 bytes.
        let slot = self.place(Entry::empty(src.owned_id()));
        let entry = live_mut(&mut self.slots, slot);
        src.write_into(entry, &mut self.shapes);
        let id = entry.id.clone();
        if self.config.record_changes {
            report.changes.push(Change { entity_id: id.clone(), old: None, new: Some(entry.to_state()) });
        }
        report.added.push(id);
        slot
    }

    /// Puts a new entry in a free slot and indexes it.
    fn place(&mut self, mut entry: Entry) -> u32 {
        let slot = match self.free.pop() {
            Some(slot) => slot,
            None => {
                // More than u32::MAX entities would need 100+ GB; Home Assistant sizes for 16,384.
                let slot = u32::try_from(self.slots.len()).expect("fewer than 2^32 entities");
                self.slots.push(None);
                slot
            }
        };
        let domain = self.domain_slot(entry.id.domain());
        let members = &mut self.domains[domain as usize].members;
        entry.domain = domain;
        entry.domain_pos = members.len() as u32;
        members.push(slot);
        self.index.insert(index::tag(entry.id.as_str()), slot);
        self.slots[slot as usize] = Some(entry);
        slot
    }

    fn domain_slot(&mut self, name: &str) -> u32 {
        if let Some(&d) = self.domain_index.get(name) {
            return d;
        }
        let d = self.domains.len() as u32;
        self.domains.push(Domain { name: name.into(), members: Vec::new() });
        self.domain_index.insert(name.into(), d);
        d
    }

    /// Removes one entity by id; false when the store does not hold it.
    fn remove_id(&mut self, id: &str, report: &mut ChangeReport) -> bool {
        match self.unindex(id) {
            Some(slot) => {
                self.remove_slot(slot, report);
                true
            }
            None => false,
        }
    }

    /// Frees a slot whose index entry is already gone and reports the removal.
    fn remove_slot(&mut self, slot: u32, report: &mut ChangeReport) {
        let entry = self.slots[slot as usize].take().expect("removed slot is live");
        let members = &mut self.domains[entry.domain as usize].members;
        members.swap_remove(entry.domain_pos as usize);
        if let Some(&moved) = members.get(entry.domain_pos as usize) {
            live_mut(&mut self.slots, moved).domain_pos = entry.domain_pos;
        }
        self.free.push(slot);
        if self.config.record_changes {
            report.changes.push(Change { entity_id: entry.id.clone(), old: Some(entry.to_state()), new: None });
        }
        report.removed.push(entry.id);
    }

    /// One state of a snapshot: added when new, written (and reported) only when it differs from
    /// what the store holds. Returns its slot.
    fn put<S: FullState>(&mut self, src: S, report: &mut ChangeReport) -> u32 {
        let Some(slot) = self.slot_of(src.entity_id()) else {
            return self.insert_new(src, report);
        };
        let record = self.config.record_changes;
        let entry = live_mut(&mut self.slots, slot);
        if !src.same_as(entry) {
            let old = record.then(|| entry.to_state());
            src.write_into(entry, &mut self.shapes);
            report.updated.push(entry.id.clone());
            if record {
                report.changes.push(Change { entity_id: entry.id.clone(), old, new: Some(entry.to_state()) });
            }
        }
        slot
    }

    /// Makes the store hold exactly `states`: mark every entity the snapshot names, then sweep
    /// the rest.
    fn replace_with<S: FullState>(&mut self, states: impl IntoIterator<Item = S>, report: &mut ChangeReport) {
        let states = states.into_iter();
        let mut seen = vec![false; self.slots.len()];
        if self.index.is_empty() {
            let (n, _) = states.size_hint();
            self.index.reserve(n);
            self.slots.reserve(n);
        }
        for src in states {
            let slot = self.put(src, report) as usize;
            if slot >= seen.len() {
                seen.resize(slot + 1, false);
            }
            seen[slot] = true;
        }
        let first_removed = report.removed.len();
        for slot in 0..self.slots.len() {
            if !seen.get(slot).copied().unwrap_or(false)
                && let Some(entry) = &self.slots[slot]
            {
                let id = entry.id.clone();
                self.unindex(id.as_str());
                self.remove_slot(slot as u32, report);
            }
        }
        report.removed[first_removed..].sort_unstable();
        self.shapes.prune();
    }
}

fn validate_added(event: &CompressedEvent<'_>) -> Result<(), StateError> {
    event.added.iter().try_for_each(|(k, s)| (k, s).validate())
}

#[inline]
fn live(slots: &[Option<Entry>], slot: u32) -> &Entry {
    slots[slot as usize].as_ref().expect("indexed slot is live")
}

/// Whether an index candidate is the entry of `id`: what confirms a tag match.
fn holds<'s>(slots: &'s [Option<Entry>], id: &'s str) -> impl Fn(u32) -> bool + 's {
    move |slot| live(slots, slot).id.as_str() == id
}

#[inline]
fn live_mut(slots: &mut [Option<Entry>], slot: u32) -> &mut Entry {
    slots[slot as usize].as_mut().expect("indexed slot is live")
}

impl FromIterator<State> for EntityStore {
    /// A store holding `states` (as [`EntityStore::replace_from_states`] on an empty store).
    fn from_iter<I: IntoIterator<Item = State>>(states: I) -> Self {
        let mut store = EntityStore::new();
        let mut report = ChangeReport::new();
        store.replace_with(states, &mut report);
        store
    }
}

/// Two stores are equal when they hold the same entities with the same content, however they
/// were fed (slot layout, configuration and counters are not compared).
/// A `subscribe_entities` snapshot decoded into a mirror of its own
/// ([`EntityStore::decode_snapshot`]), to replace a store's content with
/// ([`EntityStore::replace_from_snapshot`]).
#[derive(Debug)]
pub struct Snapshot {
    store: EntityStore,
    /// The entities as added to an empty store.
    report: ChangeReport,
}

impl Snapshot {
    /// Number of entities.
    pub fn len(&self) -> usize {
        self.store.len()
    }

    /// Whether the snapshot holds no entity.
    pub fn is_empty(&self) -> bool {
        self.store.is_empty()
    }
}

impl PartialEq for EntityStore {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|e| other.entity(e.entity_id().as_str()).is_some_and(|o| o == e))
    }
}

impl fmt::Debug for EntityStore {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        struct Entities<'s>(&'s EntityStore);
        impl fmt::Debug for Entities<'_> {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.debug_list().entries(self.0.iter()).finish()
            }
        }
        f.debug_struct("EntityStore")
            .field("len", &self.len())
            .field("config", &self.config)
            .field("unknown_changes", &self.unknown_changes)
            .field("entities", &Entities(self))
            .finish()
    }
}

// Keep the entry small: it is copied into the slot table once per added entity.
const _: () = assert!(size_of::<Option<Entry>>() == size_of::<Entry>());

#[cfg(test)]
mod tests {
    use ha_proto::{Context, EntityId, State, StateChangedData, Timestamp};
    use proptest::prelude::*;

    use super::*;

    const IDS: [&str; 6] = ["light.a", "light.b", "light.c", "sensor.a", "sensor.b", "switch.a"];

    fn state(id: &str) -> State {
        State {
            entity_id: EntityId::new(id).unwrap(),
            state: "on".into(),
            attributes: Default::default(),
            last_changed: Timestamp::from_micros(0),
            last_reported: None,
            last_updated: Timestamp::from_micros(0),
            context: Context::from_id("c"),
        }
    }

    /// The bookkeeping every public method relies on.
    fn check_invariants(store: &EntityStore) {
        let live = store.slots.iter().flatten().count();
        assert_eq!(live, store.index.len(), "index and slots disagree");
        assert_eq!(live + store.free.len(), store.slots.len(), "free list misses or repeats slots");
        for &slot in &store.free {
            assert!(store.slots[slot as usize].is_none(), "free slot {slot} is live");
        }
        for slot in store.index.slots() {
            let id = entry_at(store, slot).id.as_str();
            assert_eq!(store.slot_of(id), Some(slot), "index does not find {id} at its slot");
        }
        let mut members = 0;
        for (d, domain) in store.domains.iter().enumerate() {
            assert_eq!(store.domain_index[&domain.name], d as u32);
            for (pos, &slot) in domain.members.iter().enumerate() {
                let entry = entry_at(store, slot);
                assert_eq!((entry.domain, entry.domain_pos), (d as u32, pos as u32));
                assert_eq!(entry.id.domain(), &*domain.name);
            }
            members += domain.members.len();
        }
        assert_eq!(members, live, "some entity is in no domain or in two");
    }

    fn entry_at(store: &EntityStore, slot: u32) -> &Entry {
        live(&store.slots, slot)
    }

    #[test]
    fn entities_removed_and_re_added_are_found_through_the_index() {
        // Arrange: a store that freed slots and reused them.
        let mut store: EntityStore = IDS.iter().map(|id| state(id)).collect();
        let gone = StateChangedData { entity_id: EntityId::new("light.b").unwrap(), old_state: None, new_state: None };
        drop(store.apply_state_changed(gone));
        let back = StateChangedData {
            entity_id: EntityId::new("light.b").unwrap(),
            old_state: None,
            new_state: Some(state("light.b")),
        };

        // Act
        drop(store.apply_state_changed(back));

        // Assert
        check_invariants(&store);
        assert!(IDS.iter().all(|id| store.contains(id)));
        assert!(!store.contains("light.z"));
    }

    proptest! {
        // Each case builds a store big enough for the hint to act.
        #![proptest_config(ProptestConfig::with_cases(24))]

        #[test]
        fn prefetch_takes_any_ids_in_any_number(ids in prop::collection::vec(".{0,40}", 0..80), held in 0..IDS.len()) {
            // Arrange: held ids, unknown ids and junk, more than one batch of them.
            let mut held_ids: Vec<String> = (0..PREFETCH_MIN_ENTITIES).map(|i| format!("sensor.s{i}")).collect();
            held_ids.extend(IDS[..held].iter().map(|id| id.to_string()));
            let store: EntityStore = held_ids.iter().map(|id| state(id)).collect();
            let ids: Vec<&str> = ids.iter().map(String::as_str).chain(IDS).collect();

            // Act / Assert: a hint, so the one way to fail is to panic.
            store.prefetch(ids.iter().copied());
        }

        #[test]
        fn prefetch_frame_takes_any_frame(ids in prop::collection::vec(".{0,40}", 0..80), pad in 0usize..3000) {
            // Arrange: an array frame naming the ids (and junk) as changed, long or short.
            let held: Vec<String> = (0..PREFETCH_MIN_ENTITIES).map(|i| format!("sensor.s{i}")).collect();
            let store: EntityStore = held.iter().map(|id| state(id)).collect();
            let events: Vec<String> = ids.iter().map(|id| format!(r#"{{"id":1,"type":"event","event":{{"c":{{"{id}":{{}}}}}}}}"#)).collect();
            let frame = format!("[{}]{}", events.join(","), " ".repeat(pad));

            // Act / Assert
            store.prefetch_frame(&frame);
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]


        #[test]
        fn bookkeeping_holds_after_any_adds_removes_and_replaces(
            ops in prop::collection::vec((0u8..3, 0..IDS.len(), prop::collection::vec(any::<bool>(), IDS.len())), 0..40),
        ) {
            let mut store = EntityStore::new();

            for (kind, i, keep) in ops {
                match kind {
                    0 => drop(store.apply_state_changed(StateChangedData {
                        entity_id: EntityId::new(IDS[i]).unwrap(),
                        old_state: None,
                        new_state: Some(state(IDS[i])),
                    })),
                    1 => drop(store.apply_state_changed(StateChangedData {
                        entity_id: EntityId::new(IDS[i]).unwrap(),
                        old_state: None,
                        new_state: None,
                    })),
                    _ => {
                        let states = IDS.iter().zip(&keep).filter(|(_, k)| **k).map(|(id, _)| state(id)).collect();
                        drop(store.replace_from_states(states));
                    }
                }
                check_invariants(&store);
            }
        }
    }
}
