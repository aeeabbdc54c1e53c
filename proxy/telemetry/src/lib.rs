//! `convoy-telemetry`: the data plane's metrics (Prometheus), the access log and request metrics layer, and W3C trace context.

pub mod metrics;
pub mod observe;
pub mod policy_metrics;
pub mod trace_context;
