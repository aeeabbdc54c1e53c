//! CORS for a route set: the headers every response to an allowed origin gets (the gateway's
//! own answers included, so scripts can read why), and the preflights the gateway answers.
//!
//! Two layers, because they sit in two places: [`CorsHeaders`] outside the error mapping, so it
//! sees every response once it is a response; [`Preflight`] where the request has been
//! sanitized, answering preflights itself (a preflight is an answer, not a refusal: no error is
//! made for it).

use super::runtime::Selection;
use convoy_config::Cors;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{body, Request, Response};
use futures_util::future::{ready, Either, Ready};
use http::header::{self, HeaderMap, HeaderValue};
use http::{Method, StatusCode};
use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};

/// The route set's CORS settings and the request's `Origin`, if the set has CORS and the
/// request an origin.
fn cors_of(request: &Request) -> Option<(&Arc<Cors>, &HeaderValue)> {
    let cors = Selection::of(request)?.route_set()?.cors.as_ref()?;
    Some((cors, request.headers().get(header::ORIGIN)?))
}

/// Whether `request` is a CORS preflight.
fn is_preflight(request: &Request) -> bool {
    request.method() == Method::OPTIONS
        && request
            .headers()
            .contains_key(header::ACCESS_CONTROL_REQUEST_METHOD)
}

/// The allowed origin to echo, if the request's `Origin` is allowed.
fn allowed_origin(cors: &Cors, origin: &HeaderValue) -> Option<HeaderValue> {
    let text = origin.to_str().ok()?;
    if cors.allow_origins.iter().any(|o| o == "*") && !cors.allow_credentials {
        return Some(HeaderValue::from_static("*"));
    }
    cors.allow_origins
        .iter()
        .any(|o| o.eq_ignore_ascii_case(text))
        .then(|| origin.clone())
}

fn join<'a>(items: impl Iterator<Item = &'a str>) -> Option<HeaderValue> {
    HeaderValue::from_str(&items.collect::<Vec<_>>().join(", ")).ok()
}

/// The preflight answer: 204, with the CORS headers only when the origin, the method and the
/// headers asked for are allowed (else the browser refuses).
fn preflight(cors: &Cors, request: &Request, origin: &HeaderValue) -> Response {
    let mut response = http::Response::new(body::empty());
    *response.status_mut() = StatusCode::NO_CONTENT;
    let headers = response.headers_mut();
    headers.insert(header::VARY, HeaderValue::from_static("Origin"));
    let method_ok = request
        .headers()
        .get(header::ACCESS_CONTROL_REQUEST_METHOD)
        .and_then(|m| Method::from_bytes(m.as_bytes()).ok())
        .is_some_and(|m| cors.allow_methods.contains(&m));
    let headers_ok = request
        .headers()
        .get_all(header::ACCESS_CONTROL_REQUEST_HEADERS)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .map(str::trim)
        .filter(|h| !h.is_empty())
        .all(|h| {
            cors.allow_headers
                .iter()
                .any(|a| a.as_str().eq_ignore_ascii_case(h))
        });
    let Some(origin) = allowed_origin(cors, origin).filter(|_| method_ok && headers_ok) else {
        return response;
    };
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    if let Some(v) = join(cors.allow_methods.iter().map(Method::as_str)) {
        headers.insert(header::ACCESS_CONTROL_ALLOW_METHODS, v);
    }
    if !cors.allow_headers.is_empty() {
        if let Some(v) = join(cors.allow_headers.iter().map(|h| h.as_str())) {
            headers.insert(header::ACCESS_CONTROL_ALLOW_HEADERS, v);
        }
    }
    headers.insert(
        header::ACCESS_CONTROL_MAX_AGE,
        HeaderValue::from(cors.max_age.as_secs()),
    );
    if cors.allow_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    response
}

/// Adds the CORS headers of a response to the allowed `origin`.
fn decorate(cors: &Cors, origin: HeaderValue, headers: &mut HeaderMap) {
    headers.insert(header::ACCESS_CONTROL_ALLOW_ORIGIN, origin);
    headers.append(header::VARY, HeaderValue::from_static("Origin"));
    if cors.allow_credentials {
        headers.insert(
            header::ACCESS_CONTROL_ALLOW_CREDENTIALS,
            HeaderValue::from_static("true"),
        );
    }
    if !cors.expose_headers.is_empty() {
        if let Some(v) = join(cors.expose_headers.iter().map(|h| h.as_str())) {
            headers.insert(header::ACCESS_CONTROL_EXPOSE_HEADERS, v);
        }
    }
}

/// Adds the route set's CORS headers to every response to an allowed origin but preflights
/// (they carry their own). Its inner service answers every request: it sits outside the error
/// mapping, so the gateway's own answers get the headers too.
#[derive(Debug, Clone)]
pub(crate) struct CorsHeaders<S> {
    inner: S,
}

plain_layer!(CorsHeadersLayer => CorsHeaders);

impl<S> tower::Service<Request> for CorsHeaders<S>
where
    S: tower::Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = CorsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        let allowed = cors_of(&request)
            .filter(|_| !is_preflight(&request))
            .and_then(|(cors, origin)| Some((cors.clone(), allowed_origin(cors, origin)?)));
        CorsFuture {
            inner: self.inner.call(request),
            allowed,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`CorsHeaders`]: adds the headers when the response is there.
    pub(crate) struct CorsFuture<F> {
        #[pin]
        inner: F,
        allowed: Option<(Arc<Cors>, HeaderValue)>,
    }
}

impl<F> Future for CorsFuture<F>
where
    F: Future<Output = Result<Response, Infallible>>,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let Ok(mut response) = std::task::ready!(this.inner.poll(cx));
        if let Some((cors, origin)) = this.allowed.take() {
            decorate(&cors, origin, response.headers_mut());
        }
        Poll::Ready(Ok(response))
    }
}

/// Answers the CORS preflights of route sets with `cors` (204); passes other requests on.
#[derive(Debug, Clone)]
pub(crate) struct Preflight<S> {
    inner: S,
}

plain_layer!(PreflightLayer => Preflight);

impl<S> tower::Service<Request> for Preflight<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = Either<S::Future, Ready<Result<Response, ProxyError>>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, request: Request) -> Self::Future {
        if let Some((cors, origin)) = cors_of(&request).filter(|_| is_preflight(&request)) {
            return Either::Right(ready(Ok(preflight(cors, &request, origin))));
        }
        Either::Left(self.inner.call(request))
    }
}
