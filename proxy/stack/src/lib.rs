//! `convoy-stack`: the sidecar's request paths over the configuration in force.
//!
//! A [`snapshot::Snapshot`] is the runtime view of one configuration version: every service with
//! its endpoints, balancer, pooled clients, request limits and the call policy of each route;
//! requests load it once and keep it. The request path of each direction is assembled in one
//! function, one tower layer per line: [`outbound::stack`] (the local app calls other
//! services) and [`inbound::stack`] (other sidecars and the gateway call this service);
//! [`tcp::serve`] forwards opaque TCP.

pub mod inbound;
pub mod outbound;
pub mod snapshot;
pub mod tcp;
