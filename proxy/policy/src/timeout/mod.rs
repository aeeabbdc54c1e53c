//! Timeouts on the outbound side: the request timeout (outside retries: it bounds them all)
//! and the per-try timeout (inside retries: a timed-out attempt may be retried). Both end when
//! the response head arrives; a streaming body is not cut.

use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{Request, Response};
use convoy_telemetry::policy_metrics::PolicyMetrics;
use futures_util::future::{BoxFuture, Either, FutureExt};
use std::task::{Context, Poll};

/// Which timeout a layer applies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Kind {
    /// The whole request, retries included.
    Request,
    /// One attempt.
    PerTry,
}

/// Fails the request with 504 when its timeout runs out before the response head.
#[derive(Debug, Clone)]
pub struct Timeout<S> {
    inner: S,
    kind: Kind,
    metrics: PolicyMetrics,
}

/// Layer for [`Timeout`].
#[derive(Debug, Clone)]
pub struct TimeoutLayer {
    kind: Kind,
    metrics: PolicyMetrics,
}

impl TimeoutLayer {
    /// The request timeout (from the call policy in the request's context).
    pub fn request(metrics: PolicyMetrics) -> Self {
        TimeoutLayer {
            kind: Kind::Request,
            metrics,
        }
    }

    /// The per-try timeout (from the request's retry policy).
    pub fn per_try(metrics: PolicyMetrics) -> Self {
        TimeoutLayer {
            kind: Kind::PerTry,
            metrics,
        }
    }
}

impl<S> tower::Layer<S> for TimeoutLayer {
    type Service = Timeout<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Timeout {
            inner,
            kind: self.kind,
            metrics: self.metrics.clone(),
        }
    }
}

impl<S> tower::Service<Request> for Timeout<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = Either<S::Future, BoxFuture<'static, Result<Response, ProxyError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let call = RequestContext::of(&request).and_then(|context| context.call.as_ref());
        let limit = call.and_then(|d| {
            let after = match self.kind {
                Kind::Request => d.policy.timeout,
                Kind::PerTry => d.policy.retry.as_ref().and_then(|r| r.per_try_timeout),
            }?;
            Some((after, d.policy.service.clone()))
        });
        let future = self.inner.call(request);
        let Some((after, service)) = limit else {
            return Either::Left(future);
        };
        let (kind, metrics) = (self.kind, self.metrics.clone());
        Either::Right(Box::pin(tokio::time::timeout(after, future).map(
            move |result| {
                result.unwrap_or_else(|_| {
                    metrics.timeout(
                        service.as_str(),
                        if kind == Kind::Request {
                            "request"
                        } else {
                            "per_try"
                        },
                    );
                    Err(match kind {
                        Kind::Request => ProxyError::RequestTimeout { service, after },
                        Kind::PerTry => ProxyError::PerTryTimeout { service, after },
                    })
                })
            },
        )))
    }
}
