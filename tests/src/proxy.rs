//! Running `convoy-proxy` as a child process: start it from YAML, wait until it is ready, read
//! its addresses, logs and metrics, signal it, and never leave it running.

use crate::client::{HttpClient, Proto};
use convoy_harness::prometheus::Samples;
use convoy_harness::{binary, Child, ProxyAddrs, Spawn};
use std::ffi::OsString;
use std::net::SocketAddr;
use std::process::ExitStatus;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// How long a proxy may take to bind and report ready.
pub(crate) const START_TIMEOUT: Duration = Duration::from_secs(10);

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
        let mut spawn = Spawn::new(
            "convoy-proxy",
            binary::require(binary::PROXY),
            dir.path().join("proxy.log"),
        );
        if let Some(yaml) = &self.yaml {
            let config = dir.path().join("convoy.yaml");
            std::fs::write(&config, yaml).expect("write the config file");
            spawn = spawn.arg("--config").arg(&config);
        }
        let child = spawn
            .bound_addrs_file(dir.path().join("bound-addrs.json"))
            .args(&self.args)
            .start()
            .expect("spawn convoy-proxy");
        Proxy {
            child,
            addrs: None,
            _dir: dir,
            started: Instant::now(),
        }
    }
}

/// A running `convoy-proxy` child process. Dropping it kills the process (SIGKILL if still
/// alive) and reaps it; when the test is panicking, the proxy's log is printed first.
#[derive(Debug)]
pub struct Proxy {
    /// Declared before the directory its log is in: dropped (and its log printed) first.
    child: Child,
    addrs: Option<ProxyAddrs>,
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
        let left = (self.started + START_TIMEOUT).saturating_duration_since(Instant::now());
        let waited = self.child.wait_bound(left).await;
        self.addrs = Some(self.child.or_fail(waited));
    }

    /// Reads the bound addresses again: a proxy run by a control plane adds TCP service
    /// listeners when a snapshot first lists them.
    pub fn reload_addrs(&mut self) {
        match self.child.read_bound() {
            Ok(Some(addrs)) => self.addrs = Some(addrs),
            Ok(None) => self.child.fail("the bound-addrs file is gone"),
            Err(e) => self.child.fail(&e.to_string()),
        }
    }

    /// Waits up to `START_TIMEOUT` until `/ready` answers 200; panics with the log otherwise.
    pub async fn wait_ready(&mut self) {
        self.wait_ready_until(Instant::now() + START_TIMEOUT).await;
    }

    async fn wait_ready_until(&mut self, deadline: Instant) {
        let admin = self.admin();
        let left = deadline.saturating_duration_since(Instant::now());
        let waited = self.child.wait_ready(admin, left).await;
        self.child.or_fail(waited);
    }

    /// The bound addresses.
    pub fn addrs(&self) -> &ProxyAddrs {
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

    /// Everything the proxy wrote to stdout and stderr so far.
    pub fn log(&self) -> String {
        self.child.log()
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

    /// The `/metrics` text.
    pub async fn metrics(&self) -> String {
        let (status, body) = self.admin_get("/metrics").await;
        assert_eq!(status, 200, "/metrics answered {status}: {body}");
        body
    }

    /// The `/metrics` text, parsed.
    pub async fn metric_samples(&self) -> Samples {
        let text = self.metrics().await;
        Samples::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
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
        if let Err(e) = self.child.sigterm() {
            panic!("{e}");
        }
    }

    /// Waits up to `limit` for the process to exit; panics with the log if it does not.
    pub async fn wait_exit(&mut self, limit: Duration) -> ExitStatus {
        let waited = self.child.wait_exit(limit).await;
        self.child.or_fail(waited)
    }
}

/// Runs `convoy-proxy` with exactly `args` (for configurations that must be refused) and waits
/// up to `limit` for it to exit; kills it and panics if it keeps running.
pub fn run_until_exit(args: &[OsString], limit: Duration) -> convoy_harness::Exited {
    let mut command = convoy_harness::command(binary::require(binary::PROXY));
    command.args(args);
    convoy_harness::run_until_exit(command, limit)
}
