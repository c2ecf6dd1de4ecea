//! CPU figures of a load run: what the client process pays per applied change, what the simulator
//! uses meanwhile, and which of the two limited a ramp step that fell behind.
//!
//! CPU time is `utime + stime` of `/proc/<pid>/stat` (all threads of the process), in ticks of
//! `USER_HZ` (Linux fixes it at 100 on every architecture), so a figure is exact to 10 ms of CPU:
//! windows of 10 s or more keep that under a few percent at 1,000 changes/s.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::floor::Floor;

/// Clock ticks per second of `/proc/<pid>/stat` times.
const USER_HZ: f64 = 100.0;

/// A process's CPU time at one moment, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Default)]
pub(crate) struct CpuTimes {
    pub(crate) user: f64,
    pub(crate) system: f64,
}

impl CpuTimes {
    /// User plus system seconds.
    pub(crate) fn total(self) -> f64 {
        self.user + self.system
    }

    /// CPU used between `earlier` and `self`.
    pub(crate) fn since(self, earlier: CpuTimes) -> CpuTimes {
        CpuTimes { user: (self.user - earlier.user).max(0.0), system: (self.system - earlier.system).max(0.0) }
    }
}

/// Parses utime and stime out of the text of `/proc/<pid>/stat`. The command name (field 2) may
/// hold spaces and parentheses, so fields are counted after its last `)`.
pub(crate) fn parse_stat(text: &str) -> Option<CpuTimes> {
    let (_, rest) = text.rsplit_once(')')?;
    let mut fields = rest.split_whitespace();
    // After the name: state (field 3 of proc(5)) ... utime is field 14, stime field 15.
    let utime: u64 = fields.nth(11)?.parse().ok()?;
    let stime: u64 = fields.next()?.parse().ok()?;
    Some(CpuTimes { user: utime as f64 / USER_HZ, system: stime as f64 / USER_HZ })
}

/// The CPU times of process `pid`, `None` when it is gone (or this is not Linux).
pub(crate) fn read(pid: u32) -> Option<CpuTimes> {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).ok().as_deref().and_then(parse_stat)
}

/// CPU use of the two processes of a ramp step over the same stretch of it, in cores (CPU seconds
/// per wall second; 1.0 = one core busy all the time).
#[derive(Debug, Clone, Copy, PartialEq, Serialize, Deserialize)]
pub(crate) struct StepCpu {
    /// The client under test.
    pub(crate) client_cores: f64,
    /// The simulator.
    pub(crate) sim_cores: f64,
    /// The machine's CPUs taken by the hypervisor meanwhile (`steal` of `/proc/stat`), in cores;
    /// absent where it cannot be read and in files written before it was reported.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) steal_cores: Option<f64>,
    /// Seconds the figures cover.
    pub(crate) seconds: f64,
}

/// Which process held a ramp step back.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub(crate) enum Limit {
    /// The client used most of a core: its connection task (one task reads, decodes and applies
    /// every frame) cannot go faster.
    Client,
    /// The client had CPU to spare and the simulator used most of a core (its change generator and
    /// each connection's writer are single tasks): the simulator could not offer the rate, so the
    /// client's maximum lies higher than this run shows.
    Simulator,
    /// Neither was busy enough to explain it: the machine was shared (other processes took the
    /// cores), or the lag came from scheduling rather than work.
    Undetermined,
}

/// CPU use (in cores) at or above which a process counts as the limit: the client reads, decodes
/// and applies on one task, and the simulator generates changes and writes each connection's frames
/// on one task each, so one core is the ceiling that matters for both.
pub(crate) const BUSY_CORES: f64 = 0.8;

impl Limit {
    /// Judges a step that was not sustained from the CPU its processes used.
    pub(crate) fn of(cpu: &StepCpu) -> Limit {
        if cpu.client_cores >= BUSY_CORES {
            Limit::Client
        } else if cpu.sim_cores >= BUSY_CORES {
            Limit::Simulator
        } else {
            Limit::Undetermined
        }
    }
}

/// One steady-rate step with the bare client (`ha-client`'s `mirror` example in `--measure` mode):
/// what the example printed about itself, plus the simulator's CPU over the same window.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct CpuStep {
    /// Offered changes per second.
    #[serde(default)]
    pub(crate) offered: f64,
    /// Seconds measured.
    pub(crate) seconds: f64,
    /// Entity changes applied in the window.
    pub(crate) entity_changes: u64,
    /// WebSocket frames read in the window.
    pub(crate) frames: u64,
    /// Bytes of those frames (their WebSocket payloads).
    #[serde(default)]
    pub(crate) bytes: u64,
    /// User CPU seconds of the client process.
    pub(crate) user_seconds: f64,
    /// System CPU seconds of the client process.
    pub(crate) system_seconds: f64,
    /// Client CPU per applied change, µs.
    pub(crate) cpu_us_per_change: Option<f64>,
    /// Client CPU per frame, µs.
    pub(crate) cpu_us_per_frame: Option<f64>,
    /// Voluntary context switches of all the client's threads.
    pub(crate) voluntary_switches: u64,
    /// Involuntary context switches of all the client's threads.
    pub(crate) involuntary_switches: u64,
    /// Peak RSS of the client process (`VmHWM`), bytes.
    pub(crate) peak_rss_bytes: u64,
    /// Stream items dropped because the consumer fell behind.
    #[serde(default)]
    pub(crate) lagged: u64,
    /// Reconnections in the window.
    #[serde(default)]
    pub(crate) reconnects: u64,
    /// Reconnections before the window (while the client started or warmed up): not in the CPU
    /// figures, but in the peak RSS, which is the process's.
    #[serde(default)]
    pub(crate) reconnects_before_window: u64,
    /// The simulator's CPU over the same window, in cores (set by the xtask).
    #[serde(default)]
    pub(crate) sim_cores: Option<f64>,
    /// The machine's CPUs taken by the hypervisor over the same window, in cores (set by the
    /// xtask): a step measured under steal pays for waiting (see [`crate::steal`]).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) steal_cores: Option<f64>,
    /// The client held its reads back for windows of this many ms (`--batch-reads`), if it did.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) read_batching_ms: Option<u64>,
    /// Windows the client held its reads back for.
    #[serde(default)]
    pub(crate) read_windows: u64,
}

impl CpuStep {
    /// Changes per frame (how much the server coalesced).
    pub(crate) fn changes_per_frame(&self) -> Option<f64> {
        (self.frames > 0).then(|| self.entity_changes as f64 / self.frames as f64)
    }

    /// The mean gap between the frames read, and their mean size in bytes; `None` without frames.
    pub(crate) fn frame_gap_and_size(&self) -> Option<(Duration, usize)> {
        let frames = u32::try_from(self.frames).ok().filter(|f| *f > 0)?;
        let gap = Duration::try_from_secs_f64(self.seconds).ok()? / frames;
        let size = usize::try_from(self.bytes / self.frames).ok()?;
        Some((gap, size))
    }

    /// Context switches (voluntary and involuntary) per frame.
    pub(crate) fn switches_per_frame(&self) -> Option<f64> {
        (self.frames > 0).then(|| (self.voluntary_switches + self.involuntary_switches) as f64 / self.frames as f64)
    }

    /// What the client paid per frame above the machine's wake-up floor (one wake-up per frame),
    /// and what the floor alone costs per change at this step's changes per frame; `None` when the
    /// step read no frame.
    pub(crate) fn above_floor(&self, floor: &Floor) -> Option<String> {
        let per_frame = self.cpu_us_per_frame?;
        let changes = self.changes_per_frame().filter(|c| *c > 0.0)?;
        Some(floor.split(per_frame, changes))
    }

    /// One line for the log.
    pub(crate) fn describe(&self) -> String {
        let opt = |v: Option<f64>, digits: usize| v.map_or_else(|| "-".into(), |v| format!("{v:.digits$}"));
        format!(
            "{:>6.0} changes/s{}: client {} µs CPU per change ({} per frame, {} changes per frame; user {:.2} s, \
             system {:.2} s), {} context switches per frame, peak RSS {:.1} MB; simulator {} cores{}",
            self.offered,
            self.read_batching_ms.map_or_else(String::new, |ms| format!(
                " (reads held back up to {ms} ms, {} windows)",
                self.read_windows
            )),
            opt(self.cpu_us_per_change, 2),
            opt(self.cpu_us_per_frame, 1),
            opt(self.changes_per_frame(), 1),
            self.user_seconds,
            self.system_seconds,
            opt(self.switches_per_frame(), 2),
            self.peak_rss_bytes as f64 / 1e6,
            opt(self.sim_cores, 2),
            steal_suffix(self.steal_cores),
        ) + &self.reconnect_note()
    }

    /// `; reconnected …` when the client reconnected at all, saying how often before the window:
    /// a reconnect loads the snapshot again, and the peak RSS shows it.
    fn reconnect_note(&self) -> String {
        match (self.reconnects, self.reconnects_before_window) {
            (0, 0) => String::new(),
            (during, before) => format!(
                "; reconnected {} times, {before} of them before the window (the peak RSS includes their snapshots)",
                during + before
            ),
        }
    }
}

/// `, machine steal 0.12 cores` for a log line, or nothing when steal was not read.
pub(crate) fn steal_suffix(steal_cores: Option<f64>) -> String {
    steal_cores.map_or_else(String::new, |s| format!(", {}", crate::steal::describe(s)))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A step as the `mirror` example prints it, with `extra` fields added.
    fn step(extra: &str) -> CpuStep {
        let line = format!(
            r#"{{"seconds":20.0,"entity_changes":20000,"frames":4000,"user_seconds":0.1,"system_seconds":0.05,
                "cpu_us_per_change":7.5,"cpu_us_per_frame":37.5,"voluntary_switches":1000,
                "involuntary_switches":0,"peak_rss_bytes":0{extra}}}"#
        );
        serde_json::from_str(&line).unwrap()
    }

    #[test]
    fn a_step_with_batched_reads_says_so_and_one_without_does_not() {
        let (batched, plain) = (step(r#","read_batching_ms":50,"read_windows":400"#), step(""));

        let (batched, plain) = (batched.describe(), plain.describe());

        assert!(batched.contains("(reads held back up to 50 ms, 400 windows)"), "{batched}");
        assert!(!plain.contains("held back"), "{plain}");
    }

    #[test]
    fn a_step_that_reconnected_before_its_window_says_so() {
        let (reconnected, steady) = (step(r#","reconnects":1,"reconnects_before_window":2"#), step(""));

        let (reconnected, steady) = (reconnected.describe(), steady.describe());

        assert!(
            reconnected.ends_with(
                "; reconnected 3 times, 2 of them before the window (the peak RSS includes their snapshots)"
            ),
            "{reconnected}"
        );
        assert!(!steady.contains("reconnected"), "{steady}");
    }

    #[test]
    fn a_step_knows_the_mean_gap_and_size_of_its_frames() {
        let measured = step(r#","bytes":3300000"#);

        let gap_and_size = measured.frame_gap_and_size();

        assert_eq!(gap_and_size, Some((Duration::from_millis(5), 825)));
    }

    #[test]
    fn a_step_without_frames_has_no_gap() {
        let mut silent = step("");
        silent.frames = 0;

        assert_eq!(silent.frame_gap_and_size(), None);
    }

    #[test]
    fn a_step_measured_under_steal_says_how_much() {
        let (stolen, unknown) = (step(r#","steal_cores":0.25"#), step(""));

        let (stolen, unknown) = (stolen.describe(), unknown.describe());

        assert!(stolen.ends_with("; simulator - cores, machine steal 0.25 cores"), "{stolen}");
        assert!(!unknown.contains("steal"), "{unknown}");
    }

    #[test]
    fn stat_gives_user_and_system_seconds() {
        let stat = "4242 (ha-sim) S 1 2 3 4 5 6 7 8 9 10 250 75 0 0 20 0 9 0 100 0 0";

        let cpu = parse_stat(stat).unwrap();

        assert_eq!(cpu, CpuTimes { user: 2.5, system: 0.75 });
    }

    #[test]
    fn a_command_name_with_spaces_and_parentheses_is_skipped() {
        let stat = "7 (tokio (rt) worker) R 1 2 3 4 5 6 7 8 9 10 100 1 0 0";

        let cpu = parse_stat(stat).unwrap();

        assert_eq!(cpu.total(), 1.01);
    }

    #[test]
    fn a_truncated_stat_gives_nothing() {
        let cpu = parse_stat("7 (a) R 1 2 3");

        assert_eq!(cpu, None);
    }

    #[test]
    fn reading_this_process_gives_its_cpu() {
        let cpu = read(std::process::id());

        assert!(cpu.is_some_and(|c| c.total() >= 0.0), "{cpu:?}");
    }

    #[test]
    fn a_busy_client_is_the_limit_whatever_the_simulator_did() {
        let limits = [
            Limit::of(&StepCpu { client_cores: 0.95, sim_cores: 1.2, steal_cores: None, seconds: 3.0 }),
            Limit::of(&StepCpu { client_cores: 0.4, sim_cores: 1.1, steal_cores: None, seconds: 3.0 }),
            Limit::of(&StepCpu { client_cores: 0.2, sim_cores: 0.5, steal_cores: None, seconds: 3.0 }),
        ];

        assert_eq!(limits, [Limit::Client, Limit::Simulator, Limit::Undetermined]);
    }

    #[test]
    fn the_examples_json_reads_as_a_step() {
        let line = r#"{"seconds":10.0,"entity_changes":10000,"frames":2000,"events":10000,"bytes":1640817,
            "user_seconds":0.09,"system_seconds":0.05,"cpu_us_per_change":14.0,"cpu_us_per_frame":70.0,
            "voluntary_switches":3928,"involuntary_switches":72,"peak_rss_bytes":32686080,"lagged":0,
            "reconnects":0,"resyncs":0,"entities":16384}"#;

        let step: CpuStep = serde_json::from_str(line).unwrap();

        assert_eq!((step.changes_per_frame(), step.switches_per_frame()), (Some(5.0), Some(2.0)));
    }

    #[test]
    fn the_floor_is_split_off_a_frames_cost() {
        let line = r#"{"seconds":10.0,"entity_changes":10000,"frames":2000,"user_seconds":0.06,"system_seconds":0.02,
            "cpu_us_per_change":8.0,"cpu_us_per_frame":40.0,"voluntary_switches":2000,"involuntary_switches":0,
            "peak_rss_bytes":20000000}"#;
        let step: CpuStep = serde_json::from_str(line).unwrap();
        let floor = Floor { wakeups: 1000, cpu_us_per_wakeup: 15.0, message_bytes: 800, interval_ms: 5.0 };

        let above = step.above_floor(&floor).unwrap();

        assert!(
            above.contains("floor 15.0 µs per frame (3.00 µs per change; a bare reader woken every 5 ms)"),
            "{above}"
        );
        assert!(above.contains("own work 25.0 µs per frame (5.00 µs per change)"), "{above}");
    }
}
