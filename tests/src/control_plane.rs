//! Running `convoy-control-plane serve` as a child process over a mesh directory in a tempdir,
//! with its CA directory in another (generated on the first start, kept across restarts):
//! edit the directory, read `/v1/status` and `/v1/history` over HTTPS, roll back (by the API
//! or the command line), kill it and start it again on the same address, start sidecars with
//! its CA file and join token, and never leave it running.

pub(crate) mod api;

pub use api::{ApiClient, Stream};

use crate::client::{HttpClient, Proto};
use crate::proxy::{Proxy, ProxyBuilder, START_TIMEOUT};
use crate::STEP_TIMEOUT;
use convoy_harness::prometheus::Samples;
use convoy_harness::{binary, Child, ControlPlaneAddrs, Spawn};
use serde::Deserialize;
use std::ffi::OsString;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::time::{Duration, Instant};
use tempfile::TempDir;

/// The `--warm-up` of [`ControlPlane::start`]: after a restart, sidecars that reconnect
/// already serving keep their last snapshot this long, while the others come back.
pub(crate) const WARM_UP: &str = "1500ms";

/// The `--endpoint-grace` of [`ControlPlane::start`]: short, so a sidecar that is gone leaves
/// its callers' balancers soon.
pub(crate) const ENDPOINT_GRACE: &str = "500ms";

/// `GET /v1/status`.
#[derive(Debug, Clone, Deserialize)]
pub struct Status {
    /// The version in force.
    pub version: u64,
    /// The last change of the directory that did not validate, until one validates again.
    pub last_rejected: Option<Rejected>,
    /// Every sidecar connected or within its grace.
    pub sidecars: Vec<SidecarStatus>,
}

/// A change of the directory that did not validate.
#[derive(Debug, Clone, Deserialize)]
pub struct Rejected {
    /// `file:line:column: field.path: message`.
    pub error: String,
}

/// One sidecar in the status.
#[derive(Debug, Clone, Deserialize)]
pub struct SidecarStatus {
    /// Its service.
    pub service: String,
    /// Its endpoint (the inbound listener it advertised).
    pub address: String,
    /// Whether its stream is open (false: within the grace).
    pub connected: bool,
    /// The last version it acknowledged.
    pub acked_version: Option<u64>,
    /// The last snapshot it refused.
    pub last_nack: Option<Nack>,
    /// When the last certificate issued to it expires (RFC 3339), if one was.
    #[serde(default)]
    pub certificate_expires: Option<String>,
}

/// A refused snapshot.
#[derive(Debug, Clone, Deserialize)]
pub struct Nack {
    /// Its version.
    pub version: u64,
    /// The sidecar's reason.
    pub reason: String,
}

impl Status {
    /// The sidecar whose inbound listener is `proxy`'s; panics if the status does not list it.
    pub fn of(&self, proxy: &Proxy) -> &SidecarStatus {
        let address = proxy.inbound().to_string();
        self.sidecars
            .iter()
            .find(|s| s.address == address)
            .unwrap_or_else(|| panic!("no sidecar at {address} in the status: {self:#?}"))
    }

    /// Whether exactly `count` sidecars are listed, every one connected and acknowledging the
    /// version in force.
    pub fn converged(&self, count: usize) -> bool {
        self.sidecars.len() == count
            && self
                .sidecars
                .iter()
                .all(|s| s.connected && s.acked_version == Some(self.version))
    }
}

/// `GET /v1/history`.
#[derive(Debug, Clone, Deserialize)]
pub struct History {
    /// Every version published, oldest first.
    pub events: Vec<Event>,
}

/// One published version.
#[derive(Debug, Clone, Deserialize)]
pub struct Event {
    /// The version.
    pub version: u64,
    /// When (RFC 3339).
    pub time: String,
    /// Who: `config-dir`, `registry`, or a rollback's author.
    pub author: String,
    /// `config`, `endpoints`, `rollback` or `trust`.
    pub kind: String,
    /// What changed.
    pub summary: String,
}

impl History {
    /// The event of `version`; panics if there is none.
    pub fn event(&self, version: u64) -> &Event {
        self.events
            .iter()
            .find(|e| e.version == version)
            .unwrap_or_else(|| panic!("no version {version} in the history: {self:#?}"))
    }
}

/// A running `convoy-control-plane serve`. Dropping it kills the process; when the test is
/// panicking, its log is printed first.
#[derive(Debug)]
pub struct ControlPlane {
    /// Declared before the directory its log is in: dropped (and its log printed) first.
    child: Option<Child>,
    api: SocketAddr,
    admin: SocketAddr,
    extra: Vec<OsString>,
    mesh: TempDir,
    scratch: TempDir,
    ca_dir: PathBuf,
    log_path: PathBuf,
}

impl ControlPlane {
    /// Writes `files` (name, YAML) into a new mesh directory and starts the control plane on
    /// it, every listener on `127.0.0.1:0`, its CA directory (`--ca-dir`) a new temporary
    /// one, with `--endpoint-grace` `ENDPOINT_GRACE` (500 ms); waits until its admin `/ready` answers
    /// 200.
    pub async fn start(files: &[(&str, &str)]) -> ControlPlane {
        ControlPlane::start_with(
            files,
            &["--endpoint-grace", ENDPOINT_GRACE, "--warm-up", WARM_UP],
        )
        .await
    }

    /// As [`ControlPlane::start`], with `args` added to `serve` instead of the grace (for
    /// example `--cert-ttl 5s`).
    pub async fn start_with(files: &[(&str, &str)], args: &[&str]) -> ControlPlane {
        let mesh = tempfile::tempdir().expect("create the mesh directory");
        for (name, text) in files {
            std::fs::write(mesh.path().join(name), text).expect("write a mesh file");
        }
        let scratch = tempfile::tempdir().expect("create a temporary directory");
        let log_path = scratch.path().join("control-plane.log");
        let ca_dir = scratch.path().join("ca");
        let mut cp = ControlPlane {
            child: None,
            api: "127.0.0.1:0".parse().expect("an address"),
            admin: "127.0.0.1:0".parse().expect("an address"),
            extra: args.iter().map(OsString::from).collect(),
            mesh,
            scratch,
            ca_dir,
            log_path,
        };
        cp.spawn_and_wait("127.0.0.1:0".parse().expect("an address"))
            .await;
        cp
    }

    /// Starts the process with the sidecar API on `listen` and waits until it is ready.
    async fn spawn_and_wait(&mut self, listen: SocketAddr) {
        let child = Spawn::new(
            "convoy-control-plane",
            binary::require(binary::CONTROL_PLANE),
            &self.log_path,
        )
        .append_log(&format!(
            "--- convoy-control-plane serve --listen {listen} ---"
        ))
        .arg("serve")
        .arg("--config-dir")
        .arg(self.mesh.path())
        .arg("--listen")
        .arg(listen.to_string())
        .args(["--admin-addr", "127.0.0.1:0"])
        .bound_addrs_file(self.scratch.path().join("bound-addrs.json"))
        .arg("--ca-dir")
        .arg(&self.ca_dir)
        .args(&self.extra)
        .start()
        .expect("spawn convoy-control-plane");
        let child = self.child.insert(child);
        let deadline = Instant::now() + START_TIMEOUT;
        let bound = child.wait_bound::<ControlPlaneAddrs>(START_TIMEOUT).await;
        let addrs = child.or_fail(bound);
        let left = deadline.saturating_duration_since(Instant::now());
        let ready = child.wait_ready(addrs.admin, left).await;
        child.or_fail(ready);
        (self.api, self.admin) = (addrs.listen, addrs.admin);
    }

    fn fail(&self, what: &str) -> ! {
        panic!("{what}\n--- convoy-control-plane log ---\n{}", self.log());
    }

    /// Everything the control plane wrote to stdout and stderr so far (every run of it).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.log_path).unwrap_or_default()
    }

    /// The sidecar API's address.
    pub fn api(&self) -> SocketAddr {
        self.api
    }

    /// The sidecar API's URL, for `--control-plane` and `--url`.
    pub fn url(&self) -> String {
        format!("https://{}", self.api)
    }

    /// The CA directory (`--ca-dir`).
    pub fn ca_dir(&self) -> &Path {
        &self.ca_dir
    }

    /// The trust anchor's certificate, `ca.pem`: what sidecars and clients verify the API with.
    pub fn ca_file(&self) -> PathBuf {
        self.ca_dir.join("ca.pem")
    }

    /// The mesh-wide join token's file, `join-token`.
    pub fn join_token_file(&self) -> PathBuf {
        self.ca_dir.join("join-token")
    }

    /// The mesh-wide join token.
    pub fn join_token(&self) -> String {
        std::fs::read_to_string(self.join_token_file())
            .unwrap_or_else(|e| self.fail(&format!("read the join token: {e}")))
            .trim()
            .to_owned()
    }

    /// An HTTPS client of the sidecar API, trusting [`ControlPlane::ca_file`].
    pub fn api_client(&self) -> ApiClient {
        ApiClient::new(self.api, &self.ca_file())
    }

    /// The path of file `name` of the mesh directory.
    pub fn path(&self, name: &str) -> PathBuf {
        self.mesh.path().join(name)
    }

    /// Writes (or replaces) file `name` of the mesh directory atomically: the whole text to a
    /// hidden temporary file, then renamed over it, so the control plane never reads half a
    /// file.
    pub fn write(&self, name: &str, text: &str) {
        let tmp = self.mesh.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, text).expect("write a temporary mesh file");
        std::fs::rename(&tmp, self.path(name)).expect("rename the mesh file into place");
    }

    /// Removes file `name` of the mesh directory.
    pub fn remove(&self, name: &str) {
        std::fs::remove_file(self.path(name)).expect("remove a mesh file");
    }

    /// A GET of `path` on the sidecar API (HTTPS): the status and the body.
    pub(crate) async fn get(&self, path: &str) -> (u16, String) {
        let reply = self.api_client().get(path).await;
        (reply.status.as_u16(), reply.text())
    }

    async fn get_json<T: for<'de> Deserialize<'de>>(&self, path: &str) -> T {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        serde_json::from_str(&body).unwrap_or_else(|e| panic!("GET {path}: {e}: {body}"))
    }

    /// `GET /v1/status`.
    pub async fn status(&self) -> Status {
        self.get_json("/v1/status").await
    }

    /// `GET /v1/history`.
    pub async fn history(&self) -> History {
        self.get_json("/v1/history").await
    }

    /// `POST /v1/rollback` to `version` as `author`: the new version, or the refusal's status
    /// and reason.
    pub async fn rollback(&self, version: u64, author: &str) -> Result<u64, (u16, String)> {
        let body = serde_json::json!({ "version": version, "author": author });
        let reply = self
            .api_client()
            .post_json("/v1/rollback", None, &body)
            .await;
        if reply.status != 200 {
            return Err((reply.status.as_u16(), reply.text()));
        }
        let answer: serde_json::Value =
            serde_json::from_slice(&reply.body).expect("the rollback answer is JSON");
        Ok(answer["version"].as_u64().expect("a version in the answer"))
    }

    /// Runs a client command of the binary (`status`, `history`, `rollback VERSION`) with
    /// `--url` and `--ca-file` of this control plane; waits for it up to [`STEP_TIMEOUT`].
    pub async fn cli(&self, args: &[&str]) -> Output {
        let mut command = convoy_harness::command(binary::require(binary::CONTROL_PLANE));
        command
            .args(args)
            .arg("--url")
            .arg(self.url())
            .arg("--ca-file")
            .arg(self.ca_file());
        let mut command = tokio::process::Command::from(command);
        command.kill_on_drop(true);
        let what = format!("convoy-control-plane {}", args.join(" "));
        crate::within(STEP_TIMEOUT, &what, command.output())
            .await
            .unwrap_or_else(|e| panic!("run {what}: {e}"))
    }

    /// The admin `/metrics`, parsed.
    pub async fn metric_samples(&self) -> Samples {
        let reply = HttpClient::new(Proto::Http1, self.admin)
            .get("control-plane", "/metrics")
            .await;
        assert_eq!(reply.status, 200, "/metrics: {reply:?}");
        let text = reply.text();
        Samples::parse(&text).unwrap_or_else(|e| panic!("{e}:\n{text}"))
    }

    /// Polls the status until `done` holds (up to [`STEP_TIMEOUT`]) and returns it; panics
    /// with the last status and the log otherwise.
    pub async fn wait_status(&self, what: &str, done: impl Fn(&Status) -> bool) -> Status {
        let deadline = Instant::now() + STEP_TIMEOUT;
        loop {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            if Instant::now() > deadline {
                self.fail(&format!(
                    "the status never showed {what} within {STEP_TIMEOUT:?}: {status:#?}"
                ));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }

    /// Waits until exactly `count` sidecars are connected and have acknowledged the version in
    /// force (see [`Status::converged`]); the status.
    pub async fn wait_converged(&self, count: usize) -> Status {
        self.wait_status(&format!("{count} sidecars acking the version"), |s| {
            s.converged(count)
        })
        .await
    }

    /// Starts the sidecar of `service` (its app at `app`) run by this control plane and waits
    /// until it is ready (its first snapshot applied, its certificate issued).
    pub async fn sidecar(&self, service: &str, app: SocketAddr) -> Proxy {
        let mut proxy = self
            .sidecar_builder(&self.url(), service, app)
            .start_bound()
            .await;
        proxy.wait_ready().await;
        proxy
    }

    /// A builder for the sidecar of `service` (its app at `app`) taking its mesh from this
    /// control plane reached at `url` (its own, or a relay's `https://` address):
    /// `--control-plane url`, `--control-plane-ca` [`ControlPlane::ca_file`] and
    /// `--join-token-file` [`ControlPlane::join_token_file`].
    pub fn sidecar_builder(&self, url: &str, service: &str, app: SocketAddr) -> ProxyBuilder {
        Proxy::with_control_plane(url, service, app)
            .arg("--control-plane-ca")
            .arg(self.ca_file())
            .arg("--join-token-file")
            .arg(self.join_token_file())
    }

    /// Kills the process (SIGKILL: no goodbye to the sidecars) and reaps it.
    pub fn kill(&mut self) {
        if let Some(child) = &mut self.child {
            child.kill();
        }
    }

    /// Starts the control plane again, on the same sidecar API address, the same mesh directory
    /// and the same CA directory (so the same trust anchor; the admin listener gets a new
    /// port); waits until it is ready. Kills the running one first, if any.
    pub async fn restart(&mut self) {
        self.kill();
        let listen = self.api;
        self.spawn_and_wait(listen).await;
    }
}
