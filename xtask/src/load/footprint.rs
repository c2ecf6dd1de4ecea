//! `cargo xtask load --code-footprint`: how much code the bare client runs per frame.
//!
//! At real installations' rates the client sleeps between frames, and what a frame then costs is
//! mostly fetching its code and data again (`docs/performance.md`, eighteenth round): the CPU time
//! per frame follows the code a frame runs more than the instructions it executes. CPU time on a
//! shared machine is noisy; the code a frame runs is not. This runs the `mirror` example under
//! callgrind (`--dump-instr=yes`, collection switched on only for its measuring window) against
//! ha-sim at a steady rate, and counts the 64-byte lines of code that ran at least once per two
//! frames (on average: code that runs rarely but loops counts too), by crate. Code inlined into a
//! function counts for the crate of that function.

use std::collections::HashMap;
use std::path::Path;
use std::process::Command;

use anyhow::{Context, Result, bail};
use serde::Serialize;

/// A line of code counts as run per frame when its most run instruction ran at least this many
/// times per frame (once per two frames).
const PER_FRAME: f64 = 0.5;

/// Bytes per line of code (the instruction cache's line).
const LINE: u64 = 64;

/// What ran in a callgrind dump: per instruction (object, address), how often it ran and in which
/// function; the objects' names.
#[derive(Debug, Default)]
pub(crate) struct Dump {
    instructions: HashMap<(usize, u64), Executed>,
    objects: Vec<String>,
    functions: Vec<String>,
}

#[derive(Debug, Default, Clone, Copy)]
struct Executed {
    /// Times the instruction ran (a call instruction's cost line and its call line both say so:
    /// the larger is kept).
    times: u64,
    /// Of those, counted from its own cost lines (not from a call's), for the instructions per frame.
    own: u64,
    /// Index into `functions`.
    function: usize,
}

/// A line of code: how often its most run instruction ran, the instructions run on it, and the
/// function of that instruction.
#[derive(Debug, Default, Clone, Copy)]
struct LineCost {
    times: u64,
    instructions: u64,
    function: usize,
}

/// Names compressed the callgrind way: `(id) name` defines, `(id)` refers.
#[derive(Debug, Default)]
struct Names(HashMap<String, String>);

impl Names {
    fn resolve(&mut self, spec: &str) -> String {
        let spec = spec.trim();
        match spec.strip_prefix('(').and_then(|s| s.split_once(')')) {
            Some((id, rest)) => {
                let name = rest.trim();
                if name.is_empty() {
                    self.0.get(id).cloned().unwrap_or_default()
                } else {
                    self.0.insert(id.to_owned(), name.to_owned());
                    name.to_owned()
                }
            }
            None => spec.to_owned(),
        }
    }
}

/// The index of `name` in `names`, which `ids` maps names into: a name seen before keeps its
/// index, a new one is appended. (Objects and functions are both numbered this way.)
fn intern(name: String, ids: &mut HashMap<String, usize>, names: &mut Vec<String>) -> usize {
    let next = ids.len();
    let id = *ids.entry(name.clone()).or_insert(next);
    if id == names.len() {
        names.push(name);
    }
    id
}

/// One position of a cost line: absolute (`0x1f`, `31`), relative to the previous (`+4`, `-0x8`)
/// or the same (`*`).
fn position(token: &str, previous: u64) -> Option<u64> {
    let number = |s: &str| match s.strip_prefix("0x") {
        Some(hex) => u64::from_str_radix(hex, 16).ok(),
        None => s.parse().ok(),
    };
    match token.as_bytes().first()? {
        b'*' => Some(previous),
        b'+' => previous.checked_add(number(&token[1..])?),
        b'-' => previous.checked_sub(number(&token[1..])?),
        _ => number(token),
    }
}

impl Dump {
    /// Reads a callgrind output file written with `--dump-instr=yes` (its first event must be `Ir`).
    pub(crate) fn parse(text: &str) -> Result<Self> {
        let mut dump = Dump::default();
        let (mut objects, mut functions) = (Names::default(), Names::default());
        let (mut object_ids, mut function_ids): (HashMap<String, usize>, HashMap<String, usize>) = Default::default();
        let (mut object, mut function) = (0, 0);
        let mut columns = 0;
        let mut last = Vec::new();
        // Executions of the call on the next cost line (its cost is the callee's, not the line's).
        let mut call: Option<u64> = None;
        for line in text.lines() {
            let line = line.trim_end();
            let Some(&first) = line.as_bytes().first() else { continue };
            if first.is_ascii_digit() || matches!(first, b'+' | b'-' | b'*') {
                if columns == 0 {
                    bail!("a cost line before the `positions:` line");
                }
                let mut tokens = line.split_ascii_whitespace();
                for (i, slot) in last.iter_mut().enumerate().take(columns) {
                    let token = tokens.next().with_context(|| format!("cost line {line:?}: position {i} missing"))?;
                    *slot = position(token, *slot).with_context(|| format!("cost line {line:?}: bad position"))?;
                }
                let (times, own) = match call.take() {
                    Some(calls) => (calls, 0),
                    None => {
                        let n = tokens.next().and_then(|t| t.parse().ok()).unwrap_or(0);
                        (n, n)
                    }
                };
                let executed =
                    dump.instructions.entry((object, last[0])).or_insert(Executed { function, ..Default::default() });
                executed.times = executed.times.max(times);
                executed.own += own;
                continue;
            }
            let Some((key, value)) = line.split_once('=').or_else(|| line.split_once(':')) else { continue };
            match key {
                "positions" => {
                    let names: Vec<&str> = value.split_ascii_whitespace().collect();
                    if names.first() != Some(&"instr") {
                        bail!("positions are {value:?}: the dump needs callgrind's --dump-instr=yes");
                    }
                    (columns, last) = (names.len(), vec![0; names.len()]);
                }
                "events" if value.split_ascii_whitespace().next() != Some("Ir") => {
                    bail!("events are {value:?}: the first must be Ir");
                }
                "ob" => object = intern(objects.resolve(value), &mut object_ids, &mut dump.objects),
                // Callees' names are defined here too; they do not change the current function.
                "cob" => drop(objects.resolve(value)),
                "cfn" => drop(functions.resolve(value)),
                "fn" => function = intern(functions.resolve(value), &mut function_ids, &mut dump.functions),
                "calls" => {
                    call = value.split_ascii_whitespace().next().and_then(|n| n.parse().ok());
                }
                _ => {}
            }
        }
        Ok(dump)
    }

    /// The lines of code that ran, with their costs.
    fn lines(&self) -> HashMap<(usize, u64), LineCost> {
        let mut lines: HashMap<(usize, u64), LineCost> = HashMap::new();
        for (&(object, address), executed) in &self.instructions {
            let line = lines.entry((object, address / LINE)).or_default();
            line.instructions += executed.own;
            if executed.times > line.times {
                (line.times, line.function) = (executed.times, executed.function);
            }
        }
        lines
    }

    /// What ran per frame, over `frames` frames.
    pub(crate) fn per_frame(&self, frames: u64) -> Footprint {
        let frames_f = frames.max(1) as f64;
        let mut by_crate: HashMap<String, u64> = HashMap::new();
        let mut by_object: HashMap<usize, u64> = HashMap::new();
        let mut lines = 0;
        for ((object, _), cost) in self.lines() {
            *by_object.entry(object).or_default() += cost.instructions;
            if cost.times as f64 / frames_f >= PER_FRAME {
                lines += 1;
                *by_crate.entry(crate_of(&self.functions[cost.function], &self.objects[object])).or_default() += 1;
            }
        }
        let mut by_crate: Vec<CrateLines> =
            by_crate.into_iter().map(|(name, lines)| CrateLines { name, lines, kib: kib(lines) }).collect();
        by_crate.sort_by(|a, b| b.lines.cmp(&a.lines).then_with(|| a.name.cmp(&b.name)));
        let mut instructions: Vec<ObjectInstructions> = by_object
            .into_iter()
            .map(|(object, n)| ObjectInstructions {
                object: self.objects[object].clone(),
                per_frame: (n as f64 / frames_f).round() as u64,
            })
            .filter(|o| o.per_frame > 0)
            .collect();
        instructions.sort_by_key(|o| std::cmp::Reverse(o.per_frame));
        Footprint { frames, lines_per_frame: lines, kib_per_frame: kib(lines), by_crate, instructions }
    }
}

fn kib(lines: u64) -> f64 {
    (lines * LINE) as f64 / 1024.0
}

/// The crate a function belongs to, from its demangled name (`<T as tokio::…>::poll` counts for
/// the crate of the type: the code is the impl's); a function of a shared library counts for the
/// library.
fn crate_of(function: &str, object: &str) -> String {
    let file = object.rsplit('/').next().unwrap_or(object);
    if file.ends_with(".so") || file.contains(".so.") {
        return file.split(".so").next().unwrap_or(file).to_owned();
    }
    let name = function.trim_start_matches(['<', '&', '*']).trim_start_matches("mut ").trim_start_matches("dyn ");
    match name.split_once("::") {
        Some((krate, _)) if !krate.is_empty() && krate.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') => {
            krate.to_owned()
        }
        _ => "(other)".to_owned(),
    }
}

/// `target/perf/footprint.json`.
#[derive(Debug, Serialize)]
pub(crate) struct Footprint {
    /// Frames the client read in the measured window.
    pub(crate) frames: u64,
    /// 64-byte lines of code that ran at least once per two frames.
    pub(crate) lines_per_frame: u64,
    /// The same in KiB.
    pub(crate) kib_per_frame: f64,
    /// Those lines by crate (or shared library), most first.
    pub(crate) by_crate: Vec<CrateLines>,
    /// Instructions executed per frame, by object file.
    pub(crate) instructions: Vec<ObjectInstructions>,
}

#[derive(Debug, Serialize)]
pub(crate) struct CrateLines {
    pub(crate) name: String,
    pub(crate) lines: u64,
    pub(crate) kib: f64,
}

#[derive(Debug, Serialize)]
pub(crate) struct ObjectInstructions {
    pub(crate) object: String,
    pub(crate) per_frame: u64,
}

impl Footprint {
    /// Lines for the log.
    pub(crate) fn describe(&self) -> String {
        let mut out = format!(
            "code run per frame: {} lines of 64 bytes ({:.1} KiB) ran at least once per two frames, over {} frames\n",
            self.lines_per_frame, self.kib_per_frame, self.frames
        );
        for c in &self.by_crate {
            out.push_str(&format!("  {:>5} lines {:>6.1} KiB  {}\n", c.lines, c.kib, c.name));
        }
        for o in &self.instructions {
            out.push_str(&format!("  instructions per frame {:>9}  {}\n", o.per_frame, o.object));
        }
        out
    }
}

/// `callgrind_control` `command` (`-i on`, `-i off`, `-d`) for the callgrind run `pid`.
pub(crate) fn control(pid: u32, command: &[&str]) -> Result<()> {
    let output = Command::new("callgrind_control")
        .args(command)
        .arg(pid.to_string())
        .output()
        .context("running callgrind_control (it comes with valgrind)")?;
    if !output.status.success() {
        bail!(
            "callgrind_control {command:?} {pid} failed ({}): {}{}",
            output.status,
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
    }
    Ok(())
}

/// Where callgrind writes its first dump on request, given `--callgrind-out-file=<out>`.
pub(crate) fn dump_path(out: &Path) -> std::path::PathBuf {
    out.with_file_name(format!("{}.1", out.file_name().and_then(|n| n.to_str()).unwrap_or_default()))
}

/// The dump callgrind wrote when asked ([`dump_path`]).
pub(crate) fn read_dump(out: &Path) -> Result<Dump> {
    let part = dump_path(out);
    let text =
        std::fs::read_to_string(&part).with_context(|| format!("reading callgrind's dump {}", part.display()))?;
    Dump::parse(&text).with_context(|| format!("reading {}", part.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DUMP: &str = "\
version: 1
positions: instr line
events: Ir
ob=(1) /work/target/release/examples/mirror
fl=(1) src/scan.rs
fn=(1) ha_proto::scan::Cursor::plain_str
0x1000 10 600
+4 * 600
+0x40 11 3
cfn=(2) <tokio::runtime::Handle as Clone>::clone
calls=250 0x9000 20
+8 12 90000
ob=(2) /usr/lib/x86_64-linux-gnu/libc.so.6
fn=(3) malloc
0x7000 1 3000
ob=(1)
fn=(2)
0x9000 20 1000
";

    fn crates(footprint: &Footprint) -> Vec<(&str, u64)> {
        footprint.by_crate.iter().map(|c| (c.name.as_str(), c.lines)).collect()
    }

    #[test]
    fn a_line_run_at_least_once_per_two_frames_counts_for_its_crate() {
        // arrange: 1,000 frames; plain_str's first line ran 600 times, its second 250 times (too
        // rare), malloc's 3,000, a tokio function's (named first as a callee) 1,000
        let dump = Dump::parse(DUMP).unwrap();

        // act
        let footprint = dump.per_frame(1000);

        // assert
        assert_eq!(crates(&footprint), vec![("ha_proto", 1), ("libc", 1), ("tokio", 1)]);
    }

    #[test]
    fn a_call_counts_its_calls_not_the_callees_instructions() {
        // arrange: the call at 0x104c carries the callee's 90,000 instructions, over 250 calls
        let dump = Dump::parse(DUMP).unwrap();

        // act
        let line = dump.lines()[&(0, 0x1040 / LINE)];

        // assert: run 250 times; 3 instructions of its own (the call's are the callee's)
        assert_eq!((line.times, line.instructions), (250, 3));
    }

    #[test]
    fn instructions_per_frame_are_counted_per_object() {
        let dump = Dump::parse(DUMP).unwrap();

        let footprint = dump.per_frame(1000);

        let got: Vec<_> =
            footprint.instructions.iter().map(|o| (o.object.rsplit('/').next().unwrap(), o.per_frame)).collect();
        assert_eq!(got, vec![("libc.so.6", 3), ("mirror", 2)]);
    }

    #[test]
    fn relative_and_repeated_positions_follow_the_previous_line() {
        assert_eq!(
            [position("+4", 0x1000), position("-0x10", 0x1000), position("*", 7), position("0x20", 1)],
            [Some(0x1004), Some(0xff0), Some(7), Some(0x20)]
        );
    }

    #[test]
    fn a_dump_without_instruction_positions_is_refused() {
        let err = Dump::parse("positions: line\nevents: Ir\nfn=(1) f\n10 5\n").unwrap_err();

        assert!(err.to_string().contains("--dump-instr=yes"), "{err}");
    }

    #[test]
    fn a_trait_impls_code_counts_for_the_crate_of_its_type() {
        let got = [
            crate_of("<tokio_tungstenite::WebSocketStream<T> as futures_core::stream::Stream>::poll_next", "/x/mirror"),
            crate_of("&mut F as FnMut", "/x/mirror"),
            crate_of("malloc", "/usr/lib/x86_64-linux-gnu/libc.so.6"),
        ];

        assert_eq!(got, ["tokio_tungstenite".to_owned(), "(other)".to_owned(), "libc".to_owned()]);
    }
}
