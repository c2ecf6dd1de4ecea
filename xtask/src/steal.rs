//! The machine's steal time: how much of its CPUs' time the hypervisor gave to someone else while
//! they wanted to run (`steal`, the eighth value of the `cpu` line of `/proc/stat`). On a shared
//! VM it is what makes one run of a measurement pay for waiting: a lock whose holder's virtual CPU
//! is not running is waited for in the kernel, as system time, and a wall-clock benchmark takes
//! longer without doing more. The load test, the churn against Home Assistant and the perf gate's
//! paired wall-clock rounds report it next to what they measured.

/// Clock ticks per second of `/proc/stat` (Linux fixes `USER_HZ` at 100 on every architecture).
const USER_HZ: f64 = 100.0;

/// Parses the machine's steal so far, summed over every CPU, in seconds.
pub(crate) fn parse_steal(proc_stat: &str) -> Option<f64> {
    let line = proc_stat.lines().find(|l| l.starts_with("cpu "))?;
    let ticks: u64 = line.split_whitespace().nth(8)?.parse().ok()?;
    Some(ticks as f64 / USER_HZ)
}

/// [`parse_steal`] of this machine now, `None` where `/proc/stat` cannot be read.
pub(crate) fn read_steal() -> Option<f64> {
    std::fs::read_to_string("/proc/stat").ok().as_deref().and_then(parse_steal)
}

/// The machine's steal between two readings of [`read_steal`], in cores over `seconds` of wall
/// clock; `None` when either reading is missing or no time passed.
pub(crate) fn steal_cores(first: Option<f64>, last: Option<f64>, seconds: f64) -> Option<f64> {
    let (first, last) = (first?, last?);
    (seconds > 0.0).then(|| (last - first).max(0.0) / seconds)
}

/// `machine steal 0.12 cores`: how every report names a steal figure.
pub(crate) fn describe(cores: f64) -> String {
    format!("machine steal {cores:.2} cores")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn steal_is_the_eighth_value_of_the_cpu_line_in_seconds() {
        let text = "cpu  9286 12 1873 523457 151 0 57 3150 0 0\ncpu0 4643 6 936 261728 75 0 28 1575 0 0\n";

        assert_eq!(parse_steal(text), Some(31.5));
    }

    #[test]
    fn a_proc_stat_without_a_cpu_line_has_no_steal() {
        assert_eq!(parse_steal("intr 1 2 3\n"), None);
    }

    #[test]
    fn steal_between_two_readings_is_in_cores_of_the_wall_time_between_them() {
        let cores = [
            steal_cores(Some(30.0), Some(31.5), 5.0),
            steal_cores(None, Some(31.5), 5.0),
            steal_cores(Some(30.0), Some(31.5), 0.0),
        ];

        assert_eq!(cores, [Some(0.3), None, None]);
    }
}
