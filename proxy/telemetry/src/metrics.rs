//! Prometheus metrics. Families live in one registry; per-service handles are resolved once
//! (when a snapshot is built), so the request path touches only atomics.

use prometheus::{
    Encoder, Histogram, HistogramOpts, HistogramVec, IntCounter, IntCounterVec, IntGauge,
    IntGaugeVec, Opts, Registry, TextEncoder,
};

/// Latency buckets in seconds: fine below 10 ms, where a sidecar's own overhead shows.
const LATENCY_BUCKETS: &[f64] = &[
    0.0005, 0.001, 0.002, 0.003, 0.005, 0.0075, 0.01, 0.015, 0.02, 0.03, 0.05, 0.075, 0.1, 0.15,
    0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// A request's direction through the sidecar.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Direction {
    /// From the local app to another service.
    Outbound,
    /// From another sidecar (or the gateway) to the local app.
    Inbound,
}

impl Direction {
    /// The label value.
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Direction::Outbound => "outbound",
            Direction::Inbound => "inbound",
        }
    }
}

/// All of the sidecar's metric families.
#[derive(Debug, Clone)]
pub struct Metrics {
    registry: Registry,
    requests: IntCounterVec,
    duration: HistogramVec,
    in_flight: IntGaugeVec,
    connections: IntGaugeVec,
    tcp_connections: IntCounterVec,
    /// What the resilience policies did.
    pub policy: super::policy_metrics::PolicyMetrics,
}

impl Metrics {
    /// Registers every family.
    pub fn new() -> Self {
        let registry = Registry::new();
        let requests = IntCounterVec::new(
            Opts::new(
                "convoy_requests_total",
                "HTTP requests handled, by direction, service and status class.",
            ),
            &["direction", "service", "status_class"],
        )
        .expect("static metric definition");
        let duration = HistogramVec::new(
            HistogramOpts::new(
                "convoy_request_duration_seconds",
                "Time from request received to response head sent, in seconds.",
            )
            .buckets(LATENCY_BUCKETS.to_vec()),
            &["direction", "service"],
        )
        .expect("static metric definition");
        let in_flight = IntGaugeVec::new(
            Opts::new(
                "convoy_requests_in_flight",
                "HTTP requests being handled now, by direction.",
            ),
            &["direction"],
        )
        .expect("static metric definition");
        let connections = IntGaugeVec::new(
            Opts::new(
                "convoy_open_connections",
                "Open client connections, by listener.",
            ),
            &["listener"],
        )
        .expect("static metric definition");
        let tcp_connections = IntCounterVec::new(
            Opts::new(
                "convoy_tcp_connections_total",
                "TCP connections forwarded, by service and result.",
            ),
            &["service", "result"],
        )
        .expect("static metric definition");
        let build_info = IntGaugeVec::new(
            Opts::new(
                "convoy_build_info",
                "Build information; the value is always 1.",
            ),
            &["version"],
        )
        .expect("static metric definition");
        build_info
            .with_label_values(&[env!("CARGO_PKG_VERSION")])
            .set(1);
        for collector in [
            Box::new(requests.clone()) as Box<dyn prometheus::core::Collector>,
            Box::new(duration.clone()),
            Box::new(in_flight.clone()),
            Box::new(connections.clone()),
            Box::new(tcp_connections.clone()),
            Box::new(build_info),
        ] {
            registry
                .register(collector)
                .expect("metric names are unique");
        }
        let policy = super::policy_metrics::PolicyMetrics::new(&registry);
        Metrics {
            policy,
            registry,
            requests,
            duration,
            in_flight,
            connections,
            tcp_connections,
        }
    }

    /// Handles for one direction and service.
    pub fn requests(&self, direction: Direction, service: &str) -> RequestMetrics {
        let d = direction.as_str();
        let class = |c: &str| self.requests.with_label_values(&[d, service, c]);
        RequestMetrics {
            by_class: [
                class("1xx"),
                class("2xx"),
                class("3xx"),
                class("4xx"),
                class("5xx"),
            ],
            duration: self.duration.with_label_values(&[d, service]),
            in_flight: self.in_flight.with_label_values(&[d]),
            direction: d,
            service: service.to_owned(),
            policy: self.policy.clone(),
        }
    }

    /// The open-connections gauge of a listener.
    pub fn connections(&self, listener: &str) -> IntGauge {
        self.connections.with_label_values(&[listener])
    }

    /// The TCP connection counter of a service, for `result` = `ok` or `connect_error`.
    pub fn tcp_connections(&self, service: &str, result: &str) -> IntCounter {
        self.tcp_connections.with_label_values(&[service, result])
    }

    /// The registry every family is in, for policies that register their own.
    pub fn registry(&self) -> &Registry {
        &self.registry
    }

    /// The text exposition of every metric.
    pub fn encode(&self) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 * 1024);
        // Encoding into a Vec cannot fail for the families registered here.
        let _ = TextEncoder::new().encode(&self.registry.gather(), &mut out);
        out
    }
}

impl Default for Metrics {
    fn default() -> Self {
        Self::new()
    }
}

/// Pre-resolved handles for one direction and service.
#[derive(Debug, Clone)]
pub struct RequestMetrics {
    by_class: [IntCounter; 5],
    duration: Histogram,
    in_flight: IntGauge,
    direction: &'static str,
    service: String,
    policy: super::policy_metrics::PolicyMetrics,
}

impl RequestMetrics {
    /// Counts a finished request.
    pub fn record(&self, status: http::StatusCode, elapsed: std::time::Duration) {
        let class = (status.as_u16() / 100).clamp(1, 5) as usize - 1;
        self.by_class[class].inc();
        self.duration.observe(elapsed.as_secs_f64());
    }

    /// Counts a request the classifier judged failed (failures are rare: labels are looked up).
    pub(crate) fn record_failure(&self, failure: convoy_proxy_core::classify::Failure) {
        self.policy
            .failure(self.direction, &self.service, failure.reason());
    }

    /// The in-flight gauge of this direction.
    pub(crate) fn in_flight(&self) -> &IntGauge {
        &self.in_flight
    }
}
