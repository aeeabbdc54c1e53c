//! Metrics of the control-plane client.

use prometheus::{IntCounter, IntCounterVec, IntGauge, Opts, Registry};

/// The control-plane client's metric handles.
#[derive(Debug, Clone)]
pub(crate) struct ControlMetrics {
    /// `convoy_control_plane_connected`: 1 while the stream is up.
    pub(crate) connected: IntGauge,
    /// `convoy_config_version`: the version in force (0 before the first).
    pub(crate) version: IntGauge,
    applied: IntCounter,
    rejected: IntCounter,
}

impl ControlMetrics {
    /// Registers the families in `registry`.
    pub(crate) fn new(registry: &Registry) -> Self {
        let connected = IntGauge::new(
            "convoy_control_plane_connected",
            "1 while the stream to the control plane is up, else 0.",
        )
        .expect("static metric definition");
        let version = IntGauge::new(
            "convoy_config_version",
            "The version of the control plane snapshot in force (0 before the first).",
        )
        .expect("static metric definition");
        let updates = IntCounterVec::new(
            Opts::new(
                "convoy_config_updates_total",
                "Control plane snapshots received, by result (applied or rejected).",
            ),
            &["result"],
        )
        .expect("static metric definition");
        for collector in [
            Box::new(connected.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(version.clone()),
            Box::new(updates.clone()),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        ControlMetrics {
            connected,
            version,
            applied: updates.with_label_values(&["applied"]),
            rejected: updates.with_label_values(&["rejected"]),
        }
    }

    /// Counts a snapshot put in force.
    pub(crate) fn applied(&self, version: u64) {
        self.applied.inc();
        self.version.set(i64::try_from(version).unwrap_or(i64::MAX));
    }

    /// Counts a snapshot refused.
    pub(crate) fn rejected(&self) {
        self.rejected.inc();
    }
}
