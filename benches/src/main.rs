//! `convoy-bench`: Convoy's bundled load generator (see `benches/README.md`).

use std::process::ExitCode;

use clap::Parser;
use convoy_bench::cli::{Cli, Command};

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Load(args) => match convoy_bench::load::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("convoy-bench: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Backend(args) => match convoy_bench::compare::backend::serve(args.listen) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("convoy-bench backend: {error}");
                ExitCode::FAILURE
            }
        },
        Command::Compare(args) => match convoy_bench::compare::run(args) {
            Ok(()) => ExitCode::SUCCESS,
            Err(error) => {
                eprintln!("convoy-bench compare: {error:#}");
                ExitCode::FAILURE
            }
        },
    }
}
