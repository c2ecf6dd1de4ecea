//! Shared helpers for the benchmarks in this crate (benchmarks arrive with the perf gate).
