//! Starting a child: a predictable environment, its output in a log file, and optionally a
//! `--bound-addrs-file` to read its listeners' addresses back from.

use std::ffi::OsStr;
use std::fs::File;
use std::io::Write as _;
use std::path::PathBuf;
use std::process::{Command, Stdio};

use crate::child::Child;

/// A command for `program` with a predictable environment: no `CONVOY_*` variables from the
/// caller's shell (a `CONVOY_CONFIG` would even clash with the flags the caller passes; only
/// the caller's flags count), `NO_COLOR=1` (output goes to files and pipes), stdin closed.
pub fn command(program: impl AsRef<OsStr>) -> Command {
    let mut command = Command::new(program);
    command.stdin(Stdio::null()).env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CONVOY_") {
            command.env_remove(key);
        }
    }
    command
}

/// How a child is to be started; [`Spawn::start`] starts it.
#[derive(Debug)]
pub struct Spawn {
    label: String,
    command: Command,
    log: PathBuf,
    log_header: Option<String>,
    bound_addrs: Option<PathBuf>,
}

impl Spawn {
    /// A child called `label` (in messages) running `program` (see [`command`]), its stdout
    /// and stderr written to the file `log`, which starts empty.
    pub fn new(label: &str, program: impl AsRef<OsStr>, log: impl Into<PathBuf>) -> Spawn {
        Spawn {
            label: label.to_owned(),
            command: command(program),
            log: log.into(),
            log_header: None,
            bound_addrs: None,
        }
    }

    /// Adds an argument.
    pub fn arg(mut self, arg: impl AsRef<OsStr>) -> Spawn {
        self.command.arg(arg);
        self
    }

    /// Adds arguments.
    pub fn args<I, S>(mut self, args: I) -> Spawn
    where
        I: IntoIterator<Item = S>,
        S: AsRef<OsStr>,
    {
        self.command.args(args);
        self
    }

    /// Sets an environment variable of the child.
    pub fn env(mut self, key: impl AsRef<OsStr>, value: impl AsRef<OsStr>) -> Spawn {
        self.command.env(key, value);
        self
    }

    /// Adds `--bound-addrs-file file` here among the arguments: the child writes the addresses
    /// it bound there, for [`Child::wait_bound`]. A file left by an earlier run is removed
    /// before the child starts.
    pub fn bound_addrs_file(mut self, file: impl Into<PathBuf>) -> Spawn {
        let file = file.into();
        self.command.arg("--bound-addrs-file").arg(&file);
        self.bound_addrs = Some(file);
        self
    }

    /// Appends to the log instead of starting it afresh (a restart), after the line `header`.
    pub fn append_log(mut self, header: &str) -> Spawn {
        self.log_header = Some(header.to_owned());
        self
    }

    /// Starts the child in a process group of its own: Ctrl-C in the terminal then reaches
    /// only the caller, which stops its children itself.
    pub fn own_process_group(mut self) -> Spawn {
        #[cfg(unix)]
        std::os::unix::process::CommandExt::process_group(&mut self.command, 0);
        self
    }

    /// Starts the child.
    pub fn start(mut self) -> std::io::Result<Child> {
        let mut log = match &self.log_header {
            None => File::create(&self.log),
            Some(_) => File::options().create(true).append(true).open(&self.log),
        }
        .map_err(|e| context(e, &format!("opening {}", self.log.display())))?;
        if let Some(header) = &self.log_header {
            writeln!(log, "{header}")?;
        }
        if let Some(file) = &self.bound_addrs {
            let _ = std::fs::remove_file(file);
        }
        self.command.stdout(log.try_clone()?).stderr(log);
        let process = self.command.spawn().map_err(|e| {
            let program = self.command.get_program().to_string_lossy().into_owned();
            context(e, &format!("starting {}: {program}", self.label))
        })?;
        Ok(Child::new(self.label, process, self.log, self.bound_addrs))
    }
}

/// `error` with `what` in front of its message, of the same kind.
fn context(error: std::io::Error, what: &str) -> std::io::Error {
    std::io::Error::new(error.kind(), format!("{what}: {error}"))
}
