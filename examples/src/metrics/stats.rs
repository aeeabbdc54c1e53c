//! Per-service request counters from one scrape, and the rates between two scrapes.

use std::time::Duration;

use super::Histogram;
use convoy_harness::prometheus::Samples;

const REQUESTS_TOTAL: &str = "convoy_requests_total";
const DURATION_BUCKET: &str = "convoy_request_duration_seconds_bucket";
const DURATION_SUM: &str = "convoy_request_duration_seconds_sum";
const DURATION_COUNT: &str = "convoy_request_duration_seconds_count";

/// Cumulative inbound counters of one service, read from its own sidecar's scrape.
///
/// Series that differ only in labels the demo doesn't look at are added up.
#[derive(Debug, Clone, Default, PartialEq)]
pub(crate) struct ServiceCounters {
    /// Requests answered, of any status.
    pub(crate) requests: f64,
    /// Requests answered with a 5xx status.
    pub(crate) server_errors: f64,
    /// Request latency in seconds.
    pub(crate) latency: Histogram,
}

impl ServiceCounters {
    /// Reads the `direction="inbound"` series of `service` from a scrape.
    pub(crate) fn from_exposition(exposition: &Samples, service: &str) -> Self {
        let labels = [("direction", "inbound"), ("service", service)];
        let mut requests = 0.0;
        let mut server_errors = 0.0;
        for sample in exposition.matching(REQUESTS_TOTAL, &labels) {
            requests += sample.value;
            if sample.label("status_class") == Some("5xx") {
                server_errors += sample.value;
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
        let latency = Histogram::new(buckets, total(DURATION_SUM), total(DURATION_COUNT));
        Self {
            requests,
            server_errors,
            latency,
        }
    }

    /// The counters of two instances of a service, added up.
    pub(crate) fn plus(&self, other: &ServiceCounters) -> ServiceCounters {
        let (a, b) = (&self.latency, &other.latency);
        ServiceCounters {
            requests: self.requests + other.requests,
            server_errors: self.server_errors + other.server_errors,
            latency: Histogram::new(
                a.buckets().iter().chain(b.buckets()).copied(),
                a.sum() + b.sum(),
                a.count() + b.count(),
            ),
        }
    }

    /// What happened since `earlier`; a counter that went down means the sidecar
    /// restarted, so everything in `self` is new.
    pub(crate) fn since(&self, earlier: &ServiceCounters) -> ServiceCounters {
        let reset = self.requests < earlier.requests || self.server_errors < earlier.server_errors;
        if reset {
            return self.clone();
        }
        ServiceCounters {
            requests: self.requests - earlier.requests,
            server_errors: self.server_errors - earlier.server_errors,
            latency: self.latency.since(&earlier.latency),
        }
    }
}

/// Request rate, success and latency of one service over an interval.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct ServiceStats {
    /// Requests answered during the interval.
    pub(crate) requests: f64,
    /// Requests answered per second.
    pub(crate) requests_per_second: f64,
    /// Fraction of requests not answered with 5xx; `None` without requests.
    pub(crate) success_ratio: Option<f64>,
    /// Median latency in seconds; `None` without observations.
    pub(crate) p50: Option<f64>,
    /// 99th percentile latency in seconds; `None` without observations.
    pub(crate) p99: Option<f64>,
}

impl ServiceStats {
    /// Stats for the requests counted between two scrapes taken `elapsed` apart.
    #[cfg(test)]
    pub(crate) fn between(
        earlier: &ServiceCounters,
        later: &ServiceCounters,
        elapsed: Duration,
    ) -> Self {
        Self::over(&later.since(earlier), elapsed)
    }

    /// Stats for `delta`, the requests counted during an interval of length `elapsed`
    /// (see [`ServiceCounters::since`]).
    pub(crate) fn over(delta: &ServiceCounters, elapsed: Duration) -> Self {
        let seconds = elapsed.as_secs_f64();
        Self {
            requests: delta.requests,
            requests_per_second: if seconds > 0.0 {
                delta.requests / seconds
            } else {
                0.0
            },
            success_ratio: (delta.requests > 0.0)
                .then(|| 1.0 - delta.server_errors / delta.requests),
            p50: delta.latency.quantile(0.5),
            p99: delta.latency.quantile(0.99),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn scrape(ok: u32, errors: u32, fast: u32, slow: u32) -> Samples {
        let total = fast + slow;
        let text = format!(
            r#"# TYPE convoy_requests_total counter
convoy_requests_total{{direction="inbound",service="web",status_class="2xx"}} {ok}
convoy_requests_total{{status_class="5xx",service="web",direction="inbound"}} {errors}
convoy_requests_total{{direction="outbound",service="orders",status_class="5xx"}} 1000
convoy_requests_total{{direction="inbound",service="orders",status_class="2xx"}} 1000
# TYPE convoy_request_duration_seconds histogram
convoy_request_duration_seconds_bucket{{direction="inbound",service="web",le="0.005"}} 0
convoy_request_duration_seconds_bucket{{direction="inbound",service="web",le="0.01"}} {fast}
convoy_request_duration_seconds_bucket{{le="0.1",direction="inbound",service="web"}} {total}
convoy_request_duration_seconds_bucket{{direction="inbound",service="web",le="+Inf"}} {total}
convoy_request_duration_seconds_sum{{direction="inbound",service="web"}} 1.5
convoy_request_duration_seconds_count{{direction="inbound",service="web"}} {total}
convoy_request_duration_seconds_bucket{{direction="outbound",service="web",le="+Inf"}} 5000
"#
        );
        Samples::parse(&text).unwrap()
    }

    #[test]
    fn reads_only_the_inbound_series_of_the_service() {
        let counters = ServiceCounters::from_exposition(&scrape(90, 10, 60, 40), "web");
        assert_eq!(counters.requests, 100.0);
        assert_eq!(counters.server_errors, 10.0);
        assert_eq!(counters.latency.count(), 100.0);
        assert_eq!(
            counters.latency.buckets(),
            [
                (0.005, 0.0),
                (0.01, 60.0),
                (0.1, 100.0),
                (f64::INFINITY, 100.0)
            ]
        );
    }

    #[test]
    fn stats_from_the_delta_of_two_scrapes() {
        let earlier = ServiceCounters::from_exposition(&scrape(90, 10, 60, 40), "web");
        let later = ServiceCounters::from_exposition(&scrape(185, 15, 110, 90), "web");
        let stats = ServiceStats::between(&earlier, &later, Duration::from_secs(2));
        assert_eq!(stats.requests, 100.0);
        assert_eq!(stats.requests_per_second, 50.0);
        assert_eq!(stats.success_ratio, Some(0.95));
        // Of 100 new observations, 50 are <= 10ms (bucket 5..10ms) and 50 in 10..100ms.
        let p50 = stats.p50.unwrap();
        assert!((p50 - 0.01).abs() < 1e-9, "{p50}");
        let p99 = stats.p99.unwrap();
        assert!((p99 - (0.01 + 0.09 * 49.0 / 50.0)).abs() < 1e-9, "{p99}");
    }

    #[test]
    fn instances_add_up() {
        let one = ServiceCounters::from_exposition(&scrape(90, 10, 60, 40), "web");
        let two = ServiceCounters::from_exposition(&scrape(185, 15, 110, 90), "web");
        let both = one.plus(&two);
        assert_eq!(both.requests, 300.0);
        assert_eq!(both.server_errors, 25.0);
        assert_eq!(both.latency.count(), 300.0);
        assert_eq!(both.latency.buckets()[1], (0.01, 170.0));
        assert_eq!(ServiceCounters::default().plus(&one), one);
    }

    #[test]
    fn no_traffic_means_no_success_ratio_or_latency() {
        let counters = ServiceCounters::from_exposition(&scrape(90, 10, 60, 40), "web");
        let stats = ServiceStats::between(&counters, &counters, Duration::from_secs(1));
        assert_eq!(stats.requests_per_second, 0.0);
        assert_eq!(stats.success_ratio, None);
        assert_eq!(stats.p50, None);
        let absent = ServiceCounters::from_exposition(&Samples::default(), "payments");
        assert_eq!(absent, ServiceCounters::default());
    }
}
