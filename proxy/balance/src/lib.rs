//! `convoy-balance`: load balancing and the endpoint clients.
//!
//! Balancing: power of two choices over peak-EWMA latency times in-flight requests.
//!
//! tower's `balance::p2c` needs `&mut self` in `poll_ready` and so a `Buffer` (a channel and a
//! task) in front of it to be shared by connections. Here the same algorithm (Linkerd's) runs
//! over atomics: picking an endpoint takes no lock and no channel hop.

//! The endpoint clients: pooled HTTP/1.1 and HTTP/2 clients per service ([`client`]), over a
//! connector that counts connections and speaks mutual TLS to meshed endpoints
//! ([`connector`]), and [`forward`], the innermost service of every request path: the
//! endpoint its [`forward::Destination`] chooses, the call, and its outcome back to the balancer.

pub mod client;
pub mod connector;
mod dns;
mod endpoint;
pub mod forward;
mod set;

pub use dns::spawn_refresh;
pub use endpoint::{Endpoint, InFlight};
pub use set::{EndpointSet, Outlier, Unavailable};
