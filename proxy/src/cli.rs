//! Command-line flags; each can also be set by a `CONVOY_*` environment variable.

use clap::{ArgGroup, Parser, ValueEnum};
use convoy_config::{AppProtocol, Limits, Listen, ServiceName, Sidecar};
use convoy_control_client::ControlPlaneUrl;
use convoy_runtime::LogFormat;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

/// Convoy sidecar proxy: HTTP/1.1, HTTP/2, gRPC and TCP proxying beside one service, with mutual TLS
/// between sidecars.
///
/// The configuration comes either from a YAML file (`--config`) or from a control plane
/// (`--control-plane`, with `--service` and `--app`): exactly one of the two.
#[derive(Debug, Parser)]
#[command(name = "convoy-proxy", version, about)]
#[command(group(
    ArgGroup::new("source")
        .required(true)
        .args(["config", "control_plane"])
))]
pub struct Args {
    /// The sidecar's YAML configuration file (its service, app, listeners and the services it
    /// calls). Exactly one of --config and --control-plane.
    #[arg(long, env = "CONVOY_CONFIG", value_name = "FILE")]
    pub(crate) config: Option<PathBuf>,

    /// The control plane's sidecar API (`https://HOST:PORT`): take the mesh and this sidecar's
    /// certificate from it instead of a file (needs --service, --app, --control-plane-ca and
    /// --join-token-file). Exactly one of --config and --control-plane.
    #[arg(
        long,
        env = "CONVOY_CONTROL_PLANE",
        value_name = "URL",
        value_parser = ControlPlaneUrl::parse,
        requires_all = ["service", "control_plane_ca", "join_token_file"]
    )]
    pub(crate) control_plane: Option<ControlPlaneUrl>,

    /// With --control-plane: PEM certificates (trust anchors) to verify the control plane's
    /// server certificate with, such as its `convoy-ca/ca.pem`. The trust bundle it pushes is
    /// trusted too once received.
    #[arg(
        long,
        env = "CONVOY_CONTROL_PLANE_CA",
        value_name = "FILE",
        conflicts_with = "config"
    )]
    pub(crate) control_plane_ca: Option<PathBuf>,

    /// With --control-plane: the file holding the join token this sidecar proves itself with
    /// (mesh-wide or for its service). Read at start and again before each request, so a
    /// replaced file is picked up.
    #[arg(
        long,
        env = "CONVOY_JOIN_TOKEN_FILE",
        value_name = "FILE",
        conflicts_with = "config"
    )]
    pub(crate) join_token_file: Option<PathBuf>,

    /// With --control-plane: the service this sidecar sits beside (its inbound listener becomes
    /// an endpoint of it).
    #[arg(
        long,
        env = "CONVOY_SERVICE",
        value_name = "NAME",
        value_parser = parse_service,
        conflicts_with = "config"
    )]
    pub(crate) service: Option<ServiceName>,

    /// Run as the API gateway of this name (`gateways.<name>` of the mesh): the name is
    /// `sidecar.service` with --config, --service with --control-plane. No app, no inbound or
    /// outbound listener: the admin listener and the gateway's own listeners.
    #[arg(long, env = "CONVOY_GATEWAY")]
    pub(crate) gateway: bool,

    /// With --gateway: listen here instead of at the address of the gateway's first listener
    /// in the configuration (its TLS settings stay). For running several gateways from one
    /// configuration on one host, and for containers.
    #[arg(
        long,
        env = "CONVOY_GATEWAY_ADDR",
        value_name = "ADDR",
        requires = "gateway"
    )]
    pub(crate) gateway_addr: Option<std::net::SocketAddr>,

    /// With --control-plane: the local app's address; the inbound listener forwards here (not
    /// needed with --gateway).
    #[arg(
        long,
        env = "CONVOY_APP",
        value_name = "ADDR",
        conflicts_with = "config"
    )]
    pub(crate) app: Option<SocketAddr>,

    /// With --control-plane: how the local app is spoken to. Default `http1` (`http2` while the
    /// mesh lists the service with `protocol: grpc`).
    #[arg(
        long,
        env = "CONVOY_APP_PROTOCOL",
        value_name = "PROTOCOL",
        value_enum,
        conflicts_with = "config"
    )]
    pub(crate) app_protocol: Option<AppProtocolArg>,

    /// With --control-plane: where other sidecars reach this inbound listener, told to the
    /// control plane. Default: the inbound listener's bound address (it must then not be an
    /// unspecified address such as 0.0.0.0).
    #[arg(
        long,
        env = "CONVOY_ADVERTISE_ADDR",
        value_name = "HOST:PORT",
        value_parser = parse_advertise_addr,
        conflicts_with = "config"
    )]
    pub(crate) advertise_addr: Option<String>,

    /// Log format: `text` (readable) or `json` (one object per line). The level comes from RUST_LOG
    /// (default `info`).
    #[arg(long, env = "CONVOY_LOG_FORMAT", value_enum, default_value_t = LogFormat::Text)]
    pub log_format: LogFormat,

    /// How long in-flight requests may take to finish after SIGTERM/SIGINT before the process exits.
    #[arg(long, env = "CONVOY_GRACE_PERIOD", value_name = "DURATION", default_value = "30s", value_parser = parse_duration)]
    pub(crate) grace_period: Duration,

    /// Overrides `sidecar.listen.outbound` from the config file (default `127.0.0.1:4140` with
    /// --control-plane).
    #[arg(long, env = "CONVOY_OUTBOUND_ADDR", value_name = "ADDR")]
    pub(crate) outbound_addr: Option<SocketAddr>,

    /// Overrides `sidecar.listen.inbound` from the config file (default `0.0.0.0:4143` with
    /// --control-plane).
    #[arg(long, env = "CONVOY_INBOUND_ADDR", value_name = "ADDR")]
    pub(crate) inbound_addr: Option<SocketAddr>,

    /// Overrides `sidecar.listen.admin` from the config file (default `127.0.0.1:4191` with
    /// --control-plane).
    #[arg(long, env = "CONVOY_ADMIN_ADDR", value_name = "ADDR")]
    pub(crate) admin_addr: Option<SocketAddr>,

    /// After binding, write the actual listener addresses here as JSON (useful with port 0).
    #[arg(long, env = "CONVOY_BOUND_ADDRS_FILE", value_name = "FILE")]
    pub(crate) bound_addrs_file: Option<PathBuf>,

    /// Number of worker threads of the async runtime.
    #[arg(long, env = "CONVOY_WORKER_THREADS", value_name = "N", default_value_t = 1, value_parser = parse_workers)]
    pub worker_threads: usize,
}

impl Args {
    /// The sidecar's own settings in control-plane mode, from the flags: `--service`, `--app`,
    /// `--app-protocol` (`http1` when not given; see [`Args::app_protocol`]), the listener flags
    /// over [`Listen::default`], and [`Limits::default`]. `None` without `--service`, or
    /// without `--app` unless `--gateway`.
    pub(crate) fn sidecar(&self) -> Option<Sidecar> {
        let defaults = Listen::default();
        let app = match self.app {
            Some(app) => app,
            // A gateway has no app: nothing is ever sent to this address.
            None if self.gateway => SocketAddr::from(([127, 0, 0, 1], 9)),
            None => return None,
        };
        Some(Sidecar {
            service: self.service.clone()?,
            app,
            app_protocol: self
                .app_protocol
                .map_or(AppProtocol::Http1, AppProtocol::from),
            listen: Listen {
                outbound: self.outbound_addr.unwrap_or(defaults.outbound),
                inbound: self.inbound_addr.unwrap_or(defaults.inbound),
                admin: self.admin_addr.unwrap_or(defaults.admin),
            },
            limits: Limits::default(),
        })
    }
}

/// `--app-protocol`: how the local app is spoken to.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub(crate) enum AppProtocolArg {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    Http2,
}

impl From<AppProtocolArg> for AppProtocol {
    fn from(arg: AppProtocolArg) -> Self {
        match arg {
            AppProtocolArg::Http1 => AppProtocol::Http1,
            AppProtocolArg::Http2 => AppProtocol::Http2,
        }
    }
}

fn parse_service(text: &str) -> Result<ServiceName, String> {
    ServiceName::new(text)
}

/// An address other sidecars can dial: `IP:PORT` or `HOST:PORT`, not an unspecified IP and
/// not port 0.
fn parse_advertise_addr(text: &str) -> Result<String, String> {
    if let Ok(addr) = text.parse::<SocketAddr>() {
        if addr.ip().is_unspecified() {
            return Err(format!(
                "`{text}` is not reachable from other hosts: name this host's address"
            ));
        }
        if addr.port() == 0 {
            return Err(format!("`{text}`: port 0 cannot be dialed"));
        }
        return Ok(text.to_owned());
    }
    let bad =
        || format!("expected HOST:PORT (such as 10.0.0.7:4143 or orders-1:4143), got `{text}`");
    let (host, port) = text.rsplit_once(':').ok_or_else(bad)?;
    let valid_host = !host.is_empty()
        && host
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'.');
    match port.parse::<u16>() {
        Ok(port) if port != 0 && valid_host => Ok(text.to_owned()),
        _ => Err(bad()),
    }
}

fn parse_duration(text: &str) -> Result<Duration, String> {
    convoy_config::parse_duration(text)
}

fn parse_workers(text: &str) -> Result<usize, String> {
    match text.parse::<usize>() {
        Ok(n) if (1..=256).contains(&n) => Ok(n),
        _ => Err(format!(
            "expected a whole number from 1 to 256, got `{text}`"
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn advertise_addresses() {
        for ok in [
            "10.0.0.7:4143",
            "orders-1:4143",
            "[fd00::7]:4143",
            "orders.svc.local:1",
        ] {
            assert_eq!(parse_advertise_addr(ok).as_deref(), Ok(ok));
        }
        for bad in [
            "0.0.0.0:4143",
            "[::]:4143",
            "10.0.0.7:0",
            "orders",
            ":4143",
            "a b:1",
        ] {
            assert!(parse_advertise_addr(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn the_sidecar_comes_from_the_flags() {
        let args = Args::parse_from([
            "convoy-proxy",
            "--control-plane",
            "127.0.0.1:4200",
            "--control-plane-ca",
            "ca.pem",
            "--join-token-file",
            "token",
            "--service",
            "orders",
            "--app",
            "127.0.0.1:8080",
            "--outbound-addr",
            "127.0.0.1:5140",
        ]);
        let sidecar = args.sidecar().unwrap();
        assert_eq!(sidecar.service.as_str(), "orders");
        assert_eq!(sidecar.app_protocol, AppProtocol::Http1);
        assert_eq!(sidecar.listen.outbound, "127.0.0.1:5140".parse().unwrap());
        assert_eq!(sidecar.listen.inbound, Listen::default().inbound);
        assert_eq!(sidecar.limits, Limits::default());
    }

    #[test]
    fn a_gateway_needs_no_app() {
        let base = [
            "convoy-proxy",
            "--control-plane",
            "127.0.0.1:4200",
            "--control-plane-ca",
            "ca.pem",
            "--join-token-file",
            "token",
            "--service",
            "edge",
        ];
        let args = Args::parse_from([&base[..], &["--gateway"]].concat());
        assert!(args.gateway);
        assert_eq!(args.sidecar().unwrap().service.as_str(), "edge");
        let sidecar = Args::parse_from(base).sidecar();
        assert!(sidecar.is_none(), "a sidecar needs --app");
    }

    #[test]
    fn exactly_one_source() {
        let base = [
            "convoy-proxy",
            "--service",
            "orders",
            "--app",
            "127.0.0.1:1",
            "--control-plane-ca",
            "ca.pem",
            "--join-token-file",
            "token",
        ];
        let both = [
            &base[..],
            &["--config", "x.yaml", "--control-plane", "cp:1"],
        ]
        .concat();
        assert!(Args::try_parse_from(both).is_err());
        assert!(Args::try_parse_from(["convoy-proxy"]).is_err());
        assert!(Args::try_parse_from(["convoy-proxy", "--control-plane", "cp:1"]).is_err());
        assert!(
            Args::try_parse_from(["convoy-proxy", "--config", "x.yaml", "--service", "a"]).is_err()
        );
        // TLS to the control plane needs its anchors and a join token.
        let without_token = [
            "convoy-proxy",
            "--control-plane",
            "cp:1",
            "--service",
            "orders",
            "--app",
            "127.0.0.1:1",
            "--control-plane-ca",
            "ca.pem",
        ];
        let error = Args::try_parse_from(without_token).unwrap_err().to_string();
        assert!(error.contains("--join-token-file"), "{error}");
        assert!(Args::try_parse_from(
            [
                &base[..],
                &["--control-plane", "cp:1", "--config", "x.yaml"]
            ]
            .concat()
        )
        .is_err());
        let bad_name = [&base[..], &["--control-plane", "cp:1"]].concat();
        let bad_name: Vec<&str> = bad_name
            .into_iter()
            .map(|a| if a == "orders" { "Orders" } else { a })
            .collect();
        let error = Args::try_parse_from(bad_name).unwrap_err().to_string();
        assert!(error.contains("not a valid service name"), "{error}");
    }
}
