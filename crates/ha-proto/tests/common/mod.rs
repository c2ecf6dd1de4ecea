//! Helpers shared by the integration tests.

pub(crate) mod mutation;

/// This package's directory: cargo's run-time `CARGO_MANIFEST_DIR` (the checkout being tested),
/// else the compile-time one. Cargo reuses a test binary built from another checkout of the same
/// sources that shares the `CARGO_TARGET_DIR` (as `.ci/run`'s cache does), and the compile-time
/// path names that other checkout, which may be gone.
#[allow(dead_code)]
pub(crate) fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::path::PathBuf::from)
}
