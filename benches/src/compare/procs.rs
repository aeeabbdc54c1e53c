//! The proxies as child processes: started (pinned to a CPU where possible), waited for,
//! measured from `/proc` (CPU time, RSS), and killed when dropped.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::time::Duration;

use convoy_harness::{Child, Spawn, WaitError};
use serde::de::DeserializeOwned;

use super::CompareError;

/// How long a proxy may take to start and answer.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process (through `convoy-harness`), killed (and reaped) when dropped, with its
/// own children (nginx's workers).
#[derive(Debug)]
pub(crate) struct Proc {
    /// What to call it in the results (`convoy-proxy A`, `haproxy B`).
    pub(crate) label: String,
    child: Child,
}

impl Proc {
    /// Starts `program args`, with stdout and stderr to `log`; under `taskset -c CPU` when
    /// `cpu` is given (taskset execs the program, so the pid is the program's).
    pub(crate) fn spawn(
        label: &str,
        program: &Path,
        args: &[String],
        log: PathBuf,
        cpu: Option<usize>,
    ) -> Result<Proc, CompareError> {
        let spawn = match cpu {
            Some(cpu) => Spawn::new(label, "taskset", log)
                .arg("-c")
                .arg(cpu.to_string())
                .arg(program),
            None => Spawn::new(label, program, log),
        };
        let child = spawn
            .args(args)
            .env("RUST_LOG", "warn")
            .start()
            .map_err(|e| CompareError(e.to_string()))?;
        Ok(Proc {
            label: label.to_owned(),
            child,
        })
    }

    /// The child itself, for waits that fail early when it exits.
    pub(crate) fn child_mut(&mut self) -> &mut Child {
        &mut self.child
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.pid()
    }

    /// An error if it has exited, with the end of its log.
    pub(crate) fn check_alive(&mut self) -> Result<(), CompareError> {
        self.child.check().map_err(|e| self.error(e))
    }

    /// `error`, with the end of this process's log.
    fn error(&self, error: WaitError) -> CompareError {
        CompareError(format!("{error}; its log:\n{}", self.log_tail()))
    }

    /// The last lines of its log.
    pub(crate) fn log_tail(&self) -> String {
        self.child.log_tail(20)
    }

    /// Waits until it wrote its addresses to `file` (`--bound-addrs-file`), while it and
    /// `others` keep running.
    pub(crate) async fn wait_bound<T: DeserializeOwned>(
        &mut self,
        file: &Path,
        others: &mut [&mut Proc],
    ) -> Result<T, CompareError> {
        let mut watched: Vec<&mut Child> = vec![&mut self.child];
        watched.extend(others.iter_mut().map(|p| &mut p.child));
        match convoy_harness::wait_bound(file, &mut watched, START_TIMEOUT).await {
            Ok(addrs) => Ok(addrs),
            Err(e) => Err(procs_error(
                e,
                std::iter::once(&*self).chain(others.iter().map(|p| &**p)),
            )),
        }
    }

    /// Every process of it: itself and its children (nginx's workers).
    pub(crate) fn pids(&self) -> Vec<u32> {
        let mut pids = vec![self.pid()];
        pids.extend(children(self.pid()));
        pids
    }

    /// CPU time (user + system) of it and its children so far, in seconds.
    pub(crate) fn cpu_seconds(&self, ticks_per_second: f64) -> f64 {
        self.pids().into_iter().filter_map(cpu_ticks).sum::<u64>() as f64 / ticks_per_second
    }

    /// Resident memory (`VmRSS`) of it and its children, in KiB.
    pub(crate) fn rss_kib(&self) -> u64 {
        self.pids()
            .into_iter()
            .filter_map(|p| status_kib(p, "VmRSS"))
            .sum()
    }

    /// Peak resident memory (`VmHWM`) of it and its children, in KiB.
    pub(crate) fn peak_rss_kib(&self) -> u64 {
        self.pids()
            .into_iter()
            .filter_map(|p| status_kib(p, "VmHWM"))
            .sum()
    }
}

impl Drop for Proc {
    fn drop(&mut self) {
        // nginx's master does not take its workers along on SIGKILL: stop them first.
        for pid in children(self.pid()) {
            let _ = Command::new("kill")
                .arg("-KILL")
                .arg(pid.to_string())
                .status();
        }
        self.child.kill();
    }
}

/// The processes whose parent is `pid`.
fn children(pid: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|entry| entry.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|&p| stat_fields(p).and_then(|f| f.get(1)?.parse::<u32>().ok()) == Some(pid))
        .collect()
}

/// The fields of `/proc/PID/stat` after the command name: state, ppid, ...
fn stat_fields(pid: u32) -> Option<Vec<String>> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    let rest = &text[text.rfind(')')? + 1..];
    Some(rest.split_whitespace().map(str::to_owned).collect())
}

/// utime + stime of `pid` in clock ticks (fields 14 and 15 of `/proc/PID/stat`).
fn cpu_ticks(pid: u32) -> Option<u64> {
    let fields = stat_fields(pid)?;
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// A `kB` line of `/proc/PID/status`.
fn status_kib(pid: u32, key: &str) -> Option<u64> {
    let text = std::fs::read_to_string(format!("/proc/{pid}/status")).ok()?;
    text.lines()
        .find_map(|line| line.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
}

/// Clock ticks per second (`getconf CLK_TCK`; 100 when it cannot be asked).
pub(crate) fn ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8(o.stdout).ok()?.trim().parse().ok())
        .unwrap_or(100.0)
}

/// A free port on loopback (bound and released: for programs that cannot report theirs).
pub(crate) fn free_addr() -> Result<SocketAddr, CompareError> {
    convoy_harness::ports::try_free_port()
        .map_err(|e| CompareError(format!("bind a probe port: {e}")))
}

/// `error` of a wait on `procs`, with the end of the log of the one that exited, or of each.
pub(crate) fn procs_error<'a>(
    error: WaitError,
    procs: impl IntoIterator<Item = &'a Proc>,
) -> CompareError {
    let procs: Vec<&Proc> = procs.into_iter().collect();
    if let WaitError::Exited { label, .. } = &error {
        if let Some(p) = procs.iter().find(|p| p.child.label() == label) {
            return p.error(error);
        }
    }
    let logs: Vec<String> = procs
        .iter()
        .map(|p| format!("--- {} ---\n{}", p.label, p.log_tail()))
        .collect();
    CompareError(format!("{error}\n{}", logs.join("\n")))
}

/// Pins every thread of this process to `cpu` with `taskset -a -p`.
pub(crate) fn pin_self(cpu: usize) -> Result<(), CompareError> {
    let status = Command::new("taskset")
        .args([
            "-a",
            "-p",
            "-c",
            &cpu.to_string(),
            &std::process::id().to_string(),
        ])
        .stdout(Stdio::null())
        .status()
        .map_err(|e| CompareError(format!("taskset: {e}")))?;
    if status.success() {
        Ok(())
    } else {
        Err(CompareError(format!("taskset -a -p -c {cpu}: {status}")))
    }
}

/// Whether `taskset` can be run.
pub(crate) fn have_taskset() -> bool {
    Command::new("taskset")
        .arg("--version")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}
