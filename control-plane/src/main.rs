//! The `convoy-control-plane` binary: `serve`, and the `status`, `history`, `rollback` and
//! `validate` commands.

use clap::Parser;
use convoy_control_plane::{commands, Cli, ClientError, Command};
// The sidecar's log setup: both binaries log alike.
use convoy_runtime::logging;
use std::process::ExitCode;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match cli.command {
        Command::Serve(args) => {
            logging::init(args.log_format);
            let runtime = match tokio::runtime::Builder::new_multi_thread()
                .enable_all()
                .build()
            {
                Ok(runtime) => runtime,
                Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
            };
            match runtime.block_on(convoy_control_plane::run(*args)) {
                Ok(()) => ExitCode::SUCCESS,
                Err(e) => {
                    tracing::error!("{e}");
                    fail(&e.to_string())
                }
            }
        }
        Command::Validate(args) => match commands::validate(&args.dir) {
            Ok(out) => {
                print!("{out}");
                ExitCode::SUCCESS
            }
            Err(e) => fail(&e.to_string()),
        },
        Command::Status(args) => client(commands::status(&args)),
        Command::History(args) => client(commands::history(&args)),
        Command::Rollback(args) => client(commands::rollback(&args)),
    }
}

fn client(command: impl std::future::Future<Output = Result<String, ClientError>>) -> ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(e) => return fail(&format!("cannot start the async runtime: {e}")),
    };
    match runtime.block_on(command) {
        Ok(out) => {
            print!("{out}");
            if !out.ends_with('\n') {
                println!();
            }
            ExitCode::SUCCESS
        }
        Err(e) => fail(&e.to_string()),
    }
}

fn fail(message: &str) -> ExitCode {
    eprintln!("convoy-control-plane: {message}");
    ExitCode::FAILURE
}
