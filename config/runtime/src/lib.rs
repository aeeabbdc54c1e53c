//! `convoy-runtime`: the process plumbing both Convoy binaries share (the sidecar proxy and the
//! control plane) and nothing of either's logic: signal handlers installed early, the drain
//! handle, logging setup, the accept loop every listener runs, and the startup errors they share.

mod accept;
mod drain;
pub mod logging;
mod signals;
mod startup;

pub use accept::accept_until_drained;
pub use drain::Drain;
pub use logging::LogFormat;
pub use signals::Signals;
pub use startup::{bind, write_json_atomically, StartupError};
