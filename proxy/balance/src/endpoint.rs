//! One endpoint's load: requests in flight and a peak-EWMA of response latency.
//!
//! An endpoint that has never answered is probed as soon as it is idle: its first response
//! measures it. Until then, with a request in flight, it is assumed to be as slow as
//! [`DEFAULT_RTT`], so a burst does not pile onto an endpoint nobody has measured. A failed
//! attempt counts as a response of [`FAILURE_PENALTY`], so a dead endpoint is avoided and probed
//! again only once that penalty has decayed.

use convoy_policy::circuit_breaker::outlier::{Admission, State as OutlierState};
use convoy_proxy_core::classify::Failure;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

/// How fast the latency estimate forgets (the decay time constant).
const DECAY: Duration = Duration::from_secs(10);
/// The estimate before the first response (Linkerd's default).
pub(crate) const DEFAULT_RTT: Duration = Duration::from_millis(30);
/// The latency a failed attempt (no response: connect refused or timed out, reset) counts as.
pub(crate) const FAILURE_PENALTY: Duration = Duration::from_secs(1);

/// One address of a service, with the load the balancer compares.
#[derive(Debug)]
pub struct Endpoint {
    addr: SocketAddr,
    /// `addr` as a URI authority, made once: requests are retargeted at it.
    authority: http::uri::Authority,
    in_flight: AtomicU64,
    /// Latency estimate in nanoseconds, and when it was last updated (ns since [`epoch`]).
    rtt_ns: AtomicU64,
    updated_ns: AtomicU64,
    /// Whether any response or failure was observed; until then the estimate is a guess.
    measured: AtomicBool,
    /// Outlier state; `tripped` mirrors "not Closed" so healthy picks take no lock.
    outlier: Mutex<OutlierState>,
    tripped: AtomicBool,
    /// When a tripped endpoint may be probed (ns since `created`; `u64::MAX`: not now), mirrored
    /// so the balancer can see an ejection end without taking the lock.
    probe_due_ns: AtomicU64,
    /// The origin of `probe_due_ns`, on the clock outlier detection uses.
    created: tokio::time::Instant,
    /// Consecutive failures, mirrored so a success after successes takes no lock.
    failures_hint: std::sync::atomic::AtomicU32,
}

fn epoch() -> Instant {
    static EPOCH: OnceLock<Instant> = OnceLock::new();
    *EPOCH.get_or_init(Instant::now)
}

fn now_ns() -> u64 {
    epoch().elapsed().as_nanos() as u64
}

impl Endpoint {
    /// A new endpoint with no history.
    pub fn new(addr: SocketAddr) -> Arc<Self> {
        Arc::new(Endpoint {
            addr,
            authority: convoy_proxy_core::authority::of_addr(addr),
            in_flight: AtomicU64::new(0),
            rtt_ns: AtomicU64::new(DEFAULT_RTT.as_nanos() as u64),
            updated_ns: AtomicU64::new(now_ns()),
            measured: AtomicBool::new(false),
            outlier: Mutex::new(OutlierState::default()),
            tripped: AtomicBool::new(false),
            probe_due_ns: AtomicU64::new(u64::MAX),
            created: tokio::time::Instant::now(),
            failures_hint: std::sync::atomic::AtomicU32::new(0),
        })
    }

    /// The endpoint's address.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// The endpoint's address as a URI authority (`10.0.0.1:8080`, `[::1]:8080`).
    pub(crate) fn authority(&self) -> &http::uri::Authority {
        &self.authority
    }

    /// Requests in flight now.
    pub(crate) fn in_flight(&self) -> u64 {
        self.in_flight.load(Ordering::Relaxed)
    }

    /// The balancer's cost: the decayed latency estimate times (in flight + 1); zero for an
    /// idle endpoint that was never measured, so that it is tried.
    pub(crate) fn cost(&self) -> f64 {
        let in_flight = self.in_flight();
        if in_flight == 0 && !self.measured.load(Ordering::Relaxed) {
            return 0.0;
        }
        self.decayed_rtt(now_ns()) * (in_flight + 1) as f64
    }

    fn decayed_rtt(&self, now: u64) -> f64 {
        let rtt = self.rtt_ns.load(Ordering::Relaxed) as f64;
        if !self.measured.load(Ordering::Relaxed) {
            // Nothing was measured, so there is nothing to forget: the guess stays.
            return rtt;
        }
        let elapsed = now.saturating_sub(self.updated_ns.load(Ordering::Relaxed)) as f64;
        rtt * (-elapsed / DECAY.as_nanos() as f64).exp()
    }

    /// Folds in one observed latency: a higher one is taken at once (peak), a lower one decays in.
    pub(crate) fn observe(&self, rtt: Duration) {
        let now = now_ns();
        let sample = rtt.as_nanos() as f64;
        let first = !self.measured.swap(true, Ordering::Relaxed);
        let decayed = self.decayed_rtt(now);
        let next = if first || sample > decayed {
            sample
        } else {
            let elapsed = now.saturating_sub(self.updated_ns.load(Ordering::Relaxed)) as f64;
            let w = (-elapsed / DECAY.as_nanos() as f64).exp();
            decayed * w + sample * (1.0 - w)
        };
        // Races between concurrent updates lose a sample at worst; the estimate stays sane.
        self.rtt_ns.store(next as u64, Ordering::Relaxed);
        self.updated_ns.store(now, Ordering::Relaxed);
    }

    /// Counts a request as in flight until the returned guard is dropped.
    pub fn start(self: &Arc<Self>) -> InFlight {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        InFlight {
            endpoint: self.clone(),
            started: Instant::now(),
            outlier: None,
            probe: false,
        }
    }

    pub(super) fn failures_hint(&self) -> u32 {
        self.failures_hint.load(Ordering::Relaxed)
    }

    pub(super) fn set_failures_hint(&self, failures: u32) {
        self.failures_hint.store(failures, Ordering::Relaxed);
    }

    /// Whether outlier detection has this endpoint ejected or probing (lock-free).
    pub(crate) fn is_tripped(&self) -> bool {
        self.tripped.load(Ordering::Acquire)
    }

    /// Runs an outlier transition under the endpoint's lock; returns (before, after).
    pub(super) fn transition(
        &self,
        f: impl FnOnce(OutlierState) -> OutlierState,
    ) -> (OutlierState, OutlierState) {
        let mut state = self
            .outlier
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        let before = *state;
        *state = f(before);
        let due = match *state {
            OutlierState::Open { until, .. } => self.ns_since_created(until),
            OutlierState::HalfOpen { probing: false, .. } => 0,
            OutlierState::Closed { .. } | OutlierState::HalfOpen { probing: true, .. } => u64::MAX,
        };
        self.probe_due_ns.store(due, Ordering::Release);
        self.tripped.store(state.is_ejected(), Ordering::Release);
        (before, *state)
    }

    fn ns_since_created(&self, at: tokio::time::Instant) -> u64 {
        at.saturating_duration_since(self.created).as_nanos() as u64
    }

    /// Whether the endpoint is tripped and its probe is due at `now`: its ejection is over, or
    /// its last probe was abandoned (lock-free).
    pub(super) fn probe_due(&self, now: tokio::time::Instant) -> bool {
        self.is_tripped() && self.ns_since_created(now) >= self.probe_due_ns.load(Ordering::Acquire)
    }

    /// Tries to admit a request past outlier detection at `now`.
    pub(super) fn admit(&self, now: tokio::time::Instant) -> Admission {
        if !self.is_tripped() {
            return Admission::Admitted;
        }
        let mut admission = Admission::Refused;
        self.transition(|state| {
            let (next, a) = state.admit(now);
            admission = a;
            next
        });
        admission
    }
}

/// A request in flight to one endpoint.
#[derive(Debug)]
pub struct InFlight {
    endpoint: Arc<Endpoint>,
    started: Instant,
    /// Where outcomes are reported, when the service has outlier detection.
    outlier: Option<Arc<super::EndpointSet>>,
    /// Whether this request is a half-open endpoint's probe.
    probe: bool,
}

impl InFlight {
    /// The endpoint.
    pub fn endpoint(&self) -> &Arc<Endpoint> {
        &self.endpoint
    }

    pub(super) fn watched(mut self, set: Arc<super::EndpointSet>, probe: bool) -> Self {
        self.outlier = Some(set);
        self.probe = probe;
        self
    }

    /// Reports the attempt's outcome, as the one classifier judged it, to outlier detection.
    pub fn record(&mut self, outcome: Result<(), Failure>) {
        if let Some(set) = self.outlier.take() {
            set.record(&self.endpoint, outcome);
        }
        self.probe = false;
    }

    /// Records the latency to the response head.
    pub fn responded(&self) {
        self.endpoint.observe(self.started.elapsed());
    }

    /// Records that the attempt got no response (connect refused or timed out, reset): it
    /// counts as a response taking `FAILURE_PENALTY`, or longer if it took longer.
    pub fn failed(&self) {
        self.endpoint
            .observe(self.started.elapsed().max(FAILURE_PENALTY));
    }
}

impl Drop for InFlight {
    fn drop(&mut self) {
        if self.probe && self.outlier.is_some() {
            // The probe was cancelled before it said anything: let another request probe.
            self.endpoint.transition(OutlierState::on_abandoned_probe);
        }
        self.endpoint.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn in_flight_raises_cost_until_dropped() {
        let e = Endpoint::new("127.0.0.1:1".parse().unwrap());
        let idle = e.cost();
        let guard = e.start();
        assert!(e.cost() > idle * 1.9);
        drop(guard);
        assert_eq!(e.in_flight(), 0);
    }

    #[test]
    fn an_idle_unmeasured_endpoint_is_tried_first() {
        let fresh = Endpoint::new("127.0.0.1:1".parse().unwrap());
        let known = Endpoint::new("127.0.0.1:2".parse().unwrap());
        known.observe(Duration::from_micros(100));
        assert_eq!(fresh.cost(), 0.0);
        assert!(known.cost() > 0.0);
        // While its first request is in flight it counts as slow, so a burst spreads out.
        let first = fresh.start();
        assert!(fresh.cost() >= 2.0 * DEFAULT_RTT.as_nanos() as f64 * 0.99);
        assert!(fresh.cost() > known.cost());
        first.responded();
        drop(first);
        assert!(fresh.cost() < DEFAULT_RTT.as_nanos() as f64, "measured now");
    }

    #[test]
    fn an_unmeasured_guess_does_not_decay() {
        let e = Endpoint::new("127.0.0.1:1".parse().unwrap());
        // As if created a minute ago: a decaying guess would be near zero by now.
        e.updated_ns.store(0, Ordering::Relaxed);
        let _busy = e.start();
        assert!(e.decayed_rtt(now_ns() + 60_000_000_000) >= DEFAULT_RTT.as_nanos() as f64);
    }

    #[test]
    fn a_failure_makes_the_endpoint_expensive() {
        let dead = Endpoint::new("127.0.0.1:1".parse().unwrap());
        let alive = Endpoint::new("127.0.0.1:2".parse().unwrap());
        alive.observe(Duration::from_millis(1));
        dead.start().failed();
        assert!(dead.cost() > 0.9 * FAILURE_PENALTY.as_nanos() as f64);
        // Even with many requests in flight on the live endpoint, the dead one costs more.
        let _held: Vec<_> = (0..50).map(|_| alive.start()).collect();
        assert!(dead.cost() > alive.cost());
    }

    #[test]
    fn peaks_are_taken_at_once() {
        let e = Endpoint::new("127.0.0.1:1".parse().unwrap());
        e.observe(Duration::from_secs(1));
        assert!(e.cost() > 0.9e9);
        e.observe(Duration::from_millis(1));
        assert!(
            e.cost() > 0.9e9,
            "a fast sample right after a slow one barely moves the peak"
        );
    }
}
