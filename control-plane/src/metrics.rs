//! Prometheus metrics of the control plane, in one registry.

use prometheus::{
    Encoder, Histogram, HistogramOpts, IntCounter, IntCounterVec, IntGauge, Opts, Registry,
    TextEncoder,
};

/// Push→ACK latency buckets in seconds: fine from 1 ms, where a local push lands.
const PUSH_ACK_BUCKETS: &[f64] = &[
    0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15, 0.25, 0.5,
    1.0, 2.5, 5.0, 10.0, 30.0,
];

/// Every metric of the control plane. Cheap to clone.
#[derive(Debug, Clone)]
pub(crate) struct Metrics {
    registry: Registry,
    /// Sidecars with an open stream.
    pub(crate) connected_sidecars: IntGauge,
    /// Versions published, for any reason.
    pub(crate) versions_published: IntCounter,
    /// Time from publishing a version to a sidecar's ACK of it.
    pub(crate) push_ack: Histogram,
    /// NACKs received.
    pub(crate) nacks: IntCounter,
    /// Directory changes that did not validate.
    pub(crate) rejected_changes: IntCounter,
    /// The version in force.
    pub(crate) version: IntGauge,
    /// Certificates issued, by `service`.
    pub(crate) certificates_issued: IntCounterVec,
    /// Certificate requests refused, by `reason` (`no_token`, `bad_token`, `bad_request`,
    /// `bad_csr`, `wrong_identity`, `internal`).
    pub(crate) certificate_refusals: IntCounterVec,
    /// Streams refused, by `reason` (`no_token`, `bad_token`, `bad_hello`).
    pub(crate) stream_refusals: IntCounterVec,
    /// Anchors in the trust bundle.
    pub(crate) trust_anchors: IntGauge,
    /// Changes of the CA directory that were not usable (nothing changed).
    pub(crate) ca_reload_errors: IntCounter,
    /// TLS handshakes on the sidecar API that failed (plaintext clients, unknown CAs, …).
    pub(crate) tls_handshake_failures: IntCounter,
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

impl Metrics {
    /// Registers every metric.
    pub(crate) fn new() -> Self {
        let registry = Registry::new();
        let gauge = |name: &str, help: &str| {
            IntGauge::with_opts(Opts::new(name, help)).expect("static metric definition")
        };
        let counter = |name: &str, help: &str| {
            IntCounter::with_opts(Opts::new(name, help)).expect("static metric definition")
        };
        let counter_vec = |name: &str, help: &str, label: &str| {
            IntCounterVec::new(Opts::new(name, help), &[label]).expect("static metric definition")
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
            certificates_issued: counter_vec(
                "convoy_cp_certificates_issued_total",
                "Certificates issued to sidecars, by service.",
                "service",
            ),
            certificate_refusals: counter_vec(
                "convoy_cp_certificate_requests_refused_total",
                "Certificate requests refused, by reason.",
                "reason",
            ),
            stream_refusals: counter_vec(
                "convoy_cp_streams_refused_total",
                "Sidecar streams refused, by reason (join token missing or refused, bad hello).",
                "reason",
            ),
            trust_anchors: gauge(
                "convoy_cp_trust_anchors",
                "Anchors in the trust bundle sent to sidecars.",
            ),
            ca_reload_errors: counter(
                "convoy_cp_ca_reload_errors_total",
                "Changes of the CA directory that were not usable (the anchor and bundle in force stayed).",
            ),
            tls_handshake_failures: counter(
                "convoy_cp_api_tls_handshake_failures_total",
                "TLS handshakes on the sidecar API that failed or timed out.",
            ),
            registry,
        };
        for collector in [
            Box::new(metrics.connected_sidecars.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(metrics.versions_published.clone()),
            Box::new(metrics.push_ack.clone()),
            Box::new(metrics.nacks.clone()),
            Box::new(metrics.rejected_changes.clone()),
            Box::new(metrics.version.clone()),
            Box::new(metrics.certificates_issued.clone()),
            Box::new(metrics.certificate_refusals.clone()),
            Box::new(metrics.stream_refusals.clone()),
            Box::new(metrics.trust_anchors.clone()),
            Box::new(metrics.ca_reload_errors.clone()),
            Box::new(metrics.tls_handshake_failures.clone()),
        ] {
            metrics
                .registry
                .register(collector)
                .expect("metric names are unique");
        }
        metrics
    }

    /// Every metric in the Prometheus text format.
    pub(crate) fn encode(&self) -> Vec<u8> {
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
        metrics
            .certificates_issued
            .with_label_values(&["orders"])
            .inc();
        metrics
            .certificate_refusals
            .with_label_values(&["bad_token"])
            .inc();
        metrics
            .stream_refusals
            .with_label_values(&["no_token"])
            .inc();
        let text = String::from_utf8(metrics.encode()).unwrap();
        for name in [
            "convoy_cp_connected_sidecars 0",
            "convoy_cp_versions_published_total 0",
            "convoy_cp_push_ack_seconds_bucket{le=\"0.001\"} 0",
            "convoy_cp_push_ack_seconds_bucket{le=\"0.002\"} 1",
            "convoy_cp_nacks_total 0",
            "convoy_cp_rejected_changes_total 0",
            "convoy_cp_version 3",
            "convoy_cp_certificates_issued_total{service=\"orders\"} 1",
            "convoy_cp_certificate_requests_refused_total{reason=\"bad_token\"} 1",
            "convoy_cp_streams_refused_total{reason=\"no_token\"} 1",
            "convoy_cp_trust_anchors 0",
            "convoy_cp_ca_reload_errors_total 0",
            "convoy_cp_api_tls_handshake_failures_total 0",
        ] {
            assert!(text.contains(name), "{name} missing in\n{text}");
        }
    }
}
