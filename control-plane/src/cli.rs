//! Command-line flags; each flag of `serve` can also be set by a `CONVOY_CP_*` environment variable.

use clap::{Args, Parser, Subcommand};
use convoy_proxy::cli::LogFormat;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The default address of the sidecar API (streams, status, history, rollback).
pub const DEFAULT_LISTEN: &str = "127.0.0.1:4200";

/// The default URL the client commands talk to.
pub const DEFAULT_URL: &str = "http://127.0.0.1:4200";

/// Convoy control plane: validates a directory of mesh YAML and streams it to every sidecar.
#[derive(Debug, Parser)]
#[command(name = "convoy-control-plane", version, about)]
pub struct Cli {
    /// What to do.
    #[command(subcommand)]
    pub command: Command,
}

/// The subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Runs the control plane: watches the directory and streams snapshots to sidecars.
    Serve(ServeArgs),
    /// Shows which sidecar is connected and which version it runs (a client of `GET /v1/status`).
    Status(StatusArgs),
    /// Lists the published versions, oldest first (a client of `GET /v1/history`).
    History(HistoryArgs),
    /// Publishes an earlier version's configuration again, as a new version.
    Rollback(RollbackArgs),
    /// Checks a mesh directory offline: `ok: N services in M files`, or the error (exit 1).
    Validate(ValidateArgs),
}

/// Flags of `serve`.
#[derive(Debug, Args)]
pub struct ServeArgs {
    /// The directory of mesh YAML files (`*.yaml`, `*.yml`; hidden files are skipped).
    #[arg(long, env = "CONVOY_CP_CONFIG_DIR", value_name = "DIR")]
    pub config_dir: PathBuf,

    /// Where sidecars connect (`POST /v1/stream`, h2c) and clients ask for status and history.
    #[arg(long, env = "CONVOY_CP_LISTEN", value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub listen: SocketAddr,

    /// The admin listener: `/live`, `/ready`, `/metrics`.
    #[arg(
        long,
        env = "CONVOY_CP_ADMIN_ADDR",
        value_name = "ADDR",
        default_value = "127.0.0.1:4291"
    )]
    pub admin_addr: SocketAddr,

    /// How long a disconnected sidecar keeps its endpoint; back within it (same id), it keeps it.
    #[arg(long, env = "CONVOY_CP_ENDPOINT_GRACE", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub endpoint_grace: Duration,

    /// After a start, a sidecar that reconnects already serving keeps its last snapshot this
    /// long, until the rest of the fleet is back (sidecars retry at most every 5 s).
    #[arg(long, env = "CONVOY_CP_WARM_UP", value_name = "DURATION", default_value = "6s", value_parser = parse_duration)]
    pub warm_up: Duration,

    /// After a file event, wait until the directory has been quiet this long, then reload.
    #[arg(long, env = "CONVOY_CP_DEBOUNCE", value_name = "DURATION", default_value = "20ms", value_parser = parse_duration)]
    pub debounce: Duration,

    /// A sidecar silent this long is disconnected (sidecars ping every 5 s).
    #[arg(long, env = "CONVOY_CP_HEARTBEAT_TIMEOUT", value_name = "DURATION", default_value = "15s", value_parser = parse_duration, hide = true)]
    pub heartbeat_timeout: Duration,

    /// After binding, write the actual listener addresses here as JSON (useful with port 0).
    #[arg(long, env = "CONVOY_CP_BOUND_ADDRS_FILE", value_name = "FILE")]
    pub bound_addrs_file: Option<PathBuf>,

    /// Log format: `text` (readable) or `json` (one object per line). The level comes from
    /// RUST_LOG (default `info`).
    #[arg(long, env = "CONVOY_CP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The control plane to talk to.
#[derive(Debug, Clone, Args)]
pub struct Remote {
    /// The control plane's sidecar API.
    #[arg(long, env = "CONVOY_CP_URL", value_name = "URL", default_value = DEFAULT_URL)]
    pub url: String,
}

/// Flags of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Which control plane.
    #[command(flatten)]
    pub remote: Remote,
    /// Print the JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Which control plane.
    #[command(flatten)]
    pub remote: Remote,
    /// Print the JSON answer instead of a table.
    #[arg(long)]
    pub json: bool,
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The version whose configuration is published again.
    #[arg(value_name = "VERSION")]
    pub version: u64,
    /// Which control plane.
    #[command(flatten)]
    pub remote: Remote,
    /// Who asks, for the history (default: `$USER`).
    #[arg(long, env = "CONVOY_CP_AUTHOR", value_name = "NAME")]
    pub author: Option<String>,
}

/// Flags of `validate`.
#[derive(Debug, Args)]
pub struct ValidateArgs {
    /// The directory of mesh YAML files.
    #[arg(value_name = "DIR")]
    pub dir: PathBuf,
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    convoy_config::parse_duration(text)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::CommandFactory;

    #[test]
    fn flags_are_consistent() {
        Cli::command().debug_assert();
    }

    #[test]
    fn serve_defaults() {
        let cli = Cli::try_parse_from(["cp", "serve", "--config-dir", "mesh"]).unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve expected")
        };
        assert_eq!(args.listen, DEFAULT_LISTEN.parse().unwrap());
        assert_eq!(args.endpoint_grace, Duration::from_secs(5));
        assert_eq!(args.debounce, Duration::from_millis(20));
        assert_eq!(args.heartbeat_timeout, Duration::from_secs(15));
        let error = Cli::try_parse_from(["cp", "serve", "--config-dir", "m", "--debounce", "x"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("expected a duration"), "{error}");
    }
}
