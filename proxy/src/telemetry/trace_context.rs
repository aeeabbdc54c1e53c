//! W3C trace context: `traceparent` is passed through when valid and created when missing.

use http::{HeaderMap, HeaderValue};
use rand::Rng;

/// The header name.
pub const TRACEPARENT: &str = "traceparent";

/// The trace id of a request (32 lowercase hex digits), for logs.
#[derive(Debug, Clone)]
pub struct TraceId(pub String);

/// Ensures `headers` carries a valid `traceparent`, replacing a malformed one; returns the trace id.
pub fn ensure(headers: &mut HeaderMap) -> TraceId {
    if let Some(trace_id) = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse)
    {
        return TraceId(trace_id.to_owned());
    }
    let mut rng = rand::rng();
    let trace_id = format!("{:032x}", rng.random::<u128>() | 1);
    let span_id = format!("{:016x}", rng.random::<u64>() | 1);
    let value = format!("00-{trace_id}-{span_id}-01");
    headers.insert(
        TRACEPARENT,
        HeaderValue::from_str(&value).expect("hex is a valid header value"),
    );
    TraceId(trace_id)
}

/// The trace id of a valid version-00 `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), else `None`.
fn parse(value: &str) -> Option<&str> {
    let parts: Vec<&str> = value.trim().split('-').collect();
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    match parts.as_slice() {
        [version, trace, span, flags]
            if hex(version, 2)
                && *version != "ff"
                && hex(trace, 32)
                && hex(span, 16)
                && hex(flags, 2)
                && nonzero(trace)
                && nonzero(span) =>
        {
            Some(trace)
        }
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_valid_traceparent() {
        let mut h = HeaderMap::new();
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        h.insert(TRACEPARENT, HeaderValue::from_static(value));
        assert_eq!(ensure(&mut h).0, "4bf92f3577b34da6a3ce929d0e0e4736");
        assert_eq!(h[TRACEPARENT], value);
    }

    #[test]
    fn creates_one_when_missing_or_malformed() {
        for bad in [
            None,
            Some("garbage"),
            Some("00-00000000000000000000000000000000-00f067aa0ba902b7-01"),
        ] {
            let mut h = HeaderMap::new();
            if let Some(b) = bad {
                h.insert(TRACEPARENT, HeaderValue::from_static(b));
            }
            let id = ensure(&mut h);
            let value = h[TRACEPARENT].to_str().unwrap().to_owned();
            assert_eq!(parse(&value), Some(id.0.as_str()));
        }
    }
}

/// Ensures every request carries a `traceparent` and records its [`TraceId`] in the extensions.
#[derive(Debug, Clone)]
pub struct TraceContext<S> {
    inner: S,
}

/// Layer for [`TraceContext`].
#[derive(Debug, Clone, Default)]
pub struct TraceContextLayer;

impl<S> tower::Layer<S> for TraceContextLayer {
    type Service = TraceContext<S>;
    fn layer(&self, inner: S) -> Self::Service {
        TraceContext { inner }
    }
}

impl<S> tower::Service<crate::http::Request> for TraceContext<S>
where
    S: tower::Service<crate::http::Request>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(
        &mut self,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: crate::http::Request) -> S::Future {
        let trace_id = ensure(request.headers_mut());
        request.extensions_mut().insert(trace_id);
        self.inner.call(request)
    }
}
