//! Shared by the end-to-end tests that run the instruction suite under valgrind: `cargo test
//! --workspace` stays self-contained on a machine without valgrind (those tests print one line
//! naming what is missing and return), while `.ci/run`, which installs valgrind, sets
//! `HAPULSE_TESTS_REQUIRE_VALGRIND=1` so that a missing valgrind fails there instead of skipping.

/// What a test that needs valgrind does on this machine.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum Valgrind {
    /// valgrind is here: run.
    Run,
    /// Not here, and not required: print this line and return.
    Skip(String),
    /// Not here, but required (CI): fail with this message.
    Fail(String),
}

/// The decision for `test`, from whether valgrind was found and whether it is required (pure).
pub(crate) fn decide(test: &str, found: bool, required: bool) -> Valgrind {
    match (found, required) {
        (true, _) => Valgrind::Run,
        (false, false) => Valgrind::Skip(format!(
            "skipped {test}: valgrind not found (Debian/Ubuntu: `sudo apt-get install valgrind`; `bash .ci/run` installs it)"
        )),
        (false, true) => Valgrind::Fail(format!(
            "{test} needs valgrind and HAPULSE_TESTS_REQUIRE_VALGRIND is set, but valgrind is not on PATH"
        )),
    }
}

/// Whether `test` may run: prints the skip line and returns false when valgrind is missing and not
/// required; panics when it is missing and required.
pub(crate) fn valgrind_or_skip(test: &str) -> bool {
    let found = std::process::Command::new("valgrind").arg("--version").output().is_ok_and(|o| o.status.success());
    let required = std::env::var_os("HAPULSE_TESTS_REQUIRE_VALGRIND").is_some_and(|v| v == "1");
    match decide(test, found, required) {
        Valgrind::Run => true,
        Valgrind::Skip(line) => {
            // Straight to stderr: libtest captures print! and eprint!, so a skip would go unseen.
            use std::io::Write as _;
            let _ = writeln!(std::io::stderr(), "{line}");
            false
        }
        Valgrind::Fail(message) => panic!("{message}"),
    }
}

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
