//! A service of the mesh: its protocol, endpoints and routes.

use super::matching::PathMatch;
use super::policy::{CircuitBreaker, Fault, RateLimitRule, RetryPolicy, RoutePolicy, Timeouts};
use super::security::{Authorization, MtlsMode};
use super::ServiceName;
use crate::duration::serialize_duration;
use serde::{Serialize, Serializer};
use std::net::SocketAddr;
use std::time::Duration;

/// The protocol a service speaks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Protocol {
    /// HTTP/1.1 or HTTP/2 (the default).
    #[default]
    Http,
    /// gRPC: HTTP/2 with trailers, end to end.
    Grpc,
    /// Opaque TCP, forwarded byte for byte from a local port.
    Tcp,
}

/// Where a service can be reached.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Endpoint {
    /// A fixed address.
    Socket(SocketAddr),
    /// A DNS name and port, resolved again every `dns_refresh`.
    Dns {
        /// The host name.
        host: String,
        /// The port.
        port: u16,
    },
}

impl std::fmt::Display for Endpoint {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Endpoint::Socket(addr) => write!(f, "{addr}"),
            Endpoint::Dns { host, port } => write!(f, "{host}:{port}"),
        }
    }
}

impl Serialize for Endpoint {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.collect_str(self)
    }
}

/// One service of the mesh.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Service {
    /// The service's name; callers address it as `Host: <name>`.
    pub name: ServiceName,
    /// What it speaks. Default `http`.
    pub protocol: Protocol,
    /// Where it runs. May be empty (requests then fail with 503 until endpoints appear).
    pub endpoints: Vec<Endpoint>,
    /// Whether the endpoints are Convoy sidecars (the hop is then HTTP/2) rather than plain
    /// apps (HTTP/1.1, or HTTP/2 for gRPC). Default `true`.
    pub meshed: bool,
    /// How often DNS endpoints are resolved again. Default `5s`.
    #[serde(serialize_with = "serialize_duration")]
    pub dns_refresh: Duration,
    /// For `protocol: tcp`: the local address where the sidecar accepts connections for this
    /// service. `None` for other protocols.
    pub listen: Option<SocketAddr>,
    /// Routes, tried in order; the first that matches picks the backends and policies. A
    /// request that matches none goes to this service's own endpoints with its own policies.
    pub routes: Vec<Route>,
    /// Timeouts of calls to this service (applied by the caller's sidecar).
    pub timeouts: Timeouts,
    /// Retries of calls to this service (applied by the caller's sidecar). Default: none.
    pub retry: Option<RetryPolicy>,
    /// Limits and outlier detection (applied by the caller's sidecar).
    pub circuit_breaker: CircuitBreaker,
    /// Rate limits on requests to this service (applied by its own sidecar, inbound).
    pub rate_limits: Vec<RateLimitRule>,
    /// Faults injected into requests to this service (by its own sidecar, inbound).
    pub fault: Option<Fault>,
    /// What its sidecar's inbound listener accepts. Default `strict`.
    pub mtls: MtlsMode,
    /// Who may call it (enforced by its own sidecar, inbound). Default: none, every caller the
    /// mTLS mode lets in.
    pub authorization: Option<Authorization>,
}

impl Service {
    /// The default for [`Service::dns_refresh`].
    pub(crate) const DEFAULT_DNS_REFRESH: Duration = Duration::from_secs(5);
}

/// A route: which requests, and where they go.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Route {
    /// The path this route matches.
    pub path: PathMatch,
    /// Headers that must all be present with these exact values.
    pub headers: Vec<HeaderMatch>,
    /// Where matching requests go, split by weight. The weights sum to more than zero.
    /// Default: the service itself.
    pub backends: Vec<Backend>,
    /// The route's own policies (unset fields fall back to the service's).
    pub policy: RoutePolicy,
}

/// A header that a route requires.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HeaderMatch {
    /// The header's name (lowercase).
    #[serde(serialize_with = "serialize_display")]
    pub name: http::HeaderName,
    /// The exact value it must have.
    pub value: String,
}

/// A weighted backend of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Backend {
    /// The service whose endpoints receive the traffic.
    pub service: ServiceName,
    /// Relative weight (0 turns the backend off). Default 1.
    pub weight: u32,
}

impl Backend {
    /// The largest weight accepted.
    pub(crate) const MAX_WEIGHT: u32 = 1_000_000;
}

fn serialize_display<S: Serializer, T: AsRef<str>>(v: &T, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(v.as_ref())
}
