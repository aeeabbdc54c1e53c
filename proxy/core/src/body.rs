//! Body helpers: boxing hyper's bodies and making small bodies of our own.

use crate::{Body, BoxError};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use std::sync::{Arc, OnceLock};

/// Boxes any body whose errors can be boxed.
pub fn boxed<B>(body: B) -> Body
where
    B: http_body::Body<Data = Bytes> + Send + 'static,
    B::Error: Into<BoxError>,
{
    body.map_err(Into::into).boxed_unsync()
}

/// Passes `body` through unchanged, keeping the message of its first error in `noted`: a
/// forwarder can then tell that a failed upstream call failed because of the client's body.
pub fn note_error(body: Body, noted: Arc<OnceLock<String>>) -> Body {
    body.map_err(move |error| {
        let _ = noted.set(crate::cause::root_cause(error.as_ref()));
        error
    })
    .boxed_unsync()
}

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// An empty body.
pub fn empty() -> Body {
    full(Bytes::new())
}

pin_project_lite::pin_project! {
    /// A body that holds `guard` until the body is finished or dropped.
    pub(crate) struct Guarded<G> {
        #[pin]
        inner: Body,
        guard: Option<G>,
    }
}

/// Keeps `guard` alive for as long as `body` is being sent.
pub fn with_guard<G: Send + 'static>(body: Body, guard: G) -> Body {
    Guarded {
        inner: body,
        guard: Some(guard),
    }
    .boxed_unsync()
}

impl<G> http_body::Body for Guarded<G> {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        let this = self.project();
        let polled = this.inner.poll_frame(cx);
        if let std::task::Poll::Ready(None) | std::task::Poll::Ready(Some(Err(_))) = &polled {
            this.guard.take();
        }
        polled
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> http_body::SizeHint {
        self.inner.size_hint()
    }
}
