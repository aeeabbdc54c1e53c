//! The `convoy-proxy` binary: parses flags, starts logging, runs the sidecar until SIGTERM.

use clap::Parser;
use convoy_proxy::cli::Args;
use std::process::ExitCode;

fn main() -> ExitCode {
    let args = Args::parse();
    convoy_proxy::telemetry::logging::init(args.log_format);
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .worker_threads(args.worker_threads)
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("convoy-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(convoy_proxy::app::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("convoy-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}
