//! A tiny HTTP client for the compose demo's shell-less images (healthchecks, `/metrics`, a
//! call through a sidecar); see `--help`.

use std::io::Write;
use std::process::ExitCode;

use clap::Parser;
use convoy_examples::fetch::{self, FetchArgs};

#[tokio::main(flavor = "current_thread")]
async fn main() -> ExitCode {
    let args = FetchArgs::parse();
    match fetch::run(&args).await {
        Ok(outcome) => {
            let mut stdout = std::io::stdout().lock();
            if let Err(e) = stdout
                .write_all(&outcome.output)
                .and_then(|()| stdout.flush())
            {
                eprintln!("convoy-http: writing the answer: {e}");
                return ExitCode::FAILURE;
            }
            ExitCode::from(outcome.exit_code())
        }
        Err(e) => {
            eprintln!("convoy-http: {e}");
            ExitCode::FAILURE
        }
    }
}
