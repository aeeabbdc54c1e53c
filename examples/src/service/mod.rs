//! `convoy-demo-service`: a small HTTP service that echoes requests, adds latency and
//! failures on demand, and calls other services through its local sidecar.

mod args;
mod handler;
mod server;

pub use args::ServiceArgs;
pub use server::run;
