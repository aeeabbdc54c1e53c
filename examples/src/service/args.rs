//! Command-line flags of `convoy-demo-service`.

use std::net::SocketAddr;
use std::time::Duration;

use clap::Parser;
use http::uri::Authority;

use crate::flags::{parse_duration, parse_ratio};

/// A demo HTTP service for the Convoy mesh (HTTP/1.1 and h2c on one port).
///
/// Every request sleeps for the configured latency, calls each `--call` service in
/// order through the local sidecar, then answers with a JSON echo of what it saw.
/// `GET /healthz` answers `ok` at once; `GET /whoami` answers at once with the caller's
/// identity as the sidecar in front of it says (`x-convoy-client-id`).
#[derive(Debug, Clone, Parser)]
#[command(name = "convoy-demo-service", version)]
pub struct ServiceArgs {
    /// Name of this service, echoed in every response.
    #[arg(long, env = "CONVOY_DEMO_NAME")]
    pub(crate) name: String,

    /// Address to listen on (port 0 picks a free port; the chosen address is printed).
    #[arg(long, env = "CONVOY_DEMO_LISTEN", default_value = "127.0.0.1:8080")]
    pub(crate) listen: SocketAddr,

    /// Latency added to every request, e.g. `5ms` or `1s`.
    #[arg(long, env = "CONVOY_DEMO_LATENCY", default_value = "0", value_parser = parse_duration)]
    pub(crate) latency: Duration,

    /// Extra latency drawn uniformly from 0..JITTER and added to `--latency`.
    #[arg(long, env = "CONVOY_DEMO_LATENCY_JITTER", default_value = "0", value_parser = parse_duration)]
    pub(crate) latency_jitter: Duration,

    /// Fraction of requests (0..=1) answered with 500.
    #[arg(long, env = "CONVOY_DEMO_FAILURE_RATE", default_value = "0", value_parser = parse_ratio)]
    pub(crate) failure_rate: f64,

    /// Service to call on every request, through the local sidecar; repeat for more
    /// (called in order). The env var takes a comma-separated list.
    #[arg(
        long = "call",
        value_name = "SERVICE",
        env = "CONVOY_DEMO_CALL",
        value_delimiter = ','
    )]
    pub(crate) calls: Vec<String>,

    /// Address of the local sidecar's outbound listener, used for `--call`.
    #[arg(long, env = "CONVOY_DEMO_OUTBOUND", default_value = "127.0.0.1:4140")]
    pub(crate) outbound: Authority,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<ServiceArgs, clap::Error> {
        ServiceArgs::try_parse_from(
            std::iter::once("convoy-demo-service").chain(args.iter().copied()),
        )
    }

    #[test]
    fn defaults() {
        let args = parse(&["--name", "web"]).unwrap();
        assert_eq!(args.listen, "127.0.0.1:8080".parse().unwrap());
        assert_eq!(args.latency, Duration::ZERO);
        assert_eq!(args.failure_rate, 0.0);
        assert!(args.calls.is_empty());
        assert_eq!(args.outbound.as_str(), "127.0.0.1:4140");
    }

    #[test]
    fn repeatable_calls_and_durations() {
        let args = parse(&[
            "--name",
            "web",
            "--call",
            "orders",
            "--call",
            "payments",
            "--latency",
            "5ms",
            "--latency-jitter",
            "1s",
        ])
        .unwrap();
        assert_eq!(args.calls, ["orders", "payments"]);
        assert_eq!(args.latency, Duration::from_millis(5));
        assert_eq!(args.latency_jitter, Duration::from_secs(1));
    }

    #[test]
    fn out_of_range_failure_rate_is_rejected() {
        let err = parse(&["--name", "web", "--failure-rate", "1.5"]).unwrap_err();
        assert!(
            err.to_string().contains("must be within 0..=1, got 1.5"),
            "{err}"
        );
    }

    #[test]
    fn name_is_required() {
        assert!(parse(&[]).is_err());
    }
}
