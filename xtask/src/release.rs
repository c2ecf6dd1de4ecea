//! `cargo xtask release`: performance-validated release tags. `tag` refuses on a dirty tree, on an
//! existing tag, on a HEAD outside the branch named by `--only-on`, and unless the perf gate passes for HEAD (it runs the gate itself: a clean tree means
//! the run measures exactly HEAD); it then writes an annotated tag carrying the verdict and
//! `Perf-Validated: yes`, and can push it. `verify` prints a tag's recorded verdict or fails.

mod message;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use xshell::{Shell, cmd};

use crate::cli::{ReleaseArgs, ReleaseSub};

use self::message::{COMMIT, GATE, Inputs, REAL_GATE, SUMMARY, VALIDATED, VERDICT};

/// Runs `cargo xtask release`.
pub(crate) fn run(args: ReleaseArgs) -> Result<()> {
    let sh = Shell::new()?;
    let top = crate::git::toplevel(&sh, &sh.current_dir()).context("release needs a git repository")?;
    sh.change_dir(&top);
    match args.command {
        ReleaseSub::Tag { version, push, remote, only_on, report } => {
            let report = report.unwrap_or_else(|| default_report(Path::new(&top)));
            if let Some(branch) = only_on {
                ensure_on(&sh, &branch)?;
            }
            tag(&sh, Path::new(&top), &version, push.then_some(remote.as_str()), &report)
        }
        ReleaseSub::Verify { version } => verify(&sh, &version),
    }
}

fn default_report(top: &Path) -> PathBuf {
    std::env::var_os("CARGO_TARGET_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| top.join("target"), PathBuf::from)
        .join("perf")
        .join("report.json")
}

fn ensure_clean(sh: &Shell) -> Result<()> {
    let status = cmd!(sh, "git status --porcelain --untracked-files=normal").quiet().read()?;
    ensure!(
        status.trim().is_empty(),
        "the working tree is not clean; commit or remove these first (a release tag must name exactly what was \
         measured):\n{status}"
    );
    Ok(())
}

/// Refuses unless HEAD is reachable from `branch` (checked before the gate runs: a tag names only
/// commits that were merged there).
fn ensure_on(sh: &Shell, branch: &str) -> Result<()> {
    let tip = format!("{branch}^{{commit}}");
    cmd!(sh, "git rev-parse --verify --quiet {tip}").quiet().ignore_stdout().run().map_err(|_| {
        anyhow::anyhow!("`{branch}` (--only-on) names no commit here; fetch it first (e.g. `git fetch origin`)")
    })?;
    let head = cmd!(sh, "git rev-parse HEAD").quiet().read()?;
    if crate::git::is_ancestor(sh, &sh.current_dir(), &head, &tip)
        .context("asking git whether HEAD is on the branch")?
    {
        Ok(())
    } else {
        bail!(
            "HEAD {head} is not on `{branch}`: release tags name only commits of that branch (--only-on); no tag \
             created. Merge the change first, then tag from `{branch}`"
        )
    }
}

fn tag_exists(sh: &Shell, version: &str, remote: Option<&str>) -> Result<()> {
    let local = format!("refs/tags/{version}");
    if cmd!(sh, "git rev-parse --verify --quiet {local}").quiet().ignore_stdout().run().is_ok() {
        bail!("tag {version} already exists; pick the next version (tags are never moved)");
    }
    if let Some(remote) = remote {
        let listed = cmd!(sh, "git ls-remote --tags {remote} {local}")
            .quiet()
            .read()
            .with_context(|| format!("asking remote `{remote}` for its tags"))?;
        ensure!(listed.trim().is_empty(), "tag {version} already exists on remote `{remote}`");
    }
    Ok(())
}

/// Runs the perf gate in `top` (the program in `HAPULSE_RELEASE_GATE` when set, for tests; else this
/// binary's `perf`), and returns its report, written by this very run.
fn run_gate(top: &Path, report_path: &Path) -> Result<(String, Value)> {
    // Remove any earlier report so the one read afterwards can only come from this run.
    match std::fs::remove_file(report_path) {
        Ok(()) => {}
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
        Err(e) => return Err(e).with_context(|| format!("removing the old {}", report_path.display())),
    }
    let (program, args, label) = match std::env::var_os("HAPULSE_RELEASE_GATE").filter(|p| !p.is_empty()) {
        Some(program) => {
            let label = format!("{} (HAPULSE_RELEASE_GATE)", Path::new(&program).display());
            (PathBuf::from(program), vec![], label)
        }
        None => (std::env::current_exe()?, vec!["perf"], REAL_GATE.to_owned()),
    };
    eprintln!("release: running the perf gate for HEAD: {label}");
    let status = std::process::Command::new(&program)
        .args(&args)
        .current_dir(top)
        .status()
        .with_context(|| format!("starting the perf gate {}", program.display()))?;
    ensure!(
        status.success(),
        "the perf gate failed for HEAD ({status}); no tag created. Fix the regression, or bless a deliberate change \
         with `cargo xtask perf bless --reason \"...\"` and commit it"
    );
    let text = std::fs::read_to_string(report_path).with_context(|| {
        format!(
            "the perf gate passed but wrote no report at {} (use --report to say where it is)",
            report_path.display()
        )
    })?;
    let report: Value =
        serde_json::from_str(&text).with_context(|| format!("{} is not a perf report", report_path.display()))?;
    Ok((label, report))
}

fn read_baselines(top: &Path) -> Result<Vec<(String, Value)>> {
    let dir = top.join("baselines");
    let mut out = Vec::new();
    let Ok(entries) = std::fs::read_dir(&dir) else { return Ok(out) };
    for entry in entries {
        let path = entry?.path();
        if path.extension().is_some_and(|e| e == "json") {
            let text = std::fs::read_to_string(&path).with_context(|| format!("reading {}", path.display()))?;
            let value = serde_json::from_str(&text).with_context(|| format!("{} is not JSON", path.display()))?;
            out.push((path.file_name().unwrap_or_default().to_string_lossy().into_owned(), value));
        }
    }
    out.sort_by(|a, b| a.0.cmp(&b.0));
    Ok(out)
}

fn tag(sh: &Shell, top: &Path, version: &str, remote: Option<&str>, report_path: &Path) -> Result<()> {
    ensure_clean(sh)?;
    tag_exists(sh, version, remote)?;
    let commit = cmd!(sh, "git rev-parse HEAD").quiet().read()?;

    let (gate, report) = run_gate(top, report_path)?;
    if let Some(why) = message::refusal(&report) {
        bail!("{why}; no tag created");
    }
    ensure!(cmd!(sh, "git rev-parse HEAD").quiet().read()? == commit, "HEAD moved while the gate ran; no tag created");
    ensure_clean(sh).context("the gate run changed the tree")?;

    let baselines = read_baselines(top)?;
    let text =
        message::tag_message(&Inputs { version, commit: &commit, gate: &gate, report: &report, baselines: &baselines });
    cmd!(sh, "git tag --annotate --cleanup=verbatim --message {text} {version} {commit}")
        .quiet()
        .run()
        .with_context(|| format!("creating tag {version}"))?;
    println!("release: tagged {commit} as {version} ({})", text_field(&report, "summary"));
    if let Some(remote) = remote {
        let refspec = format!("refs/tags/{version}");
        cmd!(sh, "git push --quiet {remote} {refspec}")
            .run()
            .with_context(|| format!("pushing {version} to {remote}"))?;
        println!("release: pushed {version} to {remote}");
    }
    Ok(())
}

fn text_field<'v>(v: &'v Value, key: &str) -> &'v str {
    v.get(key).and_then(Value::as_str).unwrap_or("")
}

fn verify(sh: &Shell, version: &str) -> Result<()> {
    let reference = format!("refs/tags/{version}");
    cmd!(sh, "git rev-parse --verify --quiet {reference}")
        .quiet()
        .ignore_stdout()
        .run()
        .map_err(|_| anyhow::anyhow!("there is no tag {version} (fetch tags with `git fetch --tags`)"))?;
    let kind = cmd!(sh, "git cat-file -t {reference}").quiet().read()?;
    ensure!(
        kind == "tag",
        "{version} is a lightweight tag: it records no perf verdict (tag with `cargo xtask release tag`)"
    );
    let text = cmd!(sh, "git for-each-ref --format=%(contents) {reference}").quiet().read()?;
    let trailers = message::trailers(&text);
    let get = |k: &str| trailers.get(k).map(String::as_str).unwrap_or("");
    ensure!(
        get(VALIDATED) == "yes",
        "{version} records no perf verdict (no `{VALIDATED}: yes` trailer): it was not made by `cargo xtask release tag`"
    );
    let target = format!("{reference}^{{commit}}");
    let tagged = cmd!(sh, "git rev-parse {target}").quiet().read()?;
    ensure!(
        get(COMMIT) == tagged,
        "{version} points at {tagged} but its verdict is for {}: the tag does not vouch for what it names",
        get(COMMIT)
    );
    println!("{version}: perf gate {} for {tagged} ({})", get(VERDICT), get(SUMMARY));
    if get(GATE) != REAL_GATE {
        println!("warning: {version} was validated by a substitute gate: {}", get(GATE));
    }
    for line in text.lines().take_while(|l| !l.starts_with(&format!("{VALIDATED}:"))) {
        println!("  {line}");
    }
    Ok(())
}
