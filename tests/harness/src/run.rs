//! Running a binary to its exit (for configurations and flags it must refuse), with a limit.

use std::fs::File;
use std::process::{Command, ExitStatus};
use std::time::{Duration, Instant};

/// How a run to exit ended.
#[derive(Debug)]
pub struct Exited {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard error.
    pub stderr: String,
}

/// Runs `command` (see [`crate::command`]) and waits up to `limit` for it to exit; kills it
/// and panics with what it wrote if it keeps running.
pub fn run_until_exit(mut command: Command, limit: Duration) -> Exited {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    command
        .stdout(File::create(&stdout_path).expect("create stdout file"))
        .stderr(File::create(&stderr_path).expect("create stderr file"));
    let shown = format!("{command:?}");
    let mut child = command
        .spawn()
        .unwrap_or_else(|e| panic!("spawn {shown}: {e}"));
    let read = |path| std::fs::read_to_string(path).unwrap_or_default();
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "{shown} kept running for {limit:?}; stdout:\n{}\nstderr:\n{}",
                read(&stdout_path),
                read(&stderr_path)
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Exited {
        status,
        stderr: read(&stderr_path),
    }
}
