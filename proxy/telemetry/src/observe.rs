//! Per-request metrics and the access log.

use super::metrics::{Direction, RequestMetrics};
use convoy_proxy_core::classify::{self, Failure};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::convoy_error;
use convoy_proxy_core::error::UpstreamEndpoint;
use convoy_proxy_core::{Request, Response};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Instant;

/// Records each request in `/metrics` (count by status class, latency, in flight) and writes one
/// access-log event (target `convoy::access`). Reads the [`RequestMetrics`] that the resolve
/// layer put into the request's extensions.
#[derive(Debug, Clone)]
pub struct Observe<S> {
    inner: S,
    direction: Direction,
}

/// Layer for [`Observe`].
#[derive(Debug, Clone)]
pub struct ObserveLayer {
    /// Which direction this stack serves.
    pub direction: Direction,
}

impl<S> tower::Layer<S> for ObserveLayer {
    type Service = Observe<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Observe {
            inner,
            direction: self.direction,
        }
    }
}

struct InFlightGuard(Arc<RequestMetrics>);

/// What the access log needs from the request, taken before it moves on.
struct AccessFields {
    trace_id: String,
    method: http::Method,
    authority: String,
    path: String,
}

impl AccessFields {
    fn log(&self, direction: &str, response: &Response, elapsed: std::time::Duration) {
        let upstream = response
            .extensions()
            .get::<UpstreamEndpoint>()
            .map(|u| u.0.to_string())
            .unwrap_or_default();
        let error = convoy_error(response.headers()).unwrap_or_default();
        tracing::info!(
            target: "convoy::access",
            direction,
            method = %self.method,
            authority = %self.authority,
            path = %self.path,
            status = response.status().as_u16(),
            duration_ms = elapsed.as_secs_f64() * 1000.0,
            upstream = %upstream,
            trace_id = %self.trace_id,
            error,
            "request"
        );
    }
}

impl Drop for InFlightGuard {
    fn drop(&mut self) {
        self.0.in_flight().dec();
    }
}

impl<S> tower::Service<Request> for Observe<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = ObserveFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let started = Instant::now();
        let metrics = request.extensions().get::<Arc<RequestMetrics>>().cloned();
        let guard = metrics.map(|m| {
            m.in_flight().inc();
            InFlightGuard(m)
        });
        // The access log's fields are copied only when it is on: with it off, a request
        // allocates nothing here.
        let logged = tracing::enabled!(target: "convoy::access", tracing::Level::INFO).then(|| {
            AccessFields {
                trace_id: RequestContext::of(&request)
                    .and_then(|context| context.trace_id)
                    .map(|t| t.as_str().to_owned())
                    .unwrap_or_default(),
                method: request.method().clone(),
                authority: convoy_proxy_core::authority::of_host_header_first(
                    request.uri(),
                    request.headers(),
                )
                .unwrap_or_default(),
                path: request.uri().path().to_owned(),
            }
        });
        ObserveFuture {
            inner: self.inner.call(request),
            started,
            guard,
            logged,
            direction: self.direction.as_str(),
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Observe`]: records the response when the inner future gives it.
    pub struct ObserveFuture<F> {
        #[pin]
        inner: F,
        started: Instant,
        guard: Option<InFlightGuard>,
        logged: Option<AccessFields>,
        direction: &'static str,
    }
}

impl<F> Future for ObserveFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(response) = ready!(this.inner.poll(cx));
        let elapsed = this.started.elapsed();
        // Taken, so the request stops counting as in flight as soon as it is answered.
        if let Some(guard) = this.guard.take() {
            guard.0.record(response.status(), elapsed);
            let failure = response
                .extensions()
                .get::<Failure>()
                .copied()
                .or_else(|| classify::response(response.status(), response.headers()).err());
            if let Some(failure) = failure {
                guard.0.record_failure(failure);
            }
        }
        if let Some(fields) = this.logged.take() {
            fields.log(this.direction, &response, elapsed);
        }
        Poll::Ready(Ok(response))
    }
}
