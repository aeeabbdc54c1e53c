//! Reading a sidecar's Prometheus metrics: a small text-format parser, histogram
//! quantiles, per-service request stats between two scrapes, and what the resilience
//! policies did; an API gateway's requests and refusals.

mod exposition;
mod gateway;
mod histogram;
mod policy;
mod stats;

pub use exposition::{Exposition, ParseError, Sample};
pub use gateway::GatewayCounters;
pub use histogram::Histogram;
pub use policy::{counter_rate, PolicyCounters};
pub use stats::{ServiceCounters, ServiceStats};
