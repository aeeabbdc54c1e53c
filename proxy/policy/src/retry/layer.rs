//! The retry layer: sends the request again while the policy, the budget and the circuit
//! breaker's `max_retries` allow, and tells the app which attempt it sees (`x-convoy-attempt`).

use super::decide::{backoff, covers, is_idempotent, retry_after};
use super::replay::Replay;
use convoy_config::RetryPolicy;
use convoy_proxy_core::call::Call;
use convoy_proxy_core::classify::{self, Failure};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{Request, Response};
use convoy_telemetry::policy_metrics::PolicyMetrics;
use futures_util::future::{BoxFuture, Either};
use http::HeaderValue;
use std::task::{Context, Poll};
use tower::util::BoxCloneService;
use tower::{Service, ServiceExt};

/// The header telling the app which attempt it is getting (1 for the first).
pub(crate) const X_CONVOY_ATTEMPT: &str = "x-convoy-attempt";

type Inner = BoxCloneService<Request, Response, ProxyError>;

/// Retries failed attempts as the request's route policy says.
#[derive(Clone)]
pub struct Retry {
    inner: Inner,
    metrics: PolicyMetrics,
}

impl std::fmt::Debug for Retry {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Retry").finish_non_exhaustive()
    }
}

/// Layer for [`Retry`].
#[derive(Debug, Clone)]
pub struct RetryLayer {
    /// Where retries are counted.
    pub metrics: PolicyMetrics,
}

impl<S> tower::Layer<S> for RetryLayer
where
    S: tower::Service<Request, Response = Response, Error = ProxyError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Service = Retry;
    fn layer(&self, inner: S) -> Self::Service {
        Retry {
            inner: BoxCloneService::new(inner),
            metrics: self.metrics.clone(),
        }
    }
}

impl tower::Service<Request> for Retry {
    type Response = Response;
    type Error = ProxyError;
    type Future = Either<
        <Inner as tower::Service<Request>>::Future,
        BoxFuture<'static, Result<Response, ProxyError>>,
    >;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // Whatever the client claimed, this is the first attempt.
        request
            .headers_mut()
            .insert(X_CONVOY_ATTEMPT, HeaderValue::from_static("1"));
        let decision = RequestContext::of(&request)
            .and_then(|context| context.call.as_ref())
            .filter(|call| call.policy.retry.is_some())
            .cloned();
        let Some(decision) = decision else {
            return Either::Left(self.inner.call(request));
        };
        // The clone polled ready is the one used; the next caller polls the fresh clone.
        let fresh = self.inner.clone();
        let inner = std::mem::replace(&mut self.inner, fresh);
        Either::Right(Box::pin(attempts(
            inner,
            request,
            decision,
            self.metrics.clone(),
        )))
    }
}

async fn attempts(
    mut inner: Inner,
    request: Request,
    decision: Call,
    metrics: PolicyMetrics,
) -> Result<Response, ProxyError> {
    let policy = decision
        .policy
        .retry
        .as_ref()
        .expect("checked by the caller");
    let service = decision.policy.service.as_str();
    if let Some(budget) = &decision.policy.budget {
        budget.deposit();
    }
    let (parts, body) = request.into_parts();
    let replay = Replay::new(body, RetryPolicy::MAX_REPLAY_BYTES);
    let idempotent = policy.non_idempotent || is_idempotent(&parts.method);
    let mut _retry_slot = None;
    let mut attempt: u32 = 1;
    loop {
        let mut request = http::Request::new(replay.next_attempt());
        *request.method_mut() = parts.method.clone();
        *request.uri_mut() = parts.uri.clone();
        *request.version_mut() = parts.version;
        *request.headers_mut() = parts.headers.clone();
        *request.extensions_mut() = parts.extensions.clone();
        request
            .headers_mut()
            .insert(X_CONVOY_ATTEMPT, HeaderValue::from(attempt));
        let result = match inner.ready().await {
            Ok(ready) => ready.call(request).await,
            Err(error) => Err(error),
        };
        let last = attempt >= policy.attempts;
        let (result, failure) = judge(result, policy, !last).await;
        let Some(failure) = failure else {
            return result;
        };
        if last || !covers(policy, failure) {
            return result;
        }
        let skip = |why: &str| metrics.retry_skipped(service, why);
        if !(idempotent || failure.never_reached_app()) {
            skip("non_idempotent");
            return result;
        }
        if !replay.is_replayable() {
            skip("body_too_large");
            return result;
        }
        let asked = result.as_ref().ok().and_then(|r| retry_after(r.headers()));
        if asked.is_some_and(|wait| wait > policy.retry_after_max) {
            skip("retry_after_too_long");
            return result;
        }
        if !decision
            .policy
            .budget
            .as_ref()
            .is_some_and(|b| b.withdraw())
        {
            skip("budget_exhausted");
            return result;
        }
        // `max_retries` bounds retries in flight, and this request's previous retry is over:
        // its slot is given back first, or a request could never retry more than once at
        // `max_retries: 1`.
        _retry_slot = None;
        let Some(slot) = decision.limits.try_retry() else {
            skip("max_retries");
            return result;
        };
        _retry_slot = Some(slot);
        metrics.retry(service, failure.reason());
        drop(result);
        tokio::time::sleep(backoff(policy, attempt).max(asked.unwrap_or_default())).await;
        attempt += 1;
    }
}

/// Classifies an attempt for retrying. A gRPC response whose status is only in its trailers is
/// read ahead (up to 64 KiB) when the policy retries gRPC codes and another attempt is allowed.
async fn judge(
    result: Result<Response, ProxyError>,
    policy: &RetryPolicy,
    may_retry: bool,
) -> (Result<Response, ProxyError>, Option<Failure>) {
    let response = match result {
        Err(error) => {
            let failure = classify::error(&error);
            return (Err(error), Some(failure));
        }
        Ok(response) => response,
    };
    if let Err(failure) = classify::response(response.status(), response.headers()) {
        return (Ok(response), Some(failure));
    }
    if policy.statuses.contains(&response.status().as_u16()) {
        let failure = Failure::Status(response.status());
        return (Ok(response), Some(failure));
    }
    let is_grpc = response
        .headers()
        .get(http::header::CONTENT_TYPE)
        .is_some_and(|v| v.as_bytes().starts_with(b"application/grpc"));
    if !(may_retry && is_grpc && !policy.grpc_codes.is_empty()) {
        return (Ok(response), None);
    }
    let (response, trailers) = super::peek::trailers(response, RetryPolicy::MAX_REPLAY_BYTES).await;
    let failure = trailers.and_then(|t| classify::trailers(&t).err());
    (Ok(response), failure)
}
