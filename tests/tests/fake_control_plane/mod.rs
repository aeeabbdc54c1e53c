//! A tiny control plane for testing the sidecar's client, over TLS like the real one: an HTTP/2
//! server (certificate from its own test CA, [`pki::Pki`]) answering `POST /v1/stream`
//! (control-plane/PROTOCOL.md) — records every message a sidecar sends, answers pings, sends the
//! latest snapshot after each `hello`, pushes the snapshots a test chooses, each with its
//! `trust` — and `POST /v1/certificate`, signing the sidecars' CSRs with its CA for a lifetime
//! the test sets. Both check the join token.

// Each test binary that includes this module uses a different part of it.
#![allow(dead_code)]

pub(crate) mod mtls_client;
pub(crate) mod pki;

use bytes::Bytes;
use convoy_harness::pki::{spiffe_id, Leaf, TestCa, TRUST_DOMAIN};
use convoy_protocol::{
    snapshot_line, BodyLines, CertificateRequest, CertificateResponse, Trust, CERTIFICATE_PATH,
    MAX_CERTIFICATE_REQUEST, MAX_SIDECAR_LINE, PONG_LINE, STREAM_PATH,
};
use convoy_tests::{within, ProxyBuilder};
use http_body_util::{BodyExt, Full, Limited};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use pki::Pki;
use rcgen::{CertificateSigningRequestParams, SanType};
use serde_json::{json, Value};
use std::collections::HashMap;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use tokio::net::TcpListener;
use tokio::sync::mpsc;
use tokio::task::AbortHandle;
use tokio_rustls::TlsAcceptor;

type ResponseBody = http_body_util::combinators::UnsyncBoxBody<Bytes, Infallible>;

struct State {
    /// Every message received, in order.
    messages: Vec<Value>,
    /// The open streams that said hello, by stream number.
    streams: HashMap<u64, mpsc::Sender<Bytes>>,
    next_stream: u64,
    /// The line sent after each hello.
    latest: Option<Bytes>,
    /// The CA that signs sidecar certificates now.
    signer: Arc<TestCa>,
    /// The trust bundle sent (PEM).
    bundle: String,
    /// The lifetime of the certificates issued.
    ttl: Duration,
    /// Certificates issued: (service, sidecar id).
    issued: Vec<(String, String)>,
    /// Certificate requests refused.
    refused: Vec<String>,
}

/// The fake control plane; dropping it closes its listener and every connection.
pub(crate) struct FakeControlPlane {
    addr: SocketAddr,
    pki: Arc<Pki>,
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
    /// Starts on `127.0.0.1:0` with a new CA.
    pub(crate) async fn start() -> Self {
        Self::serve(TcpListener::bind("127.0.0.1:0").await.unwrap(), Pki::new())
    }

    /// Starts on exactly `addr` with the CA of `pki` (a control plane coming back where it was).
    pub(crate) async fn start_on(addr: SocketAddr, pki: Arc<Pki>) -> Self {
        Self::serve(TcpListener::bind(addr).await.unwrap(), pki)
    }

    fn serve(listener: TcpListener, pki: Arc<Pki>) -> Self {
        let addr = listener.local_addr().unwrap();
        let state = Arc::new(Mutex::new(State {
            messages: Vec::new(),
            streams: HashMap::new(),
            next_stream: 0,
            latest: None,
            signer: pki.ca.clone(),
            bundle: pki.ca.pem().to_owned(),
            ttl: Duration::from_secs(3600),
            issued: Vec::new(),
            refused: Vec::new(),
        }));
        let tasks: Arc<Mutex<Vec<AbortHandle>>> = Arc::default();
        let accept = {
            let (state, tasks, pki) = (state.clone(), tasks.clone(), pki.clone());
            let acceptor = TlsAcceptor::from(pki.server_config());
            tokio::spawn(async move {
                loop {
                    let Ok((stream, _)) = listener.accept().await else {
                        continue;
                    };
                    let (state, pki, acceptor) = (state.clone(), pki.clone(), acceptor.clone());
                    let connection = tokio::spawn(async move {
                        let Ok(tls) = acceptor.accept(stream).await else {
                            return;
                        };
                        let service = hyper::service::service_fn(move |request| {
                            let (state, pki) = (state.clone(), pki.clone());
                            async move { Ok::<_, Infallible>(handle(state, pki, request).await) }
                        });
                        let _ = hyper::server::conn::http2::Builder::new(TokioExecutor::new())
                            .serve_connection(TokioIo::new(tls), service)
                            .await;
                    });
                    tasks.lock().unwrap().push(connection.abort_handle());
                }
            })
        };
        tasks.lock().unwrap().push(accept.abort_handle());
        FakeControlPlane {
            addr,
            pki,
            state,
            tasks,
        }
    }

    /// Where it listens.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// Its URL, for `--control-plane`.
    pub(crate) fn url(&self) -> String {
        format!("https://{}", self.addr)
    }

    /// Its PKI (CA, files), to start another on the same address with.
    pub(crate) fn pki(&self) -> Arc<Pki> {
        self.pki.clone()
    }

    /// The sidecar of `service` (its app at `app`) run by this control plane, with its CA file
    /// and join token.
    pub(crate) fn sidecar(&self, service: &str, app: SocketAddr) -> ProxyBuilder {
        convoy_tests::Proxy::with_control_plane(&self.url(), service, app)
            .control_plane_credentials(self.pki.ca_file(), self.pki.token_file())
    }

    /// The `trust` of each snapshot.
    fn trust(&self) -> Trust {
        Trust {
            trust_domain: TRUST_DOMAIN.to_owned(),
            bundle: self.state.lock().unwrap().bundle.clone(),
        }
    }

    /// Publishes snapshot `version` of `services` (the wire form's `services` object), with the
    /// trust bundle: sent to every stream now, and to each that says hello later.
    pub(crate) fn push(&self, version: u64, services: Value) {
        let mesh = json!({ "services": services }).to_string();
        self.push_bytes(snapshot_line(version, mesh.as_bytes(), &self.trust()));
    }

    /// Sends `line` (a newline is added) to every stream now, and to each that says hello later.
    pub(crate) fn push_line(&self, line: &str) {
        self.push_bytes(Bytes::from(format!("{line}\n")));
    }

    /// Sends `line` (`\n` included) to every stream now, and to each that says hello later.
    fn push_bytes(&self, line: Bytes) {
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

    /// Issues certificates valid for `ttl` from now on.
    pub(crate) fn set_certificate_ttl(&self, ttl: Duration) {
        self.state.lock().unwrap().ttl = ttl;
    }

    /// Rotates the CA: `next` signs from now on, and the bundle (in snapshots pushed from now
    /// on, and in certificate answers) holds both.
    pub(crate) fn rotate_ca(&self, next: Arc<TestCa>) {
        let mut state = self.state.lock().unwrap();
        state.bundle = format!("{}{}", next.pem(), state.signer.pem());
        state.signer = next;
    }

    /// Sends `bundle` (PEM) as the trust bundle from now on.
    pub(crate) fn set_bundle(&self, bundle: &str) {
        self.state.lock().unwrap().bundle = bundle.to_owned();
    }

    /// How many certificates were issued for `service`.
    pub(crate) fn issued(&self, service: &str) -> usize {
        let state = self.state.lock().unwrap();
        state.issued.iter().filter(|(s, _)| s == service).count()
    }

    /// The reasons of the certificate requests refused so far.
    pub(crate) fn refused(&self) -> Vec<String> {
        self.state.lock().unwrap().refused.clone()
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

/// An answer with `status`, `x-convoy-error: reason` and the reason as the body.
fn refusal(status: u16, reason: &str) -> http::Response<ResponseBody> {
    http::Response::builder()
        .status(status)
        .header("x-convoy-error", reason)
        .body(Full::new(Bytes::from(format!("{reason}\n"))).boxed_unsync())
        .expect("a valid response")
}

/// Answers one request: the stream, a certificate, or 404.
async fn handle(
    state: Arc<Mutex<State>>,
    pki: Arc<Pki>,
    request: http::Request<Incoming>,
) -> http::Response<ResponseBody> {
    let token_ok = request
        .headers()
        .get(http::header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        == Some(&format!("Bearer {}", pki.token()));
    match (request.method().as_str(), request.uri().path()) {
        ("POST", STREAM_PATH) if token_ok => stream(state, request),
        ("POST", CERTIFICATE_PATH) if token_ok => certificate(state, request).await,
        ("POST", STREAM_PATH | CERTIFICATE_PATH) => refusal(401, "join token refused"),
        _ => refusal(404, "not found"),
    }
}

fn stream(
    state: Arc<Mutex<State>>,
    request: http::Request<Incoming>,
) -> http::Response<ResponseBody> {
    let (tx, body) = convoy_protocol::channel(64);
    tokio::spawn(read_stream(state, request.into_body(), tx));
    http::Response::new(body.boxed_unsync())
}

/// Signs the CSR of a `CertificateRequest` if it asks for exactly its service's identity, as
/// the real CA does.
async fn certificate(
    state: Arc<Mutex<State>>,
    request: http::Request<Incoming>,
) -> http::Response<ResponseBody> {
    let body = match Limited::new(request.into_body(), MAX_CERTIFICATE_REQUEST)
        .collect()
        .await
    {
        Ok(body) => body.to_bytes(),
        Err(e) => return refusal(400, &format!("bad body: {e}")),
    };
    let asked: CertificateRequest = match serde_json::from_slice(&body) {
        Ok(asked) => asked,
        Err(e) => return refusal(400, &format!("bad JSON: {e}")),
    };
    let (id, service, csr) = (&asked.id, &asked.service, &asked.csr);
    let mut state = state.lock().unwrap();
    let csr = match CertificateSigningRequestParams::from_pem(csr) {
        Ok(csr) => csr,
        Err(e) => {
            state.refused.push(format!("bad CSR: {e}"));
            return refusal(400, &format!("bad CSR: {e}"));
        }
    };
    let expected = spiffe_id(service);
    let asks: Vec<String> = csr
        .params
        .subject_alt_names
        .iter()
        .map(|san| match san {
            SanType::URI(uri) => uri.as_str().to_owned(),
            other => format!("{other:?}"),
        })
        .collect();
    if asks != [expected.clone()] {
        let reason = format!("the CSR asks for {asks:?}, not {expected}");
        state.refused.push(reason.clone());
        return refusal(403, &reason);
    }
    let now = SystemTime::now();
    let leaf = Leaf::for_service(service).valid(now - Duration::from_secs(60), now + state.ttl);
    let certificate = state.signer.sign(&leaf, &csr.public_key);
    state.issued.push((service.to_owned(), id.to_owned()));
    let answer = CertificateResponse {
        certificate,
        trust_bundle: state.bundle.clone(),
        trust_domain: TRUST_DOMAIN.to_owned(),
    };
    let answer = serde_json::to_vec(&answer).expect("an answer always serializes");
    http::Response::builder()
        .header("content-type", "application/json")
        .body(Full::new(Bytes::from(answer)).boxed_unsync())
        .expect("a valid response")
}

/// Reads the sidecar's messages: records each, registers the stream at `hello` (and sends the
/// latest snapshot), answers `ping` with `pong`.
async fn read_stream(state: Arc<Mutex<State>>, body: Incoming, tx: mpsc::Sender<Bytes>) {
    let mut tx = Some(tx);
    let mut id = None;
    let mut lines = BodyLines::new(body, MAX_SIDECAR_LINE);
    while let Ok(Some(line)) = lines.next_line().await {
        let message: Value = serde_json::from_slice(&line).expect("the sidecar sends JSON lines");
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
                    let _ = tx.try_send(Bytes::from_static(PONG_LINE));
                }
            }
            _ => {}
        }
    }
    if let Some(n) = id {
        state.lock().unwrap().streams.remove(&n);
    }
}
