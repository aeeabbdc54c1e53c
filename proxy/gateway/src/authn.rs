//! The authentication layer: for routes with `auth`, [`super::auth::authenticate`] verifies the
//! request's credential against the gateway's [`super::auth::GatewayAuth`]; the verified
//! consumer goes into the consumer header (any the client sent was removed) and into the
//! metrics.

use super::auth::{self, AuthError, Consumer};
use super::runtime::Selection;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{Request, Response};
use futures_util::future::{ready, Either, Ready};
use http::HeaderName;
use std::sync::{Arc, OnceLock};
use std::task::{Context, Poll};
use std::time::SystemTime;

/// Request extension: the consumer the request was authenticated as, for metrics (set once
/// authentication succeeds).
#[derive(Debug, Clone, Default)]
pub(crate) struct ConsumerCell(pub(crate) Arc<OnceLock<String>>);

/// Authenticates requests of routes with `auth` and puts the consumer in the consumer header;
/// refuses the others with [`ProxyError::Auth`] (401 or 403).
#[derive(Debug, Clone)]
pub(crate) struct Authentication<S> {
    inner: S,
}

plain_layer!(AuthenticationLayer => Authentication);

/// The consumer `request` is authenticated as, with the header to name it in; `None` when its
/// route asks for no authentication (or no route took it).
fn consumer(request: &Request) -> Result<Option<(HeaderName, Consumer)>, AuthError> {
    let Some((selection, route)) = Selection::routed(request) else {
        return Ok(None);
    };
    let consumer = auth::authenticate(
        &route.config,
        &selection.gateway.auth,
        request.headers(),
        SystemTime::now(),
    )?;
    Ok(consumer.map(|consumer| (selection.consumer_header(), consumer)))
}

impl<S> tower::Service<Request> for Authentication<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = Either<S::Future, Ready<Result<Response, ProxyError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        match consumer(&request) {
            Ok(None) => {}
            Ok(Some((header, consumer))) => {
                request
                    .headers_mut()
                    .insert(header, consumer.header_value());
                if let Some(cell) = request.extensions().get::<ConsumerCell>() {
                    let _ = cell.0.set(consumer.name);
                }
            }
            Err(refused) => return Either::Right(ready(Err(ProxyError::Auth(refused)))),
        }
        Either::Left(self.inner.call(request))
    }
}
