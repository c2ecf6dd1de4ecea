//! Readers of each tool's own output, copied into the gate's schema: criterion's private JSON files
//! (wall clock), iai-callgrind's `summary.json` (instruction counts) and the small stats file the
//! dhat benches write (heap). Each reads defensively: these formats change without notice.

pub mod criterion;
pub mod dhat;
pub mod iai;
