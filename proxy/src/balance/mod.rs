//! Load balancing: power of two choices over peak-EWMA latency times in-flight requests.
//!
//! tower's `balance::p2c` needs `&mut self` in `poll_ready` and so a `Buffer` (a channel and a
//! task) in front of it to be shared by connections. Here the same algorithm (Linkerd's) runs
//! over atomics: picking an endpoint takes no lock and no channel hop.

mod dns;
mod endpoint;
mod set;

pub use dns::spawn_refresh;
pub use endpoint::{Endpoint, InFlight, DEFAULT_RTT, FAILURE_PENALTY};
pub use set::{EndpointSet, Outlier, Unavailable};
