//! The consumer and client id headers a client sent, removed: only the gateway sets them.

use crate::runtime::Selection;
use convoy_identity::CLIENT_ID_HEADER;
use convoy_proxy_core::Request;
use std::task::{Context, Poll};

/// Removes the consumer header and the client id header from requests.
#[derive(Debug, Clone)]
pub(crate) struct StripConsumer<S> {
    inner: S,
}

/// Layer for [`StripConsumer`].
#[derive(Debug, Clone)]
pub(crate) struct StripConsumerLayer;

impl<S> tower::Layer<S> for StripConsumerLayer {
    type Service = StripConsumer<S>;
    fn layer(&self, inner: S) -> Self::Service {
        StripConsumer { inner }
    }
}

impl<S: tower::Service<Request>> tower::Service<Request> for StripConsumer<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if let Some(header) = Selection::of(&request).map(Selection::consumer_header) {
            request.headers_mut().remove(header);
        }
        request.headers_mut().remove(CLIENT_ID_HEADER);
        self.inner.call(request)
    }
}
