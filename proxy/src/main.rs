//! The `convoy-proxy` binary: parses flags, starts logging, runs the sidecar until SIGTERM.
//!
//! `convoy-proxy hash-api-key` instead reads an API key from stdin and prints its SHA-256 in
//! hex, for a gateway's `api_keys[].key_sha256` (one trailing newline is not part of the key).

use clap::Parser;
use convoy_proxy::Args;
use std::process::ExitCode;

/// mimalloc: about 10 % fewer instructions per proxied request than glibc's malloc
/// (`benches/scripts/profile-hop.sh callgrind`). Built without transparent huge pages (see
/// `.cargo/config.toml`), so an idle sidecar's private memory stays under 1 MiB.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

fn main() -> ExitCode {
    if std::env::args_os()
        .nth(1)
        .is_some_and(|a| a == "hash-api-key")
    {
        return hash_api_key();
    }
    let args = Args::parse();
    convoy_runtime::logging::init(args.log_format);
    let runtime = match runtime_builder(args.worker_threads).enable_all().build() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("convoy-proxy: cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(convoy_proxy::run(args)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            tracing::error!("{e}");
            eprintln!("convoy-proxy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The async runtime for `workers` threads. With one (the default), a current-thread runtime:
/// the same single thread of work, without the work-stealing scheduler's bookkeeping per task
/// poll or a second thread (`convoy-bench compare` and `benches/scripts/profile-hop.sh` measure
/// the difference).
fn runtime_builder(workers: usize) -> tokio::runtime::Builder {
    if workers == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut builder = tokio::runtime::Builder::new_multi_thread();
        builder.worker_threads(workers);
        builder
    }
}

/// `convoy-proxy hash-api-key`: the key from stdin, its SHA-256 in hex on stdout.
fn hash_api_key() -> ExitCode {
    if let Some(arg) = std::env::args().nth(2) {
        let help = arg == "--help" || arg == "-h";
        eprintln!(
            "usage: echo -n KEY | convoy-proxy hash-api-key\n\
             reads an API key from stdin (one trailing newline is ignored) and prints its \
             SHA-256 in hex, for gateways.<name>.api_keys[].key_sha256"
        );
        return if help {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(2)
        };
    }
    match convoy_gateway::auth::hash_api_key_from(std::io::stdin().lock()) {
        Ok(hex) => {
            println!("{hex}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("convoy-proxy hash-api-key: {e}");
            ExitCode::FAILURE
        }
    }
}
