//! One connection to the target and one request over it, with errors sorted by kind.

use std::net::SocketAddr;
use std::time::Instant;

use bytes::Bytes;
use http::{header, Method, Request, Uri};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::{http1, http2};
use hyper_util::rt::{TokioExecutor, TokioIo};
use tokio::net::TcpStream;

use crate::report::{ErrorKind, Outcome};

/// Where requests go and what they look like; shared by every connection.
#[derive(Debug)]
pub(crate) struct Target {
    pub(crate) addr: SocketAddr,
    pub(crate) http2: bool,
    /// The full URL (HTTP/2 requests carry scheme and authority).
    pub(crate) url: Uri,
    /// The path and query (HTTP/1.1 requests, with a Host header).
    pub(crate) path: Uri,
    pub(crate) authority: String,
    /// The POST body, or `None` for GET.
    pub(crate) body: Option<Bytes>,
}

impl Target {
    /// The next request to send.
    pub(crate) fn request(&self) -> Request<Full<Bytes>> {
        let (method, body) = match &self.body {
            Some(body) => (Method::POST, Full::new(body.clone())),
            None => (Method::GET, Full::default()),
        };
        let builder = Request::builder().method(method);
        let builder = if self.http2 {
            builder.uri(self.url.clone())
        } else {
            builder
                .uri(self.path.clone())
                .header(header::HOST, self.authority.as_str())
        };
        let builder = if self.body.is_some() {
            builder.header(header::CONTENT_TYPE, "application/octet-stream")
        } else {
            builder
        };
        builder
            .body(body)
            .expect("a request built from a parsed URL")
    }
}

/// A client connection of either protocol.
pub(crate) enum Conn {
    Http1(http1::SendRequest<Full<Bytes>>),
    Http2(http2::SendRequest<Full<Bytes>>),
}

impl Conn {
    /// Opens a connection and does the HTTP handshake; any failure is a connect error.
    pub(crate) async fn open(target: &Target) -> Result<Conn, ErrorKind> {
        let stream = TcpStream::connect(target.addr)
            .await
            .map_err(|_| ErrorKind::Connect)?;
        // Small request/response exchanges: don't let Nagle add latency.
        let _ = stream.set_nodelay(true);
        let io = TokioIo::new(stream);
        if target.http2 {
            let (sender, connection) = http2::handshake(TokioExecutor::new(), io)
                .await
                .map_err(|_| ErrorKind::Connect)?;
            tokio::spawn(connection);
            Ok(Conn::Http2(sender))
        } else {
            let (sender, connection) =
                http1::handshake(io).await.map_err(|_| ErrorKind::Connect)?;
            tokio::spawn(connection);
            Ok(Conn::Http1(sender))
        }
    }

    /// Whether the connection can take another request (waits while an HTTP/1.1 one is busy).
    pub(crate) async fn ready(&mut self) -> bool {
        match self {
            Conn::Http1(sender) => sender.ready().await.is_ok(),
            Conn::Http2(sender) => sender.ready().await.is_ok(),
        }
    }
}

/// Sends `request` on `conn`, reads the whole response, and says how it ended; latency is
/// measured from `scheduled`.
pub(crate) async fn exchange(
    conn: &mut Conn,
    request: Request<Full<Bytes>>,
    scheduled: Instant,
) -> Outcome {
    let response = match conn {
        Conn::Http1(sender) => sender.send_request(request).await,
        Conn::Http2(sender) => sender.send_request(request).await,
    };
    let Ok(response) = response else {
        return Outcome::Failed(ErrorKind::Other);
    };
    let status = response.status();
    if response.into_body().collect().await.is_err() {
        return Outcome::Failed(ErrorKind::Other);
    }
    let error = if status.is_server_error() {
        Some(ErrorKind::Status5xx)
    } else if status.is_client_error() {
        Some(ErrorKind::Status4xx)
    } else {
        None
    };
    Outcome::Response {
        latency: scheduled.elapsed(),
        error,
    }
}
