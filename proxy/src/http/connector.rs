//! An upstream connector that counts the connections of one service and refuses new ones at
//! the circuit breaker's `max_connections`.

use hyper::rt::{Read, ReadBufCursor, Write};
use hyper_util::client::legacy::connect::{Connected, Connection, HttpConnector};
use hyper_util::rt::TokioIo;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use tokio::net::TcpStream;

/// The connect error when a service already has `max_connections` open.
#[derive(Debug, thiserror::Error)]
#[error("max_connections ({max}) reached")]
pub struct ConnectionLimitReached {
    /// The limit.
    pub max: u32,
}

/// Opens TCP connections for one service, at most `max` at once.
#[derive(Debug, Clone)]
pub struct CountingConnector {
    inner: HttpConnector,
    open: Arc<AtomicU32>,
    max: u32,
}

impl CountingConnector {
    /// Wraps `inner`, allowing `max` open connections.
    pub fn new(inner: HttpConnector, max: u32) -> Self {
        CountingConnector {
            inner,
            open: Arc::new(AtomicU32::new(0)),
            max,
        }
    }

    /// Connections open now.
    pub fn open(&self) -> u32 {
        self.open.load(Ordering::Acquire)
    }

    /// Whether `other` counts the same connections (it is a clone of this connector).
    pub fn shares_count_with(&self, other: &CountingConnector) -> bool {
        Arc::ptr_eq(&self.open, &other.open)
    }
}

/// A connection counted until it is dropped.
#[derive(Debug)]
pub struct CountedStream {
    inner: TokioIo<TcpStream>,
    open: Arc<AtomicU32>,
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
        Box::pin(async move {
            match connecting.await {
                Ok(inner) => Ok(CountedStream { inner, open }),
                Err(error) => {
                    open.fetch_sub(1, Ordering::AcqRel);
                    Err(error.into())
                }
            }
        })
    }
}

impl Connection for CountedStream {
    fn connected(&self) -> Connected {
        self.inner.connected()
    }
}

impl Read for CountedStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: ReadBufCursor<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_read(cx, buf)
    }
}

impl Write for CountedStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.inner).poll_write_vectored(cx, bufs)
    }
}
