//! Where the workspace is. Resolved at run time from `CARGO_MANIFEST_DIR`, which `cargo run` (and so
//! `cargo xtask`) sets to the xtask package of the checkout it was started in, falling back to the
//! directory this binary was compiled from. Cargo reuses an xtask binary built from another checkout
//! of the same sources when both share a `CARGO_TARGET_DIR` and the other build is newer; with the
//! compile-time path alone, that binary measured the other checkout.

use std::ffi::OsString;
use std::path::{Path, PathBuf};

/// The workspace root: the parent of the xtask package directory.
pub(crate) fn root() -> PathBuf {
    root_from(std::env::var_os("CARGO_MANIFEST_DIR"), env!("CARGO_MANIFEST_DIR"))
}

/// The cargo target directory: `$CARGO_TARGET_DIR` (taken relative to the workspace root when it is
/// relative), else `<root>/target`.
pub(crate) fn target_dir() -> PathBuf {
    let root = root();
    let target = std::env::var_os("CARGO_TARGET_DIR").map_or_else(|| root.join("target"), PathBuf::from);
    if target.is_absolute() { target } else { root.join(target) }
}

/// [`root`] from the run-time value of `CARGO_MANIFEST_DIR` and the compile-time one (pure).
fn root_from(run_time: Option<OsString>, compile_time: &str) -> PathBuf {
    let manifest_dir = run_time.filter(|d| !d.is_empty()).map_or_else(|| PathBuf::from(compile_time), PathBuf::from);
    manifest_dir.parent().map_or_else(|| PathBuf::from("."), Path::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn run_time_manifest_dir_wins_over_the_compiled_one() {
        let run_time = Some(OsString::from("/checkouts/two/xtask"));

        let root = root_from(run_time, "/checkouts/one/xtask");

        assert_eq!(root, Path::new("/checkouts/two"));
    }

    #[test]
    fn compiled_manifest_dir_is_the_fallback() {
        let (unset, empty) = (None, Some(OsString::new()));

        let roots = (root_from(unset, "/checkouts/one/xtask"), root_from(empty, "/checkouts/one/xtask"));

        assert_eq!(roots, (PathBuf::from("/checkouts/one"), PathBuf::from("/checkouts/one")));
    }
}
