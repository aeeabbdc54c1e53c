//! Identity metrics: `convoy_tls_handshakes_total{direction, result, reason}`,
//! `convoy_identity_renewals_total{result}` and `convoy_identity_certificate_expiry_seconds`
//! (computed when `/metrics` is scraped).

use super::reason::Reason;
use super::state::Active;
use arc_swap::ArcSwapOption;
use prometheus::core::{Collector, Desc};
use prometheus::proto::MetricFamily;
use prometheus::{Gauge, IntCounter, IntCounterVec, Opts, Registry};
use std::sync::Arc;
use std::time::SystemTime;

/// Which side of a connection this sidecar was.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// The inbound listener accepted it.
    Inbound,
    /// An outbound call made it.
    Outbound,
}

impl Direction {
    fn label(self) -> &'static str {
        match self {
            Direction::Inbound => "inbound",
            Direction::Outbound => "outbound",
        }
    }
}

/// Handshake and renewal counters. Cheap to clone.
#[derive(Debug, Clone)]
pub struct TlsMetrics {
    handshakes: IntCounterVec,
    renewals_ok: IntCounter,
    renewals_error: IntCounter,
}

impl TlsMetrics {
    /// Registers the counters in `registry`.
    pub fn new(registry: &Registry) -> Self {
        let handshakes = IntCounterVec::new(
            Opts::new(
                "convoy_tls_handshakes_total",
                "TLS handshakes, by direction (inbound or outbound), result (ok or refused) and reason.",
            ),
            &["direction", "result", "reason"],
        )
        .expect("static metric definition");
        let renewals = IntCounterVec::new(
            Opts::new(
                "convoy_identity_renewals_total",
                "Certificate requests to the control plane's CA, by result (ok or error).",
            ),
            &["result"],
        )
        .expect("static metric definition");
        registry
            .register(Box::new(handshakes.clone()))
            .expect("metric names are unique");
        registry
            .register(Box::new(renewals.clone()))
            .expect("metric names are unique");
        TlsMetrics {
            handshakes,
            renewals_ok: renewals.with_label_values(&["ok"]),
            renewals_error: renewals.with_label_values(&["error"]),
        }
    }

    /// Counts one handshake.
    pub fn handshake(&self, direction: Direction, reason: Reason) {
        let result = if reason == Reason::Ok {
            "ok"
        } else {
            "refused"
        };
        self.handshakes
            .with_label_values(&[direction.label(), result, reason.label()])
            .inc();
    }

    /// Counts one certificate request.
    pub fn renewal(&self, ok: bool) {
        if ok {
            self.renewals_ok.inc();
        } else {
            self.renewals_error.inc();
        }
    }
}

/// `convoy_identity_certificate_expiry_seconds`, read from the certificate in force at each
/// scrape (absent while there is none).
pub(super) struct ExpiryCollector {
    gauge: Gauge,
    active: Arc<ArcSwapOption<Active>>,
}

impl ExpiryCollector {
    /// Registers the gauge of `active` in `registry`.
    pub(super) fn register(registry: &Registry, active: Arc<ArcSwapOption<Active>>) {
        let gauge = Gauge::new(
            "convoy_identity_certificate_expiry_seconds",
            "Seconds until this sidecar's certificate expires (negative once expired).",
        )
        .expect("static metric definition");
        registry
            .register(Box::new(ExpiryCollector { gauge, active }))
            .expect("metric names are unique");
    }
}

impl Collector for ExpiryCollector {
    fn desc(&self) -> Vec<&Desc> {
        self.gauge.desc()
    }

    fn collect(&self) -> Vec<MetricFamily> {
        let Some(active) = self.active.load_full() else {
            return Vec::new();
        };
        let not_after = active.credentials.not_after();
        let seconds = match not_after.duration_since(SystemTime::now()) {
            Ok(left) => left.as_secs_f64(),
            Err(past) => -past.duration().as_secs_f64(),
        };
        self.gauge.set(seconds);
        self.gauge.collect()
    }
}
