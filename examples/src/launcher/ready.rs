//! Waiting until every app and sidecar answers its health check, and until every sidecar
//! runs the control plane's latest version.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use convoy_harness::{wait_until, WaitError};
use tokio::time::Instant;

use super::api::Api;
use super::children::{with_log, Children};
use super::scrape::ControlPlane;
use super::topology::Mesh;

/// How often to poll a health endpoint.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Something that must answer 200 before traffic starts.
pub(crate) struct Probe {
    pub(crate) what: String,
    pub(crate) get: convoy_harness::Probe,
    pub(crate) log: PathBuf,
}

impl Probe {
    /// `what` is ready once `GET path` on `addr` answers 200; its log is `log`.
    pub(crate) fn new(what: String, addr: std::net::SocketAddr, path: &str, log: PathBuf) -> Probe {
        Probe {
            what,
            get: convoy_harness::Probe::get(addr, path).every(POLL_INTERVAL),
            log,
        }
    }
}

/// Polls each probe until it answers 200, all within `timeout`. Fails early if a
/// child exits, and on timeout names the laggard and its log.
pub(crate) async fn wait(
    probes: &[Probe],
    children: &mut Children,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    for probe in probes {
        let left = deadline.saturating_duration_since(Instant::now());
        match probe.get.wait_ok(&mut children.watched(), left).await {
            Ok(()) => {}
            Err(WaitError::TimedOut { last, .. }) => bail!(
                "{} not ready after {timeout:?} (GET {}: {last}); see its log: {}",
                probe.what,
                probe.get.url(),
                probe.log.display()
            ),
            Err(e) => return Err(with_log(e)),
        }
    }
    Ok(())
}

/// Polls the control plane's status (through `api`) until every sidecar of `mesh` is
/// connected and has applied the version in force (so each knows every other's endpoint),
/// within `timeout`.
pub(crate) async fn converged(
    api: &Api,
    mesh: &Mesh,
    children: &mut Children,
    timeout: Duration,
) -> anyhow::Result<()> {
    let addresses: Vec<String> = mesh
        .nodes
        .iter()
        .map(|n| n.addrs.inbound.to_string())
        .collect();
    let converged = async || match ControlPlane::status(api).await {
        Ok(status) if status.converged(addresses.iter().map(String::as_str)) => Ok(()),
        Ok(status) => Err(format!(
            "version {}; sidecars (address: version applied): {}",
            status.version,
            status
                .sidecars
                .iter()
                .map(|s| format!(
                    "{}: {}{}",
                    s.address,
                    s.acked_version.map_or("none".to_owned(), |v| v.to_string()),
                    if s.connected { "" } else { " (disconnected)" }
                ))
                .collect::<Vec<_>>()
                .join(", ")
        )),
        Err(e) => Err(e),
    };
    let what = "every sidecar running the control plane's version";
    match wait_until(
        what,
        &mut children.watched(),
        timeout,
        POLL_INTERVAL,
        converged,
    )
    .await
    {
        Ok(()) => Ok(()),
        Err(WaitError::TimedOut { last, .. }) => bail!(
            "the sidecars did not all run the control plane's version after {timeout:?} \
             ({last}); see control-plane.log and *.sidecar.log"
        ),
        Err(e) => Err(with_log(e)),
    }
}
