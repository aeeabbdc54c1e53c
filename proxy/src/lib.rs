//! `convoy-proxy`: the binary's crate. It only wires listeners: the command line ([`cli`]),
//! startup in a few named steps ([`app`]), the HTTP listeners with their limits and draining
//! ([`server`]) and the admin endpoints ([`admin`]). The request paths are built by the crates
//! below: `convoy_stack::outbound::stack`, `convoy_stack::inbound::stack`,
//! `convoy_gateway::stack`.

pub mod admin;
pub mod app;
pub mod cli;
pub mod server;
