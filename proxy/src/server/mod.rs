//! Accepting connections and serving HTTP/1.1 and HTTP/2 on them, with limits and draining.
//! The inbound listener first sorts out mutual TLS ([`accept`]).

pub(crate) mod accept;
pub(crate) mod activity;

use accept::{Accepted, InboundAccept};
use activity::{Activity, ActivityIo};
use convoy_config::Limits;
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::peer::Peer;
use convoy_proxy_core::{body, Response};
use convoy_runtime::Drain;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto;
use prometheus::IntGauge;
use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::TcpListener;
use tokio::sync::Semaphore;
use tokio_util::sync::CancellationToken;
use tower::util::BoxCloneService;
use tower::Service;

/// The service a listener runs for each request.
pub(crate) type HttpService = BoxCloneService<convoy_proxy_core::Request, Response, Infallible>;

/// Builds hyper's protocol-detecting connection builder from the limits.
fn connection_builder(limits: &Limits) -> auto::Builder<TokioExecutor> {
    let mut builder = auto::Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(limits.header_read_timeout)
        .max_buf_size(limits.max_header_bytes);
    // hyper's own limit is the same 100 headers, parsed into arrays on the stack; a limit set
    // explicitly (even 100) costs two allocations and copies per request head.
    if limits.max_header_count != convoy_proxy_core::HYPER_DEFAULT_MAX_HEADERS {
        builder.http1().max_headers(limits.max_header_count);
    }
    builder
        .http2()
        .timer(TokioTimer::new())
        .max_concurrent_streams(limits.max_concurrent_streams)
        .max_header_list_size(limits.max_header_bytes as u32)
        .keep_alive_interval(Some(Duration::from_secs(20)))
        .keep_alive_timeout(Duration::from_secs(20));
    builder
}

/// A listener's first step on each connection, before HTTP.
#[derive(Debug, Clone)]
pub(crate) enum ConnectionAccept {
    /// The inbound listener: mutual TLS or plaintext, with the peer's identity.
    Inbound(InboundAccept),
    /// A gateway listener with TLS (a server certificate, no client certificate).
    GatewayTls(convoy_gateway::tls::GatewayTls),
}

impl From<InboundAccept> for ConnectionAccept {
    fn from(inbound: InboundAccept) -> Self {
        ConnectionAccept::Inbound(inbound)
    }
}

/// Accepts on `listener` until drained, serving each connection in its own task. With
/// `inbound`, each connection first goes through its accept step (mutual TLS or plaintext) and
/// each request carries the connection's [`Peer`]; a connection it refuses is closed within the
/// header read timeout.
pub(crate) async fn serve_http(
    listener: TcpListener,
    name: &'static str,
    service: HttpService,
    limits: Limits,
    drain: Drain,
    open: IntGauge,
    inbound: Option<ConnectionAccept>,
) {
    let builder = Arc::new(connection_builder(&limits));
    // At the connection limit, accepting stops: new clients wait in the kernel's backlog.
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let idle_timeout = limits.idle_timeout;
    let handshake_timeout = limits.header_read_timeout;
    let drain_signal = drain.signal.clone();
    // Moves what it needs: the accept loop's future must be `Send`, and the stack is not `Sync`.
    let serve = move |stream, peer| {
        let builder = builder.clone();
        let service = service.clone();
        let signal = drain_signal.clone();
        let open = open.clone();
        let inbound = inbound.clone();
        async move {
            open.inc();
            let accepted = match &inbound {
                None => Some((Accepted::Plain(stream), None)),
                Some(ConnectionAccept::Inbound(inbound)) => inbound
                    .accept(stream, peer, handshake_timeout)
                    .await
                    .map(|(io, who)| (io, Some(who))),
                Some(ConnectionAccept::GatewayTls(tls)) => tls
                    .accept(stream, handshake_timeout)
                    .await
                    .map(|io| (Accepted::Tls(Box::new(io)), None)),
            };
            match accepted {
                Some((Accepted::Plain(io), who)) => {
                    serve_connection(&builder, io, peer, who, service, idle_timeout, signal).await;
                }
                Some((Accepted::Tls(io), who)) => {
                    serve_connection(&builder, *io, peer, who, service, idle_timeout, signal).await;
                }
                None => {}
            }
            open.dec();
            tracing::trace!(listener = name, %peer, "connection closed");
        }
    };
    convoy_runtime::accept_until_drained(listener, name, &drain, Some(permits), serve).await;
}

async fn serve_connection<I>(
    builder: &auto::Builder<TokioExecutor>,
    stream: I,
    peer: std::net::SocketAddr,
    who: Option<Peer>,
    service: HttpService,
    idle_timeout: Duration,
    drain: CancellationToken,
) where
    I: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let activity = Activity::new();
    let io = TokioIo::new(ActivityIo::new(stream, activity.clone()));
    // hyper calls a connection's service through `&self`; the tower stack needs `&mut`. One
    // stack per connection behind an uncontended lock (calls come one at a time from the
    // connection's task, even on HTTP/2) instead of a clone of the whole stack per request.
    let service = std::sync::Mutex::new(service);
    let per_request = {
        let activity = activity.clone();
        hyper::service::service_fn(move |request: hyper::Request<hyper::body::Incoming>| {
            let guard = activity.request_started();
            let mut request = request.map(body::boxed);
            let context = RequestContext {
                client_addr: Some(peer),
                peer: who.clone(),
                received_headers: Some(request.headers().len()),
                ..RequestContext::default()
            };
            request.extensions_mut().insert(context);
            let future = service
                .lock()
                .unwrap_or_else(std::sync::PoisonError::into_inner)
                .call(request);
            async move {
                let Ok(response) = future.await;
                // The connection counts as busy until the response body is sent.
                Ok::<_, Infallible>(response.map(|b| body::with_guard(b, guard)))
            }
        })
    };
    let connection = builder.serve_connection(io, per_request);
    tokio::pin!(connection);
    let mut closing = false;
    loop {
        tokio::select! {
            result = connection.as_mut() => {
                if let Err(error) = result {
                    tracing::debug!(%error, "connection ended with an error");
                }
                return;
            }
            () = drain.cancelled(), if !closing => {
                // HTTP/2 gets GOAWAY; HTTP/1 closes after the response in flight.
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
            () = activity.idle(idle_timeout), if !closing => {
                connection.as_mut().graceful_shutdown();
                closing = true;
            }
        }
    }
}
