//! The machine fingerprint a baseline records (CPU model, logical cores, kernel, rustc, valgrind),
//! and which of its parts differ from this machine's. Wall-clock figures are compared with a
//! committed baseline only when every part that moves them matches; otherwise the gate measures a
//! reference revision A/B in the same run (docs/benchmarking.md, "Which reference a row uses").

use serde::{Deserialize, Serialize};

/// What identifies a machine and toolchain for the purpose of comparing measurements.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fingerprint {
    /// `model name` of the first CPU in /proc/cpuinfo.
    pub cpu_model: String,
    /// Logical cores available to the process.
    pub logical_cores: u32,
    /// Kernel release (`/proc/sys/kernel/osrelease`).
    pub kernel: String,
    /// First line of `rustc -vV`.
    pub rustc: String,
    /// `valgrind --version`, when installed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub valgrind: Option<String>,
}

impl Fingerprint {
    /// The parts of the machine that move wall-clock figures and differ between `self` (a
    /// baseline's) and `now`, each as "what: baseline `x`, now `y`"; empty when they match. (The
    /// toolchain is compared by the staleness check, for every suite.)
    pub fn machine_differences(&self, now: &Fingerprint) -> Vec<String> {
        let mut out = Vec::new();
        let mut differ = |what: &str, before: &str, after: &str| {
            if before.trim() != after.trim() {
                out.push(format!("{what}: baseline `{}`, now `{}`", before.trim(), after.trim()));
            }
        };
        differ("CPU", &self.cpu_model, &now.cpu_model);
        differ("logical cores", &self.logical_cores.to_string(), &now.logical_cores.to_string());
        differ("kernel", &self.kernel, &now.kernel);
        out
    }

    /// One line for reports: "AMD EPYC, 2 cores, kernel 6.1.0, rustc 1.95.0 (...)".
    pub fn describe(&self) -> String {
        format!("{}, {} cores, kernel {}, {}", self.cpu_model, self.logical_cores, self.kernel, self.rustc)
    }
}

/// A fingerprint for tests: a 2-core AMD EPYC with rustc 1.95.0 and valgrind 3.19.0.
#[cfg(test)]
pub(crate) fn epyc() -> Fingerprint {
    Fingerprint {
        cpu_model: "AMD EPYC".into(),
        logical_cores: 2,
        kernel: "6.1.0".into(),
        rustc: "rustc 1.95.0 (59807616e 2026-04-14)".into(),
        valgrind: Some("valgrind-3.19.0".into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_machine_has_no_differences() {
        let (baseline, now) = (epyc(), epyc());

        let differences = baseline.machine_differences(&now);

        assert!(differences.is_empty(), "{differences:?}");
    }

    #[test]
    fn another_cpu_and_kernel_are_each_named() {
        let now = Fingerprint { cpu_model: "Intel(R) Xeon(R) CPU @ 2.20GHz".into(), kernel: "6.8.0".into(), ..epyc() };

        let differences = epyc().machine_differences(&now);

        assert_eq!(
            differences,
            [
                "CPU: baseline `AMD EPYC`, now `Intel(R) Xeon(R) CPU @ 2.20GHz`".to_owned(),
                "kernel: baseline `6.1.0`, now `6.8.0`".to_owned()
            ]
        );
    }

    #[test]
    fn toolchain_and_valgrind_are_not_machine_differences() {
        let now = Fingerprint { valgrind: Some("valgrind-3.22.0".into()), rustc: "rustc 1.96.0".into(), ..epyc() };

        let differences = epyc().machine_differences(&now);

        assert!(differences.is_empty(), "{differences:?}");
    }
}
