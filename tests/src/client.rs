//! HTTP clients that talk to one fixed address (a proxy listener) whatever the URI names, so a
//! request for `http://orders/x` carries `Host: orders` (HTTP/1.1) or `:authority: orders`
//! (HTTP/2) and still reaches the proxy. Pooled, built on hyper-util's legacy client.

use bytes::Bytes;
use futures_util::StreamExt;
use http::{HeaderMap, Request, Response, StatusCode, Uri, Version};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Empty, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioIo};
use std::fmt;
use std::future::Future;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// A boxed error with its sources.
pub(crate) type BoxError = Box<dyn std::error::Error + Send + Sync + 'static>;

/// The request body type of every client here.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// An empty body.
pub fn empty() -> Body {
    Empty::<Bytes>::new()
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// Which HTTP version a client speaks to the proxy.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Proto {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    Http2,
}

impl Proto {
    /// The version responses over this protocol carry.
    pub fn version(self) -> Version {
        match self {
            Proto::Http1 => Version::HTTP_11,
            Proto::Http2 => Version::HTTP_2,
        }
    }
}

/// Why a request failed on the client side.
#[derive(Debug)]
pub enum ClientError {
    /// Sending the request or receiving the response head failed.
    Send(BoxError),
    /// Reading the response body failed.
    Body(BoxError),
}

impl fmt::Display for ClientError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (what, error) = match self {
            ClientError::Send(e) => ("request failed", e),
            ClientError::Body(e) => ("response body failed", e),
        };
        write!(f, "{what}: {error}")?;
        let mut source = error.source();
        while let Some(e) = source {
            write!(f, ": {e}")?;
            source = e.source();
        }
        Ok(())
    }
}

impl std::error::Error for ClientError {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        match self {
            ClientError::Send(e) | ClientError::Body(e) => Some(e.as_ref()),
        }
    }
}

/// A complete response: head, whole body and trailers.
#[derive(Debug, Clone)]
pub struct Reply {
    /// The status.
    pub status: StatusCode,
    /// The HTTP version of the response.
    pub version: Version,
    /// The headers.
    pub headers: HeaderMap,
    /// The whole body.
    pub body: Bytes,
    /// The trailers, if any were sent.
    pub trailers: Option<HeaderMap>,
}

impl Reply {
    /// A header's value as text, if present and printable.
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }

    /// The `x-convoy-error` header: why the proxy answered itself.
    pub fn convoy_error(&self) -> Option<&str> {
        self.header("x-convoy-error")
    }

    /// The `x-upstream` header (the echo server that answered), or `(the proxy)` without one.
    pub fn upstream(&self) -> &str {
        self.header("x-upstream").unwrap_or("(the proxy)")
    }

    /// The body as text (lossy).
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    /// Reads a whole response.
    pub async fn collect(response: Response<Incoming>) -> Result<Reply, ClientError> {
        let (parts, body) = response.into_parts();
        let collected = body
            .collect()
            .await
            .map_err(|e| ClientError::Body(Box::new(e)))?;
        let trailers = collected.trailers().cloned();
        Ok(Reply {
            status: parts.status,
            version: parts.version,
            headers: parts.headers,
            body: collected.to_bytes(),
            trailers,
        })
    }
}

/// A connector that connects every URI to one address.
#[derive(Debug, Clone)]
pub(crate) struct FixedConnector(pub(crate) SocketAddr);

impl tower::Service<Uri> for FixedConnector {
    type Response = TokioIo<TcpStream>;
    type Error = std::io::Error;
    type Future = Pin<Box<dyn Future<Output = std::io::Result<TokioIo<TcpStream>>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _: Uri) -> Self::Future {
        let addr = self.0;
        Box::pin(async move {
            let stream = TcpStream::connect(addr).await?;
            stream.set_nodelay(true)?;
            Ok(TokioIo::new(stream))
        })
    }
}

/// A pooled client that sends every request to one address over one protocol.
#[derive(Debug, Clone)]
pub struct HttpClient {
    proto: Proto,
    inner: Client<FixedConnector, Body>,
}

impl HttpClient {
    /// A client of `addr` speaking `proto`.
    pub fn new(proto: Proto, addr: SocketAddr) -> Self {
        let mut builder = Client::builder(TokioExecutor::new());
        if proto == Proto::Http2 {
            builder.http2_only(true);
        }
        HttpClient {
            proto,
            inner: builder.build(FixedConnector(addr)),
        }
    }

    /// The protocol this client speaks.
    pub fn proto(&self) -> Proto {
        self.proto
    }

    /// A GET request builder for `http://{host}{path}`; `host` becomes `Host` (HTTP/1.1) or
    /// `:authority` (HTTP/2).
    pub fn request(&self, host: &str, path: &str) -> http::request::Builder {
        Request::get(format!("http://{host}{path}"))
    }

    /// Sends a request and reads the whole response.
    pub async fn try_send(&self, request: Request<Body>) -> Result<Reply, ClientError> {
        Reply::collect(self.try_send_head(request).await?).await
    }

    /// Sends a request; the response body is left to the caller.
    pub async fn try_send_head(
        &self,
        request: Request<Body>,
    ) -> Result<Response<Incoming>, ClientError> {
        self.inner
            .request(request)
            .await
            .map_err(|e| ClientError::Send(Box::new(e)))
    }

    /// Sends a request and reads the whole response; panics if that fails or takes longer than
    /// [`crate::STEP_TIMEOUT`].
    pub async fn send(&self, request: Request<Body>) -> Reply {
        let what = format!("{:?} {} {}", self.proto, request.method(), request.uri());
        match crate::within(crate::STEP_TIMEOUT, &what, self.try_send(request)).await {
            Ok(reply) => reply,
            Err(e) => panic!("{what}: {e}"),
        }
    }

    /// Sends the `count` requests `make` builds from `0..count`, `in_flight` at a time (see
    /// [`HttpClient::send`]); the replies in the order they came.
    pub async fn send_many(
        &self,
        count: usize,
        in_flight: usize,
        make: impl Fn(usize) -> Request<Body>,
    ) -> Vec<Reply> {
        futures_util::stream::iter((0..count).map(make))
            .map(|request| {
                let client = self.clone();
                async move { client.send(request).await }
            })
            .buffer_unordered(in_flight)
            .collect()
            .await
    }

    /// GETs `http://{host}{path}`; see [`HttpClient::send`].
    pub async fn get(&self, host: &str, path: &str) -> Reply {
        let request = self
            .request(host, path)
            .body(empty())
            .expect("a valid request");
        self.send(request).await
    }
}
