//! `convoy_rate_limited_total{service, rule}`: requests refused by a rate limit rule.

use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

/// The rate limit's metric family. A rule's counter is resolved once, when its limiter is
/// built, so a refusal only touches an atomic.
#[derive(Debug, Clone)]
pub struct RateLimitMetrics {
    rejected: IntCounterVec,
}

impl RateLimitMetrics {
    /// Registers the family in `registry`. If a family of that name is registered already (a
    /// second inbound stack on one registry), the counters still count but are not exported.
    pub fn new(registry: &Registry) -> Self {
        let rejected = IntCounterVec::new(
            Opts::new(
                "convoy_rate_limited_total",
                "Requests refused with 429 by a rate limit rule, by service and rule.",
            ),
            &["service", "rule"],
        )
        .expect("static metric definition");
        if let Err(error) = registry.register(Box::new(rejected.clone())) {
            tracing::warn!(%error, "convoy_rate_limited_total is not exported");
        }
        RateLimitMetrics { rejected }
    }

    /// The counter of refusals by `rule` of `service`.
    pub fn rejected(&self, service: &str, rule: &str) -> IntCounter {
        self.rejected.with_label_values(&[service, rule])
    }
}
