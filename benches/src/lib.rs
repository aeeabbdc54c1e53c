//! Convoy's bundled load generator: constant-rate, open-loop HTTP load, HDR latency percentiles.

pub mod cli;
pub mod compare;
pub mod load;
mod report;
