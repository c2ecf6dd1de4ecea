//! The whole decision as another workspace would run it, from the tools' own output files (the
//! samples in `test_data/`, written by criterion, iai-callgrind and the dhat stats format) through
//! committed baselines and paired rounds to the report and its exit code. No valgrind, no git, no
//! network, no benchmark run.

use std::path::PathBuf;

use perf_gate::baseline::{Provenance, SuiteBaseline};
use perf_gate::config::Config;
use perf_gate::decision::{Mode, Outcome, decide};
use perf_gate::readers::{criterion, dhat, iai};
use perf_gate::render::{render_markdown, render_terminal};
use perf_gate::rules::{self, Learning, PairedEvidence, Verdict, compare, paired_row, screen_paired};
use perf_gate::schema::{Measurement, Metric, Suite};

fn samples() -> PathBuf {
    manifest_dir().join("test_data")
}

/// Every measurement the sample files hold, as a run would read them.
fn measured() -> Vec<Measurement> {
    // criterion's layout: <home>/<benchmark dir>/new/{benchmark,sample,estimates}.json.
    let home = tempfile::tempdir().unwrap();
    for dir in ["calibration_spin_fixed", "synth_sum_small"] {
        let new = home.path().join(dir).join("new");
        std::fs::create_dir_all(&new).unwrap();
        for file in ["benchmark.json", "sample.json", "estimates.json"] {
            std::fs::copy(samples().join("criterion").join(dir).join(file), new.join(file)).unwrap();
        }
    }
    let wall = criterion::read_home(home.path()).unwrap();
    let instr = ["mix.large.left.summary.json", "sum.small.both.summary.json"]
        .map(|f| iai::parse_summary(&std::fs::read_to_string(samples().join("iai").join(f)).unwrap()).unwrap());
    let heap =
        dhat::parse_stats(&std::fs::read_to_string(samples().join("dhat/synth_alloc_hundred.json")).unwrap()).unwrap();
    let mut all = criterion::to_measurements(&wall, "wall_synth", "calibration/");
    all.extend(iai::to_measurements(&instr, "instr_synth"));
    all.extend(dhat::to_measurements(&[heap], "heap_synth"));
    all
}

/// The measurements as committed baselines (round-tripped through their file format).
fn committed(measurements: &[Measurement]) -> Vec<Measurement> {
    Suite::ALL
        .into_iter()
        .flat_map(|suite| {
            let text = SuiteBaseline::from_measurements(suite, Provenance::default(), measurements).to_text().unwrap();
            SuiteBaseline::parse(&text).unwrap().measurements()
        })
        .collect()
}

#[test]
fn the_same_figures_as_the_baselines_pass_with_exit_0() {
    let current = measured();
    let reference = committed(&current);

    let rows = compare(&current, &reference, &[], &Config::default(), &Learning::new());
    let report = decide(Mode::Baselines, rows, vec![], vec![], vec![]);

    assert_eq!((report.outcome, report.exit_code), (Outcome::Pass, 0), "{}", render_terminal(&report));
    // 2 wall (one calibration), 2 x 2 instruction, 3 heap figures.
    assert_eq!(report.rows.len(), 9, "{}", render_terminal(&report));
}

#[test]
fn one_percent_more_instructions_and_one_more_allocation_fail_with_exit_3() {
    let reference = committed(&measured());
    let current: Vec<Measurement> = measured()
        .into_iter()
        .map(|mut m| {
            match (m.id.as_str(), m.metric) {
                ("synth/sum/small", Metric::Instructions) => m.value *= 1.01,
                ("synth/alloc/hundred", Metric::HeapTotalBlocks) => m.value += 1.0,
                _ => {}
            }
            m
        })
        .collect();

    let rows = compare(&current, &reference, &[], &Config::default(), &Learning::new());
    let report = decide(Mode::Baselines, rows, vec![], vec![], vec![]);

    assert_eq!(report.exit_code, 3);
    let failing: Vec<(&str, Metric)> =
        report.rows.iter().filter(|r| r.fails).map(|r| (r.id.as_str(), r.metric)).collect();
    assert_eq!(failing, [("synth/alloc/hundred", Metric::HeapTotalBlocks), ("synth/sum/small", Metric::Instructions)]);
    assert!(render_markdown(&report).starts_with("2 regressions, "), "{}", render_markdown(&report));
}

#[test]
fn a_paired_slowdown_confirmed_in_a_second_pass_fails_and_says_what_it_could_see() {
    // Ten rounds of base/head figures with head 8% slower, and a confirmation pass that repeats it.
    let rounds: Vec<(f64, f64)> = (0..10).map(|i| (100.0 + f64::from(i % 3), 108.0 + f64::from(i % 3))).collect();
    let pairs = std::collections::BTreeMap::from([("synth/sum/small".to_owned(), rounds.clone())]);
    let config = Config::default();

    let screened = screen_paired(&pairs, &config);
    let evidence = PairedEvidence { first: &rounds, screened: &screened[0], confirmation: Some(&rounds) };
    let row = paired_row("synth/sum/small", evidence, &config, "A/B vs abc1234");
    let report = decide(Mode::Ab("abc1234".into()), vec![row], vec![], vec![], vec![]);

    assert_eq!(report.exit_code, 3);
    let row = &report.rows[0];
    assert_eq!((row.verdict, row.reference.as_str()), (Verdict::Regression, "A/B vs abc1234"));
    assert!(row.detectable.is_some_and(|d| d > rules::MIN_LEARNED_TOLERANCE && d < 0.08), "{row:?}");
}

/// This package's directory: cargo's run-time `CARGO_MANIFEST_DIR` (the checkout being tested),
/// else the compile-time one. Cargo reuses a test binary built from another checkout of the same
/// sources that shares the `CARGO_TARGET_DIR` (as `.ci/run`'s cache does), and the compile-time
/// path names that other checkout, which may be gone.
fn manifest_dir() -> std::path::PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .filter(|d| !d.is_empty())
        .map_or_else(|| std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR")), std::path::PathBuf::from)
}
