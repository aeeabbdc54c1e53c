//! The demo's child processes: started with their output in log files, and always
//! killed and reaped when the demo ends, on error paths too.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write as _;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::{bail, Context};
use tokio::process::{Child, Command};

/// How long to wait for a killed child to be reaped.
const REAP_TIMEOUT: Duration = Duration::from_secs(5);

/// A running child process and where its output goes.
struct Running {
    label: String,
    log: PathBuf,
    child: Child,
}

/// Whether a child's log starts afresh or continues an earlier run's (a restart).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Log {
    Fresh,
    Append,
}

/// Every child started and not deliberately stopped. Dropping it kills them
/// (`kill_on_drop`); prefer [`Children::shutdown`], which also waits for them to exit.
#[derive(Default)]
pub(crate) struct Children {
    running: Vec<Running>,
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
        let mut out = match mode {
            Log::Fresh => File::create(log),
            Log::Append => File::options().create(true).append(true).open(log),
        }
        .with_context(|| format!("opening {}", log.display()))?;
        if mode == Log::Append {
            writeln!(out, "--- convoy-demo: {label} restarted ---")?;
        }
        let err = out.try_clone()?;
        let mut command = Command::new(program);
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        // The demo service, the proxy and the control plane read CONVOY_* from the
        // environment (a CONVOY_CONFIG would even clash with --control-plane): only our
        // flags count.
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CONVOY_") {
                command.env_remove(key);
            }
        }
        // Output goes to log files: ask children (tracing, clap) for plain text.
        command.env("NO_COLOR", "1");
        // Own process group: Ctrl-C in the terminal reaches only us, so we can take a
        // last scrape before stopping the children in order.
        #[cfg(unix)]
        command.process_group(0);
        let child = command
            .spawn()
            .with_context(|| format!("starting {label}: {}", program.display()))?;
        self.running.push(Running {
            label: label.to_owned(),
            log: log.to_path_buf(),
            child,
        });
        Ok(())
    }

    /// Whether a child called `label` is running (started and not stopped).
    pub(crate) fn is_running(&self, label: &str) -> bool {
        self.running.iter().any(|r| r.label == label)
    }

    /// Kills the child called `label` on purpose and waits for it to exit; a later
    /// [`Children::check`] does not miss it. Returns whether there was one.
    pub(crate) async fn stop(&mut self, label: &str) -> bool {
        let Some(index) = self.running.iter().position(|r| r.label == label) else {
            return false;
        };
        let mut running = self.running.remove(index);
        // Fails only if it already exited, which is fine.
        let _ = running.child.start_kill();
        if tokio::time::timeout(REAP_TIMEOUT, running.child.wait())
            .await
            .is_err()
        {
            eprintln!("{label} did not exit after being killed");
        }
        true
    }

    /// Fails if any child has exited, naming it and its log.
    pub(crate) fn check(&mut self) -> anyhow::Result<()> {
        for running in &mut self.running {
            if let Some(status) = running.child.try_wait()? {
                bail!(
                    "{} exited unexpectedly ({status}); see its log: {}",
                    running.label,
                    running.log.display()
                );
            }
        }
        Ok(())
    }

    /// Kills every child and waits for each to exit.
    pub(crate) async fn shutdown(mut self) {
        for running in &mut self.running {
            // Fails only if it already exited, which is fine.
            let _ = running.child.start_kill();
        }
        for running in &mut self.running {
            if tokio::time::timeout(REAP_TIMEOUT, running.child.wait())
                .await
                .is_err()
            {
                eprintln!("{} did not exit after being killed", running.label);
            }
        }
    }
}
