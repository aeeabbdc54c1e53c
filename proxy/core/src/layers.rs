//! Layers every request passes in both directions: errors to responses, header hygiene.

use crate::context::RequestContext;
use crate::error::ProxyError;
use crate::headers::strip_hop_by_hop;
use crate::path::PathRefused;
use crate::peer::CLIENT_ID_HEADER;
use crate::{Request, Response};
use futures_util::future::{ready, Either, FutureExt, Map, Ready};
use std::convert::Infallible;
use std::task::{Context, Poll};

/// Turns a [`ProxyError`] into its response; the one place errors become HTTP.
#[derive(Debug, Clone)]
pub struct ErrorResponse<S> {
    inner: S,
}

/// Layer for [`ErrorResponse`].
#[derive(Debug, Clone, Default)]
pub struct ErrorResponseLayer;

impl<S> tower::Layer<S> for ErrorResponseLayer {
    type Service = ErrorResponse<S>;
    fn layer(&self, inner: S) -> Self::Service {
        ErrorResponse { inner }
    }
}

impl<S> tower::Service<Request> for ErrorResponse<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
{
    type Response = Response;
    type Error = Infallible;
    // A named future (no box): this layer wraps every request.
    type Future = Map<S::Future, fn(Result<Response, ProxyError>) -> Result<Response, Infallible>>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        match self.inner.poll_ready(cx) {
            Poll::Ready(_) => Poll::Ready(Ok(())),
            Poll::Pending => Poll::Pending,
        }
    }

    fn call(&mut self, request: Request) -> Self::Future {
        self.inner.call(request).map(answer as fn(_) -> _)
    }
}

/// The response for `result`: the upstream's, or the one the error maps to.
fn answer(result: Result<Response, ProxyError>) -> Result<Response, Infallible> {
    Ok(result.unwrap_or_else(|error| {
        tracing::debug!(%error, "answering with a proxy error");
        // Observers upstream of here see the classification, not just a status.
        let failure = crate::classify::error(&error);
        let mut response = error.into_response();
        response.extensions_mut().insert(failure);
        response
    }))
}

/// Removes hop-by-hop headers both ways, removes any [`CLIENT_ID_HEADER`] a request arrives
/// with (only the sidecar sets it, from a verified peer), refuses requests whose path could not
/// be normalized (`PathRefused`), and enforces the header count limit (HTTP/1 is also limited
/// by hyper's parser; HTTP/2 only here).
#[derive(Debug, Clone)]
pub struct Sanitize<S> {
    inner: S,
    max_headers: usize,
}

/// Layer for [`Sanitize`].
#[derive(Debug, Clone)]
pub struct SanitizeLayer {
    /// Most headers a request may carry.
    pub max_headers: usize,
}

impl<S> tower::Layer<S> for SanitizeLayer {
    type Service = Sanitize<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Sanitize {
            inner,
            max_headers: self.max_headers,
        }
    }
}

/// What [`Sanitize`] returns: a refusal at once, or the inner future with the response's
/// hop-by-hop headers stripped.
type SanitizeFuture<F> = Either<
    Ready<Result<Response, ProxyError>>,
    Map<F, fn(Result<Response, ProxyError>) -> Result<Response, ProxyError>>,
>;

impl<S> tower::Service<Request> for Sanitize<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = SanitizeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if let Err(refused) = self.check(&request) {
            return Either::Left(ready(Err(refused)));
        }
        strip_hop_by_hop(request.headers_mut(), true);
        // A forged identity: the app must only ever see the one the sidecar proved.
        request.headers_mut().remove(CLIENT_ID_HEADER);
        Either::Right(self.inner.call(request).map(strip_response as fn(_) -> _))
    }
}

impl<S> Sanitize<S> {
    /// Refuses a request over the header limit, with ambiguous framing, or whose path could not
    /// be normalized.
    fn check(&self, request: &Request) -> Result<(), ProxyError> {
        // What the client sent, not what earlier layers added.
        let count = RequestContext::of(request)
            .and_then(|context| context.received_headers)
            .unwrap_or_else(|| request.headers().len());
        if count > self.max_headers {
            let max = self.max_headers;
            return Err(ProxyError::TooManyHeaders { count, max });
        }
        if let Some(reason) = ambiguous_framing(request.headers()) {
            return Err(ProxyError::BadFraming { reason });
        }
        if let Some(PathRefused(reason)) = request.extensions().get::<PathRefused>().copied() {
            return Err(ProxyError::BadPath(reason));
        }
        Ok(())
    }
}

fn strip_response(result: Result<Response, ProxyError>) -> Result<Response, ProxyError> {
    let mut response = result?;
    strip_hop_by_hop(response.headers_mut(), false);
    Ok(response)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::body;
    use tower::{Layer, ServiceExt};

    fn request(headers: usize, received: Option<usize>) -> Request {
        let mut request = http::Request::new(body::empty());
        for i in 0..headers {
            request.headers_mut().insert(
                format!("x-h{i}").parse::<http::HeaderName>().unwrap(),
                "v".parse().unwrap(),
            );
        }
        if let Some(n) = received {
            RequestContext::of_mut(&mut request).received_headers = Some(n);
        }
        request
    }

    async fn status(request: Request) -> Result<(), ProxyError> {
        let ok = tower::service_fn(|_: Request| async {
            Ok::<_, ProxyError>(http::Response::new(body::empty()))
        });
        SanitizeLayer { max_headers: 2 }
            .layer(ok)
            .oneshot(request)
            .await
            .map(drop)
    }

    #[tokio::test]
    async fn the_header_limit_counts_what_the_client_sent() {
        // Two from the client plus one a layer added (traceparent): within the limit of two.
        assert!(status(request(3, Some(2))).await.is_ok());
        let refused = status(request(3, Some(3))).await.unwrap_err();
        assert!(matches!(
            refused,
            ProxyError::TooManyHeaders { count: 3, max: 2 }
        ));
        // Without the extension (a request not from the server), the headers present count.
        assert!(status(request(3, None)).await.is_err());
    }

    #[tokio::test]
    async fn a_path_that_could_not_be_normalized_is_refused() {
        let mut refused = request(0, None);
        refused
            .extensions_mut()
            .insert(PathRefused(convoy_config::PathError::EncodedSlash));
        assert!(matches!(
            status(refused).await,
            Err(ProxyError::BadPath(convoy_config::PathError::EncodedSlash))
        ));
    }

    #[tokio::test]
    async fn a_forged_client_id_never_passes() {
        let seen = tower::service_fn(|request: Request| async move {
            let forged = request.headers().get_all(CLIENT_ID_HEADER).iter().count();
            let mut response = http::Response::new(body::empty());
            response
                .headers_mut()
                .insert("x-forged-count", forged.into());
            Ok::<_, ProxyError>(response)
        });
        let mut forged = request(0, None);
        for value in ["spiffe://convoy.local/service/admin", "x"] {
            forged
                .headers_mut()
                .append(CLIENT_ID_HEADER, value.parse().unwrap());
        }
        let response = SanitizeLayer { max_headers: 10 }
            .layer(seen)
            .oneshot(forged)
            .await
            .unwrap();
        assert_eq!(response.headers()["x-forged-count"], "0");
    }
}

/// Why a request's framing is ambiguous (RFC 9112 §6.3), if it is: hyper accepts these, but an
/// app behind us might read the body differently, which is how requests get smuggled.
pub fn ambiguous_framing(headers: &http::HeaderMap) -> Option<&'static str> {
    let transfer_encodings: Vec<&http::HeaderValue> = headers
        .get_all(http::header::TRANSFER_ENCODING)
        .iter()
        .collect();
    if transfer_encodings.is_empty() {
        return None;
    }
    if headers.contains_key(http::header::CONTENT_LENGTH) {
        return Some("both Content-Length and Transfer-Encoding");
    }
    let only_chunked = transfer_encodings.len() == 1
        && transfer_encodings[0]
            .to_str()
            .is_ok_and(|v| v.trim().eq_ignore_ascii_case("chunked"));
    if !only_chunked {
        return Some("Transfer-Encoding other than `chunked`");
    }
    None
}

#[cfg(test)]
mod framing_tests {
    use super::ambiguous_framing;
    use http::HeaderMap;

    fn headers(pairs: &[(&str, &str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(
                http::HeaderName::from_bytes(name.as_bytes()).unwrap(),
                value.parse().unwrap(),
            );
        }
        map
    }

    #[test]
    fn plain_chunked_or_length_is_fine() {
        assert_eq!(
            ambiguous_framing(&headers(&[("transfer-encoding", "chunked")])),
            None
        );
        assert_eq!(
            ambiguous_framing(&headers(&[("content-length", "5")])),
            None
        );
        assert_eq!(ambiguous_framing(&headers(&[])), None);
    }

    #[test]
    fn conflicts_and_other_codings_are_refused() {
        let both = headers(&[("content-length", "5"), ("transfer-encoding", "chunked")]);
        assert!(ambiguous_framing(&both).is_some());
        for te in ["gzip, chunked", "chunked, chunked", "identity"] {
            assert!(
                ambiguous_framing(&headers(&[("transfer-encoding", te)])).is_some(),
                "{te}"
            );
        }
        let twice = headers(&[
            ("transfer-encoding", "chunked"),
            ("transfer-encoding", "chunked"),
        ]);
        assert!(ambiguous_framing(&twice).is_some());
    }
}
