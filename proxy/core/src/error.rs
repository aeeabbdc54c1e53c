//! Errors the proxy answers itself, and the one place that turns them into responses.

pub(crate) use crate::cause::root_cause;
use crate::{body, Response};
use convoy_config::ServiceName;
use http::{header, HeaderValue, StatusCode};
use std::net::SocketAddr;
use std::time::Duration;

/// Response extension: the endpoint that answered (or failed), for the access log.
#[derive(Debug, Clone, Copy)]
pub struct UpstreamEndpoint(pub SocketAddr);

/// The header that explains every response the proxy made itself.
pub const X_CONVOY_ERROR: &str = "x-convoy-error";

/// The [`X_CONVOY_ERROR`] of a response, if it has a readable one: why a proxy (this one, or
/// a control plane) answered itself.
pub fn convoy_error(headers: &http::HeaderMap) -> Option<&str> {
    headers.get(X_CONVOY_ERROR).and_then(|v| v.to_str().ok())
}

/// Why the proxy answered a request itself instead of forwarding the upstream's response.
#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The request names no authority (no Host header, no absolute URI).
    #[error("no destination: the request has neither a Host header nor an absolute URI")]
    MissingAuthority,
    /// The authority is not a known service.
    #[error("unknown service: `{name}` is not in this sidecar's configuration")]
    UnknownService {
        /// The name that was asked for (truncated, sanitized).
        name: String,
    },
    /// The request carries more headers than the configured limit.
    #[error("too many headers: {count}, the limit is {max}")]
    TooManyHeaders {
        /// How many the request had.
        count: usize,
        /// The limit.
        max: usize,
    },
    /// The client's request body could not be read while it was forwarded (bad chunk framing, a
    /// length mismatch, the client going away); the upstream got a cut-off request.
    #[error("bad request body: {reason}")]
    ClientBody {
        /// What was wrong with the body.
        reason: String,
        /// How the upstream call failed as a result.
        #[source]
        source: crate::BoxError,
    },
    /// The request's body framing is ambiguous; the connection is closed after the answer.
    #[error("bad framing: {reason}")]
    BadFraming {
        /// What is ambiguous.
        reason: &'static str,
    },
    /// The request's path cannot be matched safely (an encoded slash or backslash, a broken
    /// escape): an app could read it as another path than the one routing and authorization
    /// saw.
    #[error("bad request: {0}")]
    BadPath(#[from] convoy_config::PathError),
    /// The service's authorization policy allows no such request from this caller.
    #[error("{0}")]
    Forbidden(#[from] crate::policy_error::Forbidden),
    /// The service has no endpoint to send to.
    #[error("no endpoints: service {service} has no endpoints")]
    NoEndpoints {
        /// The service.
        service: ServiceName,
    },
    /// Connecting to the chosen endpoint failed.
    #[error("upstream connect failed: {service} {addr}: {}", root_cause(.source.as_ref()))]
    UpstreamConnect {
        /// The service.
        service: ServiceName,
        /// The endpoint.
        addr: SocketAddr,
        /// What went wrong.
        #[source]
        source: crate::BoxError,
    },
    /// Connecting to the chosen endpoint took longer than the connect timeout.
    #[error("upstream connect timed out: {service} {addr} after {}ms", .after.as_millis())]
    UpstreamConnectTimeout {
        /// The service.
        service: ServiceName,
        /// The endpoint.
        addr: SocketAddr,
        /// The connect timeout.
        after: Duration,
    },
    /// The request failed after the connection was made (reset, closed, protocol error).
    #[error("upstream request failed: {service} {addr}: {}", root_cause(.source.as_ref()))]
    Upstream {
        /// The service.
        service: ServiceName,
        /// The endpoint.
        addr: SocketAddr,
        /// The peer refused the HTTP/2 stream (REFUSED_STREAM): the request was not processed.
        refused: bool,
        /// What went wrong.
        #[source]
        source: crate::BoxError,
    },
    /// The whole request, retries included, took longer than the request timeout.
    #[error("request timeout: {service} after {}ms", .after.as_millis())]
    RequestTimeout {
        /// The service called.
        service: ServiceName,
        /// The timeout.
        after: Duration,
    },
    /// One attempt took longer than the per-try timeout.
    #[error("per-try timeout: {service} after {}ms", .after.as_millis())]
    PerTryTimeout {
        /// The service called.
        service: ServiceName,
        /// The timeout.
        after: Duration,
    },
    /// Every endpoint of the service is ejected: failing fast, no connection attempted.
    #[error("circuit open: service {service}, {ejected}/{total} endpoints ejected")]
    CircuitOpen {
        /// The service.
        service: ServiceName,
        /// Endpoints ejected now.
        ejected: usize,
        /// Endpoints in all.
        total: usize,
    },
    /// A circuit-breaker limit of the service is reached: failing fast.
    #[error("circuit breaker overflow: service {service} at {limit} ({max})")]
    Overflow {
        /// The service.
        service: ServiceName,
        /// Which limit (`max_requests`, `max_pending_requests`, `max_connections`).
        limit: &'static str,
        /// Its value.
        max: u32,
    },
    /// A rate limit refused the request.
    #[error("{0}")]
    RateLimited(#[from] crate::policy_error::RateLimited),
    // --- Gateway authentication (helper B) ---
    /// The gateway refused the request's credential (401) or its consumer (403).
    #[error("{0}")]
    Auth(#[from] crate::policy_error::AuthError),
    // --- end gateway authentication ---
    /// Fault injection answered instead of the app.
    #[error("fault injected: abort with {}", .status.as_u16())]
    FaultAbort {
        /// The status answered.
        status: StatusCode,
    },

    // Gateway mode (`crate::gateway`).
    /// No route set or route of the gateway takes the request.
    #[error("no route: {reason}")]
    NoGatewayRoute {
        /// What did not match (`no route set matches /x`, `route set web has no route for GET /web/x`).
        reason: String,
    },
    /// The request body is larger than the route's `max_body`.
    #[error("payload too large: {what} exceeds the limit of {limit} bytes on route {route}")]
    PayloadTooLarge {
        /// `content-length 5000` or `body`.
        what: String,
        /// The route's limit.
        limit: u64,
        /// The route's name.
        route: String,
    },
}

impl ProxyError {
    /// The status this error is answered with. This is the only place statuses are chosen.
    pub fn status(&self) -> StatusCode {
        match self {
            ProxyError::MissingAuthority
            | ProxyError::ClientBody { .. }
            | ProxyError::BadFraming { .. }
            | ProxyError::BadPath(_) => StatusCode::BAD_REQUEST,
            ProxyError::Forbidden(_) => StatusCode::FORBIDDEN,
            ProxyError::UnknownService { .. } => StatusCode::NOT_FOUND,
            ProxyError::TooManyHeaders { .. } => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            ProxyError::NoEndpoints { .. } => StatusCode::SERVICE_UNAVAILABLE,
            ProxyError::UpstreamConnect { .. } | ProxyError::Upstream { .. } => {
                StatusCode::BAD_GATEWAY
            }
            ProxyError::UpstreamConnectTimeout { .. }
            | ProxyError::RequestTimeout { .. }
            | ProxyError::PerTryTimeout { .. } => StatusCode::GATEWAY_TIMEOUT,
            ProxyError::CircuitOpen { .. } | ProxyError::Overflow { .. } => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            ProxyError::RateLimited(_) => StatusCode::TOO_MANY_REQUESTS,
            ProxyError::FaultAbort { status } => *status,
            ProxyError::NoGatewayRoute { .. } => StatusCode::NOT_FOUND,
            ProxyError::PayloadTooLarge { .. } => StatusCode::PAYLOAD_TOO_LARGE,
            ProxyError::Auth(auth) => auth.status(), // gateway authentication (helper B)
        }
    }

    /// The endpoint involved, if any (for the access log).
    pub(crate) fn endpoint(&self) -> Option<SocketAddr> {
        match self {
            ProxyError::UpstreamConnect { addr, .. }
            | ProxyError::UpstreamConnectTimeout { addr, .. }
            | ProxyError::Upstream { addr, .. } => Some(*addr),
            _ => None,
        }
    }

    /// The response the client gets: the status, `x-convoy-error` and a one-line body.
    pub fn into_response(self) -> Response {
        let message = self.to_string();
        let mut response = http::Response::new(body::full(format!("{message}\n")));
        *response.status_mut() = self.status();
        let headers = response.headers_mut();
        headers.insert(
            header::CONTENT_TYPE,
            HeaderValue::from_static("text/plain; charset=utf-8"),
        );
        // The message only holds names we validated and addresses, but be safe with odd bytes.
        let value = HeaderValue::from_str(&message)
            .unwrap_or_else(|_| HeaderValue::from_static("proxy error"));
        headers.insert(X_CONVOY_ERROR, value);
        if let ProxyError::RateLimited(limited) = &self {
            limited.add_headers(headers);
        }
        if let ProxyError::Auth(auth) = &self {
            auth.add_headers(headers); // gateway authentication (helper B): WWW-Authenticate
        }
        if matches!(
            self,
            ProxyError::BadFraming { .. } | ProxyError::PayloadTooLarge { .. }
        ) {
            // The rest of the connection's bytes cannot be trusted to start a new request (or,
            // for a body too large, are not worth reading).
            headers.insert(header::CONNECTION, HeaderValue::from_static("close"));
        }
        if let Some(addr) = self.endpoint() {
            response.extensions_mut().insert(UpstreamEndpoint(addr));
        }
        response
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_error_has_its_status_and_header() {
        let service = ServiceName::new("orders").unwrap();
        let refused =
            std::io::Error::new(std::io::ErrorKind::ConnectionRefused, "connection refused");
        let error = ProxyError::UpstreamConnect {
            service,
            addr: "10.0.0.7:4143".parse().unwrap(),
            source: Box::new(refused),
        };
        let response = error.into_response();
        assert_eq!(response.status(), StatusCode::BAD_GATEWAY);
        assert_eq!(
            response.headers()[X_CONVOY_ERROR],
            "upstream connect failed: orders 10.0.0.7:4143: connection refused"
        );
        let unknown = ProxyError::UnknownService {
            name: "nope".into(),
        }
        .into_response();
        assert_eq!(unknown.status(), StatusCode::NOT_FOUND);
        assert!(unknown.headers()[X_CONVOY_ERROR]
            .to_str()
            .unwrap()
            .contains("`nope`"));
    }

    #[test]
    fn a_bad_client_body_is_a_400_that_names_the_reason() {
        let response = ProxyError::ClientBody {
            reason: "Invalid chunk size line: missing size digit".into(),
            source: "client error (SendRequest)".into(),
        }
        .into_response();
        assert_eq!(response.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            response.headers()[X_CONVOY_ERROR],
            "bad request body: Invalid chunk size line: missing size digit"
        );
    }

    #[test]
    fn bad_paths_and_refusals_have_their_status() {
        let bad = ProxyError::BadPath(convoy_config::PathError::EncodedSlash).into_response();
        assert_eq!(bad.status(), StatusCode::BAD_REQUEST);
        assert_eq!(
            bad.headers()[X_CONVOY_ERROR],
            "bad request: encoded slash in path"
        );
    }

    #[test]
    fn os_errors_are_named_by_their_kind_in_lowercase() {
        // What a refused connect really carries: io's text would be "Connection refused (os error 111)".
        let refused = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .and_then(std::net::TcpStream::connect)
            .expect_err("nothing listens on a port just released");
        assert_eq!(root_cause(&refused), "connection refused");
        let custom = std::io::Error::other("custom words");
        assert_eq!(root_cause(&custom), "custom words");
    }
}
