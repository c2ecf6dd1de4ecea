//! Probing the tree and the machine (I/O edge): cargo metadata, bench targets by naming convention,
//! toolchain and valgrind versions, Cargo.lock hash, CPU model, git commit and the current date.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use anyhow::{Context, Result};
use serde_json::Value;
use sha2::{Digest, Sha256};
use xshell::{Shell, cmd};

use super::baseline::{Environment, Provenance};
use super::fingerprint::Fingerprint;
use super::schema::{Suite, Target};

/// What cargo metadata says about the bench workspace.
#[derive(Debug, Clone)]
pub(crate) struct Workspace {
    /// Workspace root (holds Cargo.lock, perf.toml, baselines/).
    pub(crate) root: PathBuf,
    /// Cargo's target directory (honours `CARGO_TARGET_DIR`).
    pub(crate) target_dir: PathBuf,
    /// The bench package's directory: bench executables run there, as `cargo bench` runs them.
    pub(crate) package_dir: PathBuf,
    /// Checkout targets following the naming convention, sorted by suite (instr, heap, wall) then name.
    pub(crate) targets: Vec<Target>,
    /// Checkout targets that follow no convention (warned about, never run).
    pub(crate) ignored: Vec<String>,
    /// Versions of criterion, iai-callgrind and dhat resolved in the workspace.
    pub(crate) tools: BTreeMap<String, String>,
}

impl Workspace {
    /// Reads `cargo metadata` for the workspace at `root`, looking for the package `package`.
    pub(crate) fn load(sh: &Shell, root: &Path, package: &str) -> Result<Workspace> {
        let _dir = sh.push_dir(root);
        let text = cmd!(sh, "cargo metadata --format-version 1").quiet().read().context("running cargo metadata")?;
        Workspace::from_metadata(root, &text, package)
    }

    /// Parses `cargo metadata` output (pure).
    pub(crate) fn from_metadata(root: &Path, text: &str, package: &str) -> Result<Workspace> {
        let json: Value = serde_json::from_str(text).context("cargo metadata output is not JSON")?;
        let target_dir =
            json.get("target_directory").and_then(Value::as_str).context("metadata has no target_directory")?;
        let packages = json.get("packages").and_then(Value::as_array).context("metadata has no packages")?;
        let members: Vec<&str> = json
            .get("workspace_members")
            .and_then(Value::as_array)
            .map(|m| m.iter().filter_map(Value::as_str).collect())
            .unwrap_or_default();
        let bench_pkg = packages
            .iter()
            .find(|p| {
                p.get("name").and_then(Value::as_str) == Some(package)
                    && p.get("id").and_then(Value::as_str).is_some_and(|id| members.contains(&id))
            })
            .with_context(|| format!("the workspace at {} has no package `{package}`", root.display()))?;
        let package_dir = bench_pkg
            .get("manifest_path")
            .and_then(Value::as_str)
            .and_then(|p| Path::new(p).parent())
            .map_or_else(|| root.to_owned(), Path::to_owned);
        let mut targets = Vec::new();
        let mut ignored = Vec::new();
        for target in bench_pkg.get("targets").and_then(Value::as_array).into_iter().flatten() {
            let is_bench = target.get("kind").and_then(Value::as_array).is_some_and(|k| k.iter().any(|k| k == "bench"));
            let Some(name) = target.get("name").and_then(Value::as_str).filter(|_| is_bench) else { continue };
            match Suite::of_target(name) {
                Some(suite) => targets.push(Target { suite, name: name.to_owned() }),
                None => ignored.push(name.to_owned()),
            }
        }
        targets.sort();
        let mut tools = BTreeMap::new();
        for p in packages {
            let (Some(name), Some(version)) =
                (p.get("name").and_then(Value::as_str), p.get("version").and_then(Value::as_str))
            else {
                continue;
            };
            if ["criterion", "iai-callgrind", "dhat"].contains(&name) {
                tools.insert(name.to_owned(), version.to_owned());
            }
        }
        Ok(Workspace {
            root: root.to_owned(),
            target_dir: PathBuf::from(target_dir),
            package_dir,
            targets,
            ignored,
            tools,
        })
    }

    /// Checkout target names of one suite.
    pub(crate) fn target_names(&self, suite: Suite) -> Vec<String> {
        self.targets.iter().filter(|t| t.suite == suite).map(|t| t.name.clone()).collect()
    }

    /// Where the gate writes its files: `<target dir>/perf`.
    pub(crate) fn perf_dir(&self) -> PathBuf {
        self.target_dir.join("perf")
    }
}

/// sha256 of a file, hex.
pub(crate) fn sha256_file(path: &Path) -> Result<String> {
    let bytes = std::fs::read(path).with_context(|| format!("reading {}", path.display()))?;
    Ok(Sha256::digest(&bytes).iter().map(|b| format!("{b:02x}")).collect())
}

/// How to install valgrind, for the messages of whatever needs it.
pub(crate) const VALGRIND_INSTALL: &str =
    "install it (Debian/Ubuntu: `sudo apt-get install valgrind`, Fedora: `sudo dnf install valgrind`)";

/// `valgrind --version`, or `None` when valgrind cannot be run.
pub(crate) fn valgrind_version(sh: &Shell) -> Option<String> {
    cmd!(sh, "valgrind --version").quiet().ignore_stderr().read().ok().map(|v| v.trim().to_owned())
}

/// The current environment for the staleness check.
pub(crate) fn environment(sh: &Shell, ws: &Workspace) -> Result<Environment> {
    let _dir = sh.push_dir(&ws.root);
    let rustc = cmd!(sh, "rustc -vV").quiet().read().context("running rustc -vV")?;
    let mut targets = BTreeMap::new();
    for suite in Suite::ALL {
        targets.insert(suite, ws.target_names(suite));
    }
    Ok(Environment {
        rustc,
        valgrind: valgrind_version(sh),
        cargo_lock_sha256: sha256_file(&ws.root.join("Cargo.lock"))?,
        targets,
    })
}

/// `model name` of the first CPU in /proc/cpuinfo text (pure).
pub(crate) fn cpu_model(cpuinfo: &str) -> String {
    cpuinfo
        .lines()
        .find_map(|l| {
            l.strip_prefix("model name").and_then(|rest| rest.split_once(':')).map(|(_, v)| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown".to_owned())
}

/// This machine's CPU model (`unknown` when /proc/cpuinfo cannot be read).
pub(crate) fn this_cpu_model() -> String {
    cpu_model(&std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default())
}

/// This machine's fingerprint, with the toolchain and valgrind of `env`.
pub(crate) fn this_machine(env: &Environment) -> Fingerprint {
    Fingerprint {
        cpu_model: this_cpu_model(),
        logical_cores: std::thread::available_parallelism().ok().and_then(|n| u32::try_from(n.get()).ok()).unwrap_or(0),
        kernel: std::fs::read_to_string("/proc/sys/kernel/osrelease")
            .map_or_else(|_| "unknown".to_owned(), |k| k.trim().to_owned()),
        rustc: env.rustc.lines().next().unwrap_or_default().trim().to_owned(),
        valgrind: env.valgrind.clone(),
    }
}

/// Provenance of a bless of `suite` now, with `reason`.
pub(crate) fn provenance(
    sh: &Shell,
    ws: &Workspace,
    env: &Environment,
    suite: Suite,
    reason: &str,
) -> Result<Provenance> {
    let _dir = sh.push_dir(&ws.root);
    let git_commit =
        cmd!(sh, "git rev-parse HEAD").quiet().ignore_stderr().read().unwrap_or_else(|_| "unknown".to_owned());
    let git_dirty = cmd!(sh, "git status --porcelain --untracked-files=no")
        .quiet()
        .ignore_stderr()
        .read()
        .map(|s| !s.trim().is_empty())
        .unwrap_or(false);
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock before 1970")?;
    Ok(Provenance {
        git_commit,
        git_dirty,
        rustc: env.rustc.clone(),
        valgrind: if suite == Suite::Instr { env.valgrind.clone() } else { None },
        cargo_lock_sha256: env.cargo_lock_sha256.clone(),
        cpu_model: this_cpu_model(),
        machine: Some(this_machine(env)),
        date: perf_gate::time::rfc3339_utc(now.as_secs()),
        reason: reason.to_owned(),
        targets: ws.target_names(suite),
        tools: ws.tools.clone(),
    })
}

/// Installs `iai-callgrind-runner` at exactly `version` unless `cargo install --list` already shows it.
pub(crate) fn ensure_iai_runner(sh: &Shell, version: &str) -> Result<()> {
    let installed = cmd!(sh, "cargo install --list").quiet().read().context("running cargo install --list")?;
    if installed.lines().any(|l| l.trim_end_matches(':') == format!("iai-callgrind-runner v{version}")) {
        return Ok(());
    }
    eprintln!("perf: installing iai-callgrind-runner {version} to match the library (about 3 minutes on 2 cores)");
    let exact = format!("={version}");
    cmd!(sh, "cargo install iai-callgrind-runner --version {exact} --locked")
        .run()
        .with_context(|| format!("installing iai-callgrind-runner {version}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cpu_model_reads_the_first_model_name() {
        let text =
            "processor\t: 0\nvendor_id\t: GenuineIntel\nmodel name\t: Intel(R) Xeon(R) CPU @ 2.20GHz\nprocessor\t: 1\n";

        let model = cpu_model(text);

        assert_eq!(model, "Intel(R) Xeon(R) CPU @ 2.20GHz");
    }

    #[test]
    fn metadata_classifies_bench_targets_by_prefix() {
        let text = r#"{"target_directory":"/t","workspace_members":["path+file:///w/benches#0.1.0"],
            "packages":[{"name":"benches","id":"path+file:///w/benches#0.1.0","version":"0.1.0",
              "manifest_path":"/w/benches/Cargo.toml","targets":[
              {"name":"benches","kind":["lib"]},{"name":"wall_proto","kind":["bench"]},
              {"name":"instr_proto","kind":["bench"]},{"name":"heap_load","kind":["bench"]},{"name":"misc","kind":["bench"]}]},
              {"name":"iai-callgrind","id":"registry+x#iai-callgrind@0.16.1","version":"0.16.1","targets":[]}]}"#;

        let ws = Workspace::from_metadata(Path::new("/w"), text, "benches").unwrap();

        let names: Vec<&str> = ws.targets.iter().map(|t| t.name.as_str()).collect();
        assert_eq!(names, ["instr_proto", "heap_load", "wall_proto"]);
        assert_eq!(ws.ignored, ["misc"]);
        assert_eq!(ws.package_dir, Path::new("/w/benches"));
        assert_eq!(ws.tools.get("iai-callgrind").map(String::as_str), Some("0.16.1"));
    }
}
