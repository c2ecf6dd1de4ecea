//! The own process's memory and CPU time from Linux procfs: pure parsers plus one thin reader.

use std::time::Duration;

use crate::{Millis, MonitorError};

/// Clock ticks per second of `/proc/<pid>/stat` times. Linux fixes this `USER_HZ` at 100 on every
/// architecture hapulse targets (x86, arm, riscv); only alpha and ia64 differed.
pub const USER_HZ: u64 = 100;

/// One reading of the process's resources.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ProcessSample {
    /// Resident set size now (`VmRSS`), bytes.
    pub rss_bytes: u64,
    /// Highest resident set size so far (`VmHWM`), bytes.
    pub peak_rss_bytes: u64,
    /// Number of threads.
    pub threads: u64,
    /// User plus system CPU time consumed so far.
    pub cpu: Duration,
}

/// Memory figures of `/proc/self/status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct StatusMemory {
    /// `VmRSS` in bytes.
    pub rss_bytes: u64,
    /// `VmHWM` in bytes.
    pub peak_rss_bytes: u64,
    /// `Threads`.
    pub threads: u64,
}

/// Parses the text of `/proc/<pid>/status`.
pub fn parse_status(text: &str) -> Result<StatusMemory, MonitorError> {
    let field = |name: &str| -> Option<&str> {
        text.lines().find_map(|l| l.strip_prefix(name)?.strip_prefix(':').map(str::trim))
    };
    let kb = |name: &'static str| -> Result<u64, MonitorError> {
        let v = field(name).ok_or_else(|| procfs_err("/proc/self/status", format!("no {name} line")))?;
        let digits = v.strip_suffix("kB").unwrap_or(v).trim();
        let n: u64 =
            digits.parse().map_err(|_| procfs_err("/proc/self/status", format!("{name} is not a number: {v:?}")))?;
        Ok(n * 1024)
    };
    let threads = field("Threads").and_then(|v| v.parse().ok()).unwrap_or(0);
    Ok(StatusMemory { rss_bytes: kb("VmRSS")?, peak_rss_bytes: kb("VmHWM")?, threads })
}

/// Parses the CPU time (utime + stime) from the text of `/proc/<pid>/stat`, with `ticks_per_second`
/// normally [`USER_HZ`].
pub fn parse_stat_cpu(text: &str, ticks_per_second: u64) -> Result<Duration, MonitorError> {
    // The command name (field 2) is in parentheses and may hold spaces and ')': fields after it
    // start after the LAST ')'.
    let rest = text.rfind(')').map(|i| &text[i + 1..]).ok_or_else(|| procfs_err("/proc/self/stat", "no ')'"))?;
    let fields: Vec<&str> = rest.split_ascii_whitespace().collect();
    // After the name: state is field 3, so utime (14) and stime (15) are at indexes 11 and 12.
    let ticks = |i: usize, name: &str| -> Result<u64, MonitorError> {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .ok_or_else(|| procfs_err("/proc/self/stat", format!("missing or malformed {name}")))
    };
    let total = ticks(11, "utime")? + ticks(12, "stime")?;
    let hz = ticks_per_second.max(1);
    Ok(Duration::from_secs(total / hz) + Duration::from_nanos((total % hz) * 1_000_000_000 / hz))
}

fn procfs_err(file: &'static str, message: impl Into<String>) -> MonitorError {
    MonitorError::Procfs { file, message: message.into() }
}

/// Reads `/proc/self/status` and `/proc/self/stat` (Linux only).
pub fn read_self() -> Result<ProcessSample, MonitorError> {
    let read = |file: &'static str| std::fs::read_to_string(file).map_err(|source| MonitorError::Io { file, source });
    let mem = parse_status(&read("/proc/self/status")?)?;
    let cpu = parse_stat_cpu(&read("/proc/self/stat")?, USER_HZ)?;
    Ok(ProcessSample { rss_bytes: mem.rss_bytes, peak_rss_bytes: mem.peak_rss_bytes, threads: mem.threads, cpu })
}

/// Turns successive CPU-time readings into a usage fraction (1.0 = one core fully busy).
#[derive(Debug, Clone, Copy, Default)]
pub struct CpuMeter {
    last: Option<(Millis, Duration)>,
}

impl CpuMeter {
    /// Feeds the CPU time read at `now`; returns the usage since the previous reading, `None` for
    /// the first reading or when no time passed.
    pub fn update(&mut self, now: Millis, cpu: Duration) -> Option<f64> {
        let previous = self.last.replace((now, cpu));
        let (then, cpu_then) = previous?;
        let wall = now.duration_since(then);
        if wall.is_zero() {
            return None;
        }
        Some(cpu.saturating_sub(cpu_then).as_secs_f64() / wall.as_secs_f64())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const STATUS: &str = "Name:\thapulse\nUmask:\t0022\nState:\tS (sleeping)\nVmPeak:\t  812344 kB\n\
        VmHWM:\t   52300 kB\nVmRSS:\t   48128 kB\nRssAnon:\t   40000 kB\nThreads:\t7\n";

    #[test]
    fn status_gives_rss_peak_and_threads_in_bytes() {
        let got = parse_status(STATUS).unwrap();

        assert_eq!(got, StatusMemory { rss_bytes: 48128 * 1024, peak_rss_bytes: 52300 * 1024, threads: 7 });
    }

    #[test]
    fn status_without_rss_is_an_error_naming_the_field() {
        let err = parse_status("Name:\tx\nVmHWM:\t1 kB\n").unwrap_err();

        assert!(err.to_string().contains("VmRSS"), "{err}");
    }

    #[test]
    fn stat_cpu_sums_user_and_system_ticks() {
        let stat = "4242 (hapulse) S 1 4242 4242 0 -1 4194304 500 0 0 0 250 130 0 0 20 0 7 0 84694 3133440 418";

        let cpu = parse_stat_cpu(stat, 100).unwrap();

        assert_eq!(cpu, Duration::from_millis(3800));
    }

    #[test]
    fn stat_command_name_with_spaces_and_parens_is_skipped() {
        let stat = "7 (a) b (c)) R 1 7 7 0 -1 0 0 0 0 0 3 4 0 0 20 0 1 0 1 1 1";

        let cpu = parse_stat_cpu(stat, 100).unwrap();

        assert_eq!(cpu, Duration::from_millis(70));
    }

    #[test]
    fn truncated_stat_is_an_error() {
        let err = parse_stat_cpu("7 (a) R 1 2 3", 100).unwrap_err();

        assert!(err.to_string().contains("utime"), "{err}");
    }

    #[test]
    fn cpu_meter_reports_busy_fraction_between_readings() {
        let mut m = CpuMeter::default();
        let first = m.update(Millis(1000), Duration::from_millis(200));

        let second = m.update(Millis(3000), Duration::from_millis(700));

        assert_eq!((first, second), (None, Some(0.25)));
    }

    #[cfg(target_os = "linux")]
    #[test]
    fn reading_the_own_process_gives_a_positive_rss() {
        let sample = read_self().unwrap();

        assert!(sample.rss_bytes > 0 && sample.peak_rss_bytes >= sample.rss_bytes);
    }
}
