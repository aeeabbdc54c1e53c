//! `convoy-proxy`: the Convoy sidecar's data plane (outbound, inbound, TCP and admin listeners).
//!
//! The request path of each direction is assembled in one function
//! ([`outbound::stack`], [`inbound::stack`]); each concern is one tower layer.

pub mod admin;
pub mod app;
pub mod cli;
pub mod control;
pub mod server;
