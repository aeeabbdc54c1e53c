//! The drain handle every listener of a process shares.

use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Shared by every listener: the signal to stop accepting and drain, and the set of tasks to
/// wait for before exiting.
#[derive(Debug, Clone, Default)]
pub struct Drain {
    /// Cancelled on SIGTERM/SIGINT.
    pub signal: CancellationToken,
    /// Every connection task.
    pub tasks: TaskTracker,
}
