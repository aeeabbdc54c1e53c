//! Metrics of the resilience policies: what they did, and why.

use prometheus::{IntCounter, IntCounterVec, IntGauge, IntGaugeVec, Opts, Registry};

/// The policy metric families. Handles are looked up when a policy acts (a retry, a timeout,
/// an ejection), which is rare next to requests; the success path touches none of them.
#[derive(Debug, Clone)]
pub struct PolicyMetrics {
    retries: IntCounterVec,
    retries_skipped: IntCounterVec,
    timeouts: IntCounterVec,
    overflows: IntCounterVec,
    ejections: IntCounterVec,
    endpoint_ejected: IntGaugeVec,
    failures: IntCounterVec,
}

fn counter(registry: &Registry, name: &str, help: &str, labels: &[&str]) -> IntCounterVec {
    let family =
        IntCounterVec::new(Opts::new(name, help), labels).expect("static metric definition");
    registry
        .register(Box::new(family.clone()))
        .expect("metric names are unique");
    family
}

impl PolicyMetrics {
    /// Registers the families in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let endpoint_ejected = IntGaugeVec::new(
            Opts::new(
                "convoy_endpoint_ejected",
                "1 while an endpoint is ejected by outlier detection (or being probed), else 0.",
            ),
            &["service", "endpoint"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(endpoint_ejected.clone()))
            .expect("metric names are unique");
        PolicyMetrics {
            retries: counter(registry, "convoy_retries_total", "Retries sent, by service and the failure retried.", &["service", "reason"]),
            retries_skipped: counter(
                registry,
                "convoy_retries_skipped_total",
                "Failures that were not retried although the policy covers them, by why: budget_exhausted, max_retries, non_idempotent, body_too_large, retry_after_too_long.",
                &["service", "reason"],
            ),
            timeouts: counter(registry, "convoy_timeouts_total", "Timeouts, by service and kind (request, per_try).", &["service", "kind"]),
            overflows: counter(
                registry,
                "convoy_circuit_overflows_total",
                "Requests failed fast by a circuit-breaker limit, by service and limit.",
                &["service", "limit"],
            ),
            ejections: counter(registry, "convoy_outlier_ejections_total", "Endpoints ejected by outlier detection, by service.", &["service"]),
            endpoint_ejected,
            failures: counter(
                registry,
                "convoy_request_failures_total",
                "Requests the classifier counts as failed, by direction, service and reason.",
                &["direction", "service", "reason"],
            ),
        }
    }

    /// A retry of `service` for `reason`.
    pub fn retry(&self, service: &str, reason: &str) {
        self.retries.with_label_values(&[service, reason]).inc();
    }

    /// A failure of `service` not retried, because of `why`.
    pub fn retry_skipped(&self, service: &str, why: &str) {
        self.retries_skipped
            .with_label_values(&[service, why])
            .inc();
    }

    /// A timeout of `kind` (`request`, `per_try`) calling `service`.
    pub fn timeout(&self, service: &str, kind: &str) {
        self.timeouts.with_label_values(&[service, kind]).inc();
    }

    /// A request failed fast by `limit` of `service`.
    pub fn overflow(&self, service: &str, limit: &str) {
        self.overflows.with_label_values(&[service, limit]).inc();
    }

    /// The counter of ejections of `service`.
    pub fn ejections(&self, service: &str) -> IntCounter {
        self.ejections.with_label_values(&[service])
    }

    /// The ejected-state gauge of one endpoint.
    pub fn endpoint_ejected(&self, service: &str, endpoint: &str) -> IntGauge {
        self.endpoint_ejected
            .with_label_values(&[service, endpoint])
    }

    /// A failed request, as the classifier names it.
    pub(crate) fn failure(&self, direction: &str, service: &str, reason: &str) {
        self.failures
            .with_label_values(&[direction, service, reason])
            .inc();
    }
}
