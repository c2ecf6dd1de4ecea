//! What every perf subcommand needs about the workspace: perf.toml, the bench package, the baselines
//! and history paths, and the checkouts to measure; and which targets the flags put in scope.

use std::path::PathBuf;

use anyhow::{Context, Result};
use xshell::Shell;

use super::checkout::Checkout;
use super::config::Config;
use super::probe::Workspace;
use super::schema::{Suite, Target};
use crate::cli::Options;

/// Everything a subcommand needs about the workspace.
#[derive(Debug)]
pub(crate) struct Ctx {
    /// Shell every process starts from.
    pub(crate) sh: Shell,
    /// perf.toml.
    pub(crate) config: Config,
    /// The bench workspace as cargo describes it.
    pub(crate) ws: Workspace,
    /// The committed baselines' directory.
    pub(crate) baselines: PathBuf,
    /// The history file.
    pub(crate) history: PathBuf,
    /// `--head-env`: extra environment for head's benchmark processes.
    pub(crate) head_env: Vec<(String, String)>,
}

/// The workspace `cargo xtask` runs in (see `crate::workspace`).
pub(crate) fn default_root() -> PathBuf {
    crate::workspace::root()
}

impl Ctx {
    /// Reads perf.toml and the bench package of the workspace `opts` names.
    pub(crate) fn new(opts: &Options) -> Result<Ctx> {
        let root = opts.root.clone().unwrap_or_else(default_root);
        let root = std::path::absolute(&root).with_context(|| format!("resolving {}", root.display()))?;
        let sh = Shell::new()?;
        let config = Config::load(&root.join("perf.toml"))?;
        let ws = Workspace::load(&sh, &root, &config.bench.package)?;
        for name in &ws.ignored {
            eprintln!(
                "perf: warning: bench target `{name}` follows no naming convention (wall_*, instr_*, heap_*) and is not run"
            );
        }
        let baselines = opts.baselines.clone().unwrap_or_else(|| root.join("baselines"));
        let history = opts.history.clone().unwrap_or_else(|| ws.perf_dir().join("history.jsonl"));
        Ok(Ctx { sh, config, ws, baselines, history, head_env: opts.head_env.clone() })
    }

    /// Where the gate writes its files: `<target dir>/perf`.
    pub(crate) fn perf_dir(&self) -> PathBuf {
        self.ws.perf_dir()
    }

    /// This workspace as a checkout to measure, labelled `label` in progress lines and raw output.
    pub(crate) fn checkout(&self, label: &str) -> Checkout<'_> {
        Checkout {
            sh: &self.sh,
            root: self.ws.root.clone(),
            package: self.config.bench.package.clone(),
            raw_dir: self.perf_dir().join("raw").join(label),
            label: label.to_owned(),
            config: &self.config,
            target_dir: Some(self.ws.target_dir.clone()),
            package_dir: self.ws.package_dir.clone(),
            env: Vec::new(),
        }
    }

    /// The tree being judged, with `--head-env` applied.
    pub(crate) fn head(&self) -> Checkout<'_> {
        Checkout { env: self.head_env.clone(), ..self.checkout("head") }
    }
}

/// The suites `--suite` asks for (all by default).
pub(crate) fn suites(opts: &Options) -> Vec<Suite> {
    Suite::ALL.into_iter().filter(|s| opts.suite.is_empty() || opts.suite.contains(s)).collect()
}

/// The bench targets of those suites, narrowed to `--shard`.
pub(crate) fn scope(ctx: &Ctx, opts: &Options) -> Vec<Target> {
    let suites = suites(opts);
    let targets: Vec<Target> = ctx.ws.targets.iter().filter(|t| suites.contains(&t.suite)).cloned().collect();
    opts.shard.map_or(targets.clone(), |s| s.select(&targets))
}
