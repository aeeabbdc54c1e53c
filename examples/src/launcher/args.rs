//! Command-line flags of `convoy-demo`.

use std::path::PathBuf;
use std::time::Duration;

use clap::Parser;

use super::control::Script;
use crate::flags::{parse_duration, parse_rate, parse_ratio};

/// Runs a local Convoy demo mesh: web → orders → payments (two instances), each beside
/// its own sidecar, all fed by a control plane, drives traffic into web and shows
/// per-service stats every second.
///
/// Every hop between sidecars is mTLS, with certificates the control plane issues from the
/// mesh CA it keeps in the work dir (`ca/`). payments lets in only orders: the demo also
/// sends 1 req/s from web straight to payments, which payments' sidecars refuse with 403
/// (the table's `denied/s` column).
///
/// The mesh's policies are YAML files the control plane watches (examples/demo/mesh by
/// default): edit one while the demo runs and, within a second, every sidecar runs the new
/// version (the table's `version` column). payments is flaky and orders' sidecar retries it
/// and ejects failing instances; web's sidecar retries orders; orders' sidecar rate-limits
/// its inbound requests. While it runs, type a key and Enter: s stops the payments apps, r
/// restarts them, + / - double or halve the rate, f toggles payments' flakiness, q quits
/// (see examples/README.md).
///
/// Builds `convoy-proxy`, `convoy-control-plane` and `convoy-demo-service` with cargo first
/// (unless `--no-build`) and expects them next to this executable.
#[derive(Debug, Clone, Parser)]
#[command(name = "convoy-demo", version)]
pub struct DemoArgs {
    /// Requests per second sent to web through its sidecar.
    #[arg(long, default_value = "50", value_parser = parse_rate)]
    pub(crate) rate: f64,

    /// Stop after this long (e.g. `30s`); without it, run until Ctrl-C (or `q`).
    #[arg(long, value_parser = parse_duration)]
    pub(crate) duration: Option<Duration>,

    /// Fraction of requests the payments apps fail while flaky (`f` toggles it).
    #[arg(long, default_value = "0.2", value_parser = parse_ratio)]
    pub(crate) failure_rate: f64,

    /// The directory of mesh YAML the control plane watches (`services:` only); edits to
    /// it apply while the demo runs [default: examples/demo/mesh of this source tree].
    #[arg(long, value_name = "DIR")]
    pub(crate) mesh_dir: Option<PathBuf>,

    /// Overrides payments' `circuit_breaker.base_ejection` (and sets `max_ejection` to twice
    /// it) in a copy of the mesh directory made in the work dir; the control plane then
    /// watches that copy.
    #[arg(long, value_parser = parse_duration)]
    pub(crate) base_ejection: Option<Duration>,

    /// Overrides orders' `rate_limit` (requests per second, bursts of half as many) in a copy
    /// of the mesh directory made in the work dir; the control plane then watches that copy.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..))]
    pub(crate) rate_limit: Option<u32>,

    /// Actions at set times after traffic starts, instead of (or besides) typing them:
    /// comma-separated TIME:ACTION with ACTION one of stop-payments, start-payments,
    /// faster, slower, rate=N, flaky=on, flaky=off, toggle-flaky, quit.
    /// E.g. `5s:stop-payments,15s:start-payments`.
    #[arg(long, value_name = "STEPS", value_parser = Script::parse)]
    pub(crate) script: Option<Script>,

    /// Directory for the logs, the mesh CA (`ca/`: generated on the first run, reused after)
    /// and the mesh copy that --base-ejection or --rate-limit make
    /// [default: `<cargo target dir>`/convoy-demo].
    #[arg(long, value_name = "DIR")]
    pub(crate) work_dir: Option<PathBuf>,

    /// Skip `cargo build`; use the binaries already next to this executable
    /// (`convoy-proxy`, `convoy-control-plane`, `convoy-demo-service`).
    #[arg(long)]
    pub(crate) no_build: bool,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_and_flags() {
        let args = DemoArgs::try_parse_from(["convoy-demo"]).unwrap();
        assert_eq!(args.rate, 50.0);
        assert_eq!(args.duration, None);
        assert_eq!(args.failure_rate, 0.2);
        assert_eq!(args.base_ejection, None);
        assert_eq!(args.rate_limit, None);
        assert_eq!(args.mesh_dir, None);
        assert_eq!(args.script, None);
        assert!(!args.no_build);
        let args = DemoArgs::try_parse_from([
            "convoy-demo",
            "--duration",
            "4s",
            "--rate",
            "10",
            "--no-build",
            "--failure-rate",
            "0.5",
            "--base-ejection",
            "1s",
            "--rate-limit",
            "20",
            "--mesh-dir",
            "my-mesh",
            "--script",
            "2s:stop-payments,4s:start-payments",
        ])
        .unwrap();
        assert_eq!(args.duration, Some(Duration::from_secs(4)));
        assert_eq!(args.rate, 10.0);
        assert!(args.no_build);
        assert_eq!(args.failure_rate, 0.5);
        assert_eq!(args.base_ejection, Some(Duration::from_secs(1)));
        assert_eq!(args.rate_limit, Some(20));
        assert_eq!(args.mesh_dir, Some(PathBuf::from("my-mesh")));
        assert_eq!(args.script.unwrap().steps().len(), 2);
        for bad in [
            ["--rate", "0"],
            ["--rate-limit", "0"],
            ["--failure-rate", "2"],
            ["--script", "soon:stop-payments"],
        ] {
            let argv = std::iter::once("convoy-demo").chain(bad);
            assert!(DemoArgs::try_parse_from(argv).is_err(), "{bad:?}");
        }
    }
}
