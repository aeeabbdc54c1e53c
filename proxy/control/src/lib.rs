//! `convoy-control-client`: the sidecar's control-plane client (control-plane/PROTOCOL.md; messages and framing from
//! `convoy-protocol`): one long-lived HTTP/2 stream over TLS, `POST /v1/stream` with
//! `authorization: Bearer <join token>`, newline-delimited JSON both ways.
//!
//! The control plane's certificate is verified against the `--control-plane-ca` anchors and the
//! latest trust bundle it pushed, with the usual host name check ([`ControlTls`]). The join
//! token is read from its file at every connection ([`JoinToken`]).
//!
//! The sidecar says `hello` (its service and the address of its inbound listener), then
//! answers each `snapshot` with `ack` once it is in force or `nack` with the reason it was
//! refused, and pings every `PING_INTERVAL` (5 s). A snapshot is validated like a YAML file
//! ([`convoy_config::decode_wire_mesh`]), combined with the sidecar's own settings
//! ([`convoy_config::ProxyConfig::combine`]) and swapped in at once, keeping the state the
//! change does not touch ([`convoy_stack::snapshot::Snapshot::next`]); the snapshot's `trust` (trust
//! domain and bundle) is put in force with it ([`convoy_identity::Identity::set_trust`]). When the stream breaks, the
//! sidecar serves on and reconnects after a capped, jittered exponential backoff.
//!
//! [`spawn`] starts the stream; [`renew`] keeps the sidecar's certificate fresh through a
//! [`CertificateClient`].
//!
//! Metrics: `convoy_control_plane_connected`, `convoy_config_updates_total{result}`,
//! `convoy_config_version`.

mod apply;
mod backoff;
mod bound;
mod client;
mod identity_client;
mod listeners;
mod metrics;
pub mod renew;
mod tls;
mod token;
mod url;

pub(crate) use apply::ApplyError;
pub(crate) use backoff::Backoff;
pub use bound::BoundAddrs;
pub use client::sidecar_id;
pub use identity_client::CertificateClient;
pub(crate) use metrics::ControlMetrics;
pub(crate) use tls::ConnectError;
pub use tls::{ControlCaError, ControlTls};
pub use token::{JoinToken, TokenError};
pub use url::ControlPlaneUrl;

use arc_swap::ArcSwap;
use convoy_config::{AppProtocol, Sidecar};
use convoy_identity::Identity;
use convoy_protocol::Hello;
use convoy_runtime::Drain;
use convoy_stack::snapshot::Snapshot;
use convoy_telemetry::metrics::Metrics;
use std::path::PathBuf;
use std::sync::atomic::AtomicBool;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// Where the control plane is, and what this sidecar is to it.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    /// The control plane's sidecar API.
    pub url: ControlPlaneUrl,
    /// How it is reached (TLS, its anchors).
    pub tls: ControlTls,
    /// The join token sent on the stream.
    pub token: JoinToken,
    /// This sidecar's id ([`sidecar_id`]), kept across reconnects.
    pub id: String,
    /// The sidecar's own settings; its listeners are the bound addresses, so a TCP service
    /// overlapping them is refused.
    pub sidecar: Sidecar,
    /// `--app-protocol`; `None`: `http2` while the mesh lists the service as `grpc`, else `http1`.
    pub app_protocol: Option<AppProtocol>,
    /// Where other sidecars reach the inbound listener (the `hello`'s `address`).
    pub advertise: String,
    /// Whether this proxy runs as a gateway (the `hello` says so: it registers no endpoint).
    pub gateway: bool,
}

/// The parts of the running sidecar that the client changes.
#[derive(Debug, Clone)]
pub struct Handles {
    /// The snapshot in force; swapped on each applied snapshot.
    pub snapshot: Arc<ArcSwap<Snapshot>>,
    /// Every metric (the client registers its own in the same registry).
    pub metrics: Metrics,
    /// Set once the first snapshot is in force.
    pub ready: Arc<AtomicBool>,
    /// Stops the TCP service listeners bound later, with the others.
    pub drain: Drain,
    /// The bound addresses (`/config`); TCP service listeners are added as they are bound.
    pub listeners: Arc<ArcSwap<BoundAddrs>>,
    /// Written again when a TCP service listener is added.
    pub bound_addrs_file: Option<PathBuf>,
    /// Gets each snapshot's trust bundle.
    pub identity: Identity,
}

/// Starts the client: it connects, applies snapshots and reconnects until the task is aborted
/// (which closes the stream).
pub fn spawn(control: ControlPlane, handles: Handles) -> JoinHandle<()> {
    let metrics = ControlMetrics::new(handles.metrics.registry());
    let hello = Hello {
        id: control.id.clone(),
        service: control.sidecar.service.to_string(),
        address: control.advertise.clone(),
        proxy_version: env!("CARGO_PKG_VERSION").to_owned(),
        serving: false,
        gateway: control.gateway,
    };
    let applier = apply::Applier::new(&control, &handles, metrics.clone());
    let client = client::Client::new(&control, &hello, applier, metrics);
    tokio::spawn(client.run())
}
