//! Applying a snapshot from the control plane: validate the mesh and its trust bundle, combine
//! the mesh with the sidecar's own settings, bind new TCP listeners, then swap (the bundle, then
//! the snapshot), keeping the state the change does not touch.

use super::listeners::{NewListeners, TcpServices};
use super::{ControlMetrics, Handles};
use arc_swap::ArcSwap;
use convoy_config::{AppProtocol, ConfigError, Mesh, Protocol, ProxyConfig, Sidecar};
use convoy_identity::{Identity, TrustBundle};
use convoy_stack::snapshot::{content_version, Snapshot};
use convoy_telemetry::metrics::Metrics;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// Why a snapshot was refused (the NACK's reason is its text).
#[derive(Debug, thiserror::Error)]
pub(crate) enum ApplyError {
    /// The mesh does not validate, or does not fit this sidecar.
    #[error("{0}")]
    Config(#[source] Box<ConfigError>),
    /// The snapshot carries no `trust`: without the trust domain and anchors this sidecar can
    /// neither get a certificate nor verify its peers.
    #[error("the snapshot has no trust (trust domain and bundle); is the control plane older than this sidecar?")]
    NoTrust,
    /// Its `trust` is not a valid trust domain and bundle.
    #[error("bad trust in the snapshot: {0}")]
    Trust(String),
    /// A TCP service's listener could not be bound.
    #[error("cannot listen on {addr} (tcp service {service}): {source}")]
    Bind {
        /// The service.
        service: String,
        /// Its `listen` address.
        addr: SocketAddr,
        /// Why.
        #[source]
        source: std::io::Error,
    },
}

impl From<ConfigError> for ApplyError {
    fn from(error: ConfigError) -> Self {
        ApplyError::Config(Box::new(error))
    }
}

/// Puts the control plane's snapshots in force.
#[derive(Debug)]
pub(super) struct Applier {
    /// This sidecar's own settings, with its listeners' bound addresses (so overlaps are
    /// checked against the ports actually in use).
    sidecar: Sidecar,
    /// `--app-protocol`; `None`: from the mesh, as for a file.
    app_protocol: Option<AppProtocol>,
    source: String,
    snapshot: Arc<ArcSwap<Snapshot>>,
    metrics: Metrics,
    control: ControlMetrics,
    ready: Arc<AtomicBool>,
    identity: Identity,
    tcp: TcpServices,
    /// A gateway serves no TCP services (it has no local app and no outbound listener).
    gateway: bool,
    /// The version in force and a hash of its mesh: the same again (a reconnect) is acked
    /// without a rebuild.
    in_force: Option<(u64, String)>,
}

impl Applier {
    /// Applies to the sidecar behind `handles`.
    pub(super) fn new(
        control: &super::ControlPlane,
        handles: &Handles,
        metrics: ControlMetrics,
    ) -> Self {
        Applier {
            sidecar: control.sidecar.clone(),
            app_protocol: control.app_protocol,
            source: format!("control plane {}", control.url),
            snapshot: handles.snapshot.clone(),
            metrics: handles.metrics.clone(),
            control: metrics,
            ready: handles.ready.clone(),
            identity: handles.identity.clone(),
            tcp: TcpServices::new(handles),
            gateway: control.gateway,
            in_force: None,
        }
    }

    /// Whether a snapshot from a control plane is in force (this sidecar is serving).
    pub(super) fn serving(&self) -> bool {
        self.ready.load(Ordering::Acquire)
    }

    /// Applies snapshot `version` (`mesh` in the wire form, with its `trust`). On error nothing
    /// changed: the snapshot and bundle in force stay.
    pub(super) async fn apply(
        &mut self,
        version: u64,
        mesh: &[u8],
        trust: Option<&serde_json::Value>,
    ) -> Result<(), ApplyError> {
        let mut content = mesh.to_vec();
        if let Some(trust) = trust {
            content.extend_from_slice(trust.to_string().as_bytes());
        }
        let hash = content_version(&content);
        if self.in_force.as_ref() == Some(&(version, hash.clone())) {
            tracing::debug!(version, "control plane snapshot already in force");
            return Ok(());
        }
        match self.try_apply(version, mesh, trust).await {
            Ok(services) => {
                self.in_force = Some((version, hash));
                self.control.applied(version);
                tracing::info!(version, services, "control plane snapshot applied");
                Ok(())
            }
            Err(error) => {
                self.control.rejected();
                tracing::warn!(
                    version,
                    reason = %error,
                    in_force = %self.snapshot.load().version,
                    "control plane snapshot refused; keeping the one in force"
                );
                Err(error)
            }
        }
    }

    async fn try_apply(
        &mut self,
        version: u64,
        mesh: &[u8],
        trust: Option<&serde_json::Value>,
    ) -> Result<usize, ApplyError> {
        let mesh = convoy_config::decode_wire_mesh(mesh)?;
        let trust = decode_trust(trust)?;
        let mut sidecar = self.sidecar.clone();
        sidecar.app_protocol = app_protocol(self.app_protocol, &sidecar, &mesh);
        let config = ProxyConfig::combine(sidecar, mesh)?;
        let services = config.mesh.services.len();
        // Bound before the swap: a port in use refuses the snapshot and changes nothing.
        let listeners = if self.gateway {
            NewListeners::default()
        } else {
            self.tcp.bind_new(&config).await?
        };
        if self
            .identity
            .set_trust(trust)
            .map_err(|e| ApplyError::Trust(e.to_string()))?
        {
            tracing::info!(version, "trust bundle in force");
        }
        let next = self.snapshot.load().next(
            config,
            version.to_string(),
            self.source.clone(),
            &self.metrics,
        );
        next.install(&self.snapshot);
        self.tcp.serve(listeners);
        self.ready.store(true, Ordering::Release);
        Ok(services)
    }
}

/// The snapshot's `trust`, validated.
fn decode_trust(trust: Option<&serde_json::Value>) -> Result<TrustBundle, ApplyError> {
    let trust = trust.ok_or(ApplyError::NoTrust)?;
    let trust: convoy_config::wire::Trust =
        serde_json::from_value(trust.clone()).map_err(|e| ApplyError::Trust(e.to_string()))?;
    TrustBundle::from_wire(&trust).map_err(|e| ApplyError::Trust(e.to_string()))
}

/// The app protocol: the flag's, else as for a file, `http2` when the mesh lists the sidecar's
/// service with `protocol: grpc`, `http1` otherwise.
fn app_protocol(flag: Option<AppProtocol>, sidecar: &Sidecar, mesh: &Mesh) -> AppProtocol {
    flag.unwrap_or_else(|| match mesh.services.get(sidecar.service.as_str()) {
        Some(service) if service.protocol == Protocol::Grpc => AppProtocol::Http2,
        _ => AppProtocol::Http1,
    })
}
