//! The limits half of circuit breaking: requests in flight, requests waiting for a slot,
//! retries in flight, per service. Overflow fails fast with 503.

use convoy_proxy_core::call::limits::ServiceLimits;
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{body, Request, Response};
use futures_util::future::{BoxFuture, Either};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};

type Inner = tower::util::BoxCloneService<Request, Response, ProxyError>;

/// Holds a request slot of the backend service for the request's whole life, body included.
#[derive(Clone)]
pub struct Limits {
    inner: Inner,
    metrics: convoy_telemetry::policy_metrics::PolicyMetrics,
}

impl std::fmt::Debug for Limits {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Limits").finish_non_exhaustive()
    }
}

/// Layer for [`Limits`].
#[derive(Debug, Clone)]
pub struct LimitsLayer {
    /// Where overflows are counted.
    pub metrics: convoy_telemetry::policy_metrics::PolicyMetrics,
}

impl<S> tower::Layer<S> for LimitsLayer
where
    S: tower::Service<Request, Response = Response, Error = ProxyError> + Clone + Send + 'static,
    S::Future: Send + 'static,
{
    type Service = Limits;
    fn layer(&self, inner: S) -> Self::Service {
        Limits {
            inner: Inner::new(inner),
            metrics: self.metrics.clone(),
        }
    }
}

impl tower::Service<Request> for Limits {
    type Response = Response;
    type Error = ProxyError;
    type Future = Either<Permitted<BoxFuture<'static, Result<Response, ProxyError>>>, Queued>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let limits = RequestContext::of(&request)
            .and_then(|context| context.call.as_ref())
            .map(|call| call.limits.clone());
        // The common case, a free slot (or no limits): call the inner service, polled ready,
        // now; no clone of it and no boxed future of our own.
        let permit = match &limits {
            None => None,
            Some(limits) => match limits.try_acquire() {
                Some(permit) => Some(permit),
                None => return Either::Right(self.queue(request, limits.clone())),
            },
        };
        Either::Left(Permitted {
            inner: self.inner.call(request),
            permit,
        })
    }
}

/// The future of a request that waits for a slot in the bounded queue.
type Queued = BoxFuture<'static, Result<Response, ProxyError>>;

impl Limits {
    /// Waits for a slot of `limits` (or fails fast when the queue is full), then calls.
    fn queue(&mut self, request: Request, limits: Arc<ServiceLimits>) -> Queued {
        use tower::Service as _;
        // Readiness was polled on the service taken into the future; a fresh clone stays.
        let fresh = self.inner.clone();
        let mut inner = std::mem::replace(&mut self.inner, fresh);
        let metrics = self.metrics.clone();
        Box::pin(async move {
            let permit = match limits.acquire().await {
                Ok(permit) => permit,
                Err(error) => {
                    if let ProxyError::Overflow { service, limit, .. } = &error {
                        metrics.overflow(service.as_str(), limit);
                    }
                    return Err(error);
                }
            };
            Permitted {
                inner: inner.call(request),
                permit: Some(permit),
            }
            .await
        })
    }
}

pin_project_lite::pin_project! {
    /// A call holding its request slot (if the service has limits): the slot moves into the
    /// response body, so it is held until the body is finished.
    pub struct Permitted<F> {
        #[pin]
        inner: F,
        permit: Option<tokio::sync::OwnedSemaphorePermit>,
    }
}

impl<F> Future for Permitted<F>
where
    F: Future<Output = Result<Response, ProxyError>>,
{
    type Output = Result<Response, ProxyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let response = ready!(this.inner.poll(cx))?;
        Poll::Ready(Ok(match this.permit.take() {
            Some(permit) => response.map(|b| body::with_guard(b, permit)),
            None => response,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::{CircuitBreaker, ServiceName};

    fn limits(max_requests: u32, max_pending: u32, max_retries: u32) -> Arc<ServiceLimits> {
        let config = CircuitBreaker {
            max_requests,
            max_pending_requests: max_pending,
            max_retries,
            ..CircuitBreaker::default()
        };
        ServiceLimits::new(ServiceName::new("orders").unwrap(), config)
    }

    #[tokio::test]
    async fn overflow_fails_fast_once_slots_and_queue_are_full() {
        let l = limits(1, 0, 1);
        let held = l.acquire().await.unwrap();
        let error = l.acquire().await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "circuit breaker overflow: service orders at max_requests (1)"
        );
        drop(held);
        assert!(l.acquire().await.is_ok());
    }

    #[tokio::test(start_paused = true)]
    async fn pending_requests_wait_for_a_slot_up_to_the_queue_limit() {
        let l = limits(1, 1, 1);
        let held = l.acquire().await.unwrap();
        let waiting = tokio::spawn({
            let l = l.clone();
            async move { l.acquire().await.map(|_| ()) }
        });
        tokio::task::yield_now().await;
        let error = l.acquire().await.unwrap_err();
        assert!(
            error.to_string().contains("max_pending_requests (1)"),
            "{error}"
        );
        drop(held);
        assert!(
            waiting.await.unwrap().is_ok(),
            "the queued request gets the freed slot"
        );
    }

    #[test]
    fn retries_in_flight_are_bounded() {
        let l = limits(10, 0, 2);
        let a = l.try_retry().unwrap();
        let _b = l.try_retry().unwrap();
        assert!(l.try_retry().is_none());
        drop(a);
        assert!(l.try_retry().is_some());
    }
}
