//! `convoy-proxy`: the binary's crate. It only wires listeners: the command line (`cli`,
//! [`Args`]), startup in a few named steps (`app`, [`run`]), the HTTP listeners with their
//! limits and draining (`server`) and the admin endpoints (`admin`). The request paths are built
//! by the crates below: `convoy_stack::outbound::stack`, `convoy_stack::inbound::stack`,
//! `convoy_gateway::stack`.

mod admin;
mod app;
mod cli;
mod server;

pub use app::{run, AppError};
pub use cli::Args;
