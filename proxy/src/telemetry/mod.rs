//! Logs, metrics and trace context.

pub mod metrics;
pub mod observe;
pub mod policy_metrics;
pub mod trace_context;
