//! The one classifier of success and failure: retries, outlier detection and metrics all ask
//! it, so they always agree on what failed.

use crate::error::ProxyError;
use http::{HeaderMap, StatusCode};

/// How a failed attempt failed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    /// The upstream answered with a server error status.
    Status(StatusCode),
    /// The upstream answered with a non-OK gRPC status (in headers or trailers).
    Grpc(u32),
    /// No connection could be made (refused, timed out): the request never left the proxy.
    ConnectFailure,
    /// The connection or stream broke after the request was sent.
    Reset,
    /// HTTP/2 REFUSED_STREAM: the upstream did not process the request.
    RefusedStream,
    /// The attempt ran out of time (per-try timeout).
    Timeout,
    /// The proxy refused the request itself (limits, open circuit, rate limit, bad request):
    /// the upstream is not to blame.
    Local,
}

impl Failure {
    /// A metrics label for the failure.
    pub fn reason(&self) -> &'static str {
        match self {
            Failure::Status(s) if s.as_u16() == 502 || s.as_u16() == 503 || s.as_u16() == 504 => {
                "gateway-error"
            }
            Failure::Status(_) => "5xx",
            Failure::Grpc(_) => "grpc",
            Failure::ConnectFailure => "connect-failure",
            Failure::Reset => "reset",
            Failure::RefusedStream => "refused-stream",
            Failure::Timeout => "timeout",
            Failure::Local => "local",
        }
    }

    /// Whether the request provably never reached the app, so even a non-idempotent request
    /// may be sent again.
    pub fn never_reached_app(&self) -> bool {
        matches!(self, Failure::ConnectFailure | Failure::RefusedStream)
    }

    /// Whether the failure says something about the endpoint's health (outlier detection).
    pub fn blames_endpoint(&self) -> bool {
        !matches!(self, Failure::Local)
    }
}

/// Classifies a response head. A gRPC status is read from the headers (a trailers-only
/// response); trailers are classified with [`trailers`].
pub fn response(status: StatusCode, headers: &HeaderMap) -> Result<(), Failure> {
    if status.is_server_error() {
        return Err(Failure::Status(status));
    }
    match grpc_status(headers) {
        Some(code) if code != 0 => Err(Failure::Grpc(code)),
        _ => Ok(()),
    }
}

/// Classifies a response's trailers (gRPC status).
pub fn trailers(trailers: &HeaderMap) -> Result<(), Failure> {
    match grpc_status(trailers) {
        Some(code) if code != 0 => Err(Failure::Grpc(code)),
        _ => Ok(()),
    }
}

/// Classifies an error the proxy answered with.
pub fn error(error: &ProxyError) -> Failure {
    match error {
        ProxyError::UpstreamConnect { .. } | ProxyError::UpstreamConnectTimeout { .. } => {
            Failure::ConnectFailure
        }
        ProxyError::Upstream { refused: true, .. } => Failure::RefusedStream,
        ProxyError::Upstream { refused: false, .. } => Failure::Reset,
        ProxyError::PerTryTimeout { .. } | ProxyError::RequestTimeout { .. } => Failure::Timeout,
        ProxyError::FaultAbort { status } if status.is_server_error() => Failure::Status(*status),
        _ => Failure::Local,
    }
}

/// `grpc-status`, as a name built once (a `&str` key is parsed again on every lookup).
const GRPC_STATUS: http::HeaderName = http::HeaderName::from_static("grpc-status");

/// The `grpc-status` in `headers`, if any.
pub(crate) fn grpc_status(headers: &HeaderMap) -> Option<u32> {
    headers.get(GRPC_STATUS)?.to_str().ok()?.trim().parse().ok()
}

/// Whether an upstream error is an HTTP/2 REFUSED_STREAM anywhere in its source chain.
pub fn is_refused_stream(error: &(dyn std::error::Error + 'static)) -> bool {
    let mut current = Some(error);
    while let Some(e) = current {
        if let Some(h2) = e.downcast_ref::<h2::Error>() {
            return h2.reason() == Some(h2::Reason::REFUSED_STREAM);
        }
        current = e.source();
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::ServiceName;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut h = HeaderMap::new();
        for (k, v) in pairs {
            h.insert(*k, http::HeaderValue::from_static(v));
        }
        h
    }

    #[test]
    fn statuses_and_grpc_codes() {
        assert_eq!(response(StatusCode::OK, &HeaderMap::new()), Ok(()));
        assert_eq!(
            response(StatusCode::NOT_FOUND, &HeaderMap::new()),
            Ok(()),
            "4xx is the client's failure"
        );
        assert_eq!(
            response(StatusCode::BAD_GATEWAY, &HeaderMap::new()),
            Err(Failure::Status(StatusCode::BAD_GATEWAY))
        );
        assert_eq!(
            response(StatusCode::OK, &headers(&[("grpc-status", "14")])),
            Err(Failure::Grpc(14))
        );
        assert_eq!(trailers(&headers(&[("grpc-status", "0")])), Ok(()));
        assert_eq!(
            trailers(&headers(&[("grpc-status", "8")])),
            Err(Failure::Grpc(8))
        );
    }

    #[test]
    fn errors_say_whether_the_app_was_reached() {
        let service = ServiceName::new("orders").unwrap();
        let addr = "127.0.0.1:1".parse().unwrap();
        let connect = ProxyError::UpstreamConnect {
            service: service.clone(),
            addr,
            source: "refused".into(),
        };
        assert!(error(&connect).never_reached_app());
        let reset = ProxyError::Upstream {
            service: service.clone(),
            addr,
            refused: false,
            source: "reset".into(),
        };
        assert_eq!(error(&reset), Failure::Reset);
        assert!(!error(&reset).never_reached_app());
        let refused = ProxyError::Upstream {
            service: service.clone(),
            addr,
            refused: true,
            source: "refused".into(),
        };
        assert!(error(&refused).never_reached_app());
        let open = ProxyError::CircuitOpen {
            service,
            ejected: 1,
            total: 1,
        };
        assert!(!error(&open).blames_endpoint());
    }

    #[test]
    fn reasons_label_metrics() {
        assert_eq!(
            Failure::Status(StatusCode::SERVICE_UNAVAILABLE).reason(),
            "gateway-error"
        );
        assert_eq!(
            Failure::Status(StatusCode::INTERNAL_SERVER_ERROR).reason(),
            "5xx"
        );
        assert_eq!(Failure::ConnectFailure.reason(), "connect-failure");
    }
}
