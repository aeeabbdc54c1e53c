//! HTTP plumbing shared by both listeners: the body type, small responses, and the channel
//! body that carries a sidecar's stream.

use bytes::Bytes;
use http::{header, HeaderValue, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use serde::Serialize;
use std::pin::Pin;
use std::task::{Context, Poll};
use tokio::sync::mpsc;

/// Any error a body may fail with.
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The body of every response the control plane makes.
pub type Body = UnsyncBoxBody<Bytes, BoxError>;

/// A response of the control plane.
pub type Response = http::Response<Body>;

/// A body holding `bytes`.
pub fn full(bytes: impl Into<Bytes>) -> Body {
    Full::new(bytes.into())
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// A plain-text response.
pub fn text(status: StatusCode, body: impl Into<Bytes>) -> Response {
    let mut response = http::Response::new(full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// A JSON response.
pub fn json(status: StatusCode, value: &impl Serialize) -> Response {
    let mut bytes = serde_json::to_vec_pretty(value).unwrap_or_default();
    bytes.push(b'\n');
    let mut response = http::Response::new(full(bytes));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    response
}

/// A response the control plane refuses with: the reason in `x-convoy-error` and as the
/// one-line body.
pub fn error(status: StatusCode, reason: &str) -> Response {
    let mut response = text(status, format!("{reason}\n"));
    // A reason is one line; anything a header cannot hold is dropped from the header only.
    let header = reason.replace(|c: char| c.is_control(), " ");
    if let Ok(value) = HeaderValue::from_str(&header) {
        response.headers_mut().insert("x-convoy-error", value);
    }
    response
}

/// A response body fed by a channel: it ends when every sender is dropped.
#[derive(Debug)]
pub struct ChannelBody {
    receiver: mpsc::Receiver<Bytes>,
}

impl ChannelBody {
    /// A body sending what arrives on `receiver`.
    pub fn new(receiver: mpsc::Receiver<Bytes>) -> Self {
        ChannelBody { receiver }
    }
}

impl http_body::Body for ChannelBody {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<http_body::Frame<Bytes>, BoxError>>> {
        self.receiver
            .poll_recv(cx)
            .map(|chunk| chunk.map(|bytes| Ok(http_body::Frame::data(bytes))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn the_channel_body_ends_with_its_senders() {
        let (tx, rx) = mpsc::channel(2);
        tx.send(Bytes::from_static(b"a\n")).await.unwrap();
        drop(tx);
        let collected = ChannelBody::new(rx).collect().await.unwrap().to_bytes();
        assert_eq!(collected, "a\n");
    }

    #[test]
    fn errors_carry_the_reason_in_a_header() {
        let response = error(StatusCode::BAD_REQUEST, "bad hello: no");
        assert_eq!(response.headers()["x-convoy-error"], "bad hello: no");
    }
}
