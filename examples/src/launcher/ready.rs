//! Waiting until every app and sidecar answers its health check, and until every sidecar
//! runs the control plane's latest version.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::bail;
use http::StatusCode;
use tokio::time::Instant;

use super::api::Api;
use super::children::Children;
use super::scrape::ControlPlane;
use super::topology::Mesh;
use crate::client::{self, HttpClient};

/// How often to poll a health endpoint.
const POLL_INTERVAL: Duration = Duration::from_millis(50);

/// Something that must answer 200 before traffic starts.
pub(crate) struct Probe {
    pub(crate) what: String,
    pub(crate) url: String,
    pub(crate) log: PathBuf,
}

/// Polls each probe until it answers 200, all within `timeout`. Fails early if a
/// child exits, and on timeout names the laggard and its log.
pub(crate) async fn wait(
    client: &HttpClient,
    probes: &[Probe],
    children: &mut Children,
    timeout: Duration,
) -> anyhow::Result<()> {
    let deadline = Instant::now() + timeout;
    for probe in probes {
        loop {
            children.check()?;
            let last = match client::get(client, &probe.url, &[], POLL_INTERVAL * 20).await {
                Ok((StatusCode::OK, _)) => break,
                Ok((status, _)) => format!("answered {status}"),
                Err(e) => e,
            };
            if Instant::now() >= deadline {
                bail!(
                    "{} not ready after {timeout:?} (GET {}: {last}); see its log: {}",
                    probe.what,
                    probe.url,
                    probe.log.display()
                );
            }
            tokio::time::sleep(POLL_INTERVAL).await;
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
    let deadline = Instant::now() + timeout;
    let addresses: Vec<String> = mesh
        .nodes
        .iter()
        .map(|n| n.addrs.inbound.to_string())
        .collect();
    loop {
        children.check()?;
        let last = match ControlPlane::status(api).await {
            Ok(status) if status.converged(addresses.iter().map(String::as_str)) => return Ok(()),
            Ok(status) => format!(
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
            ),
            Err(e) => e,
        };
        if Instant::now() >= deadline {
            bail!(
                "the sidecars did not all run the control plane's version after {timeout:?} \
                 ({last}); see control-plane.log and *.sidecar.log"
            );
        }
        tokio::time::sleep(POLL_INTERVAL).await;
    }
}
