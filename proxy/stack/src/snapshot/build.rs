//! Building a snapshot, keeping the state of the previous one that the change does not touch
//! (the rules are in the [parent module's documentation](super)).

use super::{ServiceRuntime, Snapshot, UNKNOWN_SERVICE_LABEL};
use arc_swap::ArcSwap;
use convoy_balance::client::{UpstreamClients, UpstreamProtocol};
use convoy_balance::connector::ConnectorTls;
use convoy_balance::{spawn_refresh, Endpoint as EndpointState, EndpointSet, Outlier};
use convoy_config::{Endpoint, Limits, Protocol, ProxyConfig, Route, Service};
use convoy_identity::Identity;
use convoy_proxy_core::call::limits::ServiceLimits;
use convoy_proxy_core::call::CallPolicy;
use convoy_telemetry::metrics::{Direction, Metrics};
use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

/// A snapshot built but not in force yet. Building changed nothing that the snapshot in force
/// shares with it: endpoint sets get their new addresses, and DNS refresh starts, only when it
/// is installed. Dropping it instead leaves everything as it was.
#[derive(Debug)]
pub struct Pending {
    snapshot: Snapshot,
    discovery: Vec<Discovery>,
}

/// How one service's endpoint set is to be filled.
#[derive(Debug)]
struct Discovery {
    service: String,
    set: Arc<EndpointSet>,
    addrs: Vec<SocketAddr>,
    names: Vec<(String, u16)>,
    every: Duration,
}

impl Pending {
    /// The snapshot to be installed.
    #[cfg(test)]
    pub(crate) fn snapshot(&self) -> &Snapshot {
        &self.snapshot
    }

    /// Gives every endpoint set its addresses and starts DNS refresh: the snapshot is ready.
    pub(super) fn start(mut self) -> Snapshot {
        for d in self.discovery {
            // A new generation: the refreshers of older snapshots can no longer write.
            let generation = d.set.configure(&d.addrs, &d.names);
            if !d.names.is_empty() {
                self.snapshot.dns_tasks.push(spawn_refresh(
                    d.service, d.set, generation, d.addrs, d.names, d.every,
                ));
            }
        }
        self.snapshot
    }

    /// Puts the snapshot in force with one atomic swap and stops the DNS refresh of the one it
    /// replaces. Requests in flight keep the snapshot they started with.
    pub fn install(self, current: &ArcSwap<Snapshot>) -> Arc<Snapshot> {
        let next = Arc::new(self.start());
        let previous = current.swap(next.clone());
        previous.stop_refresh();
        next
    }
}

/// Builds the runtime view of `config`, reusing what `previous` has that the change does not
/// touch.
pub(super) fn prepare(
    previous: Option<&Snapshot>,
    config: ProxyConfig,
    version: String,
    source: String,
    metrics: &Metrics,
    identity: Option<Identity>,
) -> Pending {
    let config = Arc::new(config);
    let sidecar = &config.sidecar;
    let same_limits = previous.is_some_and(|p| p.config.sidecar.limits == sidecar.limits);
    let mut services = HashMap::with_capacity(config.mesh.services.len());
    let mut discovery = Vec::with_capacity(config.mesh.services.len());
    for service in config.mesh.services.values() {
        let before = previous
            .and_then(|p| p.services.get(service.name.as_str()))
            .map(Arc::as_ref);
        let (runtime, found) = service_runtime(
            service,
            before,
            same_limits,
            sidecar,
            metrics,
            identity.as_ref(),
        );
        services.insert(service.name.to_string(), Arc::new(runtime));
        discovery.push(found);
    }
    let same_service = previous.filter(|p| p.config.sidecar.service == sidecar.service);
    let same_app = previous.filter(|p| p.config.sidecar.app == sidecar.app);
    let snapshot = Snapshot {
        version,
        source,
        unknown_metrics: previous.map_or_else(
            || Arc::new(metrics.requests(Direction::Outbound, UNKNOWN_SERVICE_LABEL)),
            |p| p.unknown_metrics.clone(),
        ),
        inbound_metrics: same_service.map_or_else(
            || Arc::new(metrics.requests(Direction::Inbound, sidecar.service.as_str())),
            |p| p.inbound_metrics.clone(),
        ),
        app: same_app.map_or_else(|| EndpointState::new(sidecar.app), |p| p.app.clone()),
        app_clients: previous.filter(|_| same_limits).map_or_else(
            || UpstreamClients::new(UpstreamClients::CONNECT_TIMEOUT, &sidecar.limits),
            |p| p.app_clients.clone(),
        ),
        services,
        identity,
        dns_tasks: Vec::new(),
        config: config.clone(),
    };
    Pending {
        snapshot,
        discovery,
    }
}

/// One service's runtime, reusing `before`'s state where its settings are unchanged.
fn service_runtime(
    service: &Service,
    before: Option<&ServiceRuntime>,
    same_limits: bool,
    sidecar: &convoy_config::Sidecar,
    metrics: &Metrics,
    identity: Option<&Identity>,
) -> (ServiceRuntime, Discovery) {
    let mut addrs = Vec::new();
    let mut names = Vec::new();
    for endpoint in &service.endpoints {
        match endpoint {
            Endpoint::Socket(addr) => addrs.push(*addr),
            Endpoint::Dns { host, port } => names.push((host.clone(), *port)),
        }
    }
    let cb = &service.circuit_breaker;
    let endpoints = before
        .filter(|b| b.config.circuit_breaker.outlier == cb.outlier)
        .map_or_else(
            || {
                Arc::new(EndpointSet::with_outlier(
                    Vec::new(),
                    outlier(service, metrics),
                ))
            },
            |b| b.endpoints.clone(),
        );
    let clients = before
        .filter(|b| same_limits && same_pool_settings(&b.config, service))
        .map_or_else(
            || clients(service, &sidecar.limits, identity),
            |b| b.clients.clone(),
        );
    let limits = before.filter(|b| b.limits.serves(cb)).map_or_else(
        || ServiceLimits::new(service.name.clone(), cb.clone()),
        |b| b.limits.clone(),
    );
    let (route_policies, default_policy) = policies(service, before);
    let protocol = if service.meshed || service.protocol == Protocol::Grpc {
        UpstreamProtocol::Http2
    } else {
        UpstreamProtocol::Http1
    };
    let discovery = Discovery {
        service: service.name.to_string(),
        set: endpoints.clone(),
        addrs,
        names,
        every: service.dns_refresh,
    };
    let runtime = ServiceRuntime {
        config: service.clone(),
        endpoints,
        protocol,
        metrics: before.map_or_else(
            || Arc::new(metrics.requests(Direction::Outbound, service.name.as_str())),
            |b| b.metrics.clone(),
        ),
        clients,
        limits,
        route_policies,
        default_policy,
    };
    (runtime, discovery)
}

fn outlier(service: &Service, metrics: &Metrics) -> Option<Outlier> {
    service
        .circuit_breaker
        .outlier
        .clone()
        .map(|config| Outlier {
            config,
            service: service.name.to_string(),
            metrics: metrics.policy.clone(),
        })
}

/// The clients of `service`: mutual TLS to a meshed service when the sidecar has an identity
/// (the server must be that service), plaintext otherwise.
fn clients(service: &Service, limits: &Limits, identity: Option<&Identity>) -> UpstreamClients {
    let tls = identity.filter(|_| service.meshed).and_then(|id| {
        ConnectorTls::new(id.clone(), service.name.as_str(), service.timeouts.connect)
    });
    UpstreamClients::for_service(
        service.timeouts.connect,
        service.timeouts.idle,
        service.circuit_breaker.max_connections,
        limits,
        tls,
    )
}

/// Whether the settings [`UpstreamClients`] are built from are the same.
fn same_pool_settings(before: &Service, now: &Service) -> bool {
    before.meshed == now.meshed
        && before.timeouts.connect == now.timeouts.connect
        && before.timeouts.idle == now.timeouts.idle
        && before.circuit_breaker.max_connections == now.circuit_breaker.max_connections
}

/// Whether two routes match the same requests.
fn same_match(a: &Route, b: &Route) -> bool {
    a.path == b.path && a.headers == b.headers
}

/// The route policies and the default policy of `service`, each the one of `before` when it is
/// the same: for a route, the route at the same index, else an unclaimed one with the same match.
fn policies(
    service: &Service,
    before: Option<&ServiceRuntime>,
) -> (Vec<Arc<CallPolicy>>, Arc<CallPolicy>) {
    let old_policies = before.map_or(&[][..], |b| &b.route_policies[..]);
    let old_routes = before.map_or(&[][..], |b| &b.config.routes[..]);
    let mut claimed = vec![false; old_policies.len()];
    let mut routes = Vec::with_capacity(service.routes.len());
    for (i, route) in service.routes.iter().enumerate() {
        let fresh = CallPolicy::new(service, Some(route));
        let usable = |j: usize| !claimed[j] && old_policies[j].same_as(&fresh);
        let found = if i < old_policies.len() && usable(i) {
            Some(i)
        } else {
            (0..old_policies.len())
                .find(|&j| usable(j) && old_routes.get(j).is_some_and(|r| same_match(r, route)))
        };
        routes.push(match found {
            Some(j) => {
                claimed[j] = true;
                old_policies[j].clone()
            }
            None => Arc::new(fresh),
        });
    }
    let fresh = CallPolicy::new(service, None);
    let default = before
        .filter(|b| b.default_policy.same_as(&fresh))
        .map_or_else(|| Arc::new(fresh), |b| b.default_policy.clone());
    (routes, default)
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::parse_proxy_config;
    use std::path::Path;

    fn config(services: &str) -> ProxyConfig {
        let yaml = format!("sidecar: {{ service: web, app: 127.0.0.1:1 }}\nservices:\n{services}");
        parse_proxy_config(&yaml, Path::new("t.yaml")).unwrap()
    }

    const ORDERS: &str = "  orders:\n    endpoints: [\"127.0.0.1:1\", \"127.0.0.1:2\"]\n    retry: { attempts: 2 }\n    circuit_breaker: { consecutive_failures: 1 }\n    routes:\n      - match: { path_prefix: /a }\n        timeout: 1s\n";

    /// The live snapshot of a first configuration with `services`, version `v1`.
    fn first_snapshot(services: &str, metrics: &Metrics) -> ArcSwap<Snapshot> {
        ArcSwap::from_pointee(Snapshot::build(
            config(services),
            "v1".into(),
            "t".into(),
            metrics,
        ))
    }

    fn install(current: &ArcSwap<Snapshot>, services: &str, metrics: &Metrics) -> Arc<Snapshot> {
        let next = current
            .load()
            .next(config(services), "v".into(), "t".into(), metrics);
        next.install(current)
    }

    #[tokio::test]
    async fn an_unchanged_service_keeps_all_its_state() {
        let metrics = Metrics::new();
        let current = first_snapshot(ORDERS, &metrics);
        let first = current.load_full();
        let next = install(&current, &format!("{ORDERS}  users: {{}}\n"), &metrics);
        assert!(Arc::ptr_eq(&current.load_full(), &next));
        let (a, b) = (
            first.service("orders").unwrap(),
            next.service("orders").unwrap(),
        );
        assert!(Arc::ptr_eq(&a.endpoints, &b.endpoints));
        assert!(a.clients.shares_pools_with(&b.clients));
        assert!(Arc::ptr_eq(&a.limits, &b.limits));
        assert!(Arc::ptr_eq(&a.route_policies[0], &b.route_policies[0]));
        assert!(Arc::ptr_eq(&a.default_policy, &b.default_policy));
        assert!(Arc::ptr_eq(&first.app, &next.app));
        assert!(first.app_clients.shares_pools_with(&next.app_clients));
        assert_eq!(b.endpoints.snapshot().len(), 2);
    }

    #[tokio::test]
    async fn a_changed_policy_is_new_and_the_rest_is_kept() {
        let metrics = Metrics::new();
        let current = first_snapshot(ORDERS, &metrics);
        let first = current.load_full();
        let before = first.service("orders").unwrap();
        let kept_endpoint = before.endpoints.snapshot()[1].clone();
        // Another retry policy, one endpoint fewer, a route added in front.
        let changed = "  orders:\n    endpoints: [\"127.0.0.1:2\"]\n    retry: { attempts: 3 }\n    circuit_breaker: { consecutive_failures: 1 }\n    routes:\n      - match: { path_prefix: /b }\n        timeout: 2s\n      - match: { path_prefix: /a }\n        timeout: 1s\n";
        let next = install(&current, changed, &metrics);
        let after = next.service("orders").unwrap();
        assert!(Arc::ptr_eq(&before.endpoints, &after.endpoints));
        assert!(Arc::ptr_eq(&after.endpoints.snapshot()[0], &kept_endpoint));
        assert!(Arc::ptr_eq(&before.limits, &after.limits));
        assert!(before.clients.shares_pools_with(&after.clients));
        assert!(!Arc::ptr_eq(&before.default_policy, &after.default_policy));
        assert_eq!(after.default_policy.retry.as_ref().unwrap().attempts, 3);
        // The `/a` route now falls back to the new retry policy: a new policy too.
        assert!(!Arc::ptr_eq(
            &before.route_policies[0],
            &after.route_policies[1]
        ));
        // Other outlier settings, limits and timeouts: new state.
        let other = "  orders:\n    endpoints: [\"127.0.0.1:2\"]\n    connect_timeout: 2s\n    circuit_breaker: { consecutive_failures: 2, max_requests: 5 }\n";
        let last = install(&current, other, &metrics);
        let last = last.service("orders").unwrap();
        assert!(!Arc::ptr_eq(&after.endpoints, &last.endpoints));
        assert!(!Arc::ptr_eq(&after.limits, &last.limits));
        assert!(!after.clients.shares_pools_with(&last.clients));
    }

    #[tokio::test]
    async fn a_moved_route_keeps_its_policy() {
        let metrics = Metrics::new();
        let two = "  orders:\n    routes:\n      - match: { path_prefix: /a }\n        timeout: 1s\n      - match: { path_prefix: /b }\n        timeout: 2s\n";
        let current = first_snapshot(two, &metrics);
        let first = current.load_full();
        let one =
            "  orders:\n    routes:\n      - match: { path_prefix: /b }\n        timeout: 2s\n";
        let next = install(&current, one, &metrics);
        assert!(Arc::ptr_eq(
            &first.service("orders").unwrap().route_policies[1],
            &next.service("orders").unwrap().route_policies[0]
        ));
    }

    #[tokio::test]
    async fn a_pending_snapshot_changes_nothing_until_installed() {
        let metrics = Metrics::new();
        let current = first_snapshot(ORDERS, &metrics);
        let pending = current.load().next(
            config(
                "  orders:\n    endpoints: []\n    circuit_breaker: { consecutive_failures: 1 }\n",
            ),
            "v2".into(),
            "t".into(),
            &metrics,
        );
        let set = &pending.snapshot().service("orders").unwrap().endpoints;
        assert!(Arc::ptr_eq(
            set,
            &current.load().service("orders").unwrap().endpoints
        ));
        drop(pending);
        let live = current
            .load()
            .service("orders")
            .unwrap()
            .endpoints
            .snapshot();
        assert_eq!(live.len(), 2, "a dropped snapshot left the addresses alone");
    }

    #[tokio::test]
    async fn inbound_rate_limits_keep_their_buckets_across_snapshots() {
        use convoy_policy::rate_limit::{RateLimitMetrics, RateLimits};
        let metrics = Metrics::new();
        let web = "  web:\n    rate_limit: { requests_per_second: 1, burst: 2 }\n";
        let current = first_snapshot(web, &metrics);
        let limits = RateLimits::new(RateLimitMetrics::new(&prometheus::Registry::new()));
        let headers = http::HeaderMap::new();
        let check = |snapshot: &Snapshot| {
            limits
                .check_for(&snapshot.config, "/", &headers, None)
                .is_ok()
        };
        let first = current.load_full();
        assert!(check(&first) && check(&first));
        assert!(!check(&first));
        let next = install(&current, &format!("{web}  users: {{}}\n"), &metrics);
        assert!(!Arc::ptr_eq(&first.config, &next.config));
        assert!(!check(&next), "the bucket is still empty");
    }

    #[tokio::test]
    async fn dns_refresh_of_a_replaced_snapshot_stops_at_the_swap() {
        let metrics = Metrics::new();
        let dns = "  db:\n    endpoints: [\"localhost:5432\"]\n    dns_refresh: 1s\n";
        let current = first_snapshot(dns, &metrics);
        let first = current.load_full();
        assert_eq!(first.dns_tasks.len(), 1);
        let next = install(&current, dns, &metrics);
        for _ in 0..100 {
            if first.dns_tasks[0].is_finished() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        assert!(
            first.dns_tasks[0].is_finished(),
            "stopped while still referenced"
        );
        assert_eq!(next.dns_tasks.len(), 1);
        assert!(!next.dns_tasks[0].is_finished());
    }
}
