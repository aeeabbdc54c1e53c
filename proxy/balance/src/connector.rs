//! An upstream connector that counts the connections of one service and refuses new ones at
//! the circuit breaker's `max_connections`; to a meshed service it speaks mutual TLS, and the
//! server must prove it is that service ([`ConnectorTls`]).

use convoy_identity::{Direction, Identity, Reason, ALPN_H2};
use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// The connect error when a service already has `max_connections` open.
#[derive(Debug, thiserror::Error)]
#[error("max_connections ({max}) reached")]
pub(crate) struct ConnectionLimitReached {
    /// The limit.
    pub(crate) max: u32,
}

/// Why mutual TLS to an endpoint failed (the connect error's message, naming the identities).
#[derive(Debug, thiserror::Error)]
#[error("mtls: {message}")]
pub(crate) struct TlsConnectError {
    /// Why, as `convoy_tls_handshakes_total` counts it.
    pub(crate) reason: Reason,
    /// What went wrong.
    pub(crate) message: String,
}

/// Mutual TLS to the endpoints of one meshed service.
#[derive(Debug, Clone)]
pub struct ConnectorTls {
    identity: Identity,
    /// The service's name: the server must present its identity.
    server_name: ServerName<'static>,
    /// The TLS handshake's bound (the connect timeout bounds the TCP part).
    timeout: Duration,
}

impl ConnectorTls {
    /// TLS with `identity`'s certificate to `service`, whose identity the server must prove.
    /// `None` when the service name cannot be a TLS server name (never for a valid name).
    pub fn new(identity: Identity, service: &str, timeout: Duration) -> Option<Self> {
        Some(ConnectorTls {
            identity,
            server_name: ServerName::try_from(service.to_owned()).ok()?,
            timeout,
        })
    }

    async fn handshake(&self, tcp: TcpStream) -> Result<TlsStream<TcpStream>, TlsConnectError> {
        let metrics = self.identity.metrics();
        let Some(active) = self.identity.active() else {
            metrics.handshake(Direction::Outbound, Reason::NoIdentity);
            return Err(TlsConnectError {
                reason: Reason::NoIdentity,
                message: "this sidecar has no certificate yet".to_owned(),
            });
        };
        let connector = TlsConnector::from(active.client.clone());
        drop(active);
        let handshake = connector.connect(self.server_name.clone(), tcp);
        let (reason, message) = match tokio::time::timeout(self.timeout, handshake).await {
            Ok(Ok(tls)) => {
                metrics.handshake(Direction::Outbound, Reason::Ok);
                return Ok(tls);
            }
            Ok(Err(error)) => (Reason::of_io(&error), Reason::io_message(&error)),
            Err(_) => (
                Reason::Timeout,
                format!(
                    "TLS handshake timed out after {}ms",
                    self.timeout.as_millis()
                ),
            ),
        };
        metrics.handshake(Direction::Outbound, reason);
        Err(TlsConnectError { reason, message })
    }
}

/// Opens TCP connections for one service, at most `max` at once, with mutual TLS when the
/// service is meshed and the sidecar has an identity.
#[derive(Debug, Clone)]
pub(crate) struct CountingConnector {
    inner: HttpConnector,
    open: Arc<AtomicU32>,
    max: u32,
    tls: Option<ConnectorTls>,
}

impl CountingConnector {
    /// Wraps `inner`, allowing `max` open connections, with `tls` or plaintext.
    pub(crate) fn new(inner: HttpConnector, max: u32, tls: Option<ConnectorTls>) -> Self {
        CountingConnector {
            inner,
            open: Arc::new(AtomicU32::new(0)),
            max,
            tls,
        }
    }

    /// Whether `other` counts the same connections (it is a clone of this connector).
    pub(crate) fn shares_count_with(&self, other: &CountingConnector) -> bool {
        Arc::ptr_eq(&self.open, &other.open)
    }
}

/// A connection counted until it is dropped.
#[derive(Debug)]
pub(crate) struct CountedStream {
    inner: Stream,
    open: Arc<AtomicU32>,
}

/// Plaintext or TLS.
#[derive(Debug)]
enum Stream {
    Plain(TokioIo<TcpStream>),
    Tls(TokioIo<Box<TlsStream<TcpStream>>>),
}

impl Drop for CountedStream {
    fn drop(&mut self) {
        self.open.fetch_sub(1, Ordering::AcqRel);
    }
}

impl tower::Service<http::Uri> for CountingConnector {
    type Response = CountedStream;
    type Error = Box<dyn std::error::Error + Send + Sync>;
    type Future = Pin<Box<dyn Future<Output = Result<CountedStream, Self::Error>> + Send>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Self::Error>> {
        self.inner.poll_ready(cx).map_err(Into::into)
    }

    fn call(&mut self, uri: http::Uri) -> Self::Future {
        let max = self.max;
        let open = self.open.clone();
        let reserved = open.fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
            (n < max).then_some(n + 1)
        });
        if reserved.is_err() {
            return Box::pin(async move { Err(ConnectionLimitReached { max }.into()) });
        }
        let connecting = self.inner.call(uri);
        let tls = self.tls.clone();
        Box::pin(async move {
            let connected = match connecting.await {
                Ok(tcp) => match tls {
                    None => Ok(Stream::Plain(tcp)),
                    Some(tls) => match tls.handshake(tcp.into_inner()).await {
                        Ok(stream) => Ok(Stream::Tls(TokioIo::new(Box::new(stream)))),
                        Err(error) => Err(error.into()),
                    },
                },
                Err(error) => Err(error.into()),
            };
            match connected {
                Ok(inner) => Ok(CountedStream { inner, open }),
                Err(error) => {
                    open.fetch_sub(1, Ordering::AcqRel);
                    Err(error)
                }
            }
        })
    }
}

impl Connection for CountedStream {
    fn connected(&self) -> Connected {
        match &self.inner {
            Stream::Plain(tcp) => tcp.connected(),
            Stream::Tls(tls) => {
                let (tcp, session) = tls.inner().get_ref();
                let connected = tcp.connected();
                if session.alpn_protocol() == Some(ALPN_H2) {
                    connected.negotiated_h2()
                } else {
                    connected
                }
            }
        }
    }
}

/// Calls `$method` on whichever stream `$self` holds.
macro_rules! either {
    ($self:ident, $method:ident($($arg:expr),*)) => {
        match &mut $self.inner {
            Stream::Plain(io) => Pin::new(io).$method($($arg),*),
            Stream::Tls(io) => Pin::new(io).$method($($arg),*),
        }
    };
}

impl Read for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        either!(self, poll_read(cx, buf))
    }
}

impl Write for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        either!(self, poll_write(cx, buf))
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, poll_flush(cx))
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        either!(self, poll_shutdown(cx))
    }

    fn is_write_vectored(&self) -> bool {
        match &self.inner {
            Stream::Plain(io) => io.is_write_vectored(),
            Stream::Tls(io) => io.is_write_vectored(),
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        either!(self, poll_write_vectored(cx, bufs))
    }
}
