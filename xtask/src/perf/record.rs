//! `--record`: a gate run as a point of the history file (its commit, this machine, every
//! measurement and the calls it made).

use anyhow::{Context, Result};

use super::ctx::Ctx;
use super::decision::Report;
use super::fingerprint::Fingerprint;
use super::history;
use super::schema::{Measurement, SCHEMA_VERSION};
use crate::git;

/// The history point of a gate run: HEAD's commit, this machine, every measurement and the calls.
pub(crate) fn run_point(
    ctx: &Ctx,
    machine: history::Machine,
    current: &[Measurement],
    report: &Report,
) -> Result<history::Point> {
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).context("clock before 1970")?;
    let measured = perf_gate::time::rfc3339_utc(now.as_secs());
    let entry = git::log_entry(&ctx.sh, &ctx.ws.root, "HEAD");
    let (commit, commit_date, subject) = entry
        .map_or_else(|| ("unknown".to_owned(), measured.clone(), String::new()), |e| (e.commit, e.date, e.subject));
    let mut measurements = current.to_vec();
    measurements.sort_by(|a, b| (&a.id, a.metric).cmp(&(&b.id, b.metric)));
    Ok(history::Point {
        schema: SCHEMA_VERSION,
        commit,
        commit_date,
        measured,
        subject,
        source: history::Source::Run,
        machine,
        blessed: Vec::new(),
        calls: history::Call::from_rows(&report.rows),
        measurements,
    })
}

/// This machine as the history records it.
pub(crate) fn history_machine(machine: &Fingerprint) -> history::Machine {
    let cores = Some(machine.logical_cores).filter(|n| *n > 0);
    history::Machine {
        class: history::Machine::class_of(&machine.cpu_model, cores),
        cpu_model: machine.cpu_model.clone(),
        cores,
        rustc: machine.rustc.clone(),
        valgrind: machine.valgrind.clone(),
    }
}
