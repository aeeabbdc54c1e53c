//! End-to-end tests of `convoy-control-plane`: the real binary on loopback, test sidecars
//! speaking the stream protocol, and the command-line clients.

mod cli;
mod config;
mod history;
mod registry;
mod stream;
mod support;
