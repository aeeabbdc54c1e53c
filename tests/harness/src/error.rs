//! Why waiting for a child failed. The caller adds the log as it likes: all of it (a failing
//! test), its last lines (`convoy-bench compare`), or its path (the demo).

use std::path::PathBuf;
use std::process::ExitStatus;
use std::time::Duration;

/// A wait on a child that did not end as hoped.
#[derive(Debug, thiserror::Error)]
pub enum WaitError {
    /// A child exited that was not stopped on purpose.
    #[error("{label} exited unexpectedly ({status})")]
    Exited {
        /// The child's label.
        label: String,
        /// How it ended.
        status: ExitStatus,
        /// Its log file.
        log: PathBuf,
    },
    /// What was awaited did not happen in time.
    #[error("{what}: not within {waited:?} ({last})")]
    TimedOut {
        /// What was awaited.
        what: String,
        /// How long.
        waited: Duration,
        /// What the last try saw.
        last: String,
    },
    /// A bound-addresses file that does not hold what was expected.
    #[error("bad bound-addrs file {}: {detail}", file.display())]
    BadBoundAddrs {
        /// The file.
        file: PathBuf,
        /// Its text and what is wrong with it.
        detail: String,
    },
    /// The child was started without [`crate::Spawn::bound_addrs_file`].
    #[error("{0} was started without --bound-addrs-file")]
    NoBoundAddrsFile(String),
}
