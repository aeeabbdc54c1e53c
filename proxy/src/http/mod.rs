//! The upstream side of HTTP: pooled clients, the connector (plaintext or mutual TLS), and
//! forwarding a request to the endpoint the balancer picks.

pub mod client;
pub mod connector;
pub mod forward;
