//! What a sidecar's policies did, from one scrape: retries by called service, rate-limit
//! refusals by limited service, which endpoints outlier detection ejected, and the requests
//! its authorization refused.

use std::collections::BTreeMap;
use std::time::Duration;

use convoy_harness::prometheus::Samples;

const RETRIES_TOTAL: &str = "convoy_retries_total";
const RATE_LIMITED_TOTAL: &str = "convoy_rate_limited_total";
const ENDPOINT_EJECTED: &str = "convoy_endpoint_ejected";
const AUTHORIZATION_TOTAL: &str = "convoy_authorization_total";

/// Policy series of one sidecar's scrape. A series the sidecar has not exported (yet) reads
/// as zero: counters and gauges only appear once a policy first acts.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct PolicyCounters {
    /// `convoy_retries_total` by `service` (the called service), all reasons added up.
    retries: BTreeMap<String, f64>,
    /// `convoy_rate_limited_total` by `service` (the limited one), all rules added up.
    rate_limited: BTreeMap<String, f64>,
    /// `convoy_endpoint_ejected` by `(service, endpoint)`.
    ejected: BTreeMap<(String, String), f64>,
    /// `convoy_authorization_total{result="deny"}`, all callers and rules added up.
    denied: f64,
}

impl PolicyCounters {
    /// Reads the policy series of a scrape; samples without a `service` label are ignored,
    /// except authorization's: a sidecar authorizes only requests to its own service, so
    /// those carry none.
    pub(crate) fn from_exposition(exposition: &Samples) -> Self {
        let mut counters = Self::default();
        for sample in exposition.samples() {
            if sample.name == AUTHORIZATION_TOTAL {
                if sample.label("result") == Some("deny") {
                    counters.denied += sample.value;
                }
                continue;
            }
            let Some(service) = sample.label("service") else {
                continue;
            };
            match sample.name.as_str() {
                RETRIES_TOTAL => {
                    *counters.retries.entry(service.to_owned()).or_default() += sample.value;
                }
                RATE_LIMITED_TOTAL => {
                    *counters.rate_limited.entry(service.to_owned()).or_default() += sample.value;
                }
                ENDPOINT_EJECTED => {
                    if let Some(endpoint) = sample.label("endpoint") {
                        counters
                            .ejected
                            .insert((service.to_owned(), endpoint.to_owned()), sample.value);
                    }
                }
                _ => {}
            }
        }
        counters
    }

    /// Retries this sidecar sent to `service` so far.
    pub(crate) fn retries(&self, service: &str) -> f64 {
        self.retries.get(service).copied().unwrap_or(0.0)
    }

    /// Requests to `service` this sidecar refused with 429 so far.
    pub(crate) fn rate_limited(&self, service: &str) -> f64 {
        self.rate_limited.get(service).copied().unwrap_or(0.0)
    }

    /// Requests to its own service this sidecar refused by authorization (403) so far.
    pub(crate) fn denied(&self) -> f64 {
        self.denied
    }

    /// Whether this sidecar has `endpoint` of `service` ejected (or is probing it) now.
    pub(crate) fn is_ejected(&self, service: &str, endpoint: &str) -> bool {
        self.ejected
            .get(&(service.to_owned(), endpoint.to_owned()))
            .is_some_and(|v| *v > 0.0)
    }
}

/// Per-second rate of a counter read `elapsed` apart. A counter that went down belongs to a
/// restarted process, so everything it holds is new.
pub(crate) fn counter_rate(earlier: f64, later: f64, elapsed: Duration) -> f64 {
    let seconds = elapsed.as_secs_f64();
    if seconds <= 0.0 {
        return 0.0;
    }
    let delta = if later < earlier {
        later
    } else {
        later - earlier
    };
    delta / seconds
}

#[cfg(test)]
mod tests {
    use super::*;

    const SCRAPE: &str = r#"# TYPE convoy_retries_total counter
convoy_retries_total{service="payments",reason="5xx"} 7
convoy_retries_total{reason="gateway-error",service="payments"} 3
convoy_retries_total{service="orders",reason="reset"} 1
# TYPE convoy_rate_limited_total counter
convoy_rate_limited_total{service="orders",rule="orders:total"} 4
convoy_rate_limited_total{service="orders",rule="orders/routes[0]:caller"} 1
# TYPE convoy_endpoint_ejected gauge
convoy_endpoint_ejected{service="payments",endpoint="127.0.0.1:1"} 1
convoy_endpoint_ejected{service="payments",endpoint="127.0.0.1:2"} 0
convoy_requests_total{direction="inbound",service="orders",status_class="2xx"} 100
# TYPE convoy_authorization_total counter
convoy_authorization_total{caller="spiffe://demo.convoy/service/orders",rule="allow[0]",result="allow"} 50
convoy_authorization_total{caller="spiffe://demo.convoy/service/web",rule="default-deny",result="deny"} 6
convoy_authorization_total{caller="unauthenticated",rule="default-deny",result="deny"} 2
"#;

    #[test]
    fn adds_up_reasons_and_rules_per_service() {
        let counters = PolicyCounters::from_exposition(&Samples::parse(SCRAPE).unwrap());
        assert_eq!(counters.retries("payments"), 10.0);
        assert_eq!(counters.retries("orders"), 1.0);
        assert_eq!(counters.rate_limited("orders"), 5.0);
        assert!(counters.is_ejected("payments", "127.0.0.1:1"));
        assert!(!counters.is_ejected("payments", "127.0.0.1:2"));
        assert_eq!(counters.denied(), 8.0, "every caller's denials, no allows");
    }

    #[test]
    fn absent_series_read_as_zero() {
        let counters = PolicyCounters::from_exposition(&Samples::default());
        assert_eq!(counters.retries("payments"), 0.0);
        assert_eq!(counters.rate_limited("orders"), 0.0);
        assert_eq!(counters.denied(), 0.0);
        assert!(!counters.is_ejected("payments", "127.0.0.1:1"));
    }

    #[test]
    fn rates_and_restarts() {
        let second = Duration::from_secs(2);
        assert_eq!(counter_rate(10.0, 30.0, second), 10.0);
        assert_eq!(counter_rate(10.0, 4.0, second), 2.0, "restarted");
        assert_eq!(counter_rate(1.0, 2.0, Duration::ZERO), 0.0);
    }
}
