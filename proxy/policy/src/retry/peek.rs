//! Reading a response ahead to its trailers (for gRPC status), then handing it on whole.

use bytes::Bytes;
use convoy_proxy_core::{Body, BoxError, Response};
use futures_util::stream;
use http::HeaderMap;
use http_body::Frame;
use http_body_util::{BodyExt, StreamBody};

/// Reads `response`'s body until its trailers, its end, or `cap` bytes; returns the response
/// with a body that yields the same frames, and the trailers if they were reached.
pub(super) async fn trailers(response: Response, cap: usize) -> (Response, Option<HeaderMap>) {
    let (parts, mut body) = response.into_parts();
    let mut read: Vec<Result<Frame<Bytes>, BoxError>> = Vec::new();
    let mut bytes = 0;
    let mut trailers = None;
    let mut ended = false;
    while bytes <= cap {
        match body.frame().await {
            None => {
                ended = true;
                break;
            }
            Some(Err(error)) => {
                read.push(Err(error));
                ended = true;
                break;
            }
            Some(Ok(frame)) => {
                if let Some(data) = frame.data_ref() {
                    bytes += data.len();
                }
                if let Some(t) = frame.trailers_ref() {
                    trailers = Some(t.clone());
                }
                read.push(Ok(frame));
                if trailers.is_some() {
                    ended = true;
                    break;
                }
            }
        }
    }
    let head: Body = StreamBody::new(stream::iter(read)).boxed_unsync();
    let body = if ended {
        head
    } else {
        Chain {
            first: Some(head),
            second: body,
        }
        .boxed_unsync()
    };
    (Response::from_parts(parts, body), trailers)
}

/// One body after another.
struct Chain {
    first: Option<Body>,
    second: Body,
}

impl http_body::Body for Chain {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: std::pin::Pin<&mut Self>,
        cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        if let Some(first) = self.first.as_mut() {
            match std::pin::Pin::new(first).poll_frame(cx) {
                std::task::Poll::Ready(None) => self.first = None,
                other => return other,
            }
        }
        std::pin::Pin::new(&mut self.second).poll_frame(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    #[tokio::test]
    async fn trailers_are_found_and_the_body_is_kept_whole() {
        let mut t = HeaderMap::new();
        t.insert("grpc-status", HeaderValue::from_static("14"));
        let frames: Vec<Result<Frame<Bytes>, BoxError>> = vec![
            Ok(Frame::data(Bytes::from_static(b"msg"))),
            Ok(Frame::trailers(t)),
        ];
        let response = Response::new(StreamBody::new(stream::iter(frames)).boxed_unsync());
        let (response, trailers) = super::trailers(response, 1024).await;
        assert_eq!(trailers.unwrap()["grpc-status"], "14");
        let collected = response.into_body().collect().await.unwrap();
        assert_eq!(collected.trailers().unwrap()["grpc-status"], "14");
        assert_eq!(collected.to_bytes(), "msg");
    }
}
