//! The endpoints of one service, swapped atomically when discovery changes them.

use crate::dns::Discovery;
use crate::{Endpoint, InFlight};
use arc_swap::ArcSwap;
use convoy_config::OutlierDetection;
use convoy_policy::circuit_breaker::outlier::{max_ejected, Admission, State as OutlierState};
use convoy_proxy_core::classify::Failure;
use convoy_telemetry::policy_metrics::PolicyMetrics;
use rand::Rng;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// A service's live endpoints. Readers never block; updates keep the load history of the
/// endpoints that stay.
#[derive(Debug)]
pub struct EndpointSet {
    endpoints: ArcSwap<Vec<Arc<Endpoint>>>,
    outlier: Option<Outlier>,
    /// Which configuration sets the addresses, and what its DNS names resolved to (see
    /// [`EndpointSet::configure`]); locked only when addresses change.
    pub(super) discovery: Mutex<Discovery>,
}

/// Outlier detection of a service: its settings and where it reports.
#[derive(Debug)]
pub struct Outlier {
    /// The settings.
    pub config: OutlierDetection,
    /// The service (metrics label).
    pub service: String,
    /// Where ejections are counted.
    pub metrics: PolicyMetrics,
}

/// Why no endpoint can take a request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unavailable {
    /// The service has no endpoints.
    NoEndpoints,
    /// Every endpoint is ejected (or its one probe is in flight).
    AllEjected {
        /// Endpoints ejected.
        ejected: usize,
        /// Endpoints in all.
        total: usize,
    },
}

impl EndpointSet {
    /// A set of these addresses, without outlier detection.
    pub fn new(addrs: impl IntoIterator<Item = SocketAddr>) -> Self {
        Self::with_outlier(addrs, None)
    }

    /// A set of these addresses, with outlier detection when `outlier` is given.
    pub fn with_outlier(
        addrs: impl IntoIterator<Item = SocketAddr>,
        outlier: Option<Outlier>,
    ) -> Self {
        let set = EndpointSet {
            endpoints: ArcSwap::from_pointee(Vec::new()),
            outlier,
            discovery: Mutex::default(),
        };
        set.update(addrs);
        set
    }

    /// Picks an endpoint for one HTTP request: power of two choices among endpoints that
    /// outlier detection admits. An ejected endpoint whose ejection is over is probed by the
    /// first request that samples it; when no healthy endpoint is left, by the next request.
    pub fn choose(self: &Arc<Self>) -> Result<InFlight, Unavailable> {
        let Some(outlier) = &self.outlier else {
            return self
                .pick()
                .map(|e| e.start())
                .ok_or(Unavailable::NoEndpoints);
        };
        let endpoints = self.endpoints.load();
        if endpoints.is_empty() {
            return Err(Unavailable::NoEndpoints);
        }
        let now = tokio::time::Instant::now();
        // Fast path: P2C over the two sampled endpoints that are not tripped, unless one of them
        // is due for its probe.
        if let Some((e, probe)) = self.pick_healthy(&endpoints, now) {
            return Ok(e.start().watched(self.clone(), probe));
        }
        // Every sampled endpoint is tripped: any healthy one, else a due probe.
        if let Some(e) = endpoints.iter().find(|e| !e.is_tripped()) {
            return Ok(e.start().watched(self.clone(), false));
        }
        for e in endpoints.iter() {
            match e.admit(now) {
                Admission::Refused => continue,
                Admission::Admitted => return Ok(e.start().watched(self.clone(), false)),
                Admission::Probe => return Ok(e.start().watched(self.clone(), true)),
            }
        }
        let _ = outlier;
        Err(Unavailable::AllEjected {
            ejected: endpoints.len(),
            total: endpoints.len(),
        })
    }

    /// P2C over two sampled endpoints that are not tripped; `true` with an endpoint when the
    /// request is a sampled endpoint's probe instead. Without this probe an ejected endpoint
    /// would never return while healthy endpoints are left.
    fn pick_healthy(
        &self,
        endpoints: &[Arc<Endpoint>],
        now: tokio::time::Instant,
    ) -> Option<(Arc<Endpoint>, bool)> {
        let n = endpoints.len();
        if n == 1 {
            return (!endpoints[0].is_tripped()).then(|| (endpoints[0].clone(), false));
        }
        let mut rng = rand::rng();
        let a = rng.random_range(0..n);
        let b = (a + rng.random_range(1..n)) % n;
        let (ea, eb) = (&endpoints[a], &endpoints[b]);
        // Lock-free unless a probe is due; then the lock decides which request probes.
        for e in [ea, eb] {
            if e.probe_due(now) && e.admit(now) == Admission::Probe {
                return Some((e.clone(), true));
            }
        }
        match (ea, eb) {
            (ea, eb) if !ea.is_tripped() && !eb.is_tripped() => Some(if ea.cost() <= eb.cost() {
                (ea.clone(), false)
            } else {
                (eb.clone(), false)
            }),
            (ea, _) if !ea.is_tripped() => Some((ea.clone(), false)),
            (_, eb) if !eb.is_tripped() => Some((eb.clone(), false)),
            _ => None,
        }
    }

    /// Folds one outcome of `endpoint` into outlier detection.
    pub(super) fn record(&self, endpoint: &Arc<Endpoint>, outcome: Result<(), Failure>) {
        let Some(outlier) = &self.outlier else { return };
        match outcome {
            Ok(()) => {
                // Healthy and counting nothing: no lock.
                if endpoint.is_tripped() || endpoint.failures_hint() > 0 {
                    endpoint.transition(OutlierState::on_success);
                    endpoint.set_failures_hint(0);
                    outlier
                        .metrics
                        .endpoint_ejected(&outlier.service, &endpoint.addr().to_string())
                        .set(0);
                }
            }
            Err(failure) if failure.blames_endpoint() => {
                let endpoints = self.endpoints.load();
                let ejected = endpoints.iter().filter(|e| e.is_tripped()).count();
                let may_eject =
                    ejected < max_ejected(endpoints.len(), outlier.config.max_ejection_percent);
                let now = tokio::time::Instant::now();
                let (before, after) =
                    endpoint.transition(|s| s.on_failure(now, &outlier.config, may_eject));
                if let OutlierState::Closed { failures, .. } = after {
                    endpoint.set_failures_hint(failures);
                }
                if matches!(after, OutlierState::Open { .. })
                    && !matches!(before, OutlierState::Open { .. })
                {
                    outlier.metrics.ejections(&outlier.service).inc();
                    outlier
                        .metrics
                        .endpoint_ejected(&outlier.service, &endpoint.addr().to_string())
                        .set(1);
                    tracing::warn!(service = %outlier.service, endpoint = %endpoint.addr(), ?after, "endpoint ejected");
                }
            }
            Err(_) => {}
        }
    }

    /// How many endpoints are ejected now, of how many.
    pub fn ejected(&self) -> (usize, usize) {
        let endpoints = self.endpoints.load();
        (
            endpoints.iter().filter(|e| e.is_tripped()).count(),
            endpoints.len(),
        )
    }

    /// Replaces the addresses; endpoints already known keep their state.
    pub(crate) fn update(&self, addrs: impl IntoIterator<Item = SocketAddr>) {
        let current = self.endpoints.load();
        let mut next: Vec<Arc<Endpoint>> = Vec::new();
        for addr in addrs {
            if next.iter().any(|e| e.addr() == addr) {
                continue;
            }
            let kept = current.iter().find(|e| e.addr() == addr).cloned();
            next.push(kept.unwrap_or_else(|| Endpoint::new(addr)));
        }
        self.endpoints.store(Arc::new(next));
    }

    /// The endpoints now.
    pub fn snapshot(&self) -> Arc<Vec<Arc<Endpoint>>> {
        self.endpoints.load_full()
    }

    /// Picks the cheaper of two distinct random endpoints; `None` when there are none.
    pub fn pick(&self) -> Option<Arc<Endpoint>> {
        let endpoints = self.endpoints.load();
        match endpoints.len() {
            0 => None,
            1 => Some(endpoints[0].clone()),
            n => {
                let mut rng = rand::rng();
                let a = rng.random_range(0..n);
                let b = (a + rng.random_range(1..n)) % n;
                let (ea, eb) = (&endpoints[a], &endpoints[b]);
                Some(if ea.cost() <= eb.cost() {
                    ea.clone()
                } else {
                    eb.clone()
                })
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    fn addrs(ports: &[u16]) -> Vec<SocketAddr> {
        ports
            .iter()
            .map(|p| SocketAddr::from(([127, 0, 0, 1], *p)))
            .collect()
    }

    #[test]
    fn update_keeps_state_of_remaining_endpoints() {
        let set = EndpointSet::new(addrs(&[1, 2]));
        let kept = set.snapshot()[1].clone();
        let _busy = kept.start();
        set.update(addrs(&[2, 3]));
        let now = set.snapshot();
        assert!(Arc::ptr_eq(&now[0], &kept));
        assert_eq!(now[0].in_flight(), 1);
        assert_eq!(now.len(), 2);
    }

    #[test]
    fn load_goes_to_the_less_busy_endpoints() {
        let set = EndpointSet::new(addrs(&[1, 2, 3]));
        let mut held = Vec::new();
        let mut counts: HashMap<u16, usize> = HashMap::new();
        for _ in 0..300 {
            let e = set.pick().unwrap();
            *counts.entry(e.addr().port()).or_default() += 1;
            held.push(e.start());
        }
        // Requests held in flight make busy endpoints expensive, so all three share the load.
        for port in [1, 2, 3] {
            let share = counts[&port];
            assert!((70..=130).contains(&share), "{counts:?}");
        }
    }

    #[tokio::test(start_paused = true)]
    async fn an_ejection_ends_with_one_probe_while_other_endpoints_are_healthy() {
        let outlier = Outlier {
            config: OutlierDetection {
                consecutive_failures: 1,
                base_ejection: std::time::Duration::from_secs(10),
                max_ejection: std::time::Duration::from_secs(10),
                max_ejection_percent: 50,
            },
            service: "orders".into(),
            metrics: PolicyMetrics::new(&prometheus::Registry::new()),
        };
        let set = Arc::new(EndpointSet::with_outlier(addrs(&[1, 2, 3]), Some(outlier)));
        let bad = set.snapshot()[2].clone();
        set.record(&bad, Err(Failure::ConnectFailure));
        assert!(bad.is_tripped());
        let chosen_bad = |set: &Arc<EndpointSet>| {
            (0..100)
                .map(|_| set.choose().unwrap())
                .filter(|f| f.endpoint().addr() == bad.addr())
                .collect::<Vec<_>>()
        };
        assert!(chosen_bad(&set).is_empty(), "ejected means no traffic");
        tokio::time::advance(std::time::Duration::from_secs(10)).await;
        let mut probes = chosen_bad(&set);
        assert_eq!(probes.len(), 1, "one probe at a time");
        probes[0].record(Ok(()));
        assert!(!bad.is_tripped(), "the probe succeeded: back in");
        drop(probes);
        assert!(!chosen_bad(&set).is_empty());
    }

    #[test]
    fn empty_set_picks_nothing() {
        assert!(EndpointSet::new(Vec::new()).pick().is_none());
    }
}
