//! Reading a sidecar's Prometheus metrics (parsed by `convoy_harness::prometheus`): histogram
//! quantiles, per-service request stats between two scrapes, and what the resilience
//! policies did; an API gateway's requests and refusals.

mod gateway;
mod histogram;
mod policy;
mod stats;

pub(crate) use gateway::GatewayCounters;
pub(crate) use histogram::Histogram;
pub(crate) use policy::{counter_rate, PolicyCounters};
pub(crate) use stats::{ServiceCounters, ServiceStats};
