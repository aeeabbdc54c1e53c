//! The runtime view of one configuration version: services with their endpoints, balancers
//! and metric handles. Requests load it once and keep it until they finish.
//!
//! A new version is built from the one in force ([`Snapshot::next`]) and put in force with one
//! atomic swap ([`Pending::install`]); requests in flight keep the snapshot they started with.
//! What the change does not touch carries over. For a service of the same name:
//!
//! - its [`EndpointSet`] (endpoint load, outlier state) is kept when its outlier detection
//!   settings are unchanged, and gets the new addresses when the snapshot is installed;
//! - its [`UpstreamClients`] (pools, connection count) when its connect and idle timeouts, its
//!   `max_connections`, whether it is meshed (mutual TLS) and the sidecar's limits are unchanged;
//! - its [`ServiceLimits`] (requests and retries in flight) when `max_requests`,
//!   `max_pending_requests` and `max_retries` are unchanged;
//! - each route's [`CallPolicy`] (with its retry budget) when its timeout and retry policy are
//!   unchanged: the route at the same index, else one with the same match (routes were added or
//!   removed before it); the same for the policy of calls matching no route.
//!
//! The local app's endpoint is kept while its address is, its clients while the sidecar's limits
//! are. Inbound rate limiters are kept by [`convoy_policy::rate_limit::RateLimits`] itself (per
//! rule, when a request brings a new configuration). DNS refresh of the replaced snapshot stops
//! at the swap; an endpoint set kept across snapshots is only ever updated by the refresher of
//! the snapshot in force (see [`EndpointSet::configure`]).

mod build;

pub use build::Pending;

use convoy_balance::client::{UpstreamClients, UpstreamProtocol};
use convoy_balance::{Endpoint as EndpointState, EndpointSet};
use convoy_config::{ProxyConfig, Service};
use convoy_identity::Identity;
use convoy_proxy_core::call::limits::ServiceLimits;
use convoy_proxy_core::call::CallPolicy;
use convoy_telemetry::metrics::{Metrics, RequestMetrics};
use std::collections::HashMap;
use std::sync::Arc;
use tokio::task::JoinHandle;

/// The metrics label for outbound requests whose service is unknown (never a valid service
/// name, so it cannot collide, and arbitrary Host headers cannot grow the label set).
pub(crate) const UNKNOWN_SERVICE_LABEL: &str = "_unknown";

/// One service at runtime.
#[derive(Debug)]
pub struct ServiceRuntime {
    /// The validated configuration of the service.
    pub config: Service,
    /// Its live endpoints.
    pub(crate) endpoints: Arc<EndpointSet>,
    /// How its endpoints are spoken to.
    pub(crate) protocol: UpstreamProtocol,
    /// Outbound metric handles for it.
    pub(crate) metrics: Arc<RequestMetrics>,
    /// Pooled clients to its endpoints (its connect and idle timeouts, its `max_connections`).
    pub(crate) clients: UpstreamClients,
    /// Its circuit-breaker limits.
    pub(crate) limits: Arc<ServiceLimits>,
    /// The policies of calls matching each route, by route index.
    pub(crate) route_policies: Vec<Arc<CallPolicy>>,
    /// The policies of calls matching no route.
    pub(crate) default_policy: Arc<CallPolicy>,
}

impl ServiceRuntime {
    /// The policies of calls through route `index` (`None`: no route matched).
    pub(crate) fn policy(&self, index: Option<usize>) -> Arc<CallPolicy> {
        index
            .and_then(|i| self.route_policies.get(i))
            .unwrap_or(&self.default_policy)
            .clone()
    }
}

/// A configuration version, ready to serve.
#[derive(Debug)]
pub struct Snapshot {
    /// The version: a hash of the file for static configuration, the control plane's version
    /// number otherwise.
    pub version: String,
    /// Where the configuration came from.
    pub source: String,
    /// The validated configuration.
    pub config: Arc<ProxyConfig>,
    services: HashMap<String, Arc<ServiceRuntime>>,
    /// Outbound metrics for requests to services that are not known.
    pub(crate) unknown_metrics: Arc<RequestMetrics>,
    /// Inbound metrics (labelled with this sidecar's own service).
    pub(crate) inbound_metrics: Arc<RequestMetrics>,
    /// Pooled clients to the local app.
    pub(crate) app_clients: UpstreamClients,
    /// The local app, as an endpoint (its in-flight count and latency estimate).
    pub(crate) app: Arc<EndpointState>,
    /// This sidecar's identity: calls to meshed services use mutual TLS with it. `None` in
    /// file mode (plaintext). The same for every snapshot of a process.
    pub(crate) identity: Option<Identity>,
    dns_tasks: Vec<JoinHandle<()>>,
}

impl Snapshot {
    /// Builds the runtime view from scratch and starts DNS refresh for services with DNS
    /// endpoints.
    pub fn build(config: ProxyConfig, version: String, source: String, metrics: &Metrics) -> Self {
        Snapshot::build_with_identity(config, version, source, metrics, None)
    }

    /// [`Snapshot::build`] for a sidecar with an identity (or without: `None`); the snapshots
    /// made from this one with [`Snapshot::next`] keep it.
    pub fn build_with_identity(
        config: ProxyConfig,
        version: String,
        source: String,
        metrics: &Metrics,
        identity: Option<Identity>,
    ) -> Self {
        build::prepare(None, config, version, source, metrics, identity).start()
    }

    /// Builds the next version from this one: each service keeps what its change does not touch
    /// (see [`Pending`]). Nothing shared with this snapshot changes until the result is
    /// installed.
    pub fn next(
        &self,
        config: ProxyConfig,
        version: String,
        source: String,
        metrics: &Metrics,
    ) -> Pending {
        build::prepare(
            Some(self),
            config,
            version,
            source,
            metrics,
            self.identity.clone(),
        )
    }

    /// The service of this name.
    pub fn service(&self, name: &str) -> Option<&Arc<ServiceRuntime>> {
        self.services.get(name)
    }

    /// Stops this snapshot's DNS refresh (it was replaced; requests still using it keep the
    /// endpoint sets, which the new snapshot's refreshers update when they are shared).
    pub(crate) fn stop_refresh(&self) {
        for task in &self.dns_tasks {
            task.abort();
        }
    }
}

impl Drop for Snapshot {
    fn drop(&mut self) {
        self.stop_refresh();
    }
}

/// A version string for configuration text: FNV-1a, 64 bits, in hex.
pub fn content_version(bytes: &[u8]) -> String {
    let hash = bytes.iter().fold(0xcbf2_9ce4_8422_2325_u64, |h, b| {
        (h ^ u64::from(*b)).wrapping_mul(0x0100_0000_01b3)
    });
    format!("{hash:016x}")
}
