//! Demo services and the local demo launcher for Convoy.

pub mod fetch;
mod flags;
pub mod launcher;
mod metrics;
pub mod service;

mod client;
mod shutdown;
