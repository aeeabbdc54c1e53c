//! The addresses the sidecar's listeners are bound to: `--bound-addrs-file`, `/config`.

use serde::Serialize;
use std::collections::BTreeMap;
use std::net::SocketAddr;

/// The addresses each listener is bound to (they differ from the config with port 0).
#[derive(Debug, Clone, Serialize, Default)]
pub struct BoundAddrs {
    /// The outbound listener.
    pub outbound: Option<SocketAddr>,
    /// The inbound listener.
    pub inbound: Option<SocketAddr>,
    /// The admin listener.
    pub admin: Option<SocketAddr>,
    /// TCP listeners, by service.
    pub tcp: BTreeMap<String, SocketAddr>,
    /// Gateway listeners (gateway mode), in the order configured.
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub gateway: Vec<SocketAddr>,
}
