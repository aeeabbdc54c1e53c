//! One sidecar: the service it sits beside, its app, its listeners and its limits.

use super::ServiceName;
use crate::duration::serialize_duration;
use serde::Serialize;
use std::net::SocketAddr;
use std::time::Duration;

/// The sidecar's own settings.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Sidecar {
    /// The service this sidecar sits beside; labels its inbound metrics.
    pub service: ServiceName,
    /// The local app's address; the inbound listener forwards here.
    pub app: SocketAddr,
    /// How the sidecar talks to the local app. Default `http1` (`http2` when the service is
    /// listed with `protocol: grpc`).
    pub app_protocol: AppProtocol,
    /// Listener addresses.
    pub listen: Listen,
    /// Connection and header limits.
    pub limits: Limits,
}

impl Sidecar {
    /// The `app` of a gateway's own file that leaves `app` out (`0.0.0.0:0`): a proxy run as a
    /// gateway has no local app and never connects there.
    pub const NO_APP: SocketAddr =
        SocketAddr::new(std::net::IpAddr::V4(std::net::Ipv4Addr::UNSPECIFIED), 0);
}

/// The HTTP version used to reach the local app.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum AppProtocol {
    /// HTTP/1.1.
    Http1,
    /// HTTP/2 with prior knowledge (h2c).
    Http2,
}

/// Where the sidecar listens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Listen {
    /// The local app calls other services here. Default `127.0.0.1:4140`.
    pub outbound: SocketAddr,
    /// Other sidecars call this service here. Default `0.0.0.0:4143`.
    pub inbound: SocketAddr,
    /// `/live`, `/ready`, `/metrics`, `/config`. Default `127.0.0.1:4191`.
    pub admin: SocketAddr,
}

impl Default for Listen {
    fn default() -> Self {
        Listen {
            outbound: ([127, 0, 0, 1], 4140).into(),
            inbound: ([0, 0, 0, 0], 4143).into(),
            admin: ([127, 0, 0, 1], 4191).into(),
        }
    }
}

/// Limits that protect the sidecar from slow, large or numerous clients. Each applies per
/// listener (outbound and inbound).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Limits {
    /// Time a client has to send a request's headers; slower clients are cut. Default `10s`.
    #[serde(serialize_with = "serialize_duration")]
    pub header_read_timeout: Duration,
    /// Most headers in one request; more gets 431. Default 100.
    pub max_header_count: usize,
    /// Most bytes of request head (HTTP/1) or header list (HTTP/2); more gets 431. Default 64 KiB.
    pub max_header_bytes: usize,
    /// A connection with no request in flight and no bytes moving for this long is closed.
    /// Default `60s`.
    #[serde(serialize_with = "serialize_duration")]
    pub idle_timeout: Duration,
    /// Most concurrent HTTP/2 streams per connection. Default 1024.
    pub max_concurrent_streams: u32,
    /// Most open connections per listener; further connections wait in the accept backlog.
    /// Default 10000.
    pub max_connections: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            header_read_timeout: Duration::from_secs(10),
            max_header_count: 100,
            max_header_bytes: 64 * 1024,
            idle_timeout: Duration::from_secs(60),
            max_concurrent_streams: 1024,
            max_connections: 10_000,
        }
    }
}
