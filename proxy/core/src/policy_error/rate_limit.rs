//! The rate limit's answer: 429 with `Retry-After` and the IETF draft RateLimit headers.

use http::{HeaderMap, HeaderValue};
use std::time::Duration;

/// A request refused by a rate limit rule.
#[derive(Debug, Clone, thiserror::Error)]
#[error("rate limited: {requests_per_second}/s {scope} (rule {rule})")]
pub struct RateLimited {
    /// The rule's name (`orders:caller`, `orders/routes[0]:total`).
    pub rule: String,
    /// The rule's sustained rate.
    pub requests_per_second: u32,
    /// Who was limited: `in total` or `for caller <key>`.
    pub scope: String,
    /// When a request would next be admitted.
    pub retry_after: Duration,
}

impl RateLimited {
    /// Adds `Retry-After` (whole seconds, at least 1) and the draft-ietf-httpapi-ratelimit-headers
    /// fields `RateLimit-Policy: "<rule>";q=<rate>;w=1` and `RateLimit: "<rule>";r=0;t=<secs>`.
    pub(crate) fn add_headers(&self, headers: &mut HeaderMap) {
        let seconds = self.retry_after.as_secs_f64().ceil().max(1.0) as u64;
        headers.insert(http::header::RETRY_AFTER, HeaderValue::from(seconds));
        let name = self.rule.replace(['"', '\\'], "");
        if let Ok(v) =
            HeaderValue::from_str(&format!("\"{name}\";q={};w=1", self.requests_per_second))
        {
            headers.insert("ratelimit-policy", v);
        }
        if let Ok(v) = HeaderValue::from_str(&format!("\"{name}\";r=0;t={seconds}")) {
            headers.insert("ratelimit", v);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn headers_follow_the_draft() {
        let limited = RateLimited {
            rule: "orders:caller".into(),
            requests_per_second: 100,
            scope: "for caller 10.0.0.1".into(),
            retry_after: Duration::from_millis(10),
        };
        let mut headers = HeaderMap::new();
        limited.add_headers(&mut headers);
        assert_eq!(headers["retry-after"], "1");
        assert_eq!(headers["ratelimit-policy"], "\"orders:caller\";q=100;w=1");
        assert_eq!(headers["ratelimit"], "\"orders:caller\";r=0;t=1");
        assert_eq!(
            limited.to_string(),
            "rate limited: 100/s for caller 10.0.0.1 (rule orders:caller)"
        );
    }
}
