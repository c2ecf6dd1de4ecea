//! A pure, fast mirror of Home Assistant's entity states.
//!
//! [`EntityStore`] is filled from a snapshot (a `get_states` result or the first
//! `subscribe_entities` event) and kept current by `subscribe_entities` diffs or `state_changed`
//! events. Every update returns a [`ChangeReport`]. No I/O, no clock, no async: the caller
//! reads frames and hands the decoded values in.
//!
//! ```
//! use ha_proto::CompressedEvent;
//! use ha_state::EntityStore;
//!
//! let mut store = EntityStore::new();
//! let snapshot = CompressedEvent::parse(
//!     r#"{"a":{"light.kitchen":{"s":"on","a":{"brightness":255,"color_mode":"hs"},"c":"01H0640ES8JCY1NGTNW3V41T5T","lc":1683832716.072648}}}"#,
//! )?;
//! store.replace_from_compressed(&snapshot)?;
//!
//! let diff = CompressedEvent::parse(
//!     r#"{"c":{"light.kitchen":{"+":{"s":"off","lc":1683832800.5,"a":{"brightness":0}},"-":{"a":["color_mode"]}}}}"#,
//! )?;
//! let report = store.apply_compressed(&diff)?;
//!
//! assert_eq!(report.updated[0].as_str(), "light.kitchen");
//! let light = store.entity("light.kitchen").unwrap();
//! assert_eq!(light.state(), "off");
//! assert_eq!(light.attribute("brightness").unwrap().get(), "0");
//! assert!(light.attribute("color_mode").is_none());
//! assert_eq!(light.last_updated(), light.last_changed());
//! assert_eq!(store.domain("light").count(), 1);
//! # Ok::<(), Box<dyn std::error::Error>>(())
//! ```
//!
//! # Merge rules
//! A `c` entry of a compressed event is applied the way Home Assistant builds it
//! (`_state_diff` in `homeassistant/components/websocket_api/messages.py`, 2024.3) and its
//! JavaScript client applies it:
//! - `+.s` sets the state;
//! - `+.lc` sets `last_changed` and `last_updated`; otherwise `+.lu` sets `last_updated`;
//! - `+.c` as a string replaces the context id only (parent and user stay); as an object it
//!   sets the fields it names;
//! - `+.a` merges attributes (changed keys keep their place, new ones are appended);
//! - `-.a` removes attribute keys (after `+` is applied);
//! - an `a` entry for an id the store holds replaces that entity whole.
//!
//! # What the mirror does not hold
//! `last_reported`: the compressed format does not carry it, and the store must hold the same
//! data whichever feed built it. Every [`State`](ha_proto::State) it hands out has
//! `last_reported: None`.
//!
//! # Performance
//! Attribute values stay raw JSON, never `serde_json::Value` trees, and an entity's values share
//! one buffer (one heap block for all of them; [`AttributeValue`] views one). State texts
//! and context ids are overwritten in place, so a typical diff (state, timestamp, context id)
//! allocates nothing but the report's id list (reuse a report with
//! [`EntityStore::apply_compressed_into`] to avoid even that). Attribute keys are interned per
//! store, the id index holds 8-byte buckets and no copy of the ids, and the maps use a fast
//! non-SipHash hasher.
//! The measurements behind these choices are in `README.md` beside this crate's `Cargo.toml`.

mod attrs;
mod context;
mod entry;
mod error;
mod hash;
mod heap;
mod index;
mod keys;
mod prefetch;
mod report;
mod shapes;
mod store;

pub use attrs::AttributeValue;
pub use entry::EntityRef;
pub use error::StateError;
pub use report::{Change, ChangeReport};
pub use store::{EntityStore, Snapshot, StoreConfig};
