//! One generic tower service for the gateway's layers: each concern is a [`Step`] that looks
//! at the request before the inner service (and may answer it itself) and at the result after.

use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{Request, Response};
use futures_util::future::{BoxFuture, FutureExt};
use std::task::{Context, Poll};

/// What a step decided before the inner service.
#[derive(Debug)]
pub enum Before<T> {
    /// Go on with this request; `T` is handed to [`Step::after`].
    Continue(Request, T),
    /// Answer with this response (not an error: a CORS preflight).
    Answer(Response),
    /// Refuse with this error.
    Refuse(ProxyError),
}

/// One concern of the gateway's request path.
pub trait Step: Clone + Send + Sync + 'static {
    /// What `before` hands to `after`.
    type State: Send + 'static;
    /// Looks at (and may change) the request.
    fn before(&self, request: Request) -> Before<Self::State>;
    /// Looks at (and may change) the result.
    fn after(
        &self,
        state: Self::State,
        result: Result<Response, ProxyError>,
    ) -> Result<Response, ProxyError> {
        let _ = state;
        result
    }
}

/// A [`Step`] around an inner service.
#[derive(Debug, Clone)]
pub struct StepService<T, S> {
    step: T,
    inner: S,
}

/// Layer for [`StepService`].
#[derive(Debug, Clone)]
pub struct StepLayer<T>(pub T);

impl<T: Clone, S> tower::Layer<S> for StepLayer<T> {
    type Service = StepService<T, S>;
    fn layer(&self, inner: S) -> Self::Service {
        StepService {
            step: self.0.clone(),
            inner,
        }
    }
}

impl<T, S> tower::Service<Request> for StepService<T, S>
where
    T: Step,
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
    S::Future: Send + 'static,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = BoxFuture<'static, Result<Response, ProxyError>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        match self.step.before(request) {
            Before::Continue(request, state) => {
                let step = self.step.clone();
                let future = self.inner.call(request);
                Box::pin(future.map(move |result| step.after(state, result)))
            }
            Before::Answer(response) => Box::pin(async move { Ok(response) }),
            Before::Refuse(error) => Box::pin(async move { Err(error) }),
        }
    }
}
