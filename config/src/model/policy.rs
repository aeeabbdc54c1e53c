//! Resilience policies: timeouts, retries, circuit breaking, rate limits and faults.
//!
//! Defaults follow Envoy and Linkerd where they are sound; each is written beside its field.

use crate::duration::serialize_duration;
use serde::{Serialize, Serializer};
use std::time::Duration;

pub(crate) fn serialize_opt_duration<S: Serializer>(
    d: &Option<Duration>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match d {
        Some(d) => serialize_duration(d, s),
        None => s.serialize_none(),
    }
}

/// Timeouts of calls to a service (or one of its routes).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Timeouts {
    /// The whole request, all retries included; 504 when it runs out. Default: none.
    #[serde(serialize_with = "serialize_opt_duration")]
    pub request: Option<Duration>,
    /// Establishing a connection to one endpoint. Default `1s` (Linkerd's).
    #[serde(serialize_with = "serialize_duration")]
    pub connect: Duration,
    /// How long an unused pooled upstream connection is kept. Default `90s`.
    #[serde(serialize_with = "serialize_duration")]
    pub idle: Duration,
}

impl Default for Timeouts {
    fn default() -> Self {
        Timeouts {
            request: None,
            connect: Duration::from_secs(1),
            idle: Duration::from_secs(90),
        }
    }
}

/// When a failed attempt may be tried again.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum RetryOn {
    /// Any 5xx response (and per-try timeouts).
    #[serde(rename = "5xx")]
    Status5xx,
    /// 502, 503 and 504 (and per-try timeouts).
    GatewayError,
    /// No connection could be made: the request provably never reached the app.
    ConnectFailure,
    /// The connection or stream was reset after the request was sent.
    Reset,
    /// HTTP/2 REFUSED_STREAM: the request provably was not processed.
    RefusedStream,
}

/// A retry policy.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryPolicy {
    /// Attempts in all, the first included (1 means no retries). Default 2.
    pub attempts: u32,
    /// Time limit of each attempt; an attempt that runs out may be retried. Default: none.
    #[serde(serialize_with = "serialize_opt_duration")]
    pub per_try_timeout: Option<Duration>,
    /// Failure kinds that are retried. Default `[gateway-error, connect-failure, reset, refused-stream]`.
    pub on: Vec<RetryOn>,
    /// Response statuses that are retried, besides `on`.
    pub statuses: Vec<u16>,
    /// gRPC status codes (from headers or trailers) that are retried.
    pub grpc_codes: Vec<u32>,
    /// Full-jitter exponential backoff: the first retry waits up to `base`. Default `25ms`.
    #[serde(serialize_with = "serialize_duration")]
    pub backoff_base: Duration,
    /// The longest backoff. Default `250ms`.
    #[serde(serialize_with = "serialize_duration")]
    pub backoff_max: Duration,
    /// The longest `Retry-After` honoured; a longer one means no retry. Default `1s`.
    #[serde(serialize_with = "serialize_duration")]
    pub retry_after_max: Duration,
    /// Retry non-idempotent methods (POST, PATCH...) on any `on` condition, not only when the
    /// request provably never reached the app. Default false.
    pub non_idempotent: bool,
    /// The retry budget.
    pub budget: RetryBudget,
}

impl RetryPolicy {
    /// Request bodies up to this size (64 KiB) are kept for replay; larger ones are not retried.
    pub const MAX_REPLAY_BYTES: usize = 64 * 1024;
}

/// Linkerd's retry budget: retries allowed = `ratio` × requests in the last `window` +
/// `min_per_second` × window.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct RetryBudget {
    /// Retries per request, in 0..=1. Default 0.2.
    pub ratio: f64,
    /// Retries always allowed per second. Default 10.
    pub min_per_second: u32,
    /// How far back requests are counted. Default `10s`.
    #[serde(serialize_with = "serialize_duration")]
    pub window: Duration,
}

impl Default for RetryBudget {
    fn default() -> Self {
        RetryBudget {
            ratio: 0.2,
            min_per_second: 10,
            window: Duration::from_secs(10),
        }
    }
}

/// Circuit breaking: limits per service, and outlier detection per endpoint (as in Envoy).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CircuitBreaker {
    /// Most open connections to the service's endpoints. Default 1024.
    pub max_connections: u32,
    /// Most requests waiting for a request slot once `max_requests` are in flight. Default 1024.
    pub max_pending_requests: u32,
    /// Most requests in flight to the service. Default 1024.
    pub max_requests: u32,
    /// Most retries in flight to the service. Default 3.
    pub max_retries: u32,
    /// Outlier detection; `None` turns it off (the default without a `circuit_breaker` section).
    pub outlier: Option<OutlierDetection>,
}

impl Default for CircuitBreaker {
    fn default() -> Self {
        CircuitBreaker {
            max_connections: 1024,
            max_pending_requests: 1024,
            max_requests: 1024,
            max_retries: 3,
            outlier: None,
        }
    }
}

/// Ejecting endpoints that keep failing.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct OutlierDetection {
    /// Consecutive failures that eject an endpoint. Default 5.
    pub consecutive_failures: u32,
    /// The first ejection's length; the n-th lasts n times as long. Default `30s`.
    #[serde(serialize_with = "serialize_duration")]
    pub base_ejection: Duration,
    /// The longest ejection. Default `300s`.
    #[serde(serialize_with = "serialize_duration")]
    pub max_ejection: Duration,
    /// Most endpoints ejected at once, in percent (at least one can always be). Default 10.
    pub max_ejection_percent: u32,
}

impl Default for OutlierDetection {
    fn default() -> Self {
        OutlierDetection {
            consecutive_failures: 5,
            base_ejection: Duration::from_secs(30),
            max_ejection: Duration::from_secs(300),
            max_ejection_percent: 10,
        }
    }
}

/// Whose requests a rate limit counts together.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum RateLimitKey {
    /// All requests together.
    Total,
    /// Each caller separately: by its proven mTLS identity (SPIFFE ID) when it has one, else by
    /// the value of this header, else by the caller's address.
    Caller {
        /// The header naming a caller without an identity; `None` keys such callers by peer IP
        /// address.
        #[serde(serialize_with = "serialize_opt_header")]
        header: Option<http::HeaderName>,
    },
}

fn serialize_opt_header<S: Serializer>(
    h: &Option<http::HeaderName>,
    s: S,
) -> Result<S::Ok, S::Error> {
    match h {
        Some(h) => s.serialize_str(h.as_str()),
        None => s.serialize_none(),
    }
}

/// One rate limit rule (GCRA, as governor implements it).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RateLimitRule {
    /// A stable name for metrics and headers (`orders`, `orders/routes[0]`, with `:caller`).
    pub name: String,
    /// Sustained rate.
    pub requests_per_second: u32,
    /// Requests allowed at once above the sustained rate. Default: `requests_per_second`.
    pub burst: u32,
    /// What is counted together. Default `total`.
    pub per: RateLimitKey,
}

/// Faults injected on purpose, for demos and tests (as in Istio).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Fault {
    /// Delay a share of requests.
    pub delay: Option<FaultDelay>,
    /// Answer a share of requests with an error status without calling the app.
    pub abort: Option<FaultAbort>,
}

/// An injected delay.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultDelay {
    /// How long.
    #[serde(serialize_with = "serialize_duration")]
    pub duration: Duration,
    /// Share of requests, in percent (0..=100).
    pub percent: f64,
}

/// An injected error response.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct FaultAbort {
    /// The status answered (400..=599).
    pub status: u16,
    /// Share of requests, in percent (0..=100).
    pub percent: f64,
}

/// The policies of a route (or, for a route's unset fields, of its service).
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct RoutePolicy {
    /// Request timeout; overrides the service's.
    #[serde(serialize_with = "serialize_opt_duration")]
    pub timeout: Option<Duration>,
    /// Retry policy; overrides the service's.
    pub retry: Option<RetryPolicy>,
    /// Rate limits applied (on the inbound side) to requests matching the route, besides the
    /// service's.
    pub rate_limits: Vec<RateLimitRule>,
    /// Faults injected (on the inbound side) for requests matching the route; overrides the
    /// service's.
    pub fault: Option<Fault>,
}
