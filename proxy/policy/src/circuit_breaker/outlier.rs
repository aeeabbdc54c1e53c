//! Outlier detection for one endpoint, as an explicit state machine: `Closed` takes traffic and
//! counts consecutive failures, `Open` is ejected (blocking) until a time, `HalfOpen` lets one
//! probe decide. The transition functions are pure, so they are tested alone.

use convoy_config::OutlierDetection;
use tokio::time::{Duration, Instant};

/// The outlier state of one endpoint.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum State {
    /// Taking traffic.
    Closed {
        /// Failures in a row so far.
        failures: u32,
        /// Ejections so far (each ejection lasts longer).
        ejections: u32,
    },
    /// Ejected: no traffic until `until`.
    Open {
        /// When the ejection ends.
        until: Instant,
        /// Ejections so far, this one included.
        ejections: u32,
    },
    /// The ejection is over; one probe request decides whether the endpoint returns.
    HalfOpen {
        /// Whether the probe is in flight.
        probing: bool,
        /// Ejections so far.
        ejections: u32,
    },
}

impl Default for State {
    fn default() -> Self {
        State::Closed {
            failures: 0,
            ejections: 0,
        }
    }
}

/// What admitting a request to the endpoint means.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Admission {
    /// A normal request.
    Admitted,
    /// The one probe of a half-open endpoint.
    Probe,
    /// Not now: the endpoint is ejected or already probing.
    Refused,
}

impl State {
    /// Whether the endpoint counts as ejected (for `max_ejection_percent` and metrics).
    pub fn is_ejected(&self) -> bool {
        !matches!(self, State::Closed { .. })
    }

    /// Tries to send a request to the endpoint at `now`.
    pub fn admit(self, now: Instant) -> (State, Admission) {
        match self {
            State::Closed { .. } => (self, Admission::Admitted),
            State::Open { until, ejections } if now >= until => (
                State::HalfOpen {
                    probing: true,
                    ejections,
                },
                Admission::Probe,
            ),
            State::Open { .. } => (self, Admission::Refused),
            State::HalfOpen {
                probing: false,
                ejections,
            } => (
                State::HalfOpen {
                    probing: true,
                    ejections,
                },
                Admission::Probe,
            ),
            State::HalfOpen { probing: true, .. } => (self, Admission::Refused),
        }
    }

    /// A request succeeded: the endpoint is healthy again.
    pub fn on_success(self) -> State {
        match self {
            State::Closed { ejections, .. }
            | State::HalfOpen { ejections, .. }
            | State::Open { ejections, .. } => State::Closed {
                failures: 0,
                ejections,
            },
        }
    }

    /// A request failed at `now`. `may_eject` says whether `max_ejection_percent` leaves room.
    pub fn on_failure(self, now: Instant, config: &OutlierDetection, may_eject: bool) -> State {
        match self {
            State::Closed {
                failures,
                ejections,
            } => {
                let failures = failures.saturating_add(1);
                if failures >= config.consecutive_failures && may_eject {
                    eject(now, config, ejections)
                } else {
                    State::Closed {
                        failures,
                        ejections,
                    }
                }
            }
            // The probe failed: back out, for longer.
            State::HalfOpen { ejections, .. } => eject(now, config, ejections),
            // A request admitted before the ejection finished late: the ejection stands.
            open @ State::Open { .. } => open,
        }
    }

    /// The probe ended without an outcome (cancelled): let another request probe.
    pub fn on_abandoned_probe(self) -> State {
        match self {
            State::HalfOpen { ejections, .. } => State::HalfOpen {
                probing: false,
                ejections,
            },
            other => other,
        }
    }
}

/// Ejects for the length of the next ejection after `ejections` so far.
fn eject(now: Instant, config: &OutlierDetection, ejections: u32) -> State {
    State::Open {
        until: now + ejection_length(config, ejections),
        ejections: ejections.saturating_add(1),
    }
}

/// How many endpoints of `total` may be ejected at once: `max_percent` of them, at least one.
pub fn max_ejected(total: usize, max_percent: u32) -> usize {
    (total * max_percent as usize / 100).max(1)
}

/// The length of the next ejection after `ejections` so far: the n-th ejection lasts n × base,
/// capped at max.
fn ejection_length(config: &OutlierDetection, ejections: u32) -> Duration {
    config
        .base_ejection
        .saturating_mul(ejections.saturating_add(1))
        .min(config.max_ejection)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn config() -> OutlierDetection {
        OutlierDetection {
            consecutive_failures: 3,
            base_ejection: Duration::from_secs(10),
            max_ejection: Duration::from_secs(25),
            max_ejection_percent: 50,
        }
    }

    #[test]
    fn consecutive_failures_eject_and_a_success_resets_the_count() {
        let now = Instant::now();
        let c = config();
        let s = State::default()
            .on_failure(now, &c, true)
            .on_failure(now, &c, true);
        assert_eq!(
            s,
            State::Closed {
                failures: 2,
                ejections: 0
            }
        );
        assert_eq!(
            s.on_success(),
            State::Closed {
                failures: 0,
                ejections: 0
            }
        );
        let s = s.on_failure(now, &c, true);
        assert_eq!(
            s,
            State::Open {
                until: now + Duration::from_secs(10),
                ejections: 1
            }
        );
        assert_eq!(s.admit(now).1, Admission::Refused, "open means blocking");
    }

    #[test]
    fn no_ejection_without_room() {
        let now = Instant::now();
        let c = config();
        let mut s = State::default();
        for _ in 0..5 {
            s = s.on_failure(now, &c, false);
        }
        assert!(!s.is_ejected());
    }

    #[test]
    fn one_probe_decides_after_the_ejection() {
        let now = Instant::now();
        let c = config();
        let open = State::Closed {
            failures: 2,
            ejections: 0,
        }
        .on_failure(now, &c, true);
        let later = now + Duration::from_secs(10);
        let (probing, admission) = open.admit(later);
        assert_eq!(admission, Admission::Probe);
        assert_eq!(
            probing.admit(later).1,
            Admission::Refused,
            "only one probe at a time"
        );
        assert_eq!(
            probing.on_success(),
            State::Closed {
                failures: 0,
                ejections: 1
            }
        );
        // A failed probe ejects again, for twice as long.
        assert_eq!(
            probing.on_failure(later, &c, true),
            State::Open {
                until: later + Duration::from_secs(20),
                ejections: 2
            }
        );
        // An abandoned probe lets the next request probe.
        assert_eq!(
            probing.on_abandoned_probe().admit(later).1,
            Admission::Probe
        );
    }

    #[test]
    fn ejections_grow_up_to_the_cap() {
        let c = config();
        assert_eq!(ejection_length(&c, 0), Duration::from_secs(10));
        assert_eq!(ejection_length(&c, 1), Duration::from_secs(20));
        assert_eq!(ejection_length(&c, 5), Duration::from_secs(25));
    }

    #[test]
    fn at_least_one_endpoint_may_be_ejected() {
        assert_eq!(max_ejected(3, 10), 1);
        assert_eq!(max_ejected(10, 50), 5);
        assert_eq!(max_ejected(4, 100), 4);
    }
}
