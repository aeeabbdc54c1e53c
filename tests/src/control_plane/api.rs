//! Talking to the control plane's API as its clients do: HTTPS, the server certificate
//! verified against the mesh's `ca.pem` (WebPKI hostname rules, name `127.0.0.1`), and for
//! streams a join token and a `hello` as the first line.

use crate::client::{full, Body, ClientError, Reply};
use bytes::Bytes;
use convoy_harness::tls;
use convoy_protocol::{BodyLines, MAX_CONTROL_PLANE_LINE, NDJSON, STREAM_PATH};
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo};
use rustls_pki_types::ServerName;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpStream;
use tokio::sync::mpsc;
use tokio_rustls::client::TlsStream;

/// An HTTPS client of one control plane's API.
#[derive(Debug, Clone)]
pub struct ApiClient {
    addr: SocketAddr,
    h1: Arc<rustls::ClientConfig>,
    h2: Arc<rustls::ClientConfig>,
}

impl ApiClient {
    /// A client of the API at `addr`, trusting the anchors of `ca_file`.
    pub fn new(addr: SocketAddr, ca_file: &Path) -> Self {
        let roots = tls::roots(ca_file).unwrap_or_else(|e| panic!("{e}"));
        ApiClient {
            addr,
            h1: tls::client_config(roots.clone(), &[b"http/1.1"]),
            h2: tls::client_config(roots, &[b"h2"]),
        }
    }

    /// A TLS connection to the API (ALPN `h2` if `http2`, else `http/1.1`).
    pub(crate) async fn connect(
        &self,
        http2: bool,
    ) -> Result<TlsStream<TcpStream>, std::io::Error> {
        let config = if http2 { &self.h2 } else { &self.h1 };
        let tcp = TcpStream::connect(self.addr).await?;
        let name = ServerName::IpAddress(self.addr.ip().into());
        tokio_rustls::TlsConnector::from(config.clone())
            .connect(name, tcp)
            .await
    }

    /// A request builder for `path` with the `host` header set.
    pub fn request(&self, method: &str, path: &str) -> http::request::Builder {
        http::Request::builder()
            .method(method)
            .uri(path)
            .header("host", self.addr.to_string())
    }

    /// Sends `request` over a new HTTPS connection (HTTP/1.1) and reads the whole answer.
    pub async fn try_send(&self, request: http::Request<Body>) -> Result<Reply, ClientError> {
        let stream = self
            .connect(false)
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))?;
        let (mut sender, connection) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))?;
        tokio::spawn(connection);
        let response = sender
            .send_request(request)
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))?;
        Reply::collect(response).await
    }

    /// [`ApiClient::try_send`], panicking on failure or after [`crate::STEP_TIMEOUT`].
    pub async fn send(&self, request: http::Request<Body>) -> Reply {
        let what = format!(
            "{} https://{}{}",
            request.method(),
            self.addr,
            request.uri()
        );
        match crate::within(crate::STEP_TIMEOUT, &what, self.try_send(request)).await {
            Ok(reply) => reply,
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// `GET path`.
    pub(crate) async fn get(&self, path: &str) -> Reply {
        let request = self
            .request("GET", path)
            .body(crate::client::empty())
            .expect("a valid request");
        self.send(request).await
    }

    /// `POST path` with a JSON body and, if any, `authorization: Bearer <token>`.
    pub async fn post_json(
        &self,
        path: &str,
        token: Option<&str>,
        body: &serde_json::Value,
    ) -> Reply {
        let mut request = self
            .request("POST", path)
            .header("content-type", "application/json");
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request
            .body(full(body.to_string()))
            .expect("a valid request");
        self.send(request).await
    }

    /// Opens `POST /v1/stream` over HTTP/2 with `token` (none: no header), sending `first` as
    /// the first line: the open stream, or the refusal.
    pub async fn open_stream(&self, token: Option<&str>, first: &str) -> Result<Stream, Reply> {
        let tls = self
            .connect(true)
            .await
            .expect("a TLS connection to the API");
        let (mut sender, connection) =
            hyper::client::conn::http2::handshake(TokioExecutor::new(), TokioIo::new(tls))
                .await
                .expect("an HTTP/2 connection to the API");
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let (tx, body) = convoy_protocol::channel(16);
        tx.send(Bytes::from(format!("{first}\n")))
            .await
            .expect("the body channel is open");
        let mut request = http::Request::post(format!("https://{}{STREAM_PATH}", self.addr))
            .header("content-type", NDJSON);
        if let Some(token) = token {
            request = request.header("authorization", format!("Bearer {token}"));
        }
        let request = request.body(body).expect("a valid request");
        let response = crate::within(
            crate::STEP_TIMEOUT,
            "the stream's answer",
            sender.send_request(request),
        )
        .await
        .expect("an answer to POST /v1/stream");
        if response.status() != 200 {
            return Err(Reply::collect(response).await.expect("the refusal's body"));
        }
        Ok(Stream {
            _tx: tx,
            lines: BodyLines::new(response.into_body(), MAX_CONTROL_PLANE_LINE),
        })
    }
}

/// An open sidecar stream: the request body stays open while it lives.
#[derive(Debug)]
pub struct Stream {
    _tx: mpsc::Sender<Bytes>,
    lines: BodyLines<Incoming>,
}

impl Stream {
    /// The next message within `wait`; `None` if none came (or the stream ended).
    pub(crate) async fn next_within(&mut self, wait: Duration) -> Option<serde_json::Value> {
        let line = tokio::time::timeout(wait, self.next_line()).await.ok()??;
        Some(serde_json::from_slice(&line).expect("each line is JSON"))
    }

    /// The next `snapshot` within `wait`, skipping other messages.
    pub async fn snapshot_within(&mut self, wait: Duration) -> Option<serde_json::Value> {
        let deadline = tokio::time::Instant::now() + wait;
        loop {
            let left = deadline.saturating_duration_since(tokio::time::Instant::now());
            let message = self.next_within(left).await?;
            if message["type"] == "snapshot" {
                return Some(message);
            }
        }
    }

    /// The next line; `None` once the stream ended or broke.
    async fn next_line(&mut self) -> Option<Bytes> {
        self.lines.next_line().await.ok().flatten()
    }
}
