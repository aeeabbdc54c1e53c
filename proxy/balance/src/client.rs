//! Pooled upstream clients: HTTP/1.1, and HTTP/2 with prior knowledge (sidecar-to-sidecar, gRPC).

use crate::connector::{ConnectorTls, CountingConnector};
use convoy_proxy_core::{body, Body, BoxError, Request, Response};
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use std::sync::Arc;
use std::time::Duration;

/// How a request reaches an upstream.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpstreamProtocol {
    /// HTTP/1.1, pooled keep-alive connections.
    Http1,
    /// HTTP/2 with prior knowledge: one multiplexed connection per endpoint.
    Http2,
}

/// Why an upstream call failed, as the forwarders need to tell it.
#[derive(Debug)]
pub(crate) enum SendError {
    /// No connection could be made: the request never left this process.
    Connect(BoxError),
    /// The connect attempt exceeded the connect timeout.
    ConnectTimeout,
    /// The request failed after a connection was made.
    Request(BoxError),
}

/// The upstream clients of one sidecar. Cheap to clone (one reference count: a request takes
/// a clone); clones share pools.
#[derive(Clone, Debug)]
pub struct UpstreamClients(Arc<Clients>);

#[derive(Debug)]
struct Clients {
    http1: Client<CountingConnector, Body>,
    http2: Client<CountingConnector, Body>,
    /// The connector both clients use (a clone: it shares their connection count).
    connector: CountingConnector,
    connect_timeout: Duration,
}

impl UpstreamClients {
    /// Default connect timeout.
    pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(1);
    /// How long an unused pooled connection is kept.
    pub(crate) const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(90);

    /// Builds both clients. Response heads from upstreams are bounded by the same header limits
    /// as requests from clients.
    pub fn new(connect_timeout: Duration, limits: &convoy_config::Limits) -> Self {
        Self::for_service(
            connect_timeout,
            Self::POOL_IDLE_TIMEOUT,
            u32::MAX,
            limits,
            None,
        )
    }

    /// Clients for one service: its connect and idle timeouts, at most `max_connections`
    /// connections open at once (both clients together), mutual TLS with `tls` (a meshed
    /// service, when the sidecar has an identity) or plaintext.
    pub fn for_service(
        connect_timeout: Duration,
        idle_timeout: Duration,
        max_connections: u32,
        limits: &convoy_config::Limits,
        tls: Option<ConnectorTls>,
    ) -> Self {
        let mut connector = HttpConnector::new();
        connector.set_nodelay(true);
        connector.set_connect_timeout(Some(connect_timeout));
        connector.enforce_http(true);
        let connector = CountingConnector::new(connector, max_connections, tls);
        let mut builder = Client::builder(TokioExecutor::new());
        builder
            .timer(TokioTimer::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(idle_timeout);
        // Requests are retargeted at endpoint addresses, with Host kept from the client.
        builder.set_host(false);
        builder
            .http1_max_buf_size(limits.max_header_bytes)
            .http2_max_header_list_size(limits.max_header_bytes as u32);
        // As on the server side: hyper's default is the same limit, without a per-response cost.
        if limits.max_header_count != convoy_proxy_core::HYPER_DEFAULT_MAX_HEADERS {
            builder.http1_max_headers(limits.max_header_count);
        }
        let http1 = builder.build(connector.clone());
        builder
            .http2_only(true)
            .http2_keep_alive_interval(Duration::from_secs(20))
            .http2_keep_alive_while_idle(true);
        let http2 = builder.build(connector.clone());
        UpstreamClients(Arc::new(Clients {
            http1,
            http2,
            connector,
            connect_timeout,
        }))
    }

    /// Sends `request` (already retargeted at an endpoint) and returns the response, body streaming.
    pub(crate) async fn send(
        &self,
        mut request: Request,
        protocol: UpstreamProtocol,
    ) -> Result<Response, SendError> {
        let client = match protocol {
            UpstreamProtocol::Http1 => {
                *request.version_mut() = http::Version::HTTP_11;
                &self.0.http1
            }
            UpstreamProtocol::Http2 => {
                *request.version_mut() = http::Version::HTTP_2;
                &self.0.http2
            }
        };
        match client.request(request).await {
            Ok(response) => Ok(response.map(body::boxed)),
            Err(e) if e.is_connect() => {
                if is_timeout(&e) {
                    Err(SendError::ConnectTimeout)
                } else {
                    Err(SendError::Connect(Box::new(e)))
                }
            }
            Err(e) => Err(SendError::Request(Box::new(e))),
        }
    }

    /// Whether `other` is a clone of these clients: the same pools and connection count.
    pub fn shares_pools_with(&self, other: &UpstreamClients) -> bool {
        self.0.connector.shares_count_with(&other.0.connector)
    }

    /// The connect timeout in force.
    pub(crate) fn connect_timeout(&self) -> Duration {
        self.0.connect_timeout
    }
}

fn is_timeout(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(io) = e.downcast_ref::<std::io::Error>() {
            if io.kind() == std::io::ErrorKind::TimedOut {
                return true;
            }
        }
        current = e.source();
    }
    false
}
