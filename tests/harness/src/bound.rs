//! What `--bound-addrs-file` reports, and waiting for a child to write it.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use serde::de::DeserializeOwned;
use serde::Deserialize;

use crate::child::Child;
use crate::child::{wait_until, POLL_INTERVAL};
use crate::error::WaitError;

/// The listeners of `convoy-proxy`.
#[derive(Debug, Clone, Deserialize)]
pub struct ProxyAddrs {
    /// The outbound listener (`None` for a gateway).
    pub outbound: Option<SocketAddr>,
    /// The inbound listener (`None` for a gateway).
    pub inbound: Option<SocketAddr>,
    /// The admin listener.
    pub admin: SocketAddr,
    /// TCP service listeners, by service name.
    #[serde(default)]
    pub tcp: BTreeMap<String, SocketAddr>,
    /// Gateway listeners (`--gateway`), in the order configured.
    #[serde(default)]
    pub gateway: Vec<SocketAddr>,
}

/// The listeners of `convoy-control-plane serve`.
#[derive(Debug, Clone, Copy, Deserialize)]
pub struct ControlPlaneAddrs {
    /// The sidecar API (`--listen`; `sidecars` in older binaries).
    #[serde(alias = "sidecars")]
    pub listen: SocketAddr,
    /// The admin listener.
    pub admin: SocketAddr,
}

/// The addresses in `file`, if it is there; an error if it is there but not what `T` expects.
pub(crate) fn read<T: DeserializeOwned>(file: &Path) -> Result<Option<T>, WaitError> {
    let Ok(text) = std::fs::read_to_string(file) else {
        return Ok(None);
    };
    serde_json::from_str(&text)
        .map(Some)
        .map_err(|e| WaitError::BadBoundAddrs {
            file: file.to_path_buf(),
            detail: format!("{text:?}: {e}"),
        })
}

/// Waits up to `limit` until `file` holds the addresses of type `T` (a child writes it whole,
/// at once), while every one of `watched` keeps running.
pub async fn wait<T: DeserializeOwned>(
    file: &Path,
    watched: &mut [&mut Child],
    limit: Duration,
) -> Result<T, WaitError> {
    let what = format!("the bound addresses in {}", file.display());
    wait_until(
        &what,
        watched,
        limit,
        POLL_INTERVAL,
        async || match std::fs::read_to_string(file) {
            Err(e) => Err(e.to_string()),
            Ok(text) => serde_json::from_str(&text).map_err(|e| format!("{text:?}: {e}")),
        },
    )
    .await
}

impl Child {
    /// The addresses in its `--bound-addrs-file`, if it wrote the file yet.
    pub fn read_bound<T: DeserializeOwned>(&self) -> Result<Option<T>, WaitError> {
        let file = self.bound_addrs_file()?;
        read(file)
    }

    /// Waits up to `limit` until it wrote its `--bound-addrs-file`, and reads it; fails early
    /// if it exits.
    pub async fn wait_bound<T: DeserializeOwned>(
        &mut self,
        limit: Duration,
    ) -> Result<T, WaitError> {
        let file = self.bound_addrs_file()?.to_path_buf();
        wait(&file, &mut [self], limit).await
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_a_proxy_and_a_control_plane() {
        let proxy: ProxyAddrs = serde_json::from_str(
            r#"{"outbound":"127.0.0.1:1","inbound":null,"admin":"127.0.0.1:3","tcp":{"db":"127.0.0.1:4"}}"#,
        )
        .unwrap();
        assert_eq!(proxy.outbound, Some("127.0.0.1:1".parse().unwrap()));
        assert_eq!(proxy.inbound, None);
        assert_eq!(proxy.tcp["db"].port(), 4);
        assert!(proxy.gateway.is_empty());
        let cp: ControlPlaneAddrs =
            serde_json::from_str(r#"{"sidecars":"127.0.0.1:5","admin":"127.0.0.1:6"}"#).unwrap();
        assert_eq!(cp.listen.port(), 5);
    }

    #[test]
    fn a_file_not_yet_written_is_none() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("bound.json");
        assert!(read::<ControlPlaneAddrs>(&file).unwrap().is_none());
        std::fs::write(&file, "{}").unwrap();
        assert!(read::<ControlPlaneAddrs>(&file).is_err());
    }
}
