//! The route's path rewrite and header edits.

use crate::runtime::Selection;
use convoy_config::HeaderEdits;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::path::with_path;
use convoy_proxy_core::{Request, Response};
use http::HeaderMap;
use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};

/// The path with `rewrite` applied (an emptied path becomes `/`).
pub(crate) fn rewritten(path: &str, rewrite: &convoy_config::Rewrite) -> Option<String> {
    let (from, to) = match rewrite {
        convoy_config::Rewrite::StripPrefix(prefix) => (prefix.as_str(), ""),
        convoy_config::Rewrite::ReplacePrefix { from, to } => (from.as_str(), to.as_str()),
    };
    let rest = path.strip_prefix(from.trim_end_matches('/'))?;
    let mut out = format!("{}{rest}", to.trim_end_matches('/'));
    if !out.starts_with('/') {
        out.insert(0, '/');
    }
    Some(out)
}

/// Removes, then adds, the headers `edits` names.
fn edit(edits: &HeaderEdits, headers: &mut HeaderMap) {
    for name in &edits.remove {
        headers.remove(name);
    }
    for (name, value) in &edits.add {
        headers.insert(name.clone(), value.clone());
    }
}

/// The route's path rewrite and request header edits on the way in, its response header edits
/// on the way out (the upstream's responses: the proxy's own answers are not edited).
#[derive(Debug, Clone)]
pub(crate) struct Edits<S> {
    inner: S,
}

plain_layer!(EditsLayer => Edits);

impl<S> tower::Service<Request> for Edits<S>
where
    S: tower::Service<Request, Response = Response, Error = ProxyError>,
{
    type Response = Response;
    type Error = ProxyError;
    type Future = EditsFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), ProxyError>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        // Kept for the response: the route lives in the request's gateway runtime.
        let selection = Selection::routed(&request).map(|(selection, _)| selection.clone());
        if let Some(route) = selection.as_ref().and_then(Selection::route) {
            if let Some(uri) = route
                .config
                .rewrite
                .as_ref()
                .and_then(|rewrite| rewritten(request.uri().path(), rewrite))
                .and_then(|path| with_path(request.uri(), &path))
            {
                *request.uri_mut() = uri;
            }
            edit(&route.config.request_headers, request.headers_mut());
        }
        EditsFuture {
            inner: self.inner.call(request),
            selection,
        }
    }
}

pin_project_lite::pin_project! {
    /// The future of [`Edits`]: edits the response's headers when it is there.
    pub(crate) struct EditsFuture<F> {
        #[pin]
        inner: F,
        selection: Option<Selection>,
    }
}

impl<F> Future for EditsFuture<F>
where
    F: Future<Output = Result<Response, ProxyError>>,
{
    type Output = Result<Response, ProxyError>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.project();
        let mut response = std::task::ready!(this.inner.poll(cx))?;
        if let Some(route) = this.selection.as_ref().and_then(Selection::route) {
            edit(&route.config.response_headers, response.headers_mut());
        }
        Poll::Ready(Ok(response))
    }
}
