//! W3C trace context: `traceparent` is passed through when valid and created when missing.

use convoy_proxy_core::context::{RequestContext, TraceId};
use http::{HeaderMap, HeaderValue};
use rand::Rng;

/// The header name.
pub(crate) const TRACEPARENT: &str = "traceparent";

/// Ensures `headers` carries a valid `traceparent`, replacing a malformed one; returns the trace id.
pub(crate) fn ensure(headers: &mut HeaderMap) -> TraceId {
    if let Some(trace_id) = headers
        .get(TRACEPARENT)
        .and_then(|v| v.to_str().ok())
        .and_then(parse)
    {
        return TraceId::from_hex(trace_id).expect("parse checked 32 lowercase hex digits");
    }
    let mut rng = rand::rng();
    let trace_id = rng.random::<u128>() | 1;
    let span_id = rng.random::<u64>() | 1;
    // `00-<32 hex trace id>-<16 hex span id>-01`, written without the formatting machinery.
    let mut value = *b"00-00000000000000000000000000000000-0000000000000000-01";
    write_hex(&mut value[3..35], trace_id);
    write_hex(&mut value[36..52], u128::from(span_id));
    headers.insert(
        TRACEPARENT,
        HeaderValue::from_bytes(&value).expect("hex is a valid header value"),
    );
    let trace_id = std::str::from_utf8(&value[3..35]).expect("hex is ASCII");
    TraceId::from_hex(trace_id).expect("written as 32 lowercase hex digits")
}

/// Writes the low `out.len()` hex digits of `n` (lowercase, zero-padded) into `out`.
fn write_hex(out: &mut [u8], mut n: u128) {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    for byte in out.iter_mut().rev() {
        *byte = DIGITS[(n & 0xf) as usize];
        n >>= 4;
    }
}

/// The trace id of a valid version-00 `traceparent` (`00-<32 hex>-<16 hex>-<2 hex>`), else `None`.
fn parse(value: &str) -> Option<&str> {
    let mut parts = value.trim().split('-');
    let (Some(version), Some(trace), Some(span), Some(flags), None) = (
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
        parts.next(),
    ) else {
        return None;
    };
    let hex = |s: &str, len: usize| {
        s.len() == len
            && s.bytes()
                .all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b))
    };
    let nonzero = |s: &str| s.bytes().any(|b| b != b'0');
    (hex(version, 2)
        && version != "ff"
        && hex(trace, 32)
        && hex(span, 16)
        && hex(flags, 2)
        && nonzero(trace)
        && nonzero(span))
    .then_some(trace)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keeps_a_valid_traceparent() {
        let mut h = HeaderMap::new();
        let value = "00-4bf92f3577b34da6a3ce929d0e0e4736-00f067aa0ba902b7-01";
        h.insert(TRACEPARENT, HeaderValue::from_static(value));
        assert_eq!(ensure(&mut h).as_str(), "4bf92f3577b34da6a3ce929d0e0e4736");
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
            assert_eq!(parse(&value), Some(id.as_str()));
            assert_eq!(value.len(), 55);
            assert!(
                value.starts_with("00-") && value.ends_with("-01"),
                "{value}"
            );
        }
    }

    #[test]
    fn hex_is_zero_padded_lowercase_like_format() {
        for n in [
            0u128,
            1,
            0xabc,
            u128::from(u64::MAX),
            u128::MAX,
            0x0123_4567_89ab_cdef,
        ] {
            let mut out = [0u8; 32];
            write_hex(&mut out, n);
            assert_eq!(std::str::from_utf8(&out).unwrap(), format!("{n:032x}"));
            let mut out = [0u8; 16];
            write_hex(&mut out, n);
            assert_eq!(
                std::str::from_utf8(&out).unwrap(),
                format!("{:016x}", n as u64)
            );
        }
    }

    #[test]
    fn parse_takes_exactly_four_valid_parts() {
        let trace = "4bf92f3577b34da6a3ce929d0e0e4736";
        let ok = format!("00-{trace}-00f067aa0ba902b7-01");
        assert_eq!(parse(&ok), Some(trace));
        assert_eq!(parse(&format!("  {ok} ")), Some(trace));
        for bad in [
            format!("{ok}-extra"),
            format!("ff-{trace}-00f067aa0ba902b7-01"),
            format!("00-{trace}-00f067aa0ba902b7"),
            format!("00-{trace}-0000000000000000-01"),
            format!("00-{}-00f067aa0ba902b7-01", trace.to_uppercase()),
            String::new(),
        ] {
            assert_eq!(parse(&bad), None, "{bad}");
        }
    }
}

/// Ensures every request carries a `traceparent` and records its [`TraceId`] in the
/// [`RequestContext`].
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

impl<S> tower::Service<convoy_proxy_core::Request> for TraceContext<S>
where
    S: tower::Service<convoy_proxy_core::Request>,
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

    fn call(&mut self, mut request: convoy_proxy_core::Request) -> S::Future {
        let trace_id = ensure(request.headers_mut());
        RequestContext::of_mut(&mut request).trace_id = Some(trace_id);
        self.inner.call(request)
    }
}
