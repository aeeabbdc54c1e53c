//! The proxies as child processes: started (pinned to a CPU where possible), waited for,
//! measured from `/proc` (CPU time, RSS), and killed when dropped.

use std::fs::File;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::CompareError;

/// How long a proxy may take to start and answer.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(20);

/// A child process, killed (and reaped) when dropped.
#[derive(Debug)]
pub(crate) struct Proc {
    /// What to call it in the results (`convoy-proxy A`, `haproxy B`).
    pub(crate) label: String,
    child: Child,
    log: PathBuf,
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
        let file = File::create(&log)
            .map_err(|e| CompareError(format!("create {}: {e}", log.display())))?;
        let mut command = match cpu {
            Some(cpu) => {
                let mut c = Command::new("taskset");
                c.arg("-c").arg(cpu.to_string()).arg(program);
                c
            }
            None => Command::new(program),
        };
        command
            .args(args)
            .stdin(Stdio::null())
            .stdout(file.try_clone().map_err(|e| CompareError(e.to_string()))?)
            .stderr(file)
            .env("NO_COLOR", "1")
            .env("RUST_LOG", "warn");
        for (key, _) in std::env::vars_os() {
            if key.to_string_lossy().starts_with("CONVOY_") {
                command.env_remove(key);
            }
        }
        let child = command
            .spawn()
            .map_err(|e| CompareError(format!("start {}: {e}", program.display())))?;
        Ok(Proc {
            label: label.to_owned(),
            child,
            log,
        })
    }

    /// Its process id.
    pub(crate) fn pid(&self) -> u32 {
        self.child.id()
    }

    /// An error if it has exited, with the end of its log.
    pub(crate) fn check_alive(&mut self) -> Result<(), CompareError> {
        match self.child.try_wait() {
            Ok(None) => Ok(()),
            Ok(Some(status)) => Err(CompareError(format!(
                "{} exited ({status}); its log:\n{}",
                self.label,
                self.log_tail()
            ))),
            Err(e) => Err(CompareError(format!("{}: {e}", self.label))),
        }
    }

    /// The last lines of its log.
    pub(crate) fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
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
        let _ = self.child.kill();
        let _ = self.child.wait();
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
    let listener = std::net::TcpListener::bind("127.0.0.1:0")
        .map_err(|e| CompareError(format!("bind a probe port: {e}")))?;
    listener
        .local_addr()
        .map_err(|e| CompareError(e.to_string()))
}

/// Waits for a JSON file written by a process that reports its bound addresses.
pub(crate) async fn wait_json(
    path: &Path,
    procs: &mut [&mut Proc],
) -> Result<serde_json::Value, CompareError> {
    let deadline = Instant::now() + START_TIMEOUT;
    loop {
        for p in procs.iter_mut() {
            p.check_alive()?;
        }
        if let Ok(text) = std::fs::read_to_string(path) {
            if let Ok(value) = serde_json::from_str(&text) {
                return Ok(value);
            }
        }
        if Instant::now() > deadline {
            return Err(CompareError(format!(
                "{} did not appear within {START_TIMEOUT:?}",
                path.display()
            )));
        }
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
}

/// An address from a bound-addrs JSON object.
pub(crate) fn addr_of(value: &serde_json::Value, key: &str) -> Result<SocketAddr, CompareError> {
    value[key]
        .as_str()
        .and_then(|a| a.parse().ok())
        .ok_or_else(|| CompareError(format!("no `{key}` address in {value}")))
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
