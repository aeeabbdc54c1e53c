//! The route's `max_body_bytes`: 413 for a body declared larger, and for a streamed one that
//! goes over.

use crate::runtime::Selection;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{Request, Response};
use futures_util::future::{ready, Either, Ready};
use http_body_util::{BodyExt, LengthLimitError, Limited};
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};

/// Refuses bodies larger than the route's `max_body_bytes` with
/// [`ProxyError::PayloadTooLarge`]: by `content-length` before anything is sent, and while a
/// body streams (the call then fails, and is answered 413).
#[derive(Debug, Clone)]
pub(crate) struct BodyLimit<S> {
    inner: S,
}

plain_layer!(BodyLimitLayer => BodyLimit);

/// A streamed body's limit: the request's route, and whether the body went over.
struct Streamed {
    selection: Selection,
    over: Arc<AtomicBool>,
}

impl Streamed {
    /// The refusal of a body that went over, if it did.
    fn refusal(&self) -> Option<ProxyError> {
        let route = self.selection.route()?;
        self.over
            .load(Ordering::Relaxed)
            .then(|| ProxyError::PayloadTooLarge {
                what: "body".into(),
                limit: route.config.max_body_bytes,
                route: route.config.name.clone(),
            })
    }
}

impl<S> tower::Service<Request> for BodyLimit<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = Either<BodyLimitFuture<S::Future>, Ready<Result<Response, ProxyError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let Some((selection, route)) = Selection::routed(&request) else {
            return Either::Left(BodyLimitFuture {
                inner: self.inner.call(request),
                streamed: None,
            });
        };
        let limit = route.config.max_body_bytes;
        let length = request
            .headers()
            .get(http::header::CONTENT_LENGTH)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.trim().parse::<u64>().ok());
        if let Some(length) = length.filter(|l| *l > limit) {
            return Either::Right(ready(Err(ProxyError::PayloadTooLarge {
                what: format!("content-length {length}"),
                limit,
                route: route.config.name.clone(),
            })));
        }
        let streamed = Streamed {
            selection: selection.clone(),
            over: Arc::new(AtomicBool::new(false)),
        };
        let flag = streamed.over.clone();
        let request = request.map(move |body| {
            Limited::new(body, usize::try_from(limit).unwrap_or(usize::MAX))
                .map_err(move |error| {
                    if error.is::<LengthLimitError>() {
                        flag.store(true, Ordering::Relaxed);
                    }
                    error
                })
                .boxed_unsync()
        });
        Either::Left(BodyLimitFuture {
            inner: self.inner.call(request),
            streamed: Some(streamed),
        })
    }
}

pin_project_lite::pin_project! {
    /// The future of [`BodyLimit`]: a call that failed because the body went over is refused
    /// as too large.
    pub(crate) struct BodyLimitFuture<F> {
        #[pin]
        inner: F,
        streamed: Option<Streamed>,
    }
}

impl<F> Future for BodyLimitFuture<F>
where
    F: Future<Output = Result<Response, ProxyError>>,
{
    type Output = Result<Response, ProxyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let result = std::task::ready!(this.inner.poll(cx));
        Poll::Ready(match (result, this.streamed.take()) {
            (Err(error), Some(streamed)) => Err(streamed.refusal().unwrap_or(error)),
            (result, _) => result,
        })
    }
}
