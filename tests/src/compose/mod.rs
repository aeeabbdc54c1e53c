//! The compose demo (`examples/compose/`) as a test fixture: find a Docker engine and a compose
//! command ([`Engine`]), build the images from the binaries of this test's profile
//! ([`build_images`]), and run the stack under a unique project name ([`Stack`]) that is always
//! taken down (`down -v`) when dropped, also when the test panics; read the queries of its
//! Grafana dashboard ([`dashboard_metrics`]).

mod command;
mod dashboard;
mod engine;
mod stack;

pub use command::{run, CommandError};
pub use dashboard::{dashboard_exprs, dashboard_metrics};
pub use engine::{build_images, Engine};
pub use stack::Stack;

use std::path::PathBuf;

/// `examples/compose/` of this repository.
pub fn demo_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../examples/compose")
}
