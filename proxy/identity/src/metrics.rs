//! Identity metrics: `convoy_tls_handshakes_total{direction, result, reason}`,
//! `convoy_identity_renewals_total{result}` and `convoy_identity_certificate_expiry_seconds`
//! (computed when `/metrics` is scraped).

use super::reason::Reason;
use prometheus::{IntCounter, IntCounterVec, Opts, Registry};

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
