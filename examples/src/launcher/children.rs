//! The demo's child processes: started (through `convoy-harness`) with their output in log
//! files, and always killed and reaped when the demo ends, on error paths too.

use std::ffi::OsStr;
use std::path::Path;
use std::time::Duration;

use convoy_harness::{Child, Spawn, WaitError};

/// How long to wait for a killed child to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// Whether a child's log starts afresh or continues an earlier run's (a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Log {
    Fresh,
    Append,
}

/// Every child started and not deliberately stopped. Dropping it kills them; prefer
/// [`Children::shutdown`], which waits for them to exit without blocking.
#[derive(Default)]
pub(crate) struct Children {
    running: Vec<Child>,
}

impl Children {
    /// Starts `program args`, writing stdout and stderr to `log`.
    pub(crate) fn spawn<I, S>(
        &mut self,
        label: &str,
        program: &Path,
        args: I,
        log: &Path,
        mode: Log,
    ) -> anyhow::Result<()>
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        let mut spawn = Spawn::new(label, program, log)
            .args(args)
            // Own process group: Ctrl-C in the terminal reaches only us, so we can take a
            // last scrape before stopping the children in order.
            .own_process_group();
        if mode == Log::Append {
            spawn = spawn.append_log(&format!("--- convoy-demo: {label} restarted ---"));
        }
        self.running.push(spawn.start()?);
        Ok(())
    }

    /// Whether a child called `label` is running (started and not stopped).
    pub(crate) fn is_running(&self, label: &str) -> bool {
        self.running.iter().any(|c| c.label() == label)
    }

    /// Kills the child called `label` on purpose and waits for it to exit; a later
    /// [`Children::check`] does not miss it. Returns whether there was one.
    pub(crate) async fn stop(&mut self, label: &str) -> bool {
        let Some(index) = self.running.iter().position(|c| c.label() == label) else {
            return false;
        };
        let mut child = self.running.remove(index);
        if !child.stop(REAP_TIMEOUT).await {
            eprintln!("{label} did not exit after being killed");
        }
        true
    }

    /// Every running child, for waits that fail early when one exits.
    pub(crate) fn watched(&mut self) -> Vec<&mut Child> {
        self.running.iter_mut().collect()
    }

    /// Fails if any child has exited, naming it and its log.
    pub(crate) fn check(&mut self) -> anyhow::Result<()> {
        for child in &mut self.running {
            child.check().map_err(with_log)?;
        }
        Ok(())
    }

    /// Kills every child and waits for each to exit.
    pub(crate) async fn shutdown(mut self) {
        for child in &mut self.running {
            if !child.stop(REAP_TIMEOUT).await {
                eprintln!("{} did not exit after being killed", child.label());
            }
        }
    }
}

/// `error` with, when a child exited, where its log is.
pub(crate) fn with_log(error: WaitError) -> anyhow::Error {
    match &error {
        WaitError::Exited { log, .. } => {
            anyhow::anyhow!("{error}; see its log: {}", log.display())
        }
        _ => anyhow::Error::new(error),
    }
}
