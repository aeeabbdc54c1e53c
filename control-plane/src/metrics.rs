//! Prometheus metrics of the control plane, in one registry.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntGauge, Opts, Registry, TextEncoder,
};

/// Push→ACK latency buckets in seconds: fine from 1 ms, where a local push lands.
const PUSH_ACK_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric of the control plane. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    /// Sidecars with an open stream.
    pub connected_sidecars: IntGauge,
    /// Versions published, for any reason.
    pub versions_published: IntCounter,
    /// Time from publishing a version to a sidecar's ACK of it.
    pub push_ack: Histogram,
    /// NACKs received.
    pub nacks: IntCounter,
    /// Directory changes that did not validate.
    pub rejected_changes: IntCounter,
    /// The version in force.
    pub version: IntGauge,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            IntGauge::with_opts(Opts::new(name, help)).expect("static metric definition")
        };
        let counter = |name: &str, help: &str| {
            IntCounter::with_opts(Opts::new(name, help)).expect("static metric definition")
        };
        let metrics = Metrics {
            connected_sidecars: gauge(
                "convoy_cp_connected_sidecars",
                "Sidecars with an open stream.",
            ),
            versions_published: counter(
                "convoy_cp_versions_published_total",
                "Versions published: config changes, registry changes and rollbacks.",
            ),
            push_ack: Histogram::with_opts(
                HistogramOpts::new(
                    "convoy_cp_push_ack_seconds",
                    "Time from publishing a version to a sidecar's ACK of it, in seconds.",
                )
                .buckets(PUSH_ACK_BUCKETS.to_vec()),
            )
            .expect("static metric definition"),
            nacks: counter(
                "convoy_cp_nacks_total",
                "Snapshots sidecars refused (NACK).",
            ),
            rejected_changes: counter(
                "convoy_cp_rejected_changes_total",
                "Changes of the config directory that did not validate (nothing was published).",
            ),
            version: gauge("convoy_cp_version", "The version in force."),
            registry,
        };
        for collector in [
            Box::new(metrics.connected_sidecars.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.versions_published.clone()),
            Box::new(metrics.push_ack.clone()),
            Box::new(metrics.nacks.clone()),
            Box::new(metrics.rejected_changes.clone()),
            Box::new(metrics.version.clone()),
        ] {
            metrics
                .registry
                .register(collector)
                .expect("metric names are unique");
        }
        metrics
    }

    /// Every metric in the Prometheus text format.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::new();
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_family_is_exported() {
        let metrics = Metrics::new();
        metrics.push_ack.observe(0.002);
        metrics.version.set(3);
        let text = String::from_utf8(metrics.encode()).unwrap();
        for name in [
            "convoy_cp_connected_sidecars 0",
            "convoy_cp_versions_published_total 0",
            "convoy_cp_push_ack_seconds_bucket{le=\"0.001\"} 0",
            "convoy_cp_push_ack_seconds_bucket{le=\"0.002\"} 1",
            "convoy_cp_nacks_total 0",
            "convoy_cp_rejected_changes_total 0",
            "convoy_cp_version 3",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
