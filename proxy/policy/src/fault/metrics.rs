//! `convoy_faults_injected_total{service, kind}`: faults injected, `kind` = `delay` or `abort`.

use prometheus::{IntCounterVec, Opts, Registry};

/// The fault injection's metric family. Handles are looked up when a fault is injected; a
/// request without a fault touches none.
#[derive(Debug, Clone)]
pub struct FaultMetrics {
    injected: IntCounterVec,
}

impl FaultMetrics {
    /// Registers the family in `registry`. If a family of that name is registered already (a
    /// second inbound stack on one registry), the counters still count but are not exported.
    pub fn new(registry: &Registry) -> Self {
        let injected = IntCounterVec::new(
            Opts::new(
                "convoy_faults_injected_total",
                "Faults injected on purpose, by service and kind (delay, abort).",
            ),
            &["service", "kind"],
        )
        .expect("static metric definition");
        if let Err(error) = registry.register(Box::new(injected.clone())) {
            tracing::warn!(%error, "convoy_faults_injected_total is not exported");
        }
        FaultMetrics { injected }
    }

    /// Counts one fault of `kind` (`delay`, `abort`) injected into a request to `service`.
    pub(crate) fn injected(&self, service: &str, kind: &str) {
        self.injected.with_label_values(&[service, kind]).inc();
    }

    /// How many faults of `kind` were injected into requests to `service`.
    #[cfg(test)]
    pub(crate) fn count(&self, service: &str, kind: &str) -> u64 {
        self.injected.with_label_values(&[service, kind]).get()
    }
}
