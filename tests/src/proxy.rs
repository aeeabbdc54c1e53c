//! Running `convoy-proxy` as a child process: start it from YAML, wait until it is ready, read
//! its addresses, logs and metrics, signal it, and never leave it running.

use crate::client::{HttpClient, Proto};
use serde::Deserialize;
use std::collections::BTreeMap;
use std::ffi::OsString;
use std::fs::File;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a proxy may take to bind and report ready.
pub const START_TIMEOUT: Duration = Duration::from_secs(10);

/// What `--bound-addrs-file` reports.
#[derive(Debug, Clone, Deserialize)]
pub struct BoundAddrs {
    /// The outbound listener (`None` for a gateway).
    pub outbound: Option<SocketAddr>,
    /// The inbound listener (`None` for a gateway).
    pub inbound: Option<SocketAddr>,
    /// The admin listener.
    pub admin: SocketAddr,
    /// TCP service listeners, by service name.
    #[serde(default)]
    pub tcp: BTreeMap<String, SocketAddr>,
    /// Gateway listeners (`--gateway`), in the order configured.
    #[serde(default)]
    pub gateway: Vec<SocketAddr>,
}

/// Options for starting a proxy; see [`Proxy::builder`] and [`Proxy::with_control_plane`].
#[derive(Debug)]
pub struct ProxyBuilder {
    /// The config file's text; `None`: no `--config` (control-plane mode).
    yaml: Option<String>,
    args: Vec<OsString>,
}

impl ProxyBuilder {
    /// Adds a command-line argument (after `--config` and `--bound-addrs-file`).
    pub fn arg(mut self, arg: impl Into<OsString>) -> Self {
        self.args.push(arg.into());
        self
    }

    /// Adds `--control-plane-ca` and `--join-token-file`: the anchors the control plane's
    /// certificate is verified with, and the join token the sidecar proves itself with.
    pub fn control_plane_credentials(
        self,
        ca_file: impl Into<OsString>,
        join_token_file: impl Into<OsString>,
    ) -> Self {
        self.arg("--control-plane-ca")
            .arg(ca_file)
            .arg("--join-token-file")
            .arg(join_token_file)
    }

    /// Starts the proxy and waits until `/ready` answers 200; panics with the log otherwise.
    pub async fn start(self) -> Proxy {
        let mut proxy = self.spawn();
        proxy.wait_bound().await;
        let deadline = proxy.started + START_TIMEOUT;
        proxy.wait_ready_until(deadline).await;
        proxy
    }

    /// Starts the proxy and waits only until its listeners are bound (it reported their
    /// addresses), not until it is ready: for a proxy waiting for its control plane.
    pub async fn start_bound(self) -> Proxy {
        let mut proxy = self.spawn();
        proxy.wait_bound().await;
        proxy
    }

    fn spawn(self) -> Proxy {
        let dir = tempfile::tempdir().expect("create a temporary directory");
        let addrs_file = dir.path().join("bound-addrs.json");
        let log_path = dir.path().join("proxy.log");
        let log = File::create(&log_path).expect("create the log file");
        let mut command = Command::new(crate::binary::proxy());
        if let Some(yaml) = &self.yaml {
            let config = dir.path().join("convoy.yaml");
            std::fs::write(&config, yaml).expect("write the config file");
            command.arg("--config").arg(&config);
        }
        command
            .arg("--bound-addrs-file")
            .arg(&addrs_file)
            .args(&self.args)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("clone the log file handle"))
            .stderr(log);
        scrub_env(&mut command);
        let child = command.spawn().expect("spawn convoy-proxy");
        Proxy {
            child: Some(child),
            addrs: None,
            addrs_file,
            log_path,
            _dir: dir,
            started: Instant::now(),
        }
    }
}

/// Keeps the child's environment predictable: no `CONVOY_*` overrides from the developer's shell,
/// `info` logs unless `RUST_LOG` asks for more, and no colour codes in the log file.
pub(crate) fn scrub_env(command: &mut Command) {
    command.env("NO_COLOR", "1");
    for (key, _) in std::env::vars_os() {
        if key.to_string_lossy().starts_with("CONVOY_") {
            command.env_remove(key);
        }
    }
    if std::env::var_os("RUST_LOG").is_none() {
        command.env("RUST_LOG", "info");
    }
}

/// A running `convoy-proxy` child process. Dropping it kills the process (SIGKILL if still
/// alive) and reaps it; when the test is panicking, the proxy's log is printed first.
#[derive(Debug)]
pub struct Proxy {
    child: Option<Child>,
    addrs: Option<BoundAddrs>,
    addrs_file: PathBuf,
    log_path: PathBuf,
    _dir: TempDir,
    started: Instant,
}

impl Proxy {
    /// Starts a proxy from this YAML with default flags; see [`ProxyBuilder::start`].
    pub async fn start(yaml: &str) -> Proxy {
        Proxy::builder(yaml).start().await
    }

    /// A builder for a proxy from this YAML, to add flags before starting.
    pub fn builder(yaml: &str) -> ProxyBuilder {
        ProxyBuilder {
            yaml: Some(yaml.to_owned()),
            args: Vec::new(),
        }
    }

    /// A builder for the sidecar of `service` whose app is at `app`, taking its mesh from the
    /// control plane at `url` (`--control-plane`, `https://`), every listener on `127.0.0.1:0`.
    /// Add the control plane's CA file and a join token
    /// ([`ProxyBuilder::control_plane_credentials`]). It is not ready before the control
    /// plane's first snapshot and its certificate: start it with [`ProxyBuilder::start_bound`],
    /// or [`ProxyBuilder::start`] once a snapshot is published.
    pub fn with_control_plane(url: &str, service: &str, app: SocketAddr) -> ProxyBuilder {
        let mut builder = ProxyBuilder {
            yaml: None,
            args: Vec::new(),
        };
        for (flag, value) in [
            ("--control-plane", url.to_owned()),
            ("--service", service.to_owned()),
            ("--app", app.to_string()),
            ("--outbound-addr", "127.0.0.1:0".to_owned()),
            ("--inbound-addr", "127.0.0.1:0".to_owned()),
            ("--admin-addr", "127.0.0.1:0".to_owned()),
        ] {
            builder = builder.arg(flag).arg(value);
        }
        builder
    }

    /// Waits until the proxy reported its bound addresses.
    async fn wait_bound(&mut self) {
        let deadline = self.started + START_TIMEOUT;
        loop {
            self.fail_if_exited("while starting");
            if self.read_addrs() {
                return;
            }
            if Instant::now() > deadline {
                self.fail("no bound-addrs file within the start timeout");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Reads the bound-addrs file, if it is there.
    fn read_addrs(&mut self) -> bool {
        let Ok(text) = std::fs::read_to_string(&self.addrs_file) else {
            return false;
        };
        match serde_json::from_str::<BoundAddrs>(&text) {
            Ok(addrs) => {
                self.addrs = Some(addrs);
                true
            }
            Err(e) => self.fail(&format!("bad bound-addrs file {text:?}: {e}")),
        }
    }

    /// Reads the bound addresses again: a proxy run by a control plane adds TCP service
    /// listeners when a snapshot first lists them.
    pub fn reload_addrs(&mut self) {
        if !self.read_addrs() {
            self.fail("the bound-addrs file is gone");
        }
    }

    /// Waits up to [`START_TIMEOUT`] until `/ready` answers 200; panics with the log otherwise.
    pub async fn wait_ready(&mut self) {
        self.wait_ready_until(Instant::now() + START_TIMEOUT).await;
    }

    async fn wait_ready_until(&mut self, deadline: Instant) {
        loop {
            self.fail_if_exited("while waiting for /ready");
            if let Ok(status) = self.admin_status("/ready").await {
                if status == 200 {
                    return;
                }
            }
            if Instant::now() > deadline {
                self.fail("/ready did not answer 200 within the start timeout");
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    fn fail_if_exited(&mut self, when: &str) {
        let exited = self
            .child
            .as_mut()
            .and_then(|c| c.try_wait().ok().flatten());
        if let Some(status) = exited {
            self.fail(&format!("convoy-proxy exited {when}: {status}"));
        }
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- convoy-proxy log ---\n{}", self.log());
    }

    /// The bound addresses.
    pub fn addrs(&self) -> &BoundAddrs {
        self.addrs
            .as_ref()
            .expect("a started proxy knows its addresses")
    }

    /// The outbound listener (the local app calls other services here).
    pub fn outbound(&self) -> SocketAddr {
        self.addrs()
            .outbound
            .expect("a sidecar has an outbound listener")
    }

    /// The inbound listener (other sidecars call the local app here).
    pub fn inbound(&self) -> SocketAddr {
        self.addrs()
            .inbound
            .expect("a sidecar has an inbound listener")
    }

    /// The admin listener.
    pub fn admin(&self) -> SocketAddr {
        self.addrs().admin
    }

    /// The listener of TCP service `name`; panics if there is none.
    pub fn tcp(&self, name: &str) -> SocketAddr {
        match self.addrs().tcp.get(name) {
            Some(addr) => *addr,
            None => panic!("no TCP listener for `{name}`: {:?}", self.addrs().tcp),
        }
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
    }

    /// Everything the proxy wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// GETs `path` on the admin listener; the status and body.
    pub async fn admin_get(&self, path: &str) -> (u16, String) {
        let reply = HttpClient::new(Proto::Http1, self.admin())
            .get("admin", path)
            .await;
        (
            reply.status.as_u16(),
            String::from_utf8_lossy(&reply.body).into_owned(),
        )
    }

    async fn admin_status(&self, path: &str) -> Result<u16, crate::client::ClientError> {
        let client = HttpClient::new(Proto::Http1, self.admin());
        let request = client.request("admin", path).body(crate::client::empty());
        Ok(client
            .try_send(request.expect("valid request"))
            .await?
            .status
            .as_u16())
    }

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.admin_get("/metrics").await;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        body
    }

    /// The `/metrics` text, parsed.
    pub async fn metric_samples(&self) -> crate::metrics::Samples {
        crate::metrics::Samples::parse(&self.metrics().await)
    }

    /// The admin `/config` answer, parsed (asserting 200 and JSON).
    pub async fn config_json(&self) -> serde_json::Value {
        let (status, body) = self.admin_get("/config").await;
        assert_eq!(status, 200, "{body}");
        serde_json::from_str(&body).expect("/config is JSON")
    }

    /// Waits up to [`crate::STEP_TIMEOUT`] until the metric `convoy_control_plane_connected`
    /// is `value` (1 while connected to a control plane, 0 while not).
    pub async fn wait_connected(&self, value: f64) {
        crate::within(
            crate::STEP_TIMEOUT,
            &format!("connected = {value}"),
            async {
                loop {
                    let samples = self.metric_samples().await;
                    if samples.sum("convoy_control_plane_connected", &[]) == value {
                        return;
                    }
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            },
        )
        .await;
    }

    /// Sends SIGTERM.
    pub fn sigterm(&self) {
        let status = Command::new("kill")
            .arg("-TERM")
            .arg(self.pid().to_string())
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -TERM {} failed", self.pid());
    }

    /// Waits up to `limit` for the process to exit; panics with the log if it does not.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let deadline = Instant::now() + limit;
        loop {
            if let Some(status) = self
                .child
                .as_mut()
                .and_then(|c| c.try_wait().expect("poll the child"))
            {
                return status;
            }
            if Instant::now() > deadline {
                self.fail(&format!("convoy-proxy did not exit within {limit:?}"));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            if matches!(child.try_wait(), Ok(None)) {
                let _ = child.kill();
            }
            let _ = child.wait();
        }
        if std::thread::panicking() {
            eprintln!(
                "--- convoy-proxy log ({}) ---\n{}--- end of log ---",
                self.log_path.display(),
                self.log()
            );
        }
    }
}

/// How a one-shot run of `convoy-proxy` ended.
#[derive(Debug)]
pub struct Exited {
    /// The exit status.
    pub status: ExitStatus,
    /// Standard output.
    pub stdout: String,
    /// Standard error.
    pub stderr: String,
}

/// Runs `convoy-proxy` with exactly `args` (for configurations that must be refused) and waits
/// up to `limit` for it to exit; kills it and panics if it keeps running.
pub fn run_until_exit(args: &[OsString], limit: Duration) -> Exited {
    let dir = tempfile::tempdir().expect("create a temporary directory");
    let stdout_path = dir.path().join("stdout");
    let stderr_path = dir.path().join("stderr");
    let mut command = Command::new(crate::binary::proxy());
    command
        .args(args)
        .stdin(Stdio::null())
        .stdout(File::create(&stdout_path).expect("create stdout file"))
        .stderr(File::create(&stderr_path).expect("create stderr file"));
    scrub_env(&mut command);
    let mut child = command.spawn().expect("spawn convoy-proxy");
    let deadline = Instant::now() + limit;
    let status = loop {
        if let Some(status) = child.try_wait().expect("poll the child") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "convoy-proxy {args:?} kept running for {limit:?}; stdout:\n{}\nstderr:\n{}",
                std::fs::read_to_string(&stdout_path).unwrap_or_default(),
                std::fs::read_to_string(&stderr_path).unwrap_or_default()
            );
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    Exited {
        status,
        stdout: std::fs::read_to_string(&stdout_path).unwrap_or_default(),
        stderr: std::fs::read_to_string(&stderr_path).unwrap_or_default(),
    }
}
