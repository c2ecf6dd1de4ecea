//! Project automation: `cargo xtask <command>`. One module per subcommand; every process is
//! started with `xshell::cmd!` (no shell strings), so local runs and CI behave the same.

mod github;
mod ha_conformance;
mod load;
mod perf;
mod release;
mod workspace;

use clap::{Parser, Subcommand};

/// hapulse project automation.
#[derive(Debug, Parser)]
#[command(name = "cargo xtask", bin_name = "cargo xtask", version, about)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Run the performance gate: benchmarks, comparison with baselines/, verdicts and reports.
    Perf(perf::Args),
    /// Start a real Home Assistant on 127.0.0.1 and run ha-client's conformance suite against it.
    HaConformance(ha_conformance::Args),
    /// Load test against ha-sim (16,384 entities): maximum sustainable rate, then a hold; writes target/perf/load.json.
    Load(load::Args),
    /// Performance-validated release tags: `release tag vX.Y.Z [--push]`, `release verify vX.Y.Z`.
    Release(release::Args),
}

fn main() -> std::process::ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        Command::Perf(args) => perf::run(args),
        Command::HaConformance(args) => ha_conformance::run(args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Load(args) => load::run(args).map(|()| std::process::ExitCode::SUCCESS),
        Command::Release(args) => release::run(args).map(|()| std::process::ExitCode::SUCCESS),
    };
    match result {
        Ok(code) => code,
        Err(err) => {
            eprintln!("error: {err:?}");
            // Exit code 1: the tool itself failed (see docs/benchmarking.md for the contract).
            std::process::ExitCode::from(1)
        }
    }
}
