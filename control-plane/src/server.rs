//! Accepting connections (over TLS on the sidecar API, plaintext on the admin listener) and
//! serving HTTP/1.1 and HTTP/2 on them, until drained.

use crate::http::Response;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus::IntCounter;
use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

/// A request as a listener receives it.
pub(crate) type Request = hyper::Request<Incoming>;

/// The sidecar's drain handle: the signal to stop accepting and close, and the tasks (every
/// connection and every sidecar stream) to wait for before exiting.
pub(crate) use convoy_runtime::Drain;

fn connection_builder() -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(Duration::from_secs(10));
    // Streams are long-lived: HTTP/2 pings find dead peers the heartbeat would find later.
    builder
        .http2()
        .timer(TokioTimer::new())
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// How long a client gets to complete the TLS handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);

/// TLS on a listener: the acceptor, and the counter of handshakes that failed.
#[derive(Clone)]
pub(crate) struct Tls {
    /// The acceptor.
    pub(crate) acceptor: TlsAcceptor,
    /// Counts failed or timed-out handshakes.
    pub(crate) failures: IntCounter,
}

/// Accepts on `listener` until drained, answering each request with `handle`; with `tls`,
/// every connection must complete a TLS handshake first (plaintext clients are cut off).
pub(crate) async fn serve<H, F>(
    listener: TcpListener,
    name: &'static str,
    tls: Option<Tls>,
    handle: H,
    drain: Drain,
) where
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let builder = Arc::new(connection_builder());
    let serve = |stream: tokio::net::TcpStream, peer| {
        let builder = builder.clone();
        let handle = handle.clone();
        let signal = drain.signal.clone();
        let tls = tls.clone();
        async move {
            let Some(tls) = tls else {
                return serve_connection(
                    &builder,
                    TokioIo::new(stream),
                    handle,
                    &signal,
                    name,
                    peer,
                )
                .await;
            };
            let handshake = tokio::select! {
                handshake = tokio::time::timeout(HANDSHAKE_TIMEOUT, tls.acceptor.accept(stream)) => handshake,
                () = signal.cancelled() => return,
            };
            match handshake {
                Ok(Ok(stream)) => {
                    serve_connection(&builder, TokioIo::new(stream), handle, &signal, name, peer)
                        .await;
                }
                Ok(Err(error)) => {
                    tls.failures.inc();
                    tracing::debug!(listener = name, %peer, %error, "TLS handshake failed");
                }
                Err(_) => {
                    tls.failures.inc();
                    tracing::debug!(listener = name, %peer, "TLS handshake timed out");
                }
            }
        }
    };
    convoy_runtime::accept_until_drained(listener, name, &drain, None, serve).await;
}

async fn serve_connection<IO, H, F>(
    builder: &auto::Builder<TokioExecutor>,
    io: IO,
    handle: H,
    signal: &CancellationToken,
    name: &'static str,
    peer: SocketAddr,
) where
    IO: hyper::rt::Read + hyper::rt::Write + Unpin + Send + 'static,
    H: Fn(Request) -> F + Clone + Send + Sync + 'static,
    F: Future<Output = Response> + Send + 'static,
{
    let service = hyper::service::service_fn(move |request: Request| {
        let response = handle(request);
        async move { Ok::<_, Infallible>(response.await) }
    });
    let connection = builder.serve_connection(io, service);
    tokio::pin!(connection);
    tokio::select! {
        result = connection.as_mut() => {
            if let Err(error) = result {
                tracing::debug!(listener = name, %peer, %error, "connection ended with an error");
            }
            return;
        }
        () = signal.cancelled() => connection.as_mut().graceful_shutdown(),
    }
    // HTTP/2 gets GOAWAY; HTTP/1 closes after the response in flight.
    if let Err(error) = connection.await {
        tracing::debug!(listener = name, %peer, %error, "connection ended with an error");
    }
}
