//! Shared inputs and measured paths of the hapulse benchmarks (criterion, iai-callgrind and dhat).
//!
//! Every bench target builds its inputs with [`inputs`] (seeded `ha-fixtures` installs and wire
//! messages, identical on every run and platform) and measures a function of [`hot`], so the
//! wall-clock, instruction-count and heap figures with the same id `area/op/case` describe the
//! same code. [`calibration::spin`] is the fixed workload every wall target runs as
//! `calibration/spin/<area>`, which the perf gate divides that process's figures by.
//!
//! ```
//! use benches::{hot, inputs};
//!
//! let mut input = inputs::compressed_diffs(ha_fixtures::SMALL, 100);
//! let mut report = ha_state::ChangeReport::new();
//! let applied = hot::apply_compressed_messages(&mut input.store, &input.messages, &mut report);
//! assert_eq!(applied, 100);
//! ```

pub mod calibration;
pub mod client;
pub mod heap;
pub mod hot;
pub mod inputs;
