//! Running an external command (docker, compose, the image script) with a time limit.

use std::fmt;
use std::process::{Output, Stdio};
use std::time::Duration;
use tokio::process::Command;

/// Why a command did not succeed.
#[derive(Debug)]
pub enum CommandError {
    /// It could not be started (not installed, not executable).
    Spawn(String),
    /// It did not finish in time; it was killed.
    Timeout(String),
    /// It exited with a failure; `output` holds what it printed.
    Failed {
        /// The command line.
        what: String,
        /// Its exit status and output.
        output: Output,
    },
}

impl fmt::Display for CommandError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            CommandError::Spawn(e) | CommandError::Timeout(e) => f.write_str(e),
            CommandError::Failed { what, output } => write!(
                f,
                "`{what}` failed ({}):\nstdout:\n{}\nstderr:\n{}",
                output.status,
                String::from_utf8_lossy(&output.stdout),
                String::from_utf8_lossy(&output.stderr)
            ),
        }
    }
}

impl std::error::Error for CommandError {}

/// Runs `command` to its end within `limit`, stdin closed, capturing its output. A failing
/// exit status is an error unless `allow_failure`.
pub async fn run(
    mut command: Command,
    limit: Duration,
    allow_failure: bool,
) -> Result<Output, CommandError> {
    let what = describe(&command);
    command
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(true);
    let child = command
        .spawn()
        .map_err(|e| CommandError::Spawn(format!("cannot run `{what}`: {e}")))?;
    let output = match tokio::time::timeout(limit, child.wait_with_output()).await {
        Ok(Ok(output)) => output,
        Ok(Err(e)) => return Err(CommandError::Spawn(format!("`{what}`: {e}"))),
        Err(_) => {
            return Err(CommandError::Timeout(format!(
                "`{what}` did not finish within {limit:?} (killed)"
            )))
        }
    };
    if output.status.success() || allow_failure {
        Ok(output)
    } else {
        Err(CommandError::Failed { what, output })
    }
}

/// The command line, for messages.
fn describe(command: &Command) -> String {
    let std = command.as_std();
    std::iter::once(std.get_program())
        .chain(std.get_args())
        .map(|a| a.to_string_lossy().into_owned())
        .collect::<Vec<_>>()
        .join(" ")
}
