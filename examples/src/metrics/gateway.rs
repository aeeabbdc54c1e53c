//! What an API gateway counted, from one scrape of its admin `/metrics`: requests by
//! status (`convoy_gateway_requests_total`) and their latency
//! (`convoy_gateway_request_duration_seconds`), and the stats between two scrapes.

use std::time::Duration;

use super::{Histogram, ServiceStats};
use convoy_harness::prometheus::Samples;

const REQUESTS_TOTAL: &str = "convoy_gateway_requests_total";
const DURATION_BUCKET: &str = "convoy_gateway_request_duration_seconds_bucket";
const DURATION_SUM: &str = "convoy_gateway_request_duration_seconds_sum";
const DURATION_COUNT: &str = "convoy_gateway_request_duration_seconds_count";

/// Cumulative counters of one gateway, all route sets, routes and consumers added up.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct GatewayCounters {
    /// Requests answered, of any status.
    pub(crate) requests: f64,
    /// Requests answered with a 2xx status.
    pub(crate) ok: f64,
    /// Requests refused with 429 (a route's rate limit).
    pub(crate) limited: f64,
    /// Requests refused with 401 (no or a bad credential) or 403 (not allowed).
    pub(crate) denied: f64,
    /// Request latency in seconds.
    pub(crate) latency: Histogram,
}

impl GatewayCounters {
    /// Reads the series of gateway `gateway` from a scrape.
    pub(crate) fn from_exposition(exposition: &Samples, gateway: &str) -> Self {
        let labels = [("gateway", gateway)];
        let mut counters = GatewayCounters::default();
        for sample in exposition.matching(REQUESTS_TOTAL, &labels) {
            counters.requests += sample.value;
            match sample.label("status") {
                Some(s) if s.starts_with('2') => counters.ok += sample.value,
                Some("429") => counters.limited += sample.value,
                Some("401" | "403") => counters.denied += sample.value,
                _ => {}
            }
        }
        let buckets = exposition
            .matching(DURATION_BUCKET, &labels)
            .filter_map(|s| {
                let le = s.label("le")?;
                let le = if le.ends_with("Inf") {
                    f64::INFINITY
                } else {
                    le.parse().ok()?
                };
                Some((le, s.value))
            });
        let total = |name| exposition.matching(name, &labels).map(|s| s.value).sum();
        counters.latency = Histogram::new(buckets, total(DURATION_SUM), total(DURATION_COUNT));
        counters
    }

    /// What happened since `earlier`; a counter that went down means the gateway
    /// restarted, so everything in `self` is new.
    pub(crate) fn since(&self, earlier: &GatewayCounters) -> GatewayCounters {
        let reset = self.requests < earlier.requests
            || self.ok < earlier.ok
            || self.limited < earlier.limited
            || self.denied < earlier.denied;
        if reset {
            return self.clone();
        }
        GatewayCounters {
            requests: self.requests - earlier.requests,
            ok: self.ok - earlier.ok,
            limited: self.limited - earlier.limited,
            denied: self.denied - earlier.denied,
            latency: self.latency.since(&earlier.latency),
        }
    }

    /// Rate, latency and success over an interval of length `elapsed`, this being what was
    /// counted during it (see [`GatewayCounters::since`]). Success is the share of 2xx: a
    /// gateway's refusals (401, 403, 429) are not successes.
    pub(crate) fn stats(&self, elapsed: Duration) -> ServiceStats {
        let seconds = elapsed.as_secs_f64();
        ServiceStats {
            requests: self.requests,
            requests_per_second: if seconds > 0.0 {
                self.requests / seconds
            } else {
                0.0
            },
            success_ratio: (self.requests > 0.0).then(|| self.ok / self.requests),
            p50: self.latency.quantile(0.5),
            p99: self.latency.quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(web: u32, keyed: u32, keyless: u32, limited: u32) -> Samples {
        let text = format!(
            r#"# TYPE convoy_gateway_requests_total counter
convoy_gateway_requests_total{{gateway="edge",route_set="web",route="web-pages",consumer="_anonymous",status="200"}} {web}
convoy_gateway_requests_total{{gateway="edge",route_set="mobile",route="mobile-api",consumer="mobile-app",status="200"}} {keyed}
convoy_gateway_requests_total{{gateway="edge",route_set="mobile",route="mobile-api",consumer="_anonymous",status="401"}} {keyless}
convoy_gateway_requests_total{{gateway="edge",route_set="mobile",route="mobile-api",consumer="mobile-app",status="429"}} {limited}
convoy_gateway_requests_total{{gateway="other",route_set="web",route="web-pages",consumer="_anonymous",status="200"}} 1000
convoy_gateway_request_duration_seconds_bucket{{gateway="edge",route="web-pages",le="0.01"}} {web}
convoy_gateway_request_duration_seconds_bucket{{gateway="edge",route="web-pages",le="+Inf"}} {web}
convoy_gateway_request_duration_seconds_sum{{gateway="edge",route="web-pages"}} 0.1
convoy_gateway_request_duration_seconds_count{{gateway="edge",route="web-pages"}} {web}
"#
        );
        Samples::parse(&text).unwrap()
    }

    #[test]
    fn counts_successes_refusals_and_limits_of_one_gateway() {
        let earlier = GatewayCounters::from_exposition(&scrape(10, 10, 5, 0), "edge");
        assert_eq!(earlier.requests, 25.0);
        assert_eq!(earlier.ok, 20.0);
        assert_eq!(earlier.denied, 5.0);
        let later = GatewayCounters::from_exposition(&scrape(14, 14, 7, 1), "edge");
        let stats = later.since(&earlier).stats(Duration::from_secs(2));
        assert_eq!(stats.requests_per_second, 5.5);
        assert_eq!(stats.success_ratio, Some(8.0 / 11.0));
        assert!(stats.p50.is_some_and(|p| p <= 0.01));
        let delta = later.since(&earlier);
        assert_eq!((delta.denied, delta.limited), (2.0, 1.0));
        // A restarted gateway counts from zero: all of its counts are new.
        assert_eq!(earlier.since(&later), earlier);
        let none = GatewayCounters::from_exposition(&Samples::default(), "edge");
        assert_eq!(none.stats(Duration::from_secs(1)).success_ratio, None);
    }
}
