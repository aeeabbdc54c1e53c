//! One running compose stack of the demo, under its own project name, on a copy of the mesh
//! YAML (so a test can edit it), with its published ports on free host ports.

use super::command::{run, CommandError};
use super::Engine;
use crate::control_plane::{History, Status};
use convoy_harness::prometheus::Samples;
use std::collections::HashMap;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Output;
use std::sync::Mutex;
use std::time::{Duration, Instant};
use tempfile::TempDir;
use tokio::process::Command;

/// How long `up`, `stop` and `start` may take.
const COMPOSE_LIMIT: Duration = Duration::from_secs(180);

/// How long one `exec` into a container may take.
const EXEC_LIMIT: Duration = Duration::from_secs(30);

/// How long `down -v` may take when the stack is dropped.
const DOWN_LIMIT: Duration = Duration::from_secs(60);

/// The demo's stack, started by [`Stack::up`]. Dropping it runs `down -v` (containers,
/// network and the CA volume go; the images stay), and first prints the end of every
/// container's log when the test is panicking.
#[derive(Debug)]
pub struct Stack {
    engine: Engine,
    project: String,
    dir: PathBuf,
    tag: String,
    mesh: TempDir,
    /// Container ids by compose service (they stay the same across `stop` and `start`).
    containers: Mutex<HashMap<String, String>>,
}

impl Stack {
    /// Starts the demo with images tagged `tag`, under a project name of its own, on a copy of
    /// `examples/compose/mesh/`, with the gateway and payments-1's inbound published on free
    /// ports of 127.0.0.1. Returns once `up -d` has (the control plane is healthy then, and
    /// everything else started); panics, after `down -v`, if it fails.
    pub async fn up(engine: &Engine, tag: &str) -> Stack {
        let dir = super::demo_dir();
        let mesh = copy_mesh(&dir.join("mesh"));
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.subsec_nanos());
        let stack = Stack {
            engine: engine.clone(),
            project: format!("convoytest{}x{nanos:x}", std::process::id()),
            dir,
            tag: tag.to_owned(),
            mesh,
            containers: Mutex::default(),
        };
        stack
            .compose(&["up", "--detach", "--no-build"], COMPOSE_LIMIT)
            .await
            .unwrap_or_else(|e| panic!("compose up: {e}"));
        stack
    }

    /// Replaces the mesh file `name` atomically (a hidden temporary file renamed over it, as
    /// editors do), so the control plane never reads half of it.
    pub fn write_mesh_file(&self, name: &str, contents: &str) {
        let tmp = self.mesh.path().join(format!(".{name}.tmp"));
        std::fs::write(&tmp, contents).expect("write the mesh file");
        set_mode(&tmp, 0o644);
        std::fs::rename(&tmp, self.mesh.path().join(name)).expect("rename the mesh file");
    }

    /// The text of the mesh file `name`.
    pub fn read_mesh_file(&self, name: &str) -> String {
        std::fs::read_to_string(self.mesh.path().join(name)).expect("read the mesh file")
    }

    /// A compose command of this stack, its environment set.
    fn command(&self, args: &[&str]) -> Command {
        let mut command = self.engine.compose(&self.dir, &self.project);
        command
            .args(args)
            .env("CONVOY_TAG", &self.tag)
            .env("CONVOY_MESH_DIR", self.mesh.path())
            .env("CONVOY_GATEWAY_PUBLISH", "127.0.0.1:")
            .env("CONVOY_PAYMENTS_PUBLISH", "127.0.0.1:")
            // The observability profile pulls images: never here.
            .env_remove("COMPOSE_PROFILES");
        command
    }

    /// Runs compose with `args`; an error if it fails or takes longer than `limit`.
    pub(crate) async fn compose(
        &self,
        args: &[&str],
        limit: Duration,
    ) -> Result<Output, CommandError> {
        run(self.command(args), limit, false).await
    }

    /// `compose stop SERVICE...`.
    pub async fn stop(&self, services: &[&str]) {
        let args: Vec<&str> = ["stop", "--timeout", "5"]
            .iter()
            .chain(services)
            .copied()
            .collect();
        self.compose(&args, COMPOSE_LIMIT)
            .await
            .unwrap_or_else(|e| panic!("compose stop: {e}"));
    }

    /// `compose start SERVICE...`.
    pub async fn start(&self, services: &[&str]) {
        let args: Vec<&str> = std::iter::once("start")
            .chain(services.iter().copied())
            .collect();
        self.compose(&args, COMPOSE_LIMIT)
            .await
            .unwrap_or_else(|e| panic!("compose start: {e}"));
    }

    /// The host address `service`'s container `port` is published on (`compose port`).
    pub async fn port(&self, service: &str, port: u16) -> SocketAddr {
        let output = self
            .compose(&["port", service, &port.to_string()], EXEC_LIMIT)
            .await
            .unwrap_or_else(|e| panic!("compose port: {e}"));
        let text = String::from_utf8_lossy(&output.stdout);
        text.trim()
            .parse()
            .unwrap_or_else(|_| panic!("compose port {service} {port} printed {text:?}"))
    }

    /// The id of `service`'s container (`compose ps -q`, once).
    pub(crate) async fn container(&self, service: &str) -> String {
        if let Some(id) = self.containers.lock().unwrap().get(service) {
            return id.clone();
        }
        let output = self
            .compose(&["ps", "--quiet", service], EXEC_LIMIT)
            .await
            .unwrap_or_else(|e| panic!("compose ps: {e}"));
        let id = String::from_utf8_lossy(&output.stdout).trim().to_owned();
        assert!(!id.is_empty(), "compose ps -q {service}: no container");
        self.containers
            .lock()
            .unwrap()
            .insert(service.to_owned(), id.clone());
        id
    }

    /// `compose exec -T SERVICE ARGS...`, as the README writes it; the output whatever the
    /// exit status.
    pub async fn exec(&self, service: &str, args: &[&str]) -> Output {
        let all: Vec<&str> = ["exec", "-T", service]
            .iter()
            .chain(args)
            .copied()
            .collect();
        run(self.command(&all), EXEC_LIMIT, true)
            .await
            .unwrap_or_else(|e| panic!("compose exec {service}: {e}"))
    }

    /// `docker exec` into `service`'s container: the same as [`Stack::exec`], faster (for
    /// polling; compose itself can take most of a second to start).
    pub async fn docker_exec(&self, service: &str, args: &[&str]) -> Output {
        let container = self.container(service).await;
        let mut command = Command::new("docker");
        command.arg("exec").arg(container).args(args);
        run(command, EXEC_LIMIT, true)
            .await
            .unwrap_or_else(|e| panic!("docker exec: {e}"))
    }

    /// `/metrics` of the admin listener at `port` in `service`'s container (a sidecar's or the
    /// gateway's is 4191, the control plane's 4291), read with `convoy-http` inside it.
    pub async fn metrics(&self, service: &str, port: u16) -> Samples {
        let url = format!("http://127.0.0.1:{port}/metrics");
        let output = self.docker_exec(service, &["convoy-http", &url]).await;
        assert!(
            output.status.success(),
            "{service}: convoy-http {url}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        let text = String::from_utf8_lossy(&output.stdout);
        Samples::parse(&text).unwrap_or_else(|e| panic!("{service}: {e}:\n{text}"))
    }

    /// `convoy-control-plane status --json`, run in the control plane's container.
    pub async fn status(&self) -> Status {
        let out = self.control_plane(&["status", "--json"]).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("status --json: {e}: {out}"))
    }

    /// `convoy-control-plane history --json`, run in the control plane's container.
    pub async fn history(&self) -> History {
        let out = self.control_plane(&["history", "--json"]).await;
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("history --json: {e}: {out}"))
    }

    /// `convoy-control-plane ARGS...` in the control plane's container (its environment
    /// names the API and the CA file); its stdout, or a panic if it fails.
    pub async fn control_plane(&self, args: &[&str]) -> String {
        let all: Vec<&str> = std::iter::once("convoy-control-plane")
            .chain(args.iter().copied())
            .collect();
        let output = self.docker_exec("control-plane", &all).await;
        assert!(
            output.status.success(),
            "convoy-control-plane {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&output.stderr)
        );
        String::from_utf8_lossy(&output.stdout).into_owned()
    }

    /// Blocking: prints the end of every container's log, then `down -v`.
    fn down(&self) {
        if std::thread::panicking() {
            let (_, logs) = self.blocking(&["logs", "--no-color", "--tail", "40"]);
            eprintln!(
                "--- compose logs of {} (the last 40 lines of each container) ---\n{logs}",
                self.project
            );
        }
        let (ok, out) = self.blocking(&["down", "--volumes", "--remove-orphans", "--timeout", "5"]);
        if !ok {
            eprintln!("compose down of {} failed: {out}", self.project);
        }
    }

    /// Runs compose without the async runtime (for `Drop`), killing it after [`DOWN_LIMIT`]:
    /// whether it succeeded, and what it printed.
    fn blocking(&self, args: &[&str]) -> (bool, String) {
        let mut command = self.command(args).into_std();
        command
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped());
        let mut child = match command.spawn() {
            Ok(child) => child,
            Err(e) => return (false, format!("could not run compose: {e}")),
        };
        let deadline = Instant::now() + DOWN_LIMIT;
        while matches!(child.try_wait(), Ok(None)) {
            if Instant::now() >= deadline {
                let _ = child.kill();
                break;
            }
            std::thread::sleep(Duration::from_millis(100));
        }
        match child.wait_with_output() {
            Ok(output) => (
                output.status.success(),
                format!(
                    "{}{}",
                    String::from_utf8_lossy(&output.stdout),
                    String::from_utf8_lossy(&output.stderr)
                ),
            ),
            Err(e) => (false, e.to_string()),
        }
    }
}

impl Drop for Stack {
    fn drop(&mut self) {
        self.down();
    }
}

/// Copies the demo's mesh YAML into a new directory the containers' user may read.
fn copy_mesh(from: &Path) -> TempDir {
    let dir = tempfile::Builder::new()
        .prefix("convoy-compose-mesh")
        .tempdir()
        .expect("a temporary directory");
    for entry in std::fs::read_dir(from).expect("examples/compose/mesh") {
        let path = entry.expect("a directory entry").path();
        if path.is_file() {
            let to = dir.path().join(path.file_name().expect("a file name"));
            std::fs::copy(&path, &to).expect("copy a mesh file");
            set_mode(&to, 0o644);
        }
    }
    // The control plane runs as user 65532: it must read the directory.
    set_mode(dir.path(), 0o755);
    dir
}

#[cfg(unix)]
fn set_mode(path: &Path, mode: u32) {
    use std::os::unix::fs::PermissionsExt;
    std::fs::set_permissions(path, std::fs::Permissions::from_mode(mode)).expect("chmod");
}

#[cfg(not(unix))]
fn set_mode(_: &Path, _: u32) {}
