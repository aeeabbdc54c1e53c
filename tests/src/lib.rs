//! End-to-end test harness for Convoy: the real `convoy-proxy` and `convoy-control-plane`
//! binaries on loopback, in-process upstream servers, and HTTP/1.1, HTTP/2 and raw TCP clients.
//!
//! Every address is `127.0.0.1:0`; a proxy (or control plane) reports what it bound through
//! `--bound-addrs-file`. A [`Proxy`] or [`ControlPlane`] kills its process when dropped, also
//! when a test panics (and then prints the process's log, so a failure shows what it said).
//!
//! The processes are run through `convoy-harness` (find the binary, spawn, wait for `/ready`,
//! log on failure, kill on drop), which the demo launcher and the benches use too; so are the
//! free and closed loopback ports, the test CA and the Prometheus text parser.
//!
//! # Running
//!
//! The tests run the binaries in `target/<profile>/` (`convoy-proxy`, `convoy-control-plane`);
//! `cargo test --workspace` builds them. `cargo test -p convoy-tests` alone does not: build
//! them first with `cargo build -p convoy-proxy -p convoy-control-plane --bins` (a stale binary
//! is reported on stderr). Each file in `tests/` is one area (routing, chained sidecars, gRPC,
//! streaming, balancing, errors, headers, limits, drain, config errors, metrics, TCP, admin,
//! access log, retries, timeouts, circuit breaking, the control-plane client against a fake
//! control plane, the mesh with the real control plane);
//! tests are independent and run in parallel. The metrics test needs `promtool` (Debian package
//! `prometheus`): without it the check is skipped with a message, or fails when `CI` is set.
//!
//! # Pieces
//!
//! - [`proxy`]: start a proxy from YAML ([`ConfigYaml`] writes it) or run by a control plane
//!   ([`Proxy::with_control_plane`], ready only after the first snapshot), read its addresses,
//!   logs and metrics, send SIGTERM, or run it to a failing exit ([`run_until_exit`]).
//! - [`control_plane`]: the real control plane over a mesh directory in a tempdir
//!   ([`ControlPlane`]): edit its YAML atomically, read status and history, roll back (API or
//!   command line), kill it and start it again on the same address, start sidecars it runs;
//!   [`relay`]: a TCP relay that can be cut (a partition between a sidecar and it).
//! - `setup`: the usual starting points: a `web` sidecar calling one plain or meshed service
//!   ([`proxy_to_plain`], [`proxy_to_meshed`]), or an echo upstream behind one ([`proxy_to_echo`]);
//!   a `web` sidecar calling `orders` with a policy ([`web_to_orders`]), or one in front of an
//!   echo app ([`web_in_front_of_echo`]).
//! - [`upstream`]: echo (records requests and body checksums; configurable status, headers,
//!   body, delay; [`upstream::Flaky`] answers some requests otherwise: the first N, or a share
//!   at random), gRPC (optionally failing its first calls with a status in the trailers),
//!   streaming (large bodies, checksummed) and TCP echo servers.
//! - [`client`] (pooled, HTTP/1.1 or HTTP/2 to a fixed address, one request or many at a
//!   time), [`conn`] (single connections: absolute-form, GOAWAY) and [`raw`] (bytes on a
//!   socket); [`requests`]: the usual requests to `orders` and gRPC calls to `greeter`.
//! - [`compose`]: the compose demo (`examples/compose/`) under a project name of its own:
//!   find Docker, build the images from this profile's binaries, up, exec, `down -v` on drop.
//! - [`data`] (seeded bytes and checksums), [`tools`].

pub mod client;
pub mod compose;
mod config;
pub mod conn;
pub mod control_plane;
pub mod data;
pub mod proxy;
pub mod raw;
pub mod relay;
pub mod requests;
mod setup;
pub mod tools;
pub mod upstream;

pub use client::{HttpClient, Proto, Reply};
pub use config::{endpoints, ConfigYaml};
pub use control_plane::ControlPlane;
pub use proxy::{run_until_exit, Proxy, ProxyBuilder};
pub use setup::{
    proxy_to_echo, proxy_to_meshed, proxy_to_plain, web_in_front_of_echo, web_to_orders,
};

use std::future::Future;
use std::time::Duration;

/// The longest any single harness step (a request, a wait) may take before the test fails
/// instead of hanging.
pub const STEP_TIMEOUT: Duration = Duration::from_secs(20);

/// Awaits `future`, panicking with `what` if it takes longer than `limit`.
pub async fn within<T>(limit: Duration, what: &str, future: impl Future<Output = T>) -> T {
    match tokio::time::timeout(limit, future).await {
        Ok(value) => value,
        Err(_) => panic!("timed out after {limit:?}: {what}"),
    }
}

/// Both client protocols, for tests that run each scenario over HTTP/1.1 and HTTP/2.
pub const BOTH: [Proto; 2] = [Proto::Http1, Proto::Http2];
