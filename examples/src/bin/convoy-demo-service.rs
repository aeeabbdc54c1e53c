//! A demo HTTP service for the Convoy mesh; see `--help`.

use std::process::ExitCode;

use clap::Parser;
use convoy_examples::service::{self, ServiceArgs};

#[tokio::main]
async fn main() -> ExitCode {
    match service::run(ServiceArgs::parse()).await {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("convoy-demo-service: error: {e:#}");
            ExitCode::FAILURE
        }
    }
}
