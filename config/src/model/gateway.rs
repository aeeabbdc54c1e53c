//! Gateway mode: the proxy at the edge of the mesh, as an API gateway and backends-for-frontends.
//!
//! A gateway is named like a service (`gateways.<name>`); a proxy run as that gateway serves
//! its listeners, picks a route set (BFF) and a route for each request, authenticates the
//! client, and calls the route's mesh service over mTLS with the gateway's own identity
//! (`spiffe://<td>/service/<name>`), with the service's resilience policies.

use super::policy::RetryPolicy;
use super::service::HeaderMatch;
use super::ServiceName;
use serde::{Serialize, Serializer};
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

/// One gateway.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Gateway {
    /// Its name (also its identity's service name).
    pub name: ServiceName,
    /// Where clients connect: at least one.
    pub listeners: Vec<GatewayListener>,
    /// Clients known by API key.
    pub api_keys: Vec<ApiKeyConsumer>,
    /// JWT issuers, by name (routes name them).
    pub jwt_providers: Vec<JwtProvider>,
    /// The header through which the service learns the verified consumer (API key consumer
    /// name, or JWT subject); removed from every incoming request first. Default
    /// `x-convoy-consumer`.
    #[serde(serialize_with = "serialize_header_name")]
    pub consumer_header: http::HeaderName,
    /// Route sets (BFF: one per kind of client), tried in order; the first whose `match`
    /// fits the request is used. A request no route set or route matches gets 404.
    pub route_sets: Vec<RouteSet>,
}

/// A listener of the gateway.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct GatewayListener {
    /// The address to bind.
    pub address: SocketAddr,
    /// TLS with a server certificate from files (re-read when they change); `None`: plaintext.
    pub tls: Option<ServerTls>,
}

/// A server certificate and key from PEM files.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServerTls {
    /// The certificate chain (PEM), leaf first. Relative paths are relative to the YAML file.
    pub certificate: PathBuf,
    /// Its private key (PEM: PKCS#8, PKCS#1 or SEC1).
    pub key: PathBuf,
}

/// A client that authenticates with an API key. Only the key's SHA-256 is in the YAML.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ApiKeyConsumer {
    /// The consumer's name (what the service is told, what `allow` lists, what limits key by).
    pub name: String,
    /// SHA-256 of the key, 32 bytes (written as 64 hex digits).
    #[serde(serialize_with = "serialize_hex")]
    pub key_sha256: [u8; 32],
}

/// A JWT issuer whose tokens the gateway verifies.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct JwtProvider {
    /// The name routes use.
    pub name: String,
    /// A JWKS file (JSON) with the verification keys (RSA for RS256, EC P-256 for ES256, `oct`
    /// for HS256); re-read when it changes. Relative paths are relative to the YAML file.
    pub jwks: PathBuf,
    /// The required `iss`.
    pub issuer: String,
    /// The required `aud` (one of the token's audiences).
    pub audience: String,
    /// Allowance for clock differences when checking `exp` and `nbf`. Default `60s`.
    #[serde(serialize_with = "crate::duration::serialize_duration")]
    pub clock_skew: Duration,
}

/// Which requests a route set takes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RouteSetMatch {
    /// Every request.
    Any,
    /// Paths under this prefix (whole segments: `/web` takes `/web` and `/web/x`).
    PathPrefix(String),
    /// Requests carrying this header with this exact value.
    Header(HeaderMatch),
}

/// A set of routes for one kind of client (BFF).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RouteSet {
    /// Its name (labels metrics).
    pub name: String,
    /// Which requests it takes. Default: every request.
    #[serde(rename = "match")]
    pub matches: RouteSetMatch,
    /// CORS for browsers: preflights are answered at the gateway. Default: none (preflights
    /// are routed like other requests).
    pub cors: Option<Cors>,
    /// Routes, tried in order.
    pub routes: Vec<GatewayRoute>,
}

/// How a gateway route matches the path.
#[derive(Debug, Clone, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum GatewayPath {
    /// Any path.
    Any,
    /// Paths that start with this prefix.
    Prefix(String),
    /// Exactly this path.
    Exact(String),
    /// Paths the whole of which this regular expression matches (anchored at both ends).
    #[serde(serialize_with = "serialize_regex")]
    Regex(regex::Regex),
}

impl PartialEq for GatewayPath {
    fn eq(&self, other: &Self) -> bool {
        match (self, other) {
            (GatewayPath::Any, GatewayPath::Any) => true,
            (GatewayPath::Prefix(a), GatewayPath::Prefix(b))
            | (GatewayPath::Exact(a), GatewayPath::Exact(b)) => a == b,
            (GatewayPath::Regex(a), GatewayPath::Regex(b)) => a.as_str() == b.as_str(),
            _ => false,
        }
    }
}

/// One route of a route set: which requests, to which service, with what done to them.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct GatewayRoute {
    /// A stable name for metrics and errors: `<route set>/routes[N]` unless given.
    pub name: String,
    /// The `Host` (or `:authority`, port ignored) it takes; `None`: any.
    pub host: Option<String>,
    /// The path it takes (after the route set's own matching; the path is not stripped by
    /// the route set).
    pub path: GatewayPath,
    /// The methods it takes; empty: any.
    #[serde(serialize_with = "serialize_methods")]
    pub methods: Vec<http::Method>,
    /// Headers that must all be present with these exact values.
    pub headers: Vec<HeaderMatch>,
    /// The mesh service that receives the request.
    pub service: ServiceName,
    /// How the path is rewritten before it is forwarded. Default: unchanged.
    pub rewrite: Option<Rewrite>,
    /// Headers added to (set on) and removed from the request before it is forwarded.
    pub request_headers: HeaderEdits,
    /// Headers added to (set on) and removed from the response before the client gets it.
    pub response_headers: HeaderEdits,
    /// The largest request body accepted, in bytes; more is refused with 413. Default 1 MiB.
    pub max_body_bytes: u64,
    /// The whole call's timeout (all retries included); `None`: the service's.
    #[serde(serialize_with = "super::policy::serialize_opt_duration")]
    pub timeout: Option<Duration>,
    /// Retries; `None`: the service's.
    pub retry: Option<RetryPolicy>,
    /// Who may use the route; `None`: anyone.
    pub auth: Option<RouteAuth>,
    /// Limits per consumer (or client IP, or in total); `None`: none.
    pub rate_limit: Option<ConsumerRateLimit>,
}

/// A path rewrite.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Rewrite {
    /// Remove this prefix (`/web/orders/1` → `/orders/1`); an emptied path becomes `/`.
    StripPrefix(String),
    /// Replace the prefix `from` with `to`.
    ReplacePrefix {
        /// The prefix to replace.
        from: String,
        /// What replaces it.
        to: String,
    },
}

/// Header changes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Default)]
pub struct HeaderEdits {
    /// Set (replacing any value).
    #[serde(serialize_with = "serialize_header_pairs")]
    pub add: Vec<(http::HeaderName, http::HeaderValue)>,
    /// Removed.
    #[serde(serialize_with = "serialize_header_names")]
    pub remove: Vec<http::HeaderName>,
}

/// Authentication (and optionally authorization) of a route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RouteAuth {
    /// Accepted credentials, tried in order; the first present decides (a present but wrong
    /// credential is 401 even if another kind would have been accepted). At least one.
    pub methods: Vec<AuthMethod>,
    /// Consumers (API key names or JWT subjects) allowed; `None`: every authenticated client.
    /// An authenticated client not listed gets 403.
    pub allow: Option<Vec<String>>,
}

/// A kind of credential.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum AuthMethod {
    /// An API key in this header (default `x-api-key`).
    ApiKey {
        /// The header.
        #[serde(serialize_with = "serialize_header_name")]
        header: http::HeaderName,
    },
    /// A JWT from `authorization: Bearer <token>`, verified by the named provider.
    Jwt {
        /// The provider's name (one of the gateway's `jwt_providers`).
        provider: String,
    },
}

/// A rate limit of a gateway route.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ConsumerRateLimit {
    /// Sustained rate.
    pub requests_per_second: u32,
    /// Requests allowed at once above it. Default: `requests_per_second`.
    pub burst: u32,
    /// What is counted together. Default `consumer`.
    pub per: ConsumerKey,
}

/// Whose requests a gateway rate limit counts together.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum ConsumerKey {
    /// Each authenticated consumer apart (unauthenticated requests by client IP).
    Consumer,
    /// Each client IP address apart.
    ClientIp,
    /// All requests together.
    Total,
}

/// CORS answers for a route set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Cors {
    /// Allowed origins (`https://app.example.com`), or `*` for any.
    pub allow_origins: Vec<String>,
    /// Allowed methods. Default `GET, POST, PUT, PATCH, DELETE`.
    #[serde(serialize_with = "serialize_methods")]
    pub allow_methods: Vec<http::Method>,
    /// Allowed request headers. Default: none beyond the CORS-safelisted ones.
    #[serde(serialize_with = "serialize_header_names")]
    pub allow_headers: Vec<http::HeaderName>,
    /// Response headers exposed to scripts. Default: none.
    #[serde(serialize_with = "serialize_header_names")]
    pub expose_headers: Vec<http::HeaderName>,
    /// How long a browser may cache a preflight answer. Default `10m`.
    #[serde(serialize_with = "crate::duration::serialize_duration")]
    pub max_age: Duration,
    /// Whether credentials (cookies) are allowed; not with `*` origins. Default `false`.
    pub allow_credentials: bool,
}

impl Gateway {
    /// The default [`Gateway::consumer_header`].
    pub const DEFAULT_CONSUMER_HEADER: &'static str = "x-convoy-consumer";
    /// The default [`GatewayRoute::max_body_bytes`] (1 MiB).
    pub const DEFAULT_MAX_BODY_BYTES: u64 = 1024 * 1024;

    /// Makes the relative file paths (listener certificates and keys, JWKS files) relative to
    /// `dir` instead. Loading a sidecar's own file does this with the file's directory; paths
    /// from the control plane are kept as written (relative to the gateway's working directory).
    pub(crate) fn resolve_paths(&mut self, dir: &Path) {
        let resolve = |p: &mut PathBuf| {
            if p.is_relative() {
                *p = dir.join(&*p);
            }
        };
        for tls in self.listeners.iter_mut().filter_map(|l| l.tls.as_mut()) {
            resolve(&mut tls.certificate);
            resolve(&mut tls.key);
        }
        for provider in &mut self.jwt_providers {
            resolve(&mut provider.jwks);
        }
    }
}

impl JwtProvider {
    /// The default [`JwtProvider::clock_skew`] (60 s).
    pub(crate) const DEFAULT_CLOCK_SKEW: Duration = Duration::from_secs(60);
}

impl Cors {
    /// The default [`Cors::max_age`] (10 min).
    pub(crate) const DEFAULT_MAX_AGE: Duration = Duration::from_secs(600);
}

fn serialize_header_name<S: Serializer>(h: &http::HeaderName, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(h.as_str())
}

fn serialize_header_names<S: Serializer>(
    names: &[http::HeaderName],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_seq(names.iter().map(http::HeaderName::as_str))
}

fn serialize_header_pairs<S: Serializer>(
    pairs: &[(http::HeaderName, http::HeaderValue)],
    s: S,
) -> Result<S::Ok, S::Error> {
    s.collect_map(
        pairs
            .iter()
            .map(|(n, v)| (n.as_str(), v.to_str().unwrap_or("<binary>"))),
    )
}

fn serialize_methods<S: Serializer>(methods: &[http::Method], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(methods.iter().map(http::Method::as_str))
}

fn serialize_regex<S: Serializer>(r: &regex::Regex, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(r.as_str())
}

fn serialize_hex<S: Serializer>(bytes: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.collect_str(&bytes.iter().map(|b| format!("{b:02x}")).collect::<String>())
}
