//! Figures of a load run: what the client process reports, the judgement of a ramp step, the
//! `load.json` file and the margins to the budgets.
//!
//! `load.json` carries the four figures `cargo xtask perf` checks (`p99_latency_ms`,
//! `peak_rss_bytes`, `rss_slope_bytes_per_min`, `lost_updates`, as `xtask/src/perf/budgets.rs`
//! defines them) and, beside them, the details of the run.

use std::path::Path;
use std::time::Duration;

use anyhow::Result;
use serde::{Deserialize, Serialize};

use super::cpu::{CpuStep, Limit, StepCpu};
use super::floor::Floor;
use super::procs::HoldCpu;

/// One ramp step, as `hapulse loadtest probe` prints it (plus the offered rate).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Probe {
    /// Offered events per second (set by the xtask).
    #[serde(default)]
    pub(crate) offered: f64,
    /// Entity changes applied per second.
    pub(crate) applied_per_second: f64,
    /// Event lag p99, ms.
    pub(crate) lag_p99_ms: Option<f64>,
    /// Items dropped because the consumer fell behind.
    pub(crate) lagged: u64,
    /// Reconnections.
    pub(crate) reconnects: u64,
    /// call_service p99 of the concurrent callers, ms.
    #[serde(default)]
    pub(crate) call_p99_ms: Option<f64>,
    /// call_service calls that failed during the step.
    #[serde(default)]
    pub(crate) call_errors: u64,
    /// CPU of the client and the simulator over the measured part of the step (set by the xtask).
    #[serde(default)]
    pub(crate) cpu: Option<StepCpu>,
    /// How long the step was measured, seconds (set by the xtask; 0 in files written before the
    /// ramp confirmed its maximum).
    #[serde(default)]
    pub(crate) measured_seconds: f64,
}

impl Probe {
    /// One line for the log.
    pub(crate) fn describe(&self, ok: bool) -> String {
        let lag = self.lag_p99_ms.map_or_else(|| "-".into(), |l| format!("{l:.0} ms"));
        let calls = self.call_p99_ms.map_or_else(|| "-".into(), |l| format!("{l:.0} ms"));
        let cpu = self.cpu.map_or_else(String::new, |c| {
            format!(
                ", CPU client {:.2} / simulator {:.2} cores{}",
                c.client_cores,
                c.sim_cores,
                super::cpu::steal_suffix(c.steal_cores)
            )
        });
        format!(
            "applied {:.0}/s, lag p99 {lag}, call p99 {calls}, failed calls {}, dropped {}, reconnects {}{cpu}: {}",
            self.applied_per_second,
            self.call_errors,
            self.lagged,
            self.reconnects,
            if ok { "sustained" } else { "falls behind" }
        )
    }

    /// Which process held this step back, judged from its CPU (`None` without CPU readings).
    pub(crate) fn limit(&self) -> Option<Limit> {
        self.cpu.as_ref().map(Limit::of)
    }
}

/// Whether the client kept up in a ramp step: applied within 10% of the offered rate, lag p99
/// under a second, nothing dropped, no reconnect (a flow-control cut is one), and its calls
/// answered: none failed, p99 under a second (judged on the stream alone, a step could pass while
/// the calls beside it failed or timed out).
pub(crate) fn sustained(p: &Probe) -> bool {
    p.applied_per_second >= 0.9 * p.offered
        && p.lag_p99_ms.is_some_and(|l| l < 1000.0)
        && p.lagged == 0
        && p.reconnects == 0
        && p.call_errors == 0
        && p.call_p99_ms.is_some_and(|c| c < 1000.0)
}

/// The hold, as `hapulse loadtest hold` prints it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct Hold {
    pub(crate) measured_seconds: f64,
    pub(crate) events_per_second: f64,
    pub(crate) calls: u64,
    pub(crate) call_errors: u64,
    pub(crate) p50_latency_ms: f64,
    pub(crate) p99_latency_ms: f64,
    pub(crate) max_latency_ms: f64,
    pub(crate) lag_p99_ms: Option<f64>,
    pub(crate) peak_rss_bytes: f64,
    pub(crate) rss_slope_bytes_per_min: f64,
    #[serde(default)]
    pub(crate) rss_slope_lsq_bytes_per_min: f64,
    pub(crate) final_rss_bytes: f64,
    pub(crate) reconnects: u64,
    pub(crate) lost_updates: u64,
    pub(crate) compared_entities: u64,
}

/// `target/perf/load.json`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(crate) struct LoadFile {
    /// Checked by the gate: call_service latency p99, ms.
    pub(crate) p99_latency_ms: f64,
    /// Checked by the gate: peak RSS of the client process, bytes.
    pub(crate) peak_rss_bytes: f64,
    /// Checked by the gate: RSS slope after the warm-up (Theil–Sen), bytes per minute.
    pub(crate) rss_slope_bytes_per_min: f64,
    /// Least-squares slope of the same samples, bytes per minute (not budgeted).
    pub(crate) rss_slope_lsq_bytes_per_min: f64,
    /// Checked by the gate: lost updates.
    pub(crate) lost_updates: u64,
    /// Entity changes applied per second during the hold.
    pub(crate) events_per_second: f64,
    /// call_service latency median, ms.
    pub(crate) p50_latency_ms: f64,
    /// Slowest call_service, ms.
    pub(crate) max_latency_ms: f64,
    /// call_service calls made, and how many failed.
    pub(crate) calls: u64,
    pub(crate) call_errors: u64,
    /// Event lag p99 (time_fired to applied), ms.
    pub(crate) lag_p99_ms: Option<f64>,
    /// Reconnections during the hold.
    pub(crate) reconnects: u64,
    /// Highest sustained rate of the ramp, events/s.
    pub(crate) max_sustainable_rate: f64,
    /// Rate held, events/s (80% of the maximum).
    pub(crate) held_rate: f64,
    /// Seconds held after the warm-up.
    pub(crate) held_seconds: f64,
    /// Entities compared for lost updates.
    pub(crate) compared_entities: u64,
    /// The ramp's steps.
    pub(crate) ramp: Vec<Probe>,
    /// What ended the ramp: the client, the simulator, undetermined, or `None` when the ramp reached
    /// its highest rate without falling behind (or was skipped).
    #[serde(default)]
    pub(crate) ramp_limit: Option<Limit>,
    /// The client process's CPU per applied change during the hold (full hapulse pipeline with the
    /// callers), µs: read by the xtask from `/proc/<pid>/stat` inside the hold's window.
    #[serde(default)]
    pub(crate) hold_cpu_us_per_change: Option<f64>,
    /// CPU of the client and the simulator during the hold, in cores.
    #[serde(default)]
    pub(crate) hold_cpu: Option<StepCpu>,
    /// Steady steps with the bare client (ha-client's `mirror` example): CPU per change and per
    /// frame, context switches per frame, peak RSS, and the simulator's CPU.
    #[serde(default)]
    pub(crate) cpu_steps: Vec<CpuStep>,
    /// The machine's wake-up floor, measured before the CPU steps.
    #[serde(default)]
    pub(crate) wakeup_floor: Option<Floor>,
}

impl LoadFile {
    /// Assembles the file from the hold and the ramp.
    pub(crate) fn new(hold: &Hold, max_rate: f64, held: f64, duration: Duration, ramp: Vec<Probe>) -> Self {
        let _ = duration;
        let ramp_limit = ramp.iter().rev().find(|p| !sustained(p)).map(|p| p.limit().unwrap_or(Limit::Undetermined));
        Self {
            p99_latency_ms: hold.p99_latency_ms,
            peak_rss_bytes: hold.peak_rss_bytes,
            rss_slope_bytes_per_min: hold.rss_slope_bytes_per_min,
            rss_slope_lsq_bytes_per_min: hold.rss_slope_lsq_bytes_per_min,
            lost_updates: hold.lost_updates,
            events_per_second: hold.events_per_second,
            p50_latency_ms: hold.p50_latency_ms,
            max_latency_ms: hold.max_latency_ms,
            calls: hold.calls,
            call_errors: hold.call_errors,
            lag_p99_ms: hold.lag_p99_ms,
            reconnects: hold.reconnects,
            max_sustainable_rate: max_rate,
            held_rate: held,
            held_seconds: hold.measured_seconds,
            compared_entities: hold.compared_entities,
            ramp,
            ramp_limit,
            hold_cpu_us_per_change: None,
            hold_cpu: None,
            cpu_steps: Vec::new(),
            wakeup_floor: None,
        }
    }

    /// Adds the CPU read during the hold: per applied change at the hold's applied rate.
    pub(crate) fn with_hold_cpu(mut self, cpu: Option<HoldCpu>) -> Self {
        if let Some(HoldCpu { cpu, client }) = cpu {
            let changes = self.events_per_second * cpu.seconds;
            self.hold_cpu_us_per_change = (changes > 0.0).then(|| client.total() * 1e6 / changes);
            self.hold_cpu = Some(cpu);
        }
        self
    }
}

/// `perf.toml` `[budgets.load]`: the gate's own type, so the load test and the gate judge one set of budgets.
pub(crate) use perf_gate::config::LoadBudgets as Budgets;

/// Reads `[budgets.load]` of `perf.toml` (defaults when the file or table is absent).
pub(crate) fn budgets_from_perf_toml(path: &Path) -> Result<Budgets> {
    Ok(perf_gate::config::Config::load(path)?.budgets.load)
}

/// Whether the RSS slope of this run is long enough to be judged against its budget.
pub(crate) fn slope_judged(file: &LoadFile, b: &Budgets) -> bool {
    file.held_seconds >= b.rss_slope_min_seconds
}

fn rows(file: &LoadFile, b: &Budgets) -> [(&'static str, f64, f64, &'static str, f64); 4] {
    [
        ("p99 latency", file.p99_latency_ms, b.p99_latency_ms, "ms", 1.0),
        ("peak RSS", file.peak_rss_bytes, b.peak_rss_bytes, "MB", 1e6),
        ("RSS slope", file.rss_slope_bytes_per_min, b.rss_slope_bytes_per_min, "MB/min", 1e6),
        ("lost updates", file.lost_updates as f64, b.lost_updates, "", 1.0),
    ]
}

/// Why the ramp stopped when neither process was busy: the last step that fell behind, with its
/// CPU and the machine's steal, so that a reader can tell the hypervisor's share from scheduling
/// stalls (a writer or a reader waiting its turn for tens of milliseconds on 2 cores).
fn undetermined(failed: Option<&Probe>) -> String {
    let Some((probe, cpu)) = failed.and_then(|p| p.cpu.map(|c| (p, c))) else {
        return "neither process was busy enough to be the limit (a shared machine?)".to_owned();
    };
    let steal = match cpu.steal_cores {
        Some(s) if s >= 0.1 => format!("; {}: the hypervisor took part of the machine", crate::steal::describe(s)),
        Some(s) => {
            format!("; {}: not the hypervisor, so scheduling stalls rather than work", crate::steal::describe(s))
        }
        None => " (a shared machine?)".to_owned(),
    };
    format!(
        "neither process was busy enough to be the limit at {:.0} events/s (client {:.2}, simulator {:.2} cores){steal}",
        probe.offered, cpu.client_cores, cpu.sim_cores
    )
}

/// The figures with their margins to the budgets.
pub(crate) fn render(file: &LoadFile, b: &Budgets) -> String {
    let mut out = format!(
        "load: max sustainable {:.0} events/s; held {:.0} for {:.0}s: applied {:.0} events/s, {} calls ({} failed), \
         p50 {:.1} ms, max {:.1} ms, lag p99 {}, reconnects {}\n",
        file.max_sustainable_rate,
        file.held_rate,
        file.held_seconds,
        file.events_per_second,
        file.calls,
        file.call_errors,
        file.p50_latency_ms,
        file.max_latency_ms,
        file.lag_p99_ms.map_or_else(|| "-".into(), |l| format!("{l:.0} ms")),
        file.reconnects,
    );
    let ramp_end = match (file.ramp_limit, file.ramp.last()) {
        (Some(Limit::Client), _) => "the client was the limit".to_owned(),
        (Some(Limit::Simulator), _) => {
            "the simulator was the limit (the client had CPU to spare): the client's maximum is higher".to_owned()
        }
        (Some(Limit::Undetermined), _) => undetermined(file.ramp.iter().rev().find(|p| !sustained(p))),
        (None, Some(_)) => "the ramp reached its highest rate without falling behind".to_owned(),
        (None, None) => "no ramp (--rate)".to_owned(),
    };
    out.push_str(&format!("  ramp: {ramp_end}\n"));
    if let (Some(us), Some(cpu)) = (file.hold_cpu_us_per_change, file.hold_cpu) {
        out.push_str(&format!(
            "  hold CPU: client {us:.2} µs per applied change ({:.2} cores), simulator {:.2} cores{}\n",
            cpu.client_cores,
            cpu.sim_cores,
            super::cpu::steal_suffix(cpu.steal_cores)
        ));
    }
    if let Some(floor) = file.wakeup_floor {
        out.push_str(&format!("  wake-up floor: {}\n", floor.describe()));
    }
    for step in &file.cpu_steps {
        out.push_str(&format!("  bare client at {}\n", step.describe()));
        if let Some(above) = file.wakeup_floor.and_then(|f| step.above_floor(&f)) {
            out.push_str(&format!("    {above}\n"));
        }
    }
    for (name, value, limit, unit, scale) in rows(file, b) {
        let verdict = if name == "RSS slope" && !slope_judged(file, b) {
            format!(
                "not judged ({:.0} s hold < {:.0} s; run --duration 2m or --soak)",
                file.held_seconds, b.rss_slope_min_seconds
            )
        } else if value <= limit {
            "ok".to_owned()
        } else {
            "OVER BUDGET".to_owned()
        };
        let margin =
            if limit > 0.0 { format!(" ({:.1}% of the budget)", value / limit * 100.0) } else { String::new() };
        out.push_str(&format!(
            "  {name:<13} {:>10.3} {unit:<6} budget {:>8.1} {unit:<6} margin {:>10.3}{margin}  {verdict}\n",
            value / scale,
            limit / scale,
            (limit - value) / scale,
        ));
    }
    out
}

/// Names of the figures over their budget.
pub(crate) fn over_budget(file: &LoadFile, b: &Budgets) -> Vec<&'static str> {
    rows(file, b)
        .into_iter()
        .filter(|(n, v, l, _, _)| v > l && (*n != "RSS slope" || slope_judged(file, b)))
        .map(|(n, ..)| n)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hold() -> Hold {
        Hold {
            measured_seconds: 20.0,
            events_per_second: 6400.0,
            calls: 9000,
            call_errors: 0,
            p50_latency_ms: 2.0,
            p99_latency_ms: 15.0,
            max_latency_ms: 40.0,
            lag_p99_ms: Some(12.0),
            peak_rss_bytes: 60e6,
            rss_slope_bytes_per_min: 1000.0,
            rss_slope_lsq_bytes_per_min: 1500.0,
            final_rss_bytes: 58e6,
            reconnects: 0,
            lost_updates: 0,
            compared_entities: 16_384,
        }
    }

    fn probe(offered: f64, applied: f64, lag: f64, lagged: u64) -> Probe {
        Probe {
            offered,
            applied_per_second: applied,
            lag_p99_ms: Some(lag),
            lagged,
            reconnects: 0,
            call_p99_ms: Some(5.0),
            call_errors: 0,
            cpu: None,
            measured_seconds: 3.0,
        }
    }

    #[test]
    fn load_json_has_the_four_figures_the_gate_reads_with_their_types() {
        let file = LoadFile::new(&hold(), 8000.0, 6400.0, Duration::from_secs(20), Vec::new());

        let v: serde_json::Value = serde_json::from_str(&serde_json::to_string(&file).unwrap()).unwrap();

        assert_eq!(v["p99_latency_ms"].as_f64(), Some(15.0));
        assert_eq!(v["peak_rss_bytes"].as_f64(), Some(60e6));
        assert_eq!(v["rss_slope_bytes_per_min"].as_f64(), Some(1000.0));
        assert_eq!(v["lost_updates"].as_u64(), Some(0));
    }

    #[test]
    fn a_step_is_sustained_only_when_applied_lag_and_drops_are_fine() {
        let verdicts = [
            sustained(&probe(4000.0, 3990.0, 20.0, 0)),
            sustained(&probe(4000.0, 3000.0, 20.0, 0)),
            sustained(&probe(4000.0, 3990.0, 1500.0, 0)),
            sustained(&probe(4000.0, 3990.0, 20.0, 7)),
        ];

        assert_eq!(verdicts, [true, false, false, false]);
    }

    #[test]
    fn a_step_whose_calls_fail_or_stall_is_not_sustained() {
        let failed = Probe { call_errors: 3, ..probe(4000.0, 3990.0, 20.0, 0) };
        let slow = Probe { call_p99_ms: Some(1500.0), ..probe(4000.0, 3990.0, 20.0, 0) };
        let none_answered = Probe { call_p99_ms: None, ..probe(4000.0, 3990.0, 20.0, 0) };

        let verdicts = [sustained(&failed), sustained(&slow), sustained(&none_answered)];

        assert_eq!(verdicts, [false, false, false]);
    }

    #[test]
    fn one_lost_update_is_over_budget() {
        let mut h = hold();
        h.lost_updates = 1;
        let file = LoadFile::new(&h, 8000.0, 6400.0, Duration::from_secs(20), Vec::new());

        assert_eq!(over_budget(&file, &Budgets::default()), ["lost updates"]);
    }

    #[test]
    fn a_ramp_that_fell_behind_names_its_limit() {
        let mut last = probe(8000.0, 5000.0, 20.0, 0);
        last.cpu = Some(StepCpu { client_cores: 0.3, sim_cores: 0.9, steal_cores: None, seconds: 3.0 });

        let file = LoadFile::new(&hold(), 4000.0, 3200.0, Duration::from_secs(20), vec![last]);

        assert_eq!(file.ramp_limit, Some(Limit::Simulator));
        assert!(render(&file, &Budgets::default()).contains("the simulator was the limit"));
    }

    #[test]
    fn an_undetermined_limit_names_the_step_and_tells_steal_from_stalls() {
        let step = |steal: f64| {
            let mut p = probe(128_000.0, 122_000.0, 20.0, 2);
            p.cpu = Some(StepCpu { client_cores: 0.19, sim_cores: 0.68, steal_cores: Some(steal), seconds: 15.0 });
            LoadFile::new(&hold(), 89_600.0, 71_680.0, Duration::from_secs(20), vec![p])
        };

        let (quiet, stolen) = (render(&step(0.01), &Budgets::default()), render(&step(0.4), &Budgets::default()));

        assert!(
            quiet.contains(
                "at 128000 events/s (client 0.19, simulator 0.68 cores); machine steal 0.01 cores: not the hypervisor"
            ),
            "{quiet}"
        );
        assert!(stolen.contains("machine steal 0.40 cores: the hypervisor took part of the machine"), "{stolen}");
    }

    #[test]
    fn a_ramp_that_kept_up_names_no_limit() {
        let ramp = vec![probe(2000.0, 2000.0, 20.0, 0)];

        let file = LoadFile::new(&hold(), 2000.0, 1600.0, Duration::from_secs(20), ramp);

        assert_eq!(file.ramp_limit, None);
    }

    #[test]
    fn hold_cpu_is_divided_by_the_changes_applied_meanwhile() {
        let cpu = HoldCpu {
            cpu: StepCpu { client_cores: 0.2, sim_cores: 0.5, steal_cores: None, seconds: 10.0 },
            client: super::super::cpu::CpuTimes { user: 1.5, system: 0.5 },
        };

        let file = LoadFile::new(&hold(), 8000.0, 6400.0, Duration::from_secs(20), Vec::new()).with_hold_cpu(Some(cpu));

        // 2 s of CPU over 6,400 changes/s x 10 s.
        let us = file.hold_cpu_us_per_change.unwrap();
        assert!((us - 31.25).abs() < 1e-9, "{us}");
    }

    #[test]
    fn budgets_come_from_the_perf_toml_table() {
        let text = "[bench]\npackage = \"benches\"\n[budgets.load]\np99_latency_ms = 1500.0\n";

        let b = perf_gate::config::Config::parse(text).unwrap().budgets.load;

        assert_eq!((b.p99_latency_ms, b.peak_rss_bytes), (1500.0, 500e6));
    }
}
