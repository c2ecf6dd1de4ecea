//! The Home Assistant installation: a Python venv in a cache folder outside the checkout, reused when complete.
//!
//! Layout under the cache root (`${XDG_CACHE_HOME:-$HOME/.cache}/hapulse/ha-<version>/`):
//! - `venv/`: the virtual environment with `homeassistant` installed;
//! - `venv.complete`: written only after pip succeeded, holding the requirement list. A missing marker or one
//!   with another requirement list means the venv is removed and built again, so an interrupted install is redone;
//! - `requirements.complete`: written after Home Assistant reached `RUNNING` once with a configuration naming the
//!   integrations listed in it. Home Assistant pip-installs the requirements of its integrations into the venv on
//!   start; once they are in, later starts may use `--skip-pip`.

use std::ffi::OsString;
use std::fs;
use std::path::{Path, PathBuf};

use std::os::unix::process::CommandExt as _;
use std::process::{Command, Stdio};
use std::time::Duration;

use anyhow::{Context, bail};
use xshell::{Shell, cmd};

use super::{Progress, process};

/// The Home Assistant release the suite is held against: the last one that runs on Python 3.11.
pub(crate) const HA_VERSION: &str = "2024.3.3";

/// What pip installs.
/// - `josepy` 2 removed an API that `acme` (pulled in by `hass-nabucasa`) imports at startup.
/// - The Bluetooth stack is pinned to the versions homeassistant 2024.3.3 itself pins in its
///   `homeassistant/package_constraints.txt`: `home-assistant-bluetooth` asks for `habluetooth>=0.11` without an
///   upper bound, and left alone pip backtracks through source builds of newer `bluetooth-data-tools` releases
///   for many minutes (seen 2026-11-27) and ends with versions 2024.3.3 was never tested with.
pub(crate) const PIP_REQUIREMENTS: [&str; 9] = [
    "homeassistant==2024.3.3",
    "josepy<2",
    "habluetooth==2.4.2",
    "bluetooth-data-tools==1.19.0",
    "bluetooth-adapters==0.18.0",
    "bluetooth-auto-recovery==1.3.0",
    "bleak==0.21.1",
    "bleak-retry-connector==3.4.0",
    "dbus-fast==2.21.1",
];

/// How long pip gets to stop after Ctrl-C before it is killed (pip sometimes swallows the first SIGINT).
const PIP_STOP_GRACE: Duration = Duration::from_secs(5);

/// Python versions homeassistant 2024.3.3 supports.
const SUPPORTED_PYTHON: [(u32, u32); 2] = [(3, 11), (3, 12)];

/// Paths inside the cache folder of one Home Assistant version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct CacheLayout {
    root: PathBuf,
}

impl CacheLayout {
    /// The layout below `cache_home/hapulse/ha-<version>`.
    pub(crate) fn under(cache_home: &Path) -> Self {
        Self { root: cache_home.join("hapulse").join(format!("ha-{HA_VERSION}")) }
    }

    /// The folder holding the venv and the markers.
    pub(crate) fn root(&self) -> &Path {
        &self.root
    }

    /// The virtual environment.
    pub(crate) fn venv(&self) -> PathBuf {
        self.root.join("venv")
    }

    /// The venv's Python interpreter.
    pub(crate) fn python(&self) -> PathBuf {
        self.venv().join("bin").join("python")
    }

    /// The `hass` entry point.
    pub(crate) fn hass(&self) -> PathBuf {
        self.venv().join("bin").join("hass")
    }

    /// Marker of a complete pip install.
    pub(crate) fn venv_marker(&self) -> PathBuf {
        self.root.join("venv.complete")
    }

    /// Marker of installed integration requirements.
    pub(crate) fn requirements_marker(&self) -> PathBuf {
        self.root.join("requirements.complete")
    }
}

/// The cache home: `$XDG_CACHE_HOME` when set and absolute, else `$HOME/.cache` (the XDG base directory rule).
pub(crate) fn cache_home(xdg_cache_home: Option<OsString>, home: Option<OsString>) -> anyhow::Result<PathBuf> {
    if let Some(xdg) = xdg_cache_home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        return Ok(xdg);
    }
    match home.map(PathBuf::from).filter(|p| p.is_absolute()) {
        Some(home) => Ok(home.join(".cache")),
        None => bail!("neither XDG_CACHE_HOME nor HOME is set to an absolute path; pass --cache-dir"),
    }
}

/// The content of `venv.complete`: one requirement per line.
pub(crate) fn venv_marker_content() -> String {
    PIP_REQUIREMENTS.iter().map(|r| format!("{r}\n")).collect()
}

/// The content of `requirements.complete` for a configuration naming `integrations`.
pub(crate) fn requirements_marker_content(integrations: &[&str]) -> String {
    let mut sorted = integrations.to_vec();
    sorted.sort_unstable();
    sorted.dedup();
    format!("homeassistant=={HA_VERSION}\n{}\n", sorted.join("\n"))
}

/// Whether a marker with content `found` (None: no marker) vouches for what `expected` describes.
pub(crate) fn marker_matches(found: Option<&str>, expected: &str) -> bool {
    found == Some(expected)
}

/// Parses the `major.minor` line printed by the version probe.
pub(crate) fn parse_python_version(output: &str) -> anyhow::Result<(u32, u32)> {
    let text = output.trim();
    let (major, minor) = text.split_once('.').with_context(|| format!("unexpected python version {text:?}"))?;
    let major = major.parse().with_context(|| format!("unexpected python version {text:?}"))?;
    let minor = minor.parse().with_context(|| format!("unexpected python version {text:?}"))?;
    Ok((major, minor))
}

/// Whether homeassistant 2024.3.3 runs on Python `version`.
pub(crate) fn python_supported(version: (u32, u32)) -> bool {
    SUPPORTED_PYTHON.contains(&version)
}

fn read_marker(path: &Path) -> anyhow::Result<Option<String>> {
    match fs::read_to_string(path) {
        Ok(text) => Ok(Some(text)),
        Err(err) if err.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(err) => Err(err).with_context(|| format!("reading {}", path.display())),
    }
}

/// Writes a marker atomically (write then rename), so a crash never leaves a marker with half its content.
fn write_marker(path: &Path, content: &str) -> anyhow::Result<()> {
    let tmp = path.with_extension("tmp");
    fs::write(&tmp, content).with_context(|| format!("writing {}", tmp.display()))?;
    fs::rename(&tmp, path).with_context(|| format!("renaming {} to {}", tmp.display(), path.display()))
}

/// Makes sure the venv under `layout` holds a complete install, building it with `python` when it does not.
/// `cancelled` is polled during the pip install, which is stopped when it turns true.
pub(crate) fn ensure(
    sh: &Shell,
    layout: &CacheLayout,
    python: &str,
    progress: &Progress,
    cancelled: &dyn Fn() -> bool,
) -> anyhow::Result<()> {
    let marker = read_marker(&layout.venv_marker())?;
    if marker_matches(marker.as_deref(), &venv_marker_content()) && layout.hass().is_file() {
        progress.stage(format_args!("reusing Home Assistant {HA_VERSION} in {}", layout.venv().display()));
        return Ok(());
    }

    let probe = "import sys; print('%d.%d' % sys.version_info[:2])";
    let version_line = cmd!(sh, "{python} -c {probe}")
        .quiet()
        .read()
        .with_context(|| format!("running {python}; pass --python with a Python 3.11 interpreter"))?;
    let version = parse_python_version(&version_line)?;
    if !python_supported(version) {
        bail!(
            "{python} is Python {}.{}; homeassistant {HA_VERSION} needs Python 3.11 or 3.12 (pass --python)",
            version.0,
            version.1
        );
    }

    // Whatever is there is incomplete or for other requirements: start from scratch.
    let venv = layout.venv();
    if venv.exists() {
        progress.stage(format_args!("removing incomplete venv {}", venv.display()));
        fs::remove_dir_all(&venv).with_context(|| format!("removing {}", venv.display()))?;
    }
    for stale in [layout.venv_marker(), layout.requirements_marker()] {
        if stale.exists() {
            fs::remove_file(&stale).with_context(|| format!("removing {}", stale.display()))?;
        }
    }
    fs::create_dir_all(layout.root()).with_context(|| format!("creating {}", layout.root().display()))?;

    progress.stage(format_args!("creating venv {} with Python {}.{}", venv.display(), version.0, version.1));
    cmd!(sh, "{python} -m venv {venv}").run().context("creating the venv")?;

    progress.stage(format_args!(
        "installing {} (about 5 minutes the first time; pip output follows)",
        PIP_REQUIREMENTS.join(" ")
    ));
    let venv_python = layout.python();
    let pip_args = ["-m", "pip", "install", "--progress-bar", "off"];
    eprintln!("$ {} {} {}", venv_python.display(), pip_args.join(" "), PIP_REQUIREMENTS.join(" "));
    // Not `cmd!`: pip must be stoppable on Ctrl-C (it can swallow the first SIGINT), so it runs in its own
    // process group that we stop ourselves.
    let mut pip = Command::new(&venv_python)
        .args(pip_args)
        .args(PIP_REQUIREMENTS)
        .stdin(Stdio::null())
        .process_group(0)
        .spawn()
        .with_context(|| format!("starting {}", venv_python.display()))?;
    let status = process::wait_unless(&mut pip, cancelled, PIP_STOP_GRACE)?
        .context("interrupted while installing homeassistant (run again: the partial venv is rebuilt)")?;
    if !status.success() {
        bail!("pip failed ({status}) installing homeassistant (run again to retry; the partial venv is rebuilt)");
    }

    write_marker(&layout.venv_marker(), &venv_marker_content())?;
    progress.stage(format_args!("Home Assistant {HA_VERSION} installed"));
    Ok(())
}

/// Whether Home Assistant already installed the requirements of `integrations` into the venv.
pub(crate) fn requirements_installed(layout: &CacheLayout, integrations: &[&str]) -> anyhow::Result<bool> {
    let marker = read_marker(&layout.requirements_marker())?;
    Ok(marker_matches(marker.as_deref(), &requirements_marker_content(integrations)))
}

/// Records that Home Assistant reached `RUNNING` with `integrations`, so their requirements are in the venv.
pub(crate) fn mark_requirements_installed(layout: &CacheLayout, integrations: &[&str]) -> anyhow::Result<()> {
    write_marker(&layout.requirements_marker(), &requirements_marker_content(integrations))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cache_home_prefers_absolute_xdg_cache_home() {
        let (xdg, home) = (Some(OsString::from("/xdg")), Some(OsString::from("/home/u")));

        let dir = cache_home(xdg, home).unwrap();

        assert_eq!(dir, PathBuf::from("/xdg"));
    }

    #[test]
    fn cache_home_ignores_relative_xdg_cache_home() {
        let (xdg, home) = (Some(OsString::from("rel")), Some(OsString::from("/home/u")));

        let dir = cache_home(xdg, home).unwrap();

        assert_eq!(dir, PathBuf::from("/home/u/.cache"));
    }

    #[test]
    fn cache_home_without_any_variable_is_an_error() {
        let (xdg, home) = (None, None);

        let result = cache_home(xdg, home);

        assert!(result.is_err());
    }

    #[test]
    fn layout_keeps_the_version_in_the_path() {
        let layout = CacheLayout::under(Path::new("/c"));

        let hass = layout.hass();

        assert_eq!(hass, PathBuf::from("/c/hapulse/ha-2024.3.3/venv/bin/hass"));
    }

    #[test]
    fn markers_live_beside_the_venv_not_inside_it() {
        let layout = CacheLayout::under(Path::new("/c"));

        let markers = [layout.venv_marker(), layout.requirements_marker()];

        for marker in markers {
            assert_eq!(marker.parent(), Some(layout.root()));
        }
    }

    #[test]
    fn missing_marker_does_not_match() {
        let expected = venv_marker_content();

        let matches = marker_matches(None, &expected);

        assert!(!matches);
    }

    #[test]
    fn marker_for_other_requirements_does_not_match() {
        let found = "homeassistant==2024.1.0\n";

        let matches = marker_matches(Some(found), &venv_marker_content());

        assert!(!matches);
    }

    #[test]
    fn marker_with_current_requirements_matches() {
        let found = venv_marker_content();

        let matches = marker_matches(Some(&found), &venv_marker_content());

        assert!(matches);
    }

    #[test]
    fn venv_marker_lists_every_requirement() {
        let content = venv_marker_content();

        let lines: Vec<&str> = content.lines().collect();

        assert_eq!(lines, PIP_REQUIREMENTS);
    }

    #[test]
    fn requirements_marker_ignores_integration_order() {
        let a = requirements_marker_content(&["http", "logger"]);

        let b = requirements_marker_content(&["logger", "http", "http"]);

        assert_eq!(a, b);
    }

    #[test]
    fn requirements_marker_changes_when_an_integration_is_added() {
        let before = requirements_marker_content(&["http", "logger"]);

        let after = requirements_marker_content(&["http", "logger", "recorder"]);

        assert!(!marker_matches(Some(&before), &after));
    }

    #[test]
    fn python_version_is_parsed_from_the_probe_output() {
        let output = "3.11\n";

        let version = parse_python_version(output).unwrap();

        assert_eq!(version, (3, 11));
    }

    #[test]
    fn garbage_python_version_is_an_error() {
        let output = "Python three";

        let result = parse_python_version(output);

        assert!(result.is_err());
    }

    #[test]
    fn python_3_11_is_supported_and_3_13_is_not() {
        let (old, new) = ((3, 11), (3, 13));

        let supported = (python_supported(old), python_supported(new));

        assert_eq!(supported, (true, false));
    }
}
