//! Reading a sidecar's Prometheus metrics: a small text-format parser, histogram
//! quantiles, per-service request stats between two scrapes, and what the resilience
//! policies did.

mod exposition;
mod histogram;
mod policy;
mod stats;

pub use exposition::{Exposition, ParseError, Sample};
pub use histogram::Histogram;
pub use policy::{counter_rate, PolicyCounters};
pub use stats::{ServiceCounters, ServiceStats};
