//! A tiny control plane for testing the sidecar's client: an h2c server answering
//! `POST /v1/stream` (control-plane/PROTOCOL.md) that records every message a sidecar sends,
//! answers pings, sends the latest snapshot after each `hello`, and pushes the snapshots a test
//! chooses.

use bytes::Bytes;
use convoy_tests::within;
use http_body_util::{BodyExt, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper_util::rt::{TokioExecutor, TokioIo};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;

type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

#[derive(Default)]
struct State {
    /// Every message received, in order.
    messages: Vec<Value>,
    /// The open streams that said hello, by stream number.
    streams: HashMap<u64, mpsc::Sender<Bytes>>,
    next_stream: u64,
    /// The line sent after each hello.
    latest: Option<Bytes>,
}

/// The fake control plane; dropping it closes its listener and every connection.
pub(crate) struct FakeControlPlane {
    addr: SocketAddr,
    state: Arc<Mutex<State>>,
    tasks: Arc<Mutex<Vec<AbortHandle>>>,
}

impl Drop for FakeControlPlane {
    fn drop(&mut self) {
        for task in self.tasks.lock().unwrap().drain(..) {
            task.abort();
        }
    }
}

impl FakeControlPlane {
    /// Starts on `127.0.0.1:0`.
    pub(crate) async fn start() -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap())
    }

    /// Starts on exactly `addr` (a control plane coming back where it was).
    pub(crate) async fn start_on(addr: SocketAddr) -> Self {
        Self::serve(TcpListener::bind(addr).await.unwrap())
    }

    fn serve(listener: TcpListener) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State::default()));
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let (state, tasks) = (state.clone(), tasks.clone());
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let state = state.clone();
                    let service = hyper::service::service_fn(move |request| {
                        let state = state.clone();
                        async move { Ok::<_, Infallible>(handle(state, request)) }
                    });
                    let connection = tokio::spawn(async move {
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(stream), service)
                            .await;
                    });
                    tasks.lock().unwrap().push(connection.abort_handle());
                }
            })
        };
        tasks.lock().unwrap().push(accept.abort_handle());
        FakeControlPlane { addr, state, tasks }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, for `--control-plane`.
    pub(crate) fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Publishes snapshot `version` of `services` (the wire form's `services` object): sent to
    /// every stream now, and to each that says hello later.
    pub(crate) fn push(&self, version: u64, services: Value) {
        let message =
            json!({"type": "snapshot", "version": version, "mesh": {"services": services}});
        self.push_line(&message.to_string());
    }

    /// Sends `line` (a newline is added) to every stream now, and to each that says hello later.
    pub(crate) fn push_line(&self, line: &str) {
        let line = Bytes::from(format!("{line}\n"));
        let mut state = self.state.lock().unwrap();
        state.latest = Some(line.clone());
        for tx in state.streams.values() {
            let _ = tx.try_send(line.clone());
        }
    }

    /// Sends `bytes` as they are to every open stream, without keeping them for later ones.
    pub(crate) fn send_raw(&self, bytes: Bytes) {
        for tx in self.state.lock().unwrap().streams.values() {
            let _ = tx.try_send(bytes.clone());
        }
    }

    /// Ends every open stream's response (the sidecar sees the stream end).
    pub(crate) fn close_streams(&self) {
        self.state.lock().unwrap().streams.clear();
    }

    /// Every message received so far.
    pub(crate) fn messages(&self) -> Vec<Value> {
        self.state.lock().unwrap().messages.clone()
    }

    /// The messages of type `kind` received so far.
    pub(crate) fn of_type(&self, kind: &str) -> Vec<Value> {
        let messages = self.messages();
        messages.into_iter().filter(|m| m["type"] == kind).collect()
    }

    /// Waits until some message satisfies `found`; returns it.
    pub(crate) async fn wait_for(&self, what: &str, found: impl Fn(&Value) -> bool) -> Value {
        within(
            convoy_tests::STEP_TIMEOUT,
            &format!(
                "the control plane to receive {what}; it has {:?}",
                self.messages()
            ),
            async {
                loop {
                    if let Some(message) = self.messages().into_iter().find(|m| found(m)) {
                        return message;
                    }
                    tokio::time::sleep(Duration::from_millis(5)).await;
                }
            },
        )
        .await
    }

    /// Waits for the ack of `version`.
    pub(crate) async fn wait_ack(&self, version: u64) {
        self.wait_for(&format!("ack {version}"), |m| {
            m["type"] == "ack" && m["version"] == version
        })
        .await;
    }

    /// Waits for the nack of `version`; its reason.
    pub(crate) async fn wait_nack(&self, version: u64) -> String {
        let nack = self
            .wait_for(&format!("nack {version}"), |m| {
                m["type"] == "nack" && m["version"] == version
            })
            .await;
        nack["reason"].as_str().expect("a reason").to_owned()
    }

    /// Waits until `n` hellos have arrived; all of them.
    pub(crate) async fn wait_hellos(&self, n: usize) -> Vec<Value> {
        within(convoy_tests::STEP_TIMEOUT, &format!("{n} hellos"), async {
            loop {
                let hellos = self.of_type("hello");
                if hellos.len() >= n {
                    return hellos;
                }
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await
    }
}

/// Answers one request: the stream, or 404.
fn handle(
    state: Arc<Mutex<State>>,
    request: http::Request<Incoming>,
) -> http::Response<ResponseBody> {
    if request.method() != http::Method::POST || request.uri().path() != "/v1/stream" {
        let mut response = http::Response::new(empty());
        *response.status_mut() = http::StatusCode::NOT_FOUND;
        return response;
    }
    let (tx, rx) = mpsc::channel::<Bytes>(64);
    tokio::spawn(read_stream(state, request.into_body(), tx));
    let frames = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv()
            .await
            .map(|line| (Ok::<_, Infallible>(Frame::data(line)), rx))
    });
    http::Response::new(StreamBody::new(frames).boxed_unsync())
}

fn empty() -> ResponseBody {
    http_body_util::Empty::new().boxed_unsync()
}

/// Reads the sidecar's messages: records each, registers the stream at `hello` (and sends the
/// latest snapshot), answers `ping` with `pong`.
async fn read_stream(state: Arc<Mutex<State>>, mut body: Incoming, tx: mpsc::Sender<Bytes>) {
    let mut tx = Some(tx);
    let mut id = None;
    let mut buffer = Vec::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Ok(data) = frame.into_data() else {
            continue;
        };
        buffer.extend_from_slice(&data);
        while let Some(at) = buffer.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = buffer.drain(..=at).collect();
            let message: Value =
                serde_json::from_slice(&line).expect("the sidecar sends JSON lines");
            let mut state = state.lock().unwrap();
            state.messages.push(message.clone());
            match message["type"].as_str() {
                Some("hello") => {
                    if let Some(tx) = tx.take() {
                        if let Some(latest) = &state.latest {
                            let _ = tx.try_send(latest.clone());
                        }
                        let n = state.next_stream;
                        state.next_stream += 1;
                        state.streams.insert(n, tx);
                        id = Some(n);
                    }
                }
                Some("ping") => {
                    if let Some(tx) = id.and_then(|n| state.streams.get(&n)) {
                        let _ = tx.try_send(Bytes::from_static(b"{\"type\":\"pong\"}\n"));
                    }
                }
                _ => {}
            }
        }
    }
    if let Some(n) = id {
        state.lock().unwrap().streams.remove(&n);
    }
}
