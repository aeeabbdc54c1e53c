//! `convoy-harness`: the one process harness for everything that runs Convoy binaries (the
//! end-to-end tests, the control plane's e2e tests, the local demo's launcher, `convoy-bench
//! compare`): find a binary, spawn it on free ports with a bound-addresses file, wait for
//! `/ready`, show its log when it dies or a wait fails, kill it on drop; a test CA; one
//! Prometheus text parser.
//!
//! It runs the binaries and never links them: it depends on neither `convoy-proxy` nor
//! `convoy-control-plane`.
//!
//! ```no_run
//! # async fn example() -> Result<(), Box<dyn std::error::Error>> {
//! use convoy_harness::{binary, ProxyAddrs, Spawn};
//! use std::time::Duration;
//! let dir = tempfile::tempdir()?;
//! let mut proxy = Spawn::new("convoy-proxy", binary::require(binary::PROXY), dir.path().join("log"))
//!     .arg("--config")
//!     .arg("convoy.yaml")
//!     .bound_addrs_file(dir.path().join("bound.json"))
//!     .start()?;
//! let addrs: ProxyAddrs = proxy.wait_bound(Duration::from_secs(10)).await?;
//! proxy.wait_ready(addrs.admin, Duration::from_secs(10)).await?;
//! # Ok(())
//! # }
//! ```

pub mod binary;
mod bound;
mod child;
mod error;
pub mod pki;
pub mod ports;
mod probe;
pub mod prometheus;
mod run;
mod spawn;
mod stale;
pub mod tls;

pub use bound::{wait as wait_bound, ControlPlaneAddrs, ProxyAddrs};
pub use child::{wait_until, Child};
pub use error::WaitError;
pub use probe::Probe;
pub use run::{run_until_exit, Exited};
pub use spawn::{command, Spawn};
