//! Project automation: `cargo xtask <command>`. One module per subcommand; every process is
//! started with `xshell::cmd!` (no shell strings), so local runs and CI behave the same.

mod cli;
mod git;
mod github;
mod ha_conformance;
mod load;
mod perf;
mod release;
mod steal;
mod workspace;

use clap::Parser;

use crate::cli::{Cli, Command};

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
