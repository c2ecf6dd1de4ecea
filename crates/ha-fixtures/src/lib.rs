//! Seeded, deterministic, realistic Home Assistant installs and event streams, for tests and
//! benchmarks.
//!
//! # The model
//!
//! - [`install`] builds `N` entities spread over the domains of real installs: about 38 %
//!   `sensor` (power, energy, signal strength, voltage, current, temperature, humidity,
//!   battery, illuminance, pressure, CO₂, meters, plus enum / timestamp / text sensors and a
//!   few with long listings), 13 % `binary_sensor`, then `switch`, `light`, `automation`,
//!   `update`, `button`, `device_tracker`, `number`, `select`, `input_*`, `script`, `cover`,
//!   `scene`, `climate`, `media_player`, `camera`, `fan`, `lock`, `group`, `weather` and
//!   `person`; installs of 100 or more also get `sun.sun`, `zone.home`, a weather entity and
//!   two people first. Attributes follow what the integrations of Home Assistant 2024.3 write
//!   (unit / device_class / state_class; a light's colour modes and colour values, nulls
//!   when off; a climate's modes and temperatures; a media player's source list and track).
//! - Attribute sizes: most entities carry 50–700 bytes of attribute JSON (for 16,384
//!   entities: median about 120 bytes, 90th percentile about 360, 99th about 1.5 KB, some 50
//!   sets over 4 KB, the largest near 16 KB), as in real installs where plain sensors and
//!   binary sensors with four or five short attributes are the majority; media players with long source lists, weather entities with forecast arrays
//!   in their attributes (the pre-2024.3 style that many custom integrations keep), WLED-style
//!   lights with long effect lists, old-style groups and listing sensors form a long tail up to
//!   16 KB, just under the recorder's 16,384-byte limit.
//! - Time: every timestamp is at or before [`INSTALL_NOW`]. Home Assistant gives entities a
//!   fresh state at startup, so nothing changed before the last restart (1 h to 3 days
//!   earlier) and a large share of entities still show that moment. Context ids are
//!   ULID-like (26 Crockford base32 characters, time-prefixed); about 8 % of contexts carry a
//!   user id and 12 % a parent id. About 2 % of entities are `unavailable`.
//! - [`ChangeStream`] picks entities with Zipf weights (`1 / rank`) where the top ranks are
//!   power, energy, signal, voltage and current sensors: in real installs a few chatty meters
//!   make most of the state changes. Each change follows Home Assistant's rules: a new context,
//!   `last_updated` always moves, `last_changed` only when the state text changes, and an
//!   event happens only when the state or the attributes changed. Devices occasionally go
//!   `unavailable` (keeping only capability attributes) and come back with their old ones.
//! - [`state_changed_messages`], [`compressed_diff_messages`], [`get_states_result`] and
//!   [`compressed_snapshot_message`] give complete server messages as Home Assistant sends
//!   them; the first two describe the same changes for the same arguments. The compressed
//!   format has no `last_reported`, so a mirror fed compressed diffs differs from one fed full
//!   events only in that field.
//!
//! The facts behind the shapes are in `ha-protocol.md` of the project notes (sizes seen in
//! real installs: 8,000–15,000 entities exist and Home Assistant sizes its caches for 16,384;
//! multi-megabyte `get_states` results; a few chatty sensors dominate the event rate).
//!
//! Everything comes from `ChaCha8Rng` seeded with a `u64`, and the arithmetic avoids libm
//! functions (`powf`, `exp`...) whose last bit may differ between platforms: the same
//! arguments give the same output on every platform and every run.
//!
//! ```
//! use ha_fixtures::{ChangeStream, SMALL, install, stream_start};
//!
//! let mut states = install(ha_fixtures::DEFAULT_SEED, SMALL);
//! assert_eq!(states.len(), SMALL);
//!
//! let mut stream = ChangeStream::new(7, &states, stream_start(&states));
//! let (index, old, new) = stream.step(&mut states);
//! assert_eq!(states[index], new);
//! assert!(new.last_updated > old.last_updated);
//! ```

mod changes;
mod context;
mod domains;
mod install;
mod messages;
mod names;
mod sensors;
mod stream;

use ha_proto::Timestamp;

pub use install::install;
pub use messages::{
    compressed_diff_message, compressed_diff_messages, compressed_snapshot_message, get_states_result,
    state_changed_message, state_changed_messages, stream_start,
};
pub use stream::ChangeStream;

/// A small install (1,000 entities).
pub const SMALL: usize = 1_000;
/// A large but common install (10,000 entities).
pub const MEDIUM: usize = 10_000;
/// Home Assistant's expected maximum: it sizes its entity-id caches for 16,384 ids.
pub const MAX: usize = 16_384;

/// The seed tests and benchmarks use unless they need another ("HAPULSE" in ASCII).
pub const DEFAULT_SEED: u64 = 0x0048_4150_554C_5345;

/// The moment generated installs are observed: 2024-03-20T10:00:00Z, a week after Home
/// Assistant 2024.3 (whose wire format these fixtures follow). No install timestamp is later.
pub const INSTALL_NOW: Timestamp = Timestamp::from_micros(1_710_928_800_000_000);
