//! An HTTP server that records every request and answers with a configurable status, headers,
//! body and delay (and, with [`Flaky`], differently for some requests).

use super::flaky::Flaky;
use super::serve::{bind_loopback, spawn_http_on, ServerBody, Serving};
use crate::client::full;
use crate::data::{checksum, Checksum};
use bytes::Bytes;
use http::{HeaderMap, HeaderName, HeaderValue, Method, StatusCode, Uri, Version};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// A request as the upstream received it.
#[derive(Debug, Clone)]
pub struct Seen {
    /// The method.
    pub method: Method,
    /// The request target as received.
    pub uri: Uri,
    /// The HTTP version of the hop into this server.
    pub version: Version,
    /// The headers.
    pub headers: HeaderMap,
    /// How many body bytes arrived.
    pub body_len: usize,
    /// Whether the body arrived whole (false: it was cut off or failed).
    pub body_complete: bool,
    /// The [`Checksum`] of the body bytes that arrived.
    pub body_checksum: u64,
}

impl Seen {
    /// A header's value as text, if present.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

/// How the echo server answers.
#[derive(Debug, Clone)]
pub struct Behaviour {
    /// The status.
    pub(crate) status: StatusCode,
    /// Extra response headers.
    pub(crate) headers: HeaderMap,
    /// The body; empty means the server's name.
    pub(crate) body: Bytes,
    /// How long to wait (after reading the request) before answering.
    pub(crate) delay: Duration,
    /// Requests answered otherwise (another status, a longer delay).
    pub(crate) flaky: Option<Flaky>,
}

impl Default for Behaviour {
    fn default() -> Self {
        Behaviour {
            status: StatusCode::OK,
            headers: HeaderMap::new(),
            body: Bytes::new(),
            delay: Duration::ZERO,
            flaky: None,
        }
    }
}

impl Behaviour {
    /// Answers after `delay`.
    pub fn delay(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }

    /// Adds a response header.
    pub fn header(mut self, name: &'static str, value: &'static str) -> Self {
        self.headers.append(
            HeaderName::from_static(name),
            HeaderValue::from_static(value),
        );
        self
    }

    /// Answers with `status`.
    pub fn status(mut self, status: u16) -> Self {
        self.status = StatusCode::from_u16(status).expect("a valid status");
        self
    }

    /// Answers the requests `flaky` picks as it says.
    pub fn flaky(mut self, flaky: Flaky) -> Self {
        self.flaky = Some(flaky);
        self
    }
}

#[derive(Debug, Default)]
struct State {
    seen: Mutex<Vec<Seen>>,
    behaviour: Mutex<Behaviour>,
}

/// The echo server. Every response carries `x-upstream: <name>`.
#[derive(Debug)]
pub struct EchoServer {
    name: String,
    state: Arc<State>,
    serving: Serving,
}

impl EchoServer {
    /// Starts a server named `name` answering 200 with its name.
    pub async fn start(name: &str) -> EchoServer {
        EchoServer::with(name, Behaviour::default()).await
    }

    /// Starts a server named `name` that answers as `behaviour` says.
    pub async fn with(name: &str, behaviour: Behaviour) -> EchoServer {
        EchoServer::serve(bind_loopback().await, name, behaviour)
    }

    /// Starts a server named `name` on exactly `addr` (say, a port where nothing listened
    /// before, to bring an endpoint back), answering as `behaviour` says.
    pub async fn bind(addr: SocketAddr, name: &str, behaviour: Behaviour) -> EchoServer {
        let listener = tokio::net::TcpListener::bind(addr)
            .await
            .unwrap_or_else(|e| panic!("bind {addr} for upstream {name}: {e}"));
        EchoServer::serve(listener, name, behaviour)
    }

    /// Serves as the server named `name` answering as `behaviour` says on what `listener`
    /// accepts.
    fn serve(listener: tokio::net::TcpListener, name: &str, behaviour: Behaviour) -> EchoServer {
        let state = Arc::new(State {
            seen: Mutex::default(),
            behaviour: Mutex::new(behaviour),
        });
        let handler = {
            let (state, name) = (state.clone(), name.to_owned());
            move |request| handle(state.clone(), name.clone(), request)
        };
        EchoServer {
            name: name.to_owned(),
            state,
            serving: spawn_http_on(listener, handler),
        }
    }

    /// The server's name (its `x-upstream` header and default body).
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr
    }

    /// Changes how it answers from now on.
    pub fn set_behaviour(&self, behaviour: Behaviour) {
        *self.state.behaviour.lock().expect("not poisoned") = behaviour;
    }

    /// Every request received so far, in arrival order.
    pub fn seen(&self) -> Vec<Seen> {
        self.state.seen.lock().expect("not poisoned").clone()
    }

    /// How many requests were received.
    pub fn count(&self) -> usize {
        self.state.seen.lock().expect("not poisoned").len()
    }

    /// The last request received; panics if there was none.
    pub fn last(&self) -> Seen {
        self.seen()
            .pop()
            .unwrap_or_else(|| panic!("upstream {} received no request", self.name))
    }

    /// Connections accepted so far.
    pub fn connections(&self) -> usize {
        self.serving.connections()
    }

    /// Waits until at least `n` requests have arrived (panics after [`crate::STEP_TIMEOUT`]).
    pub async fn wait_for(&self, n: usize) {
        let what = format!("upstream {} to receive {n} requests", self.name);
        crate::within(crate::STEP_TIMEOUT, &what, async {
            while self.count() < n {
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
    }
}

async fn handle(
    state: Arc<State>,
    name: String,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<ServerBody> {
    let (parts, body) = request.into_parts();
    let (body_len, body_complete, body_checksum) = match body.collect().await {
        Ok(collected) => {
            let bytes = collected.to_bytes();
            (bytes.len(), true, checksum(&bytes))
        }
        Err(_) => (0, false, Checksum::default().value()),
    };
    let behaviour = state.behaviour.lock().expect("not poisoned").clone();
    let exception = behaviour
        .flaky
        .as_ref()
        .and_then(|f| f.judge(&parts.method));
    state.seen.lock().expect("not poisoned").push(Seen {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body_len,
        body_complete,
        body_checksum,
    });
    let delay = behaviour.delay + exception.map_or(Duration::ZERO, |e| e.delay);
    if !delay.is_zero() {
        tokio::time::sleep(delay).await;
    }
    let body = if behaviour.body.is_empty() {
        Bytes::from(name.clone())
    } else {
        behaviour.body
    };
    let mut response = http::Response::new(full(body));
    *response.status_mut() = exception.and_then(|e| e.status).unwrap_or(behaviour.status);
    response.headers_mut().extend(behaviour.headers);
    if let Ok(value) = HeaderValue::from_str(&name) {
        response.headers_mut().insert("x-upstream", value);
    }
    response
}
