//! `cargo xtask release`: performance-validated release tags. `tag` refuses on a dirty tree, on an
//! existing tag, on a HEAD outside the branch named by `--only-on`, and unless the perf gate passes for HEAD (it runs the gate itself: a clean tree means
//! the run measures exactly HEAD); it then writes an annotated tag carrying the verdict and
//! `Perf-Validated: yes`, and can push it. `verify` prints a tag's recorded verdict or fails.

mod message;

use std::path::{Path, PathBuf};

use anyhow::{Context, Result, bail, ensure};
use serde_json::Value;
use xshell::{Shell, cmd};

use self::message::{COMMIT, GATE, Inputs, REAL_GATE, SUMMARY, VALIDATED, VERDICT};

/// Options of `cargo xtask release`.
#[derive(Debug, clap::Args)]
pub(crate) struct Args {
    #[command(subcommand)]
    command: Sub,
}

#[derive(Debug, clap::Subcommand)]
enum Sub {
    /// Run the perf gate for HEAD and, when it passes, create the annotated tag VERSION (vX.Y.Z).
    Tag {
        /// The version to tag, vMAJOR.MINOR.PATCH (optionally -PRERELEASE).
        #[arg(value_parser = parse_version)]
        version: String,
        /// Push the tag to the remote once created.
        #[arg(long)]
        push: bool,
        /// The remote to push to.
        #[arg(long, default_value = "origin", requires = "push")]
        remote: String,
        /// Refuse unless HEAD is on this branch (reachable from it), e.g. origin/main: release.yml
        /// tags only commits of the default branch.
        #[arg(long, value_name = "REF")]
        only_on: Option<String>,
        /// Where the gate writes report.json (default: $CARGO_TARGET_DIR/perf/report.json, else
        /// <repository>/target/perf/report.json).
        #[arg(long)]
        report: Option<PathBuf>,
    },
    /// Print the perf verdict recorded in tag VERSION; fail when it has none.
    Verify {
        /// The tag to check.
        version: String,
    },
}

fn parse_version(text: &str) -> Result<String, String> {
    let bad = || format!("`{text}` is not vMAJOR.MINOR.PATCH (e.g. v1.2.3 or v1.2.3-rc.1)");
    let rest = text.strip_prefix('v').ok_or_else(bad)?;
    let (core, pre) = rest.split_once('-').map_or((rest, None), |(c, p)| (c, Some(p)));
    let numbers: Vec<&str> = core.split('.').collect();
    let numeric = |n: &&str| !n.is_empty() && n.chars().all(|c| c.is_ascii_digit());
    let pre_ok = pre.is_none_or(|p| !p.is_empty() && p.chars().all(|c| c.is_ascii_alphanumeric() || c == '.'));
    if numbers.len() == 3 && numbers.iter().all(numeric) && pre_ok { Ok(text.to_owned()) } else { Err(bad()) }
}

/// Runs `cargo xtask release`.
pub(crate) fn run(args: Args) -> Result<()> {
    let sh = Shell::new()?;
    let top = cmd!(sh, "git rev-parse --show-toplevel").quiet().read().context("release needs a git repository")?;
    sh.change_dir(&top);
    match args.command {
        Sub::Tag { version, push, remote, only_on, report } => {
            let report = report.unwrap_or_else(|| default_report(Path::new(&top)));
            if let Some(branch) = only_on {
                ensure_on(&sh, &branch)?;
            }
            tag(&sh, Path::new(&top), &version, push.then_some(remote.as_str()), &report)
        }
        Sub::Verify { version } => verify(&sh, &version),
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
    let output = cmd!(sh, "git merge-base --is-ancestor {head} {tip}")
        .quiet()
        .ignore_status()
        .output()
        .context("asking git whether HEAD is on the branch")?;
    match output.status.code() {
        Some(0) => Ok(()),
        Some(1) => bail!(
            "HEAD {head} is not on `{branch}`: release tags name only commits of that branch (--only-on); no tag \
             created. Merge the change first, then tag from `{branch}`"
        ),
        _ => bail!("git merge-base failed: {}", String::from_utf8_lossy(&output.stderr).trim()),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_must_be_v_major_minor_patch() {
        let good = ["v0.1.0", "v10.20.30", "v1.2.3-rc.1"].map(|v| parse_version(v).is_ok());
        let bad = ["1.2.3", "v1.2", "v1.2.x", "v1.2.3-", "v1.2.3 ", "v1..3"].map(|v| parse_version(v).is_err());

        assert_eq!(good, [true; 3]);
        assert_eq!(bad, [true; 6]);
    }
}
