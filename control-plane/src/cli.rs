//! Command-line flags; each flag of `serve` can also be set by a `CONVOY_CP_*` environment variable.

use clap::{Args, Parser, Subcommand};
use convoy_config::{TrustDomain, DEFAULT_TRUST_DOMAIN};
use convoy_runtime::LogFormat;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// The default address of the sidecar API (streams, status, history, rollback).
pub(crate) const DEFAULT_LISTEN: &str = "127.0.0.1:4200";

/// The default URL the client commands talk to.
pub(crate) const DEFAULT_URL: &str = "https://127.0.0.1:4200";

/// The default CA directory.
pub(crate) const DEFAULT_CA_DIR: &str = "convoy-ca";

/// The default CA file of the client commands: the anchor of the default CA directory.
pub(crate) const DEFAULT_CA_FILE: &str = "convoy-ca/ca.pem";

/// The shortest `--cert-ttl`.
pub(crate) const MIN_CERT_TTL: Duration = Duration::from_secs(1);

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
    Serve(Box<ServeArgs>),
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
    pub(crate) config_dir: PathBuf,

    /// Where sidecars connect (`POST /v1/stream`, `POST /v1/certificate`) and clients ask for
    /// status and history. TLS only.
    #[arg(long, env = "CONVOY_CP_LISTEN", value_name = "ADDR", default_value = DEFAULT_LISTEN)]
    pub(crate) listen: SocketAddr,

    /// The admin listener: `/live`, `/ready`, `/metrics`.
    #[arg(
        long,
        env = "CONVOY_CP_ADMIN_ADDR",
        value_name = "ADDR",
        default_value = "127.0.0.1:4291"
    )]
    pub(crate) admin_addr: SocketAddr,

    /// How long a disconnected sidecar keeps its endpoint; back within it (same id), it keeps it.
    #[arg(long, env = "CONVOY_CP_ENDPOINT_GRACE", value_name = "DURATION", default_value = "5s", value_parser = parse_duration)]
    pub(crate) endpoint_grace: Duration,

    /// After a start, a sidecar that reconnects already serving keeps its last snapshot this
    /// long, until the rest of the fleet is back (sidecars retry at most every 5 s).
    #[arg(long, env = "CONVOY_CP_WARM_UP", value_name = "DURATION", default_value = "6s", value_parser = parse_duration)]
    pub(crate) warm_up: Duration,

    /// After a file event, wait until the directory has been quiet this long, then reload.
    #[arg(long, env = "CONVOY_CP_DEBOUNCE", value_name = "DURATION", default_value = "20ms", value_parser = parse_duration)]
    pub(crate) debounce: Duration,

    /// A sidecar silent this long is disconnected (sidecars ping every 5 s).
    #[arg(long, env = "CONVOY_CP_HEARTBEAT_TIMEOUT", value_name = "DURATION", default_value = "15s", value_parser = parse_duration, hide = true)]
    pub(crate) heartbeat_timeout: Duration,

    /// The CA directory: the trust anchor (`ca.pem`, `ca.key`; generated on first start when
    /// both are missing), `bundle.pem` (more anchors to trust), `join-token` and
    /// `tokens/<service>`.
    #[arg(long, env = "CONVOY_CA_DIR", value_name = "DIR", default_value = DEFAULT_CA_DIR)]
    pub(crate) ca_dir: PathBuf,

    /// The trust anchor's certificate, if not `<ca-dir>/ca.pem` (never generated).
    #[arg(long, env = "CONVOY_CA_CERT", value_name = "FILE", requires = "ca_key")]
    pub(crate) ca_cert: Option<PathBuf>,

    /// The trust anchor's PKCS#8 private key, if not `<ca-dir>/ca.key` (never generated).
    #[arg(long, env = "CONVOY_CA_KEY", value_name = "FILE", requires = "ca_cert")]
    pub(crate) ca_key: Option<PathBuf>,

    /// The mesh's SPIFFE trust domain: identities are `spiffe://<it>/service/<name>`.
    #[arg(long, env = "CONVOY_TRUST_DOMAIN", value_name = "NAME", default_value = DEFAULT_TRUST_DOMAIN, value_parser = parse_trust_domain)]
    pub(crate) trust_domain: TrustDomain,

    /// The lifetime of the certificates issued to sidecars (at least 1s; they renew at about
    /// two thirds of it).
    #[arg(long, env = "CONVOY_CERT_TTL", value_name = "DURATION", default_value = "24h", value_parser = parse_cert_ttl)]
    pub(crate) cert_ttl: Duration,

    /// More names in the API's server certificate: DNS names or IP addresses by which sidecars
    /// and clients reach the control plane (repeatable, or comma-separated). `localhost`,
    /// `127.0.0.1`, `::1` and the listen IP are always in it.
    #[arg(long = "api-san", env = "CONVOY_CP_API_SAN", value_name = "NAME", value_delimiter = ',', value_parser = parse_san)]
    pub(crate) api_sans: Vec<String>,

    /// After binding, write the actual listener addresses here as JSON (useful with port 0).
    #[arg(long, env = "CONVOY_CP_BOUND_ADDRS_FILE", value_name = "FILE")]
    pub(crate) bound_addrs_file: Option<PathBuf>,

    /// Log format: `text` (readable) or `json` (one object per line). The level comes from
    /// RUST_LOG (default `info`).
    #[arg(long, env = "CONVOY_CP_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,
}

/// The control plane to talk to.
#[derive(Debug, Clone, Args)]
pub(crate) struct Remote {
    /// The control plane's sidecar API (`https://HOST:PORT`).
    #[arg(long, env = "CONVOY_CP_URL", value_name = "URL", default_value = DEFAULT_URL)]
    pub(crate) url: String,
    /// The trust anchors (PEM) to verify the control plane's certificate with: its `ca.pem`.
    #[arg(long, env = "CONVOY_CA_FILE", value_name = "FILE", default_value = DEFAULT_CA_FILE)]
    pub(crate) ca_file: PathBuf,
}

/// Flags of `status`.
#[derive(Debug, Args)]
pub struct StatusArgs {
    /// Which control plane.
    #[command(flatten)]
    pub(crate) remote: Remote,
    /// Print the JSON answer instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `history`.
#[derive(Debug, Args)]
pub struct HistoryArgs {
    /// Which control plane.
    #[command(flatten)]
    pub(crate) remote: Remote,
    /// Print the JSON answer instead of a table.
    #[arg(long)]
    pub(crate) json: bool,
}

/// Flags of `rollback`.
#[derive(Debug, Args)]
pub struct RollbackArgs {
    /// The version whose configuration is published again.
    #[arg(value_name = "VERSION")]
    pub(crate) version: u64,
    /// Which control plane.
    #[command(flatten)]
    pub(crate) remote: Remote,
    /// Who asks, for the history (default: `$USER`).
    #[arg(long, env = "CONVOY_CP_AUTHOR", value_name = "NAME")]
    pub(crate) author: Option<String>,
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

fn parse_cert_ttl(text: &str) -> Result<Duration, String> {
    let ttl = convoy_config::parse_duration(text)?;
    if ttl < MIN_CERT_TTL {
        return Err(format!("must be at least 1s, got `{text}`"));
    }
    Ok(ttl)
}

fn parse_trust_domain(text: &str) -> Result<TrustDomain, String> {
    TrustDomain::new(text)
}

fn parse_san(text: &str) -> Result<String, String> {
    let name = text.trim().to_ascii_lowercase();
    rustls_pki_types::ServerName::try_from(name.as_str())
        .map_err(|_| format!("`{text}` is neither a DNS name nor an IP address"))?;
    Ok(name)
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
        assert_eq!(args.ca_dir, PathBuf::from("convoy-ca"));
        assert_eq!(args.trust_domain.as_str(), "convoy.local");
        assert_eq!(args.cert_ttl, Duration::from_secs(24 * 3600));
        assert!(args.api_sans.is_empty());
        let error = Cli::try_parse_from(["cp", "serve", "--config-dir", "m", "--debounce", "x"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("expected a duration"), "{error}");
    }

    #[test]
    fn ca_flags() {
        let cli = Cli::try_parse_from([
            "cp",
            "serve",
            "--config-dir",
            "m",
            "--cert-ttl",
            "2s",
            "--trust-domain",
            "demo.convoy",
            "--api-san",
            "cp.example,10.0.0.1",
            "--api-san",
            "CP2.example",
        ])
        .unwrap();
        let Command::Serve(args) = cli.command else {
            panic!("serve expected")
        };
        assert_eq!(args.cert_ttl, Duration::from_secs(2));
        assert_eq!(args.api_sans, ["cp.example", "10.0.0.1", "cp2.example"]);
        for (flag, value, expected) in [
            ("--cert-ttl", "500ms", "must be at least 1s"),
            ("--trust-domain", "Demo", "not a valid trust domain"),
            (
                "--api-san",
                "bad name",
                "neither a DNS name nor an IP address",
            ),
        ] {
            let error = Cli::try_parse_from(["cp", "serve", "--config-dir", "m", flag, value])
                .unwrap_err()
                .to_string();
            assert!(error.contains(expected), "{flag} {value}: {error}");
        }
        let error = Cli::try_parse_from(["cp", "serve", "--config-dir", "m", "--ca-cert", "a.pem"])
            .unwrap_err()
            .to_string();
        assert!(error.contains("--ca-key"), "{error}");

        let cli = Cli::try_parse_from(["cp", "status"]).unwrap();
        let Command::Status(args) = cli.command else {
            panic!("status expected")
        };
        assert_eq!(args.remote.url, "https://127.0.0.1:4200");
        assert_eq!(args.remote.ca_file, PathBuf::from("convoy-ca/ca.pem"));
    }
}
