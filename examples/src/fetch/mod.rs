//! `convoy-http`: a tiny HTTP client for containers that have no shell and no curl (the
//! compose demo's images hold only their binaries). It fetches one URL, prints the answer, and
//! exits 0 only for a status below 400, so it serves as a container healthcheck too.

mod args;
mod run;

pub use args::FetchArgs;
pub use run::{run, Outcome};
