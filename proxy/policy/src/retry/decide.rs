//! Which failures a retry policy retries, and how long to wait before the next attempt.

use convoy_config::{RetryOn, RetryPolicy};
use convoy_proxy_core::classify::Failure;
use http::{HeaderMap, Method};
use rand::Rng;
use std::time::Duration;

/// Whether `policy` retries `failure`. `5xx` and `gateway-error` also cover failures that
/// produce a gateway error: connect failures, resets, refused streams and per-try timeouts.
pub(crate) fn covers(policy: &RetryPolicy, failure: Failure) -> bool {
    let on = |kind| policy.on.contains(&kind);
    let gateway = on(RetryOn::Status5xx) || on(RetryOn::GatewayError);
    match failure {
        Failure::Status(status) => {
            (on(RetryOn::Status5xx) && status.is_server_error())
                || (on(RetryOn::GatewayError) && matches!(status.as_u16(), 502..=504))
                || policy.statuses.contains(&status.as_u16())
        }
        Failure::Grpc(code) => policy.grpc_codes.contains(&code),
        Failure::ConnectFailure => gateway || on(RetryOn::ConnectFailure),
        Failure::Reset => gateway || on(RetryOn::Reset),
        Failure::RefusedStream => {
            gateway || on(RetryOn::RefusedStream) || on(RetryOn::ConnectFailure)
        }
        Failure::Timeout => gateway,
        Failure::Local => false,
    }
}

/// Idempotent methods (RFC 9110 §9.2.2): sending them twice has the effect of sending once.
pub(crate) fn is_idempotent(method: &Method) -> bool {
    matches!(
        *method,
        Method::GET | Method::HEAD | Method::OPTIONS | Method::TRACE | Method::PUT | Method::DELETE
    )
}

/// Full-jitter exponential backoff before retry number `retry` (1 for the first retry):
/// a uniform wait in `0..=min(max, base × 2^(retry-1))`.
pub(crate) fn backoff(policy: &RetryPolicy, retry: u32) -> Duration {
    let ceiling = policy
        .backoff_base
        .saturating_mul(1u32 << retry.saturating_sub(1).min(20))
        .min(policy.backoff_max);
    let nanos = rand::rng().random_range(0..=ceiling.as_nanos() as u64);
    Duration::from_nanos(nanos)
}

/// A `Retry-After` given in seconds (dates are not honoured: clocks between hosts disagree).
pub(crate) fn retry_after(headers: &HeaderMap) -> Option<Duration> {
    let seconds: u64 = headers
        .get(http::header::RETRY_AFTER)?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()?;
    Some(Duration::from_secs(seconds))
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::RetryBudget;
    use http::StatusCode;

    fn policy(on: Vec<RetryOn>) -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            per_try_timeout: None,
            on,
            statuses: vec![429],
            grpc_codes: vec![14],
            backoff_base: Duration::from_millis(25),
            backoff_max: Duration::from_millis(250),
            retry_after_max: Duration::from_secs(1),
            non_idempotent: false,
            budget: RetryBudget::default(),
        }
    }

    #[test]
    fn conditions() {
        let p = policy(vec![RetryOn::GatewayError]);
        assert!(covers(&p, Failure::Status(StatusCode::SERVICE_UNAVAILABLE)));
        assert!(!covers(
            &p,
            Failure::Status(StatusCode::INTERNAL_SERVER_ERROR)
        ));
        assert!(
            covers(&p, Failure::Status(StatusCode::TOO_MANY_REQUESTS)),
            "listed statuses"
        );
        assert!(covers(&p, Failure::Grpc(14)));
        assert!(!covers(&p, Failure::Grpc(2)));
        assert!(covers(&p, Failure::ConnectFailure));
        assert!(covers(&p, Failure::Timeout));
        assert!(!covers(&p, Failure::Local));
        let p = policy(vec![RetryOn::ConnectFailure]);
        assert!(covers(&p, Failure::ConnectFailure));
        assert!(!covers(&p, Failure::Reset));
        assert!(!covers(&p, Failure::Status(StatusCode::BAD_GATEWAY)));
    }

    #[test]
    fn backoff_is_jittered_under_an_exponential_ceiling() {
        let p = policy(vec![]);
        for retry in 1..6 {
            let ceiling =
                Duration::from_millis(25 * (1 << (retry - 1))).min(Duration::from_millis(250));
            for _ in 0..50 {
                assert!(backoff(&p, retry) <= ceiling);
            }
        }
    }

    #[test]
    fn methods_and_retry_after() {
        assert!(is_idempotent(&Method::GET) && is_idempotent(&Method::PUT));
        assert!(!is_idempotent(&Method::POST) && !is_idempotent(&Method::PATCH));
        let mut h = HeaderMap::new();
        h.insert("retry-after", "2".parse().unwrap());
        assert_eq!(retry_after(&h), Some(Duration::from_secs(2)));
        h.insert(
            "retry-after",
            "Wed, 21 Oct 2015 07:28:00 GMT".parse().unwrap(),
        );
        assert_eq!(retry_after(&h), None);
    }
}
