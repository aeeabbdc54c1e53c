//! Logs, metrics and trace context.

pub mod metrics;
pub mod observe;
pub mod policy_metrics;
pub mod trace_context;

use std::net::SocketAddr;

/// Response extension: the endpoint that answered (or failed), for the access log.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamEndpoint(pub SocketAddr);
