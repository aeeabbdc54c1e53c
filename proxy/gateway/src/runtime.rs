//! The gateway's view of one snapshot: its route sets and routes, compiled, with the state
//! that outlives a configuration change (rate limiters, retry budgets) carried over.

use super::auth::{self, GatewayAuth};
use arc_swap::{ArcSwap, ArcSwapOption};
use convoy_config::{
    ConsumerKey, Gateway, GatewayPath, GatewayRoute, RateLimitKey, RateLimitRule, RouteSet,
    RouteSetMatch, ServiceName,
};
use convoy_policy::rate_limit::{RateLimitMetrics, RuleLimiter};
use convoy_proxy_core::authority;
use convoy_proxy_core::call::CallPolicy;
use convoy_stack::snapshot::Snapshot;
use governor::clock::DefaultClock;
use http::HeaderMap;
use std::sync::{Arc, Mutex};

/// One route, compiled.
#[derive(Debug)]
pub struct RouteRuntime {
    /// Its configuration.
    pub config: GatewayRoute,
    /// Its path regex, anchored at both ends (for `path_regex`).
    regex: Option<regex::Regex>,
    /// Its rate limiter (`rate_limit`), kept while the rule is unchanged.
    pub(crate) limiter: Option<Arc<RuleLimiter<DefaultClock>>>,
    /// The call policies when the route sets `timeout` or `retry` (they override the
    /// service's); kept, with its retry budget, while they are unchanged.
    pub policy: Option<Arc<CallPolicy>>,
}

/// One route set, compiled.
#[derive(Debug)]
pub struct RouteSetRuntime {
    /// Its name.
    pub name: String,
    /// Which requests it takes.
    pub matches: RouteSetMatch,
    /// Its CORS answers (shared: a request to an allowed origin keeps them until its response).
    pub cors: Option<Arc<convoy_config::Cors>>,
    /// Its routes.
    pub routes: Vec<RouteRuntime>,
}

/// The gateway as one snapshot configures it.
pub struct GatewayRuntime {
    /// The gateway's name.
    pub name: ServiceName,
    /// The snapshot it was built from (requests use this one to the end).
    pub snapshot: Arc<Snapshot>,
    /// Its configuration; `None` when the snapshot has no such gateway (every request 404).
    pub config: Option<Gateway>,
    /// Route sets, in order.
    pub route_sets: Vec<RouteSetRuntime>,
    /// Authentication state (API keys, JWKS).
    pub auth: Arc<GatewayAuth>,
}

impl std::fmt::Debug for GatewayRuntime {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayRuntime")
            .field("name", &self.name)
            .field("version", &self.snapshot.version)
            .finish_non_exhaustive()
    }
}

/// Request extension: what the gateway chose for the request.
#[derive(Debug, Clone)]
pub struct Selection {
    /// The gateway in force when the request arrived.
    pub gateway: Arc<GatewayRuntime>,
    /// The route set's index, if one matched.
    pub set: Option<usize>,
    /// The route's index in the set, if one matched.
    pub route: Option<usize>,
}

impl Selection {
    /// The selection of `request` (the gateway's stack makes one for every request first).
    pub(crate) fn of<B>(request: &http::Request<B>) -> Option<&Selection> {
        request.extensions().get::<Selection>()
    }

    /// The selection of `request` and the route it took, if a route took it. The gateway's
    /// layers after the route is required start from this, and pass a request without one on
    /// untouched.
    pub(crate) fn routed<B>(request: &http::Request<B>) -> Option<(&Selection, &RouteRuntime)> {
        let selection = Selection::of(request)?;
        Some((selection, selection.route()?))
    }

    /// The route set, if one matched.
    pub fn route_set(&self) -> Option<&RouteSetRuntime> {
        self.gateway.route_sets.get(self.set?)
    }

    /// The route, if one matched.
    pub fn route(&self) -> Option<&RouteRuntime> {
        self.route_set()?.routes.get(self.route?)
    }

    /// The consumer header of the gateway.
    pub fn consumer_header(&self) -> http::HeaderName {
        self.gateway.config.as_ref().map_or_else(
            || http::HeaderName::from_static(Gateway::DEFAULT_CONSUMER_HEADER),
            |g| g.consumer_header.clone(),
        )
    }
}

/// The gateway's state across snapshots: the runtime of the snapshot in force, rebuilt when a
/// new snapshot is installed.
pub struct GatewayState {
    name: ServiceName,
    snapshot: Arc<ArcSwap<Snapshot>>,
    current: ArcSwapOption<GatewayRuntime>,
    rebuilding: Mutex<()>,
    rate_metrics: RateLimitMetrics,
}

impl std::fmt::Debug for GatewayState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GatewayState")
            .field("name", &self.name)
            .finish_non_exhaustive()
    }
}

impl GatewayState {
    /// The state of gateway `name`, following `snapshot`.
    pub fn new(
        name: ServiceName,
        snapshot: Arc<ArcSwap<Snapshot>>,
        registry: &prometheus::Registry,
    ) -> Self {
        GatewayState {
            name,
            snapshot,
            current: ArcSwapOption::empty(),
            rebuilding: Mutex::new(()),
            rate_metrics: RateLimitMetrics::new(registry),
        }
    }

    /// The gateway's name.
    pub fn name(&self) -> &ServiceName {
        &self.name
    }

    /// The runtime of the snapshot in force (built on first use after a change).
    pub fn runtime(&self) -> Arc<GatewayRuntime> {
        let snapshot = self.snapshot.load_full();
        if let Some(current) = self.current.load_full() {
            if Arc::ptr_eq(&current.snapshot, &snapshot) {
                return current;
            }
        }
        let _one_at_a_time = self.rebuilding.lock().unwrap_or_else(|e| e.into_inner());
        let previous = self.current.load_full();
        if let Some(current) = &previous {
            if Arc::ptr_eq(&current.snapshot, &snapshot) {
                return current.clone();
            }
        }
        let runtime = Arc::new(self.build(snapshot, previous.as_deref()));
        self.current.store(Some(runtime.clone()));
        runtime
    }

    fn build(&self, snapshot: Arc<Snapshot>, previous: Option<&GatewayRuntime>) -> GatewayRuntime {
        let config = snapshot.config.mesh.gateways.get(&self.name).cloned();
        let auth = match (&config, previous) {
            // The same configuration keeps its authentication state (loaded key sets).
            (Some(c), Some(p)) if p.config.as_ref() == Some(c) => p.auth.clone(),
            (Some(c), _) => auth::start(c),
            (None, _) => Arc::new(GatewayAuth::new(&empty_gateway(&self.name))),
        };
        let route_sets = config
            .as_ref()
            .map(|gateway| {
                gateway
                    .route_sets
                    .iter()
                    .map(|set| self.build_set(gateway, set, &snapshot, previous))
                    .collect()
            })
            .unwrap_or_default();
        GatewayRuntime {
            name: self.name.clone(),
            snapshot,
            config,
            route_sets,
            auth,
        }
    }

    fn build_set(
        &self,
        gateway: &Gateway,
        set: &RouteSet,
        snapshot: &Snapshot,
        previous: Option<&GatewayRuntime>,
    ) -> RouteSetRuntime {
        let old_routes = previous
            .into_iter()
            .flat_map(|p| &p.route_sets)
            .flat_map(|s| &s.routes);
        let routes = set
            .routes
            .iter()
            .map(|route| {
                let old = old_routes.clone().find(|r| r.config.name == route.name);
                self.build_route(gateway, route, snapshot, old)
            })
            .collect();
        RouteSetRuntime {
            name: set.name.clone(),
            matches: set.matches.clone(),
            cors: set.cors.clone().map(Arc::new),
            routes,
        }
    }

    fn build_route(
        &self,
        gateway: &Gateway,
        route: &GatewayRoute,
        snapshot: &Snapshot,
        old: Option<&RouteRuntime>,
    ) -> RouteRuntime {
        let regex = match &route.path {
            GatewayPath::Regex(r) => regex::Regex::new(&format!("^(?:{})$", r.as_str())).ok(),
            _ => None,
        };
        let limiter = route.rate_limit.as_ref().map(|limit| {
            let rule = RateLimitRule {
                name: format!("{}:{}", route.name, key_name(limit.per)),
                requests_per_second: limit.requests_per_second,
                burst: limit.burst,
                per: match limit.per {
                    // Authentication sets the consumer header (and Sanitize removed any the
                    // client sent); without it the client's address counts.
                    ConsumerKey::Consumer => RateLimitKey::Caller {
                        header: Some(gateway.consumer_header.clone()),
                    },
                    ConsumerKey::ClientIp => RateLimitKey::Caller { header: None },
                    ConsumerKey::Total => RateLimitKey::Total,
                },
            };
            match old.and_then(|o| o.limiter.as_ref()) {
                Some(kept) if kept.serves(&rule, gateway.name.as_str()) => kept.clone(),
                _ => Arc::new(RuleLimiter::new(
                    &rule,
                    gateway.name.as_str(),
                    DefaultClock::default(),
                    self.rate_metrics
                        .rejected(gateway.name.as_str(), &rule.name),
                )),
            }
        });
        let policy = (route.timeout.is_some() || route.retry.is_some())
            .then(|| snapshot.service(route.service.as_str()))
            .flatten()
            .map(|service| {
                let service = &service.config;
                let retry = route.retry.clone().or_else(|| service.retry.clone());
                let policy = CallPolicy {
                    service: service.name.clone(),
                    timeout: route.timeout.or(service.timeouts.request),
                    budget: retry
                        .as_ref()
                        .map(|r| convoy_proxy_core::call::budget::Budget::new(&r.budget)),
                    retry,
                };
                match old.and_then(|o| o.policy.as_ref()) {
                    Some(kept) if kept.same_as(&policy) => kept.clone(),
                    _ => Arc::new(policy),
                }
            });
        RouteRuntime {
            config: route.clone(),
            regex,
            limiter,
            policy,
        }
    }

    /// Drops idle per-consumer rate limit cells (call every few seconds).
    pub fn evict_idle(&self) {
        if let Some(current) = self.current.load_full() {
            for route in current.route_sets.iter().flat_map(|s| &s.routes) {
                if let Some(limiter) = &route.limiter {
                    limiter.evict_idle();
                }
            }
        }
    }
}

/// A gateway with nothing configured (the snapshot defines none of this name).
fn empty_gateway(name: &ServiceName) -> Gateway {
    Gateway {
        name: name.clone(),
        listeners: Vec::new(),
        api_keys: Vec::new(),
        jwt_providers: Vec::new(),
        consumer_header: http::HeaderName::from_static(Gateway::DEFAULT_CONSUMER_HEADER),
        route_sets: Vec::new(),
    }
}

fn key_name(key: ConsumerKey) -> &'static str {
    match key {
        ConsumerKey::Consumer => "consumer",
        ConsumerKey::ClientIp => "client_ip",
        ConsumerKey::Total => "total",
    }
}

impl GatewayRuntime {
    /// Picks the route set and route for a request.
    pub fn select(
        self: &Arc<Self>,
        method: &http::Method,
        host: Option<&str>,
        path: &str,
        headers: &HeaderMap,
    ) -> Selection {
        let set = self
            .route_sets
            .iter()
            .position(|s| set_matches(&s.matches, path, headers));
        let route = set.and_then(|i| {
            self.route_sets[i]
                .routes
                .iter()
                .position(|r| r.matches(method, host, path, headers))
        });
        Selection {
            gateway: self.clone(),
            set,
            route,
        }
    }
}

/// Whether `path` is `prefix` or under it, by whole segments.
pub fn under_prefix(path: &str, prefix: &str) -> bool {
    let prefix = prefix.trim_end_matches('/');
    prefix.is_empty()
        || path == prefix
        || path
            .strip_prefix(prefix)
            .is_some_and(|rest| rest.starts_with('/'))
}

fn set_matches(matches: &RouteSetMatch, path: &str, headers: &HeaderMap) -> bool {
    match matches {
        RouteSetMatch::Any => true,
        RouteSetMatch::PathPrefix(prefix) => under_prefix(path, prefix),
        RouteSetMatch::Header(h) => headers
            .get_all(&h.name)
            .iter()
            .any(|v| v.as_bytes() == h.value.as_bytes()),
    }
}

impl RouteRuntime {
    fn matches(
        &self,
        method: &http::Method,
        host: Option<&str>,
        path: &str,
        headers: &HeaderMap,
    ) -> bool {
        let route = &self.config;
        let host_ok = match (&route.host, host) {
            (None, _) => true,
            (Some(want), Some(got)) => authority::host(got).eq_ignore_ascii_case(want),
            (Some(_), None) => false,
        };
        let path_ok = match &route.path {
            GatewayPath::Any => true,
            GatewayPath::Prefix(p) => path.starts_with(p.as_str()),
            GatewayPath::Exact(p) => path == p,
            GatewayPath::Regex(_) => self.regex.as_ref().is_some_and(|r| r.is_match(path)),
        };
        host_ok
            && path_ok
            && (route.methods.is_empty() || route.methods.contains(method))
            && route.headers.iter().all(|h| {
                headers
                    .get_all(&h.name)
                    .iter()
                    .any(|v| v.as_bytes() == h.value.as_bytes())
            })
    }
}
