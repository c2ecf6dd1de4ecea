//! Running the bench targets of one checkout (I/O edge): one `cargo bench -p <package> --bench <target>` per target,
//! each writing into its own fresh raw-output directory, output streamed into a log file and turned
//! into progress events, results read back through the criterion / iai / dhat readers.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Instant;

use anyhow::{Context, Result};
use xshell::{Shell, cmd};

use super::config::{Config, CriterionSettings, Statistic};
use super::progress::Progress;
use super::schema::Target;
use super::schema::{Measurement, Suite};
use super::{criterion, dhat, iai};

/// How one pass over the targets is run.
#[derive(Debug, Clone, Default)]
pub(crate) struct RunSettings {
    /// Short criterion measurement.
    pub(crate) quick: bool,
    /// Keep only benchmark ids containing one of these, when any (calibration benchmarks are
    /// always kept).
    pub(crate) filter: Vec<String>,
    /// Bytes of padding appended to `LD_LIBRARY_PATH` (the one variable iai-callgrind passes to the
    /// benchmark after clearing the environment): perturbs the stack layout at bless time.
    pub(crate) env_padding: usize,
}

/// One checkout of the bench workspace to measure: the tree being judged (head), or a revision
/// checked out in a worktree (the base of an A/B comparison, a bisect step).
#[derive(Debug)]
pub(crate) struct Checkout<'a> {
    /// Shell used to start every process.
    pub(crate) sh: &'a Shell,
    /// Workspace root to run cargo in.
    pub(crate) root: PathBuf,
    /// The bench package.
    pub(crate) package: String,
    /// Where raw tool output and logs go.
    pub(crate) raw_dir: PathBuf,
    /// Label in progress lines (`head`, `base`).
    pub(crate) label: String,
    /// The rules and settings.
    pub(crate) config: &'a Config,
    /// Its own cargo target directory, when it must not share the inherited one. Cargo keys a
    /// workspace member's artifacts by its path relative to the workspace root, so two checkouts of
    /// one workspace building into one `CARGO_TARGET_DIR` overwrite each other's bench binaries.
    pub(crate) target_dir: Option<PathBuf>,
    /// The bench package's directory, where its executables run (as `cargo bench` runs them).
    pub(crate) package_dir: PathBuf,
    /// Extra environment for every benchmark process of this side (`perf power` injects its known
    /// changes into one side this way).
    pub(crate) env: Vec<(String, String)>,
}

/// Escapes regex metacharacters so a substring filter can be handed to criterion.
/// Whether `--filter` keeps benchmark `id`: with no filter every id, else an id containing one of
/// its substrings.
pub(crate) fn filter_keeps(filter: &[String], id: &str) -> bool {
    filter.is_empty() || filter.iter().any(|f| id.contains(f.as_str()))
}

pub(crate) fn regex_escape(text: &str) -> String {
    text.chars().fold(String::new(), |mut out, c| {
        if "\\.+*?()|[]{}^$#&-~".contains(c) {
            out.push('\\');
        }
        out.push(c);
        out
    })
}

impl Checkout<'_> {
    fn cargo_bench(&self, extra: &[String]) -> Command {
        let _dir = self.sh.push_dir(&self.root);
        let package = &self.package;
        let mut command = cmd!(self.sh, "cargo bench --package {package} {extra...}");
        if let Some(dir) = &self.target_dir {
            command = command.env("CARGO_TARGET_DIR", dir);
        }
        command.envs(self.env.iter().map(|(k, v)| (k, v))).into()
    }

    /// Builds the given targets once, so that timing and progress exclude compilation.
    pub(crate) fn build(&self, targets: &[Target]) -> Result<()> {
        if targets.is_empty() {
            return Ok(());
        }
        let mut args = vec!["--no-run".to_owned()];
        for t in targets {
            args.extend(["--bench".to_owned(), t.name.clone()]);
        }
        // Cargo's own progress goes straight to the terminal: a cold build takes minutes.
        let mut command = self.cargo_bench(&args);
        command.stderr(Stdio::inherit());
        let status = command.status().with_context(|| format!("starting {command:?}"))?;
        anyhow::ensure!(status.success(), "building the {} benches failed ({status})", self.label);
        Ok(())
    }

    /// Builds the given targets and returns each one's executable, so that paired A/B rounds can
    /// start them directly (no cargo between the two sides of a round).
    pub(crate) fn executables(&self, targets: &[Target]) -> Result<BTreeMap<String, PathBuf>> {
        let mut args = vec!["--no-run".to_owned(), "--message-format=json-render-diagnostics".to_owned()];
        for t in targets {
            args.extend(["--bench".to_owned(), t.name.clone()]);
        }
        let mut command = self.cargo_bench(&args);
        command.stderr(Stdio::inherit()).stdout(Stdio::piped());
        let output = command.output().with_context(|| format!("starting {command:?}"))?;
        anyhow::ensure!(output.status.success(), "building the {} benches failed ({})", self.label, output.status);
        let found = bench_executables(&String::from_utf8_lossy(&output.stdout));
        for t in targets {
            anyhow::ensure!(found.contains_key(&t.name), "cargo built no executable for bench target {}", t.name);
        }
        Ok(found)
    }

    /// The benchmark ids a criterion executable would run, from its `--list`.
    pub(crate) fn list_wall(&self, executable: &Path) -> Result<Vec<String>> {
        let output = self
            .wall_command(executable)
            .args(["--bench", "--list"])
            .output()
            .with_context(|| format!("listing {}", executable.display()))?;
        anyhow::ensure!(output.status.success(), "{} --list failed ({})", executable.display(), output.status);
        Ok(String::from_utf8_lossy(&output.stdout)
            .lines()
            .filter_map(|l| l.strip_suffix(": benchmark"))
            .map(str::to_owned)
            .collect())
    }

    fn wall_command(&self, executable: &Path) -> Command {
        let mut command = Command::new(executable);
        command.current_dir(&self.package_dir).envs(self.env.iter().map(|(k, v)| (k, v))).stdin(Stdio::null());
        command
    }

    /// One process of a paired A/B round: runs exactly `ids` of a criterion executable with
    /// `settings`, into a fresh `home`, and returns each id's ns per iteration (the `statistic` of
    /// its samples).
    pub(crate) fn run_wall_once(
        &self,
        executable: &Path,
        ids: &[String],
        settings: &CriterionSettings,
        statistic: Statistic,
        home: &Path,
    ) -> Result<BTreeMap<String, f64>> {
        if home.exists() {
            std::fs::remove_dir_all(home).with_context(|| format!("clearing {}", home.display()))?;
        }
        std::fs::create_dir_all(home).with_context(|| format!("creating {}", home.display()))?;
        let filter = format!("^(?:{})$", ids.iter().map(|id| regex_escape(id)).collect::<Vec<_>>().join("|"));
        let output = self
            .wall_command(executable)
            .env("CRITERION_HOME", home)
            .args(["--bench", "--noplot", "--nresamples=1000"])
            .arg(format!("--warm-up-time={}", settings.warm_up_s))
            .arg(format!("--measurement-time={}", settings.measurement_s))
            .arg(format!("--sample-size={}", settings.sample_size))
            .arg(filter)
            .output()
            .with_context(|| format!("starting {}", executable.display()))?;
        if !output.status.success() {
            let text = String::from_utf8_lossy(&output.stderr);
            let tail: Vec<&str> = text.lines().rev().take(20).collect();
            anyhow::bail!(
                "{} ({}) failed ({}); last lines:\n{}",
                executable.display(),
                self.label,
                output.status,
                tail.into_iter().rev().collect::<Vec<_>>().join("\n")
            );
        }
        let results = criterion::read_home(home)?;
        std::fs::remove_dir_all(home).with_context(|| format!("clearing {}", home.display()))?;
        let figure = |r: &criterion::WallResult| match statistic {
            Statistic::Min => r.min_ns,
            Statistic::Median => r.median_ns,
        };
        Ok(results.iter().map(|r| (r.id.clone(), figure(r))).collect())
    }

    /// Number of benchmarks a target will run (from its `--list`); 1 for heap targets.
    pub(crate) fn count(&self, target: &Target) -> Result<usize> {
        if target.suite == Suite::Heap {
            return Ok(1);
        }
        let args =
            ["--bench".to_owned(), target.name.clone(), "--quiet".to_owned(), "--".to_owned(), "--list".to_owned()];
        let log = self.raw_dir.join(format!("list-{}-{}.log", self.label, target.name));
        let mut n = 0;
        stream(self.cargo_bench(&args), &log, |line| n += usize::from(line.ends_with(": benchmark")))?;
        Ok(n)
    }

    /// Runs one target and returns its measurements.
    pub(crate) fn run(
        &self,
        target: &Target,
        settings: &RunSettings,
        progress: &mut Progress,
    ) -> Result<Vec<Measurement>> {
        let out = self.raw_dir.join(target.suite.name()).join(&target.name);
        if out.exists() {
            std::fs::remove_dir_all(&out).with_context(|| format!("clearing {}", out.display()))?;
        }
        std::fs::create_dir_all(&out).with_context(|| format!("creating {}", out.display()))?;
        let out = std::path::absolute(&out)?;
        let mut args = vec!["--bench".to_owned(), target.name.clone(), "--quiet".to_owned(), "--".to_owned()];
        let mut command;
        match target.suite {
            Suite::Wall => {
                let s = if settings.quick { self.config.wall.quick } else { self.config.wall.full };
                args.extend([
                    "--noplot".to_owned(),
                    format!("--warm-up-time={}", s.warm_up_s),
                    format!("--measurement-time={}", s.measurement_s),
                    format!("--sample-size={}", s.sample_size),
                ]);
                if !settings.filter.is_empty() {
                    let wanted = settings.filter.iter().map(|f| regex_escape(f)).collect::<Vec<_>>().join("|");
                    args.push(format!("^{}|{wanted}", regex_escape(&self.config.wall.calibration_prefix)));
                }
                command = self.cargo_bench(&args);
                command.env("CRITERION_HOME", &out);
            }
            Suite::Instr => {
                args.extend(["--save-summary=json".to_owned(), format!("--home={}", out.display())]);
                command = self.cargo_bench(&args);
                if settings.env_padding > 0 {
                    let mut path = std::env::var_os("LD_LIBRARY_PATH").unwrap_or_default();
                    if !path.is_empty() {
                        path.push(":");
                    }
                    path.push(format!("/nonexistent-hapulse-perf-padding-{}", "x".repeat(settings.env_padding)));
                    command.env("LD_LIBRARY_PATH", path);
                }
            }
            Suite::Heap => {
                command = self.cargo_bench(&args);
                command.env(dhat::DIR_ENV, &out);
            }
        }
        let stage = format!("{} {}", self.label, target.suite.name());
        eprintln!("{}", progress.line(&stage, &format!("{} started", target.name), Instant::now()));
        let log = self.raw_dir.join(format!("run-{}-{}.log", self.label, target.name));
        let iai_prefix = format!("{}::", target.name);
        // criterion prints a long id on its own line and `time: [..]` on the next one.
        let mut previous = String::new();
        stream(command, &log, |line| {
            let finished = match target.suite {
                Suite::Wall => line.contains("time:") && line.contains('['),
                Suite::Instr => line.starts_with(&iai_prefix),
                Suite::Heap => false,
            };
            if finished {
                progress.finished(target.suite, Instant::now());
                let name = match progress_name(target.suite, line) {
                    name if name == "time:" => progress_name(target.suite, &previous),
                    name => name,
                };
                eprintln!("{}", progress.line(&stage, &name, Instant::now()));
            }
            if !line.trim().is_empty() {
                previous = line.to_owned();
            }
        })
        .with_context(|| format!("running bench target {}", target.name))?;
        if target.suite == Suite::Heap {
            progress.finished(Suite::Heap, Instant::now());
        }

        let measurements = match target.suite {
            Suite::Wall => {
                let results = criterion::read_home(&out)?;
                criterion::to_measurements(&results, &target.name, &self.config.wall.calibration_prefix)
            }
            Suite::Instr => iai::to_measurements(&iai::read_home(&out)?, &target.name),
            Suite::Heap => {
                let stats = dhat::read_dir(&out)?;
                anyhow::ensure!(
                    !stats.is_empty(),
                    "heap target {} wrote no stats file into ${} (see docs/benchmarking.md)",
                    target.name,
                    dhat::DIR_ENV
                );
                dhat::to_measurements(&stats, &target.name)
            }
        };
        Ok(measurements
            .into_iter()
            .filter(|m| filter_keeps(&settings.filter, &m.id) || m.id.starts_with(&self.config.wall.calibration_prefix))
            .collect())
    }
}

/// Checkout target name -> executable, from `cargo bench --no-run --message-format=json` output (pure).
pub(crate) fn bench_executables(messages: &str) -> BTreeMap<String, PathBuf> {
    messages
        .lines()
        .filter_map(|line| serde_json::from_str::<serde_json::Value>(line).ok())
        .filter(|m| m.get("reason").and_then(|r| r.as_str()) == Some("compiler-artifact"))
        .filter(|m| {
            m.pointer("/target/kind").and_then(|k| k.as_array()).is_some_and(|k| k.iter().any(|k| k == "bench"))
        })
        .filter_map(|m| {
            let name = m.pointer("/target/name")?.as_str()?.to_owned();
            let executable = m.get("executable")?.as_str()?;
            Some((name, PathBuf::from(executable)))
        })
        .collect()
}

/// The benchmark id in a tool's "finished" output line (criterion: `<id> time: [..]`; iai-callgrind:
/// `<target>::<group>::<function> <id>:<details>`).
fn progress_name(suite: Suite, line: &str) -> String {
    let first = line.split_whitespace().next().unwrap_or("");
    if suite != Suite::Instr {
        return first.to_owned();
    }
    let case = line.split_whitespace().nth(1).and_then(|s| s.split(':').next()).unwrap_or("");
    let path: Vec<&str> = first.split("::").skip(1).collect();
    format!("{}/{case}", path.join("/"))
}

/// Runs `command`, handing each stdout line to `on_line`, and writes stdout then stderr to `log`.
/// On failure the error carries the log's last lines.
fn stream(mut command: Command, log: &Path, mut on_line: impl FnMut(&str)) -> Result<()> {
    if let Some(dir) = log.parent() {
        std::fs::create_dir_all(dir).with_context(|| format!("creating {}", dir.display()))?;
    }
    command.stdout(Stdio::piped()).stderr(Stdio::piped()).stdin(Stdio::null());
    let mut child = command.spawn().with_context(|| format!("starting {command:?}"))?;
    let stderr = child.stderr.take().context("no stderr pipe")?;
    let err_reader =
        std::thread::spawn(move || BufReader::new(stderr).lines().map_while(Result::ok).collect::<Vec<_>>());
    let mut out_lines = Vec::new();
    for line in BufReader::new(child.stdout.take().context("no stdout pipe")?).lines() {
        let line = line.context("reading benchmark output")?;
        on_line(&line);
        out_lines.push(line);
    }
    let status = child.wait().context("waiting for cargo bench")?;
    let err_lines = err_reader.join().unwrap_or_default();
    let text = format!("{}\n--- stderr ---\n{}\n", out_lines.join("\n"), err_lines.join("\n"));
    std::fs::write(log, &text).with_context(|| format!("writing {}", log.display()))?;
    if !status.success() {
        let tail: Vec<&String> = out_lines.iter().chain(&err_lines).collect();
        let tail = tail[tail.len().saturating_sub(25)..].iter().map(|l| l.as_str()).collect::<Vec<_>>().join("\n");
        anyhow::bail!("{command:?} failed ({status}); last lines:\n{tail}\n(full log: {})", log.display());
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_filter_keeps_ids_containing_any_of_its_parts() {
        let filter = ["proto/parse".to_owned(), "apply_frame".to_owned()];
        let ids = ["proto/parse_state_changed/median", "state/apply_frame/c8", "state/load_states/n16384"];

        let kept: Vec<bool> = ids.iter().map(|id| filter_keeps(&filter, id)).collect();

        assert_eq!(kept, [true, true, false]);
    }

    #[test]
    fn no_filter_keeps_every_id() {
        let kept = filter_keeps(&[], "state/load_states/n16384");

        assert!(kept);
    }

    #[test]
    fn regex_escape_quotes_metacharacters() {
        let text = "proto/parse.x(1)";

        let escaped = regex_escape(text);

        assert_eq!(escaped, r"proto/parse\.x\(1\)");
    }

    #[test]
    fn bench_executables_come_from_compiler_artifacts_of_bench_targets() {
        let messages = concat!(
            r#"{"reason":"compiler-artifact","target":{"name":"benches","kind":["lib"]},"executable":null}"#,
            "\n",
            r#"{"reason":"compiler-artifact","target":{"name":"wall_synth","kind":["bench"]},"executable":"/t/release/deps/wall_synth-1"}"#,
            "\n",
            r#"{"reason":"build-finished","success":true}"#,
        );

        let found = bench_executables(messages);

        assert_eq!(found, BTreeMap::from([("wall_synth".to_owned(), PathBuf::from("/t/release/deps/wall_synth-1"))]));
    }

    #[test]
    fn progress_name_is_the_benchmark_id() {
        let lines = [
            (Suite::Wall, "synth/sum/small         time:   [31.385 µs 31.408 µs 31.432 µs]"),
            (Suite::Instr, "instr_synth::synth::sum small:benches :: iterations_from_env()"),
        ];

        let names: Vec<String> = lines.iter().map(|(s, l)| progress_name(*s, l)).collect();

        assert_eq!(names, ["synth/sum/small", "synth/sum/small"]);
    }
}
