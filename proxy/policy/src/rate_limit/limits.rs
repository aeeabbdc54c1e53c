//! The rate limits of one service: its rules' limiters, kept across configuration versions.

use super::limiter::{Caller, RuleLimiter};
use super::metrics::RateLimitMetrics;
use super::RateLimited;
use arc_swap::ArcSwap;
use convoy_config::{ProxyConfig, RateLimitKey, RateLimitRule, Service};
use convoy_proxy_core::route::matching_route;
use governor::clock::{Clock, DefaultClock};
use http::HeaderMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex, PoisonError, Weak};
use std::time::Duration;
use tokio::task::JoinHandle;

/// How often the cells of idle callers are dropped by `RateLimits::spawn_eviction` (1 s).
pub const EVICTION_INTERVAL: Duration = Duration::from_secs(1);

/// The limiters of one service's rules (its own and its routes'), looked up without locks.
///
/// The rule set is swapped whole ([`RateLimits::update`], [`RateLimits::check_for`]); a rule
/// whose name, rate, burst and key are unchanged keeps its limiter, so its state survives a new
/// configuration. Per-caller cells of idle callers are dropped by `RateLimits::evict_idle`
/// (every [`EVICTION_INTERVAL`] once `RateLimits::spawn_eviction` runs), so the callers tracked
/// are only those seen in about the last `burst / requests_per_second` seconds plus one interval.
///
/// `C` is the limiters' clock: the real one, or governor's `FakeRelativeClock` in tests.
pub struct RateLimits<C: Clock = DefaultClock> {
    active: ArcSwap<RuleSet<C>>,
    /// Serializes rebuilds; a request only takes it when its configuration is new.
    rebuild: Mutex<()>,
    clock: C,
    metrics: RateLimitMetrics,
}

impl<C: Clock> std::fmt::Debug for RateLimits<C> {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let set = self.active.load();
        f.debug_struct("RateLimits")
            .field("service", &set.service)
            .field("routes", &set.routes)
            .finish_non_exhaustive()
    }
}

/// One configuration's rules with their limiters, each list most specific first.
struct RuleSet<C: Clock> {
    /// The configuration this set was built from (compared by address); `None` when it was
    /// built by [`RateLimits::update`].
    config: Option<Arc<ProxyConfig>>,
    /// The service's own rules, for every request.
    service: Vec<Arc<RuleLimiter<C>>>,
    /// Each route's rules, by route index; empty when no route has rules.
    routes: Vec<Vec<Arc<RuleLimiter<C>>>>,
    /// The service's configuration, to find a request's route (the same way outbound routing
    /// does); `None` when no route has rules.
    routed: Option<Box<Service>>,
}

impl<C: Clock> RuleSet<C> {
    fn empty() -> Self {
        RuleSet {
            config: None,
            service: Vec::new(),
            routes: Vec::new(),
            routed: None,
        }
    }

    fn limiters(&self) -> impl Iterator<Item = &Arc<RuleLimiter<C>>> {
        self.service.iter().chain(self.routes.iter().flatten())
    }

    fn built_from(&self, config: &Arc<ProxyConfig>) -> bool {
        self.config.as_ref().is_some_and(|c| Arc::ptr_eq(c, config))
    }

    /// Route rules first, then the service's; per-caller before total; the first refusal ends
    /// the check. So a refused request is only counted by the rules more specific than the one
    /// that refused it: a caller flooding one route does not use up the service's total.
    fn check(
        &self,
        path: &str,
        headers: &HeaderMap,
        caller: Caller<'_>,
    ) -> Result<(), RateLimited> {
        let route = self
            .routed
            .as_ref()
            .and_then(|service| matching_route(service, path, headers));
        if let Some((index, _)) = route {
            for limiter in self.routes.get(index).into_iter().flatten() {
                limiter.check(headers, caller)?;
            }
        }
        for limiter in &self.service {
            limiter.check(headers, caller)?;
        }
        Ok(())
    }
}

impl RateLimits<DefaultClock> {
    /// Limits with no rules on the real clock; [`RateLimits::update`] or
    /// [`RateLimits::check_for`] gives them rules.
    pub fn new(metrics: RateLimitMetrics) -> Self {
        RateLimits::with_clock(metrics, DefaultClock::default())
    }

    /// The limits of the sidecar's own service in `config`, with the eviction task running
    /// (when called inside a tokio runtime); what the inbound stack holds.
    pub fn start(config: &Arc<ProxyConfig>, metrics: RateLimitMetrics) -> Arc<Self> {
        let limits = Arc::new(RateLimits::new(metrics));
        limits.follow(config);
        if tokio::runtime::Handle::try_current().is_ok() {
            limits.spawn_eviction(EVICTION_INTERVAL);
        } else {
            tracing::warn!("no tokio runtime: idle rate limit callers will not be evicted");
        }
        limits
    }
}

impl<C: Clock + Clone> RateLimits<C> {
    /// Limits with no rules whose limiters read `clock`.
    pub(crate) fn with_clock(metrics: RateLimitMetrics, clock: C) -> Self {
        RateLimits {
            active: ArcSwap::from_pointee(RuleSet::empty()),
            rebuild: Mutex::new(()),
            clock,
            metrics,
        }
    }

    /// Enforces the rules of `service` (its own and its routes'; `None`: no rules) from now on.
    /// Rules unchanged from the current set (same name, rate, burst and key) keep their
    /// limiters and state; others start with a full burst; rules no longer configured are
    /// dropped.
    pub fn update(&self, service: Option<&Service>) {
        self.install(None, service);
    }

    /// Checks a request against the rules of `config` (the sidecar's own service in it),
    /// first switching to them, as [`RateLimits::update`] does, if the current rules were built
    /// from another configuration. In steady state this costs one pointer comparison.
    pub fn check_for(
        &self,
        config: &Arc<ProxyConfig>,
        path: &str,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<(), RateLimited> {
        self.check_caller_for(config, path, headers, Caller::from(client))
    }

    /// [`RateLimits::check_for`] for a caller that may have a proven identity, which then
    /// names its cell in `per: caller` rules (before the caller header and the address).
    pub(crate) fn check_caller_for(
        &self,
        config: &Arc<ProxyConfig>,
        path: &str,
        headers: &HeaderMap,
        caller: Caller<'_>,
    ) -> Result<(), RateLimited> {
        let current = self.active.load();
        if current.built_from(config) {
            return current.check(path, headers, caller);
        }
        drop(current);
        self.follow(config);
        self.active.load().check(path, headers, caller)
    }

    /// Switches to the rules of `config` unless they are the current ones.
    fn follow(&self, config: &Arc<ProxyConfig>) {
        if !self.active.load().built_from(config) {
            let service = config.mesh.services.get(config.sidecar.service.as_str());
            self.install(Some(config), service);
        }
    }

    /// Checks a request (its path without query, its headers, the client's IP address) against
    /// the current rules: the first matching route's, then the service's. `Ok` means every rule
    /// admitted it; the refusal names the rule that did not. A total rule costs one atomic
    /// compare-and-swap; a per-caller rule adds a lookup in a sharded map (one shard's read lock,
    /// its write lock for a new caller). Allocates only to refuse.
    /// This is the entry point for a micro-benchmark of one limiter check:
    ///
    /// ```
    /// use convoy_policy::rate_limit::{RateLimitMetrics, RateLimits};
    /// let yaml = "sidecar: { service: web, app: 127.0.0.1:1 }\nservices:\n  web:\n    \
    ///             rate_limit: { requests_per_second: 1, burst: 1 }\n";
    /// let config = convoy_config::parse_proxy_config(yaml, "web.yaml".as_ref()).unwrap();
    /// let limits = RateLimits::new(RateLimitMetrics::new(&prometheus::Registry::new()));
    /// limits.update(config.mesh.services.get("web"));
    /// let headers = http::HeaderMap::new();
    /// assert!(limits.check("/", &headers, None).is_ok());
    /// assert_eq!(limits.check("/", &headers, None).unwrap_err().rule, "web:total");
    /// ```
    pub fn check(
        &self,
        path: &str,
        headers: &HeaderMap,
        client: Option<IpAddr>,
    ) -> Result<(), RateLimited> {
        self.active
            .load()
            .check(path, headers, Caller::from(client))
    }

    /// Drops the cells of callers that have been idle long enough to be back to a full burst,
    /// in every per-caller rule. Returns how many callers are still tracked, over all rules.
    pub(crate) fn evict_idle(&self) -> usize {
        self.active.load().limiters().map(|l| l.evict_idle()).sum()
    }

    fn install(&self, config: Option<&Arc<ProxyConfig>>, service: Option<&Service>) {
        let _serial = self.rebuild.lock().unwrap_or_else(PoisonError::into_inner);
        let previous = self.active.load_full();
        if config.is_some_and(|c| previous.built_from(c)) {
            return; // another request switched while this one waited
        }
        let limiter = |rule: &RateLimitRule, service: &str| {
            previous
                .limiters()
                .find(|l| l.serves(rule, service))
                .cloned()
                .unwrap_or_else(|| {
                    let rejected = self.metrics.rejected(service, &rule.name);
                    Arc::new(RuleLimiter::new(
                        rule,
                        service,
                        self.clock.clone(),
                        rejected,
                    ))
                })
        };
        let rules = |rules: &[RateLimitRule], service: &str| {
            let mut limiters: Vec<_> = rules.iter().map(|r| limiter(r, service)).collect();
            // Per-caller rules first (a stable sort keeps the configured order otherwise).
            limiters.sort_by_key(|l| matches!(l.rule().per, RateLimitKey::Total));
            limiters
        };
        let set = match service {
            None => RuleSet::empty(),
            Some(service) => {
                let name = service.name.as_str();
                let any_route_rules = service
                    .routes
                    .iter()
                    .any(|r| !r.policy.rate_limits.is_empty());
                let routes = if any_route_rules {
                    let each = service.routes.iter();
                    each.map(|r| rules(&r.policy.rate_limits, name)).collect()
                } else {
                    Vec::new()
                };
                RuleSet {
                    config: None,
                    service: rules(&service.rate_limits, name),
                    routes,
                    routed: any_route_rules.then(|| Box::new(service.clone())),
                }
            }
        };
        self.active.store(Arc::new(RuleSet {
            config: config.cloned(),
            ..set
        }));
    }
}

impl<C> RateLimits<C>
where
    C: Clock + Clone,
    Self: Send + Sync + 'static,
{
    /// Starts a task that calls [`RateLimits::evict_idle`] every `every`; it ends when the
    /// limits are dropped. Must be called inside a tokio runtime.
    pub(crate) fn spawn_eviction(self: &Arc<Self>, every: Duration) -> JoinHandle<()> {
        let limits: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut ticks = tokio::time::interval(every);
            ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                ticks.tick().await;
                let Some(limits) = limits.upgrade() else {
                    return;
                };
                let tracked = limits.evict_idle();
                tracing::trace!(tracked, "evicted idle rate limit callers");
            }
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::parse_proxy_config;
    use governor::clock::FakeRelativeClock;
    use prometheus::Registry;
    use std::path::Path;

    fn config(web: &str) -> Arc<ProxyConfig> {
        let yaml =
            format!("sidecar: {{ service: web, app: 127.0.0.1:1 }}\nservices:\n  web:\n{web}");
        Arc::new(parse_proxy_config(&yaml, Path::new("t.yaml")).unwrap())
    }

    fn limits() -> (
        RateLimits<FakeRelativeClock>,
        FakeRelativeClock,
        RateLimitMetrics,
    ) {
        let metrics = RateLimitMetrics::new(&Registry::new());
        let clock = FakeRelativeClock::default();
        let limits = RateLimits::with_clock(metrics.clone(), clock.clone());
        (limits, clock, metrics)
    }

    fn admitted(
        limits: &RateLimits<FakeRelativeClock>,
        config: &Arc<ProxyConfig>,
        path: &str,
        n: usize,
    ) -> usize {
        (0..n)
            .filter(|_| {
                limits
                    .check_for(config, path, &HeaderMap::new(), None)
                    .is_ok()
            })
            .count()
    }

    fn refused_by(
        limits: &RateLimits<FakeRelativeClock>,
        config: &Arc<ProxyConfig>,
        path: &str,
    ) -> String {
        limits
            .check_for(config, path, &HeaderMap::new(), None)
            .unwrap_err()
            .rule
    }

    #[test]
    fn unchanged_rules_keep_their_state_across_configurations() {
        let (limits, _clock, _) = limits();
        let v1 = config("    rate_limit: { requests_per_second: 10, burst: 3 }\n");
        assert_eq!(admitted(&limits, &v1, "/", 5), 3);
        // The same rule in a new configuration: still exhausted.
        let v2 =
            config("    rate_limit: { requests_per_second: 10, burst: 3 }\n    endpoints: []\n");
        assert!(!Arc::ptr_eq(&v1, &v2));
        assert_eq!(admitted(&limits, &v2, "/", 5), 0);
        // A changed rate is a new limiter, with a full burst.
        let v3 = config("    rate_limit: { requests_per_second: 20, burst: 3 }\n");
        assert_eq!(admitted(&limits, &v3, "/", 5), 3);
        // No rules: everything passes.
        let v4 = config("    endpoints: []\n");
        assert_eq!(admitted(&limits, &v4, "/", 50), 50);
        // Set directly (the way a benchmark would): a fresh limiter, v3's was dropped by v4.
        limits.update(Some(&v3.mesh.services["web"]));
        let none = HeaderMap::new();
        assert_eq!(
            (0..5)
                .filter(|_| limits.check("/", &none, None).is_ok())
                .count(),
            3
        );
        assert_eq!(
            limits.check("/", &none, None).unwrap_err().rule,
            "web:total"
        );
    }

    #[test]
    fn route_rules_apply_to_the_first_matching_route_only() {
        let (limits, clock, metrics) = limits();
        let web = config(concat!(
            "    routes:\n",
            "      - match: { path_prefix: /open/ }\n",
            "      - match: { path_prefix: /o }\n",
            "        rate_limit: { requests_per_second: 1, burst: 2 }\n",
        ));
        assert_eq!(admitted(&limits, &web, "/other", 5), 2);
        assert_eq!(refused_by(&limits, &web, "/other"), "web/routes[1]:total");
        assert_eq!(
            admitted(&limits, &web, "/open/x", 50),
            50,
            "route 0 matches first"
        );
        assert_eq!(admitted(&limits, &web, "/", 50), 50, "no route matches");
        clock.advance(Duration::from_secs(1));
        assert_eq!(admitted(&limits, &web, "/other", 5), 1);
        assert_eq!(metrics.rejected("web", "web/routes[1]:total").get(), 8);
    }

    #[test]
    fn the_most_specific_rule_is_checked_first() {
        let (limits, _clock, _) = limits();
        let web = config(concat!(
            "    rate_limit:\n",
            "      - { requests_per_second: 1, burst: 10 }\n",
            "      - { requests_per_second: 1, burst: 2, per: caller }\n",
            "    routes:\n",
            "      - match: { path_prefix: /hot }\n",
            "        rate_limit: { requests_per_second: 1, burst: 1 }\n",
        ));
        // A flood on /hot passes its route rule once: the service's rules see one request.
        assert_eq!(admitted(&limits, &web, "/hot", 20), 1);
        assert_eq!(refused_by(&limits, &web, "/hot"), "web/routes[0]:total");
        // The caller rule (listed second) refuses before the total rule is charged.
        assert_eq!(admitted(&limits, &web, "/", 20), 1);
        assert_eq!(refused_by(&limits, &web, "/"), "web#1:caller");
        // Another caller still finds the total with 10 - 2 = 8 cells.
        let other = Some(IpAddr::from([10, 0, 0, 9]));
        let passed = (0..20)
            .filter(|_| {
                limits
                    .check_for(&web, "/", &HeaderMap::new(), other)
                    .is_ok()
            })
            .count();
        assert_eq!(passed, 2, "its own caller burst");
        for i in 10..13u8 {
            let caller = Some(IpAddr::from([10, 0, 0, i]));
            for _ in 0..2 {
                limits
                    .check_for(&web, "/", &HeaderMap::new(), caller)
                    .unwrap();
            }
        }
        let last = Some(IpAddr::from([10, 0, 0, 13]));
        assert_eq!(
            limits
                .check_for(&web, "/", &HeaderMap::new(), last)
                .unwrap_err()
                .rule,
            "web#0:total",
            "1 + 1 + 2 + 3 × 2 = 10 cells of the total used"
        );
    }

    #[test]
    fn idle_callers_are_evicted_across_rules() {
        let (limits, clock, _) = limits();
        let web = config("    rate_limit: { requests_per_second: 10, burst: 5, per: caller }\n");
        for i in 0..100u8 {
            let client = Some(IpAddr::from([10, 0, 1, i]));
            limits
                .check_for(&web, "/", &HeaderMap::new(), client)
                .unwrap();
        }
        assert_eq!(limits.evict_idle(), 100);
        clock.advance(Duration::from_secs(1));
        assert_eq!(limits.evict_idle(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn the_eviction_task_runs_until_the_limits_are_dropped() {
        let registry = Registry::new();
        let limits = Arc::new(RateLimits::new(RateLimitMetrics::new(&registry)));
        let task = limits.spawn_eviction(Duration::from_secs(1));
        tokio::time::sleep(Duration::from_secs(3)).await;
        assert!(!task.is_finished());
        drop(limits);
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(task.is_finished());
    }
}
