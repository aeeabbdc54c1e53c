//! Starts a local demo mesh, drives traffic through it and shows live stats; see `--help`.

use std::process::ExitCode;

use clap::Parser;
use convoy_examples::launcher::{self, DemoArgs};

#[tokio::main]
async fn main() -> ExitCode {
    // `run` has stopped every child by the time it returns, error or not.
    match launcher::run(DemoArgs::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convoy-demo: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
