//! A running child process: checked, signalled, waited for, and never left running. Dropping
//! it kills the process (SIGKILL) and reaps it; when the thread is panicking (a failing test),
//! or `CONVOY_TEST_LOGS` is set, its log is printed first. [`wait_until`] waits for something
//! a child does, failing early when a watched child exits.

use std::path::{Path, PathBuf};
use std::process::ExitStatus;
use std::time::Duration;
use std::time::Instant;

use crate::error::WaitError;

/// A child started by [`crate::Spawn::start`].
#[derive(Debug)]
pub struct Child {
    label: String,
    process: std::process::Child,
    /// Whether it was killed on purpose (then its exit is not a failure).
    stopped: bool,
    log: PathBuf,
    bound_addrs: Option<PathBuf>,
}

impl Child {
    pub(crate) fn new(
        label: String,
        process: std::process::Child,
        log: PathBuf,
        bound_addrs: Option<PathBuf>,
    ) -> Child {
        Child {
            label,
            process,
            stopped: false,
            log,
            bound_addrs,
        }
    }

    /// What it is called in messages.
    pub fn label(&self) -> &str {
        &self.label
    }

    /// Its process id.
    pub fn pid(&self) -> u32 {
        self.process.id()
    }

    /// Everything it wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// The last `lines` lines of its log.
    pub fn log_tail(&self, lines: usize) -> String {
        let text = self.log();
        let all: Vec<&str> = text.lines().collect();
        all[all.len().saturating_sub(lines)..].join("\n")
    }

    /// Panics with `what` and its whole log (for tests).
    pub fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- {} log ---\n{}", self.label, self.log());
    }

    /// The value of `result`, or a panic with its error and this child's whole log (for tests).
    pub fn or_fail<T>(&self, result: Result<T, WaitError>) -> T {
        result.unwrap_or_else(|e| self.fail(&e.to_string()))
    }

    /// Its exit status, if it has exited.
    fn exit_status(&mut self) -> Option<ExitStatus> {
        self.process.try_wait().ok().flatten()
    }

    /// [`WaitError::Exited`] if it has exited without being stopped on purpose.
    pub fn check(&mut self) -> Result<(), WaitError> {
        match self.exit_status() {
            Some(status) if !self.stopped => Err(WaitError::Exited {
                label: self.label.clone(),
                status,
                log: self.log.clone(),
            }),
            _ => Ok(()),
        }
    }

    /// Sends SIGTERM (with `kill -TERM`).
    pub fn sigterm(&self) -> std::io::Result<()> {
        let status = std::process::Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()?;
        if status.success() {
            Ok(())
        } else {
            Err(std::io::Error::other(format!(
                "kill -TERM {} ({}): {status}",
                self.pid(),
                self.label
            )))
        }
    }

    /// Waits up to `limit` for it to exit; its exit status.
    pub async fn wait_exit(&mut self, limit: Duration) -> Result<ExitStatus, WaitError> {
        let what = format!("{} to exit", self.label);
        wait_until(&what, &mut [], limit, POLL_INTERVAL * 2, async || {
            self.exit_status().ok_or_else(|| "still running".to_owned())
        })
        .await
    }

    /// Kills it (SIGKILL: no goodbye) on purpose and reaps it.
    pub fn kill(&mut self) {
        self.stopped = true;
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
        }
        let _ = self.process.wait();
    }

    /// Kills it on purpose and waits up to `limit` for it to be reaped, without blocking the
    /// runtime; whether it was.
    pub async fn stop(&mut self, limit: Duration) -> bool {
        self.stopped = true;
        // Fails only if it already exited, which is fine.
        let _ = self.process.kill();
        self.wait_exit(limit).await.is_ok()
    }

    /// Its `--bound-addrs-file`, or why it has none.
    pub(crate) fn bound_addrs_file(&self) -> Result<&Path, WaitError> {
        self.bound_addrs
            .as_deref()
            .ok_or_else(|| WaitError::NoBoundAddrsFile(self.label.clone()))
    }
}

impl Drop for Child {
    fn drop(&mut self) {
        if matches!(self.process.try_wait(), Ok(None)) {
            let _ = self.process.kill();
        }
        let _ = self.process.wait();
        if std::thread::panicking() || std::env::var_os("CONVOY_TEST_LOGS").is_some() {
            eprintln!(
                "--- {} log ({}) ---\n{}--- end of log ---",
                self.label,
                self.log.display(),
                self.log()
            );
        }
    }
}

/// How often waits poll by default.
pub(crate) const POLL_INTERVAL: Duration = Duration::from_millis(10);

/// Tries `ready` every `interval` until it gives a value, for up to `limit`, failing early
/// when one of `watched` exits; `what` and the last reason `ready` gave name the wait in the
/// timeout error.
pub async fn wait_until<T>(
    what: &str,
    watched: &mut [&mut Child],
    limit: Duration,
    interval: Duration,
    mut ready: impl AsyncFnMut() -> Result<T, String>,
) -> Result<T, WaitError> {
    let deadline = Instant::now() + limit;
    loop {
        for child in watched.iter_mut() {
            child.check()?;
        }
        let last = match ready().await {
            Ok(value) => return Ok(value),
            Err(last) => last,
        };
        if Instant::now() > deadline {
            return Err(WaitError::TimedOut {
                what: what.to_owned(),
                waited: limit,
                last,
            });
        }
        tokio::time::sleep(interval).await;
    }
}
