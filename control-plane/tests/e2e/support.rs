//! The control plane under test (the real binary on port 0 through `convoy-harness`, its CA in
//! a tempdir) and a minimal test sidecar: `POST /v1/stream` over TLS (h2) with the join token
//! and a channel body, reading NDJSON lines.

use bytes::Bytes;
use convoy_harness::{tls, Child, ControlPlaneAddrs, Spawn};
use convoy_protocol::{BodyLines, MAX_CONTROL_PLANE_LINE, NDJSON, STREAM_PATH};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{ExitStatus, Output};
use std::time::Duration;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

/// The binary under test.
pub(crate) const BINARY: &str = env!("CARGO_BIN_EXE_convoy-control-plane");

/// One orders service, in `orders.yaml`.
pub(crate) const ORDERS: &str = "services:\n  orders:\n    timeout: 2s\n";

/// A running control plane; killed when dropped (its log printed if the test is failing, or
/// always with `CONVOY_TEST_LOGS` set).
pub(crate) struct ControlPlane {
    /// Declared before the directory its log is in: dropped (and its log printed) first.
    child: Child,
    /// The sidecar API.
    pub(crate) api: SocketAddr,
    /// The admin listener.
    pub(crate) admin: SocketAddr,
    /// The config directory.
    pub(crate) dir: tempfile::TempDir,
    /// The CA directory.
    pub(crate) ca_dir: PathBuf,
    _scratch: tempfile::TempDir,
}

/// Writes `files` into `dir`.
pub(crate) fn write_files(dir: &Path, files: &[(&str, &str)]) {
    for (name, text) in files {
        std::fs::write(dir.join(name), text).unwrap();
    }
}

impl ControlPlane {
    /// Starts the binary on `files` with `args` added to `serve`.
    pub(crate) async fn start(files: &[(&str, &str)], args: &[&str]) -> ControlPlane {
        let dir = tempfile::tempdir().unwrap();
        write_files(dir.path(), files);
        let scratch = tempfile::tempdir().unwrap();
        let ca_dir = scratch.path().join("ca");
        let mut child = Spawn::new(
            "convoy-control-plane",
            BINARY,
            scratch.path().join("control-plane.log"),
        )
        .arg("serve")
        .arg("--config-dir")
        .arg(dir.path())
        .args(["--listen", "127.0.0.1:0", "--admin-addr", "127.0.0.1:0"])
        .bound_addrs_file(scratch.path().join("bound.json"))
        .arg("--ca-dir")
        .arg(&ca_dir)
        .args(args)
        .start()
        .unwrap();
        let addrs: ControlPlaneAddrs = match child.wait_bound(Duration::from_secs(5)).await {
            Ok(addrs) => addrs,
            Err(e) => panic!("the control plane did not write its bound addresses: {e}"),
        };
        ControlPlane {
            child,
            api: addrs.listen,
            admin: addrs.admin,
            dir,
            ca_dir,
            _scratch: scratch,
        }
    }

    /// The URL of the sidecar API.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.api)
    }

    /// The trust anchor's certificate (to verify the API with).
    pub(crate) fn ca_file(&self) -> PathBuf {
        self.ca_dir.join("ca.pem")
    }

    /// The mesh-wide join token.
    pub(crate) fn token(&self) -> String {
        std::fs::read_to_string(self.ca_dir.join("join-token"))
            .unwrap()
            .trim()
            .to_owned()
    }

    /// A TLS connection to the API offering `alpn`, verified against [`Self::ca_file`].
    pub(crate) async fn tls(
        &self,
        alpn: &[u8],
    ) -> tokio_rustls::client::TlsStream<tokio::net::TcpStream> {
        let config = tls::client_config(tls::roots(&self.ca_file()).unwrap(), &[alpn]);
        let tcp = tokio::net::TcpStream::connect(self.api).await.unwrap();
        let name = rustls_pki_types::ServerName::try_from("127.0.0.1").unwrap();
        tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .unwrap()
    }

    /// A request to the API over HTTPS (HTTP/1.1): the status and the body.
    pub(crate) async fn api_request(
        &self,
        method: &str,
        path: &str,
        body: Option<Value>,
    ) -> (u16, Bytes) {
        let stream = self.tls(b"http/1.1").await;
        let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .unwrap();
        tokio::spawn(conn);
        let request = http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.api.to_string())
            .header("content-type", "application/json")
            .body(http_body_util::Full::new(Bytes::from(
                body.map(|b| b.to_string()).unwrap_or_default(),
            )))
            .unwrap();
        let response = send.send_request(request).await.unwrap();
        let status = response.status().as_u16();
        let body = response.into_body().collect().await.unwrap().to_bytes();
        (status, body)
    }

    /// A GET of the API over HTTPS: the status and the JSON body (null if not JSON).
    pub(crate) async fn api_get(&self, path: &str) -> (u16, Value) {
        let (status, body) = self.api_request("GET", path, None).await;
        (status, serde_json::from_slice(&body).unwrap_or(Value::Null))
    }

    /// Overwrites (or creates) a file of the config directory in place.
    pub(crate) fn write(&self, name: &str, text: &str) {
        std::fs::write(self.dir.path().join(name), text).unwrap();
    }

    /// The path of a file of the config directory.
    pub(crate) fn path(&self, name: &str) -> PathBuf {
        self.dir.path().join(name)
    }

    /// `GET /v1/status`.
    pub(crate) async fn status(&self) -> Value {
        self.api_get("/v1/status").await.1
    }

    /// `GET /v1/history`.
    pub(crate) async fn history(&self) -> Value {
        self.api_get("/v1/history").await.1
    }

    /// The last event of `GET /v1/history`; panics if there is none.
    pub(crate) async fn last_event(&self) -> Value {
        let history = self.history().await;
        history["events"]
            .as_array()
            .expect("the history lists events")
            .last()
            .expect("at least one event")
            .clone()
    }

    /// Waits until the status satisfies `done` (up to 3 s), and returns it.
    pub(crate) async fn status_until(&self, what: &str, done: impl Fn(&Value) -> bool) -> Value {
        for _ in 0..300 {
            let status = self.status().await;
            if done(&status) {
                return status;
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        panic!("status never showed {what}: {:#}", self.status().await);
    }

    /// Runs a client command of the binary against this control plane.
    pub(crate) fn cli(&self, args: &[&str]) -> Output {
        convoy_harness::command(BINARY)
            .args(args)
            .arg("--url")
            .arg(self.url())
            .arg("--ca-file")
            .arg(self.ca_file())
            .output()
            .unwrap()
    }

    /// Sends SIGTERM and waits (up to 5 s) for the exit.
    pub(crate) async fn terminate(&mut self) -> ExitStatus {
        self.child.sigterm().unwrap();
        match self.child.wait_exit(Duration::from_secs(5)).await {
            Ok(status) => status,
            Err(_) => panic!("the control plane did not exit within 5 s of SIGTERM"),
        }
    }
}

/// A plaintext GET over HTTP/1.1 (the admin listener): the status and the body.
pub(crate) async fn get(addr: SocketAddr, path: &str) -> (u16, Bytes) {
    let stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    let (mut send, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .unwrap();
    tokio::spawn(conn);
    let request = http::Request::get(path)
        .header("host", addr.to_string())
        .body(http_body_util::Empty::<Bytes>::new())
        .unwrap();
    let response = send.send_request(request).await.unwrap();
    let status = response.status().as_u16();
    let body = response.into_body().collect().await.unwrap().to_bytes();
    (status, body)
}

/// A hello for `id` of `service` at `address`.
pub(crate) fn hello(id: &str, service: &str, address: &str) -> Value {
    json!({"type": "hello", "id": id, "service": service, "address": address, "proxy_version": "test"})
}

/// A test sidecar: one HTTP/2 stream over TLS to the control plane.
pub(crate) struct Sidecar {
    tx: Option<mpsc::Sender<Bytes>>,
    lines: BodyLines<Incoming>,
    connection: JoinHandle<()>,
}

/// A stream the control plane refused: the status and the `x-convoy-error` reason.
#[derive(Debug)]
pub(crate) struct Refused {
    /// The status.
    pub(crate) status: u16,
    /// The reason.
    pub(crate) reason: String,
}

impl Sidecar {
    /// Opens a stream whose first line is `first`, with the mesh-wide join token.
    pub(crate) async fn open(cp: &ControlPlane, first: &str) -> Result<Sidecar, Refused> {
        Sidecar::open_with(cp, Some(&cp.token()), first).await
    }

    /// Opens a stream whose first line is `first`, with `token` (none: no header).
    pub(crate) async fn open_with(
        cp: &ControlPlane,
        token: Option<&str>,
        first: &str,
    ) -> Result<Sidecar, Refused> {
        let api = cp.api;
        let stream = cp.tls(b"h2").await;
        let (mut send, conn) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(stream))
                .await
                .unwrap();
        let connection = tokio::spawn(async move {
            let _ = conn.await;
        });
        let (tx, body) = convoy_protocol::channel(16);
        tx.send(Bytes::from(format!("{first}\n"))).await.unwrap();
        let mut request = http::Request::post(format!("https://{api}{STREAM_PATH}"))
            .header("content-type", NDJSON);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(body).unwrap();
        let response = tokio::time::timeout(Duration::from_secs(5), send.send_request(request))
            .await
            .expect("an answer within 5 s")
            .unwrap();
        if response.status() != 200 {
            let reason = response
                .headers()
                .get("x-convoy-error")
                .map(|v| v.to_str().unwrap().to_owned())
                .unwrap_or_default();
            return Err(Refused {
                status: response.status().as_u16(),
                reason,
            });
        }
        assert_eq!(response.headers()["content-type"], "application/x-ndjson");
        Ok(Sidecar {
            tx: Some(tx),
            lines: BodyLines::new(response.into_body(), MAX_CONTROL_PLANE_LINE),
            connection,
        })
    }

    /// Registers `id` of `service` at `address`.
    pub(crate) async fn connect(
        cp: &ControlPlane,
        id: &str,
        service: &str,
        address: &str,
    ) -> Sidecar {
        Sidecar::open(cp, &hello(id, service, address).to_string())
            .await
            .unwrap_or_else(|refused| panic!("hello refused: {refused:?}"))
    }

    /// Sends one message.
    pub(crate) async fn send(&self, message: Value) {
        let line = format!("{message}\n");
        self.tx
            .as_ref()
            .expect("stream still open")
            .send(Bytes::from(line))
            .await
            .unwrap();
    }

    /// The next message within `wait`; `None` if none came, panics if the stream ended.
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<Value> {
        match tokio::time::timeout(wait, self.next_line()).await {
            Err(_) => None,
            Ok(None) => panic!("the stream ended"),
            Ok(Some(line)) => Some(serde_json::from_slice(&line).unwrap()),
        }
    }

    /// The next message (within 5 s).
    pub(crate) async fn next(&mut self) -> Value {
        self.next_within(Duration::from_secs(5))
            .await
            .expect("a message within 5 s")
    }

    /// The next snapshot within `wait`, skipping other messages.
    pub(crate) async fn snapshot_within(&mut self, wait: Duration) -> Option<Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.next_within(left).await?;
            if message["type"] == "snapshot" {
                return Some(message);
            }
        }
    }

    /// The next snapshot (within 5 s).
    pub(crate) async fn snapshot(&mut self) -> Value {
        self.snapshot_within(Duration::from_secs(5))
            .await
            .expect("a snapshot within 5 s")
    }

    /// Whether the response stream ends within `wait`.
    pub(crate) async fn ends_within(&mut self, wait: Duration) -> bool {
        tokio::time::timeout(wait, async { while self.next_line().await.is_some() {} })
            .await
            .is_ok()
    }

    /// Ends the request body cleanly (the sidecar hangs up).
    pub(crate) fn hang_up(&mut self) {
        self.tx = None;
    }

    /// Drops the connection at once (the sidecar crashed).
    pub(crate) fn crash(self) {
        self.connection.abort();
    }

    /// The next line; `None` once the stream ended or broke.
    async fn next_line(&mut self) -> Option<Bytes> {
        self.lines.next_line().await.ok().flatten()
    }
}

/// The registered and YAML endpoints of `service` in a snapshot.
pub(crate) fn endpoints(snapshot: &Value, service: &str) -> Vec<String> {
    snapshot["mesh"]["services"][service]["endpoints"]
        .as_array()
        .map(|a| a.iter().map(|e| e.as_str().unwrap().to_owned()).collect())
        .unwrap_or_default()
}

/// A snapshot's version.
pub(crate) fn version(snapshot: &Value) -> u64 {
    snapshot["version"].as_u64().expect("a version")
}
