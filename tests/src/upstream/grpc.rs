//! A gRPC-shaped server: HTTP/2, `content-type: application/grpc`, length-prefixed messages and
//! trailers (`grpc-status: 0` and a custom one), as a real gRPC service answers. It can fail
//! its first calls with a gRPC status in the trailers, as an overloaded service does.

use super::echo::Seen;
use super::serve::{spawn_http, ServerBody, Serving};
use crate::data::checksum;
use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use http_body_util::{BodyExt, StreamBody};
use std::net::SocketAddr;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Arc, Mutex};

/// The custom trailer every response carries (value `kept`), besides `grpc-status`.
pub const CUSTOM_TRAILER: &str = "x-test-trailer";

/// Frames one message: a zero compression flag, a big-endian u32 length, the bytes.
pub fn grpc_frame(message: &[u8]) -> Bytes {
    let mut out = BytesMut::with_capacity(5 + message.len());
    out.put_u8(0);
    out.put_u32(u32::try_from(message.len()).expect("a message under 4 GiB"));
    out.put_slice(message);
    out.freeze()
}

/// The messages in a body of framed messages; panics on a truncated frame.
pub fn grpc_messages(mut body: &[u8]) -> Vec<Bytes> {
    let mut messages = Vec::new();
    while !body.is_empty() {
        assert!(body.len() >= 5, "truncated gRPC frame header");
        let len = u32::from_be_bytes([body[1], body[2], body[3], body[4]]) as usize;
        assert!(body.len() >= 5 + len, "truncated gRPC message");
        messages.push(Bytes::copy_from_slice(&body[5..5 + len]));
        body = &body[5 + len..];
    }
    messages
}

/// The server: each request's first message `m` is answered with `reply:m`.
#[derive(Debug)]
pub struct GrpcServer {
    seen: Arc<Mutex<Vec<Seen>>>,
    serving: Serving,
}

/// How the first calls fail.
#[derive(Debug, Clone, Copy)]
struct Failing {
    /// Calls still to fail.
    left: u32,
    /// Their gRPC status.
    code: u32,
}

impl GrpcServer {
    /// Starts the server.
    pub async fn start() -> GrpcServer {
        GrpcServer::failing_first(0, 0).await
    }

    /// Starts a server whose first `calls` calls fail with gRPC status `code`: a 200 response
    /// with no message and `grpc-status: code` in its trailers. Later calls succeed.
    pub async fn failing_first(calls: u32, code: u32) -> GrpcServer {
        let seen: Arc<Mutex<Vec<Seen>>> = Arc::default();
        let left = Arc::new(AtomicU32::new(calls));
        let handler = {
            let seen = seen.clone();
            move |request| {
                let failing = left
                    .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
                    .ok()
                    .map(|before| Failing {
                        left: before - 1,
                        code,
                    });
                handle(seen.clone(), failing, request)
            }
        };
        GrpcServer {
            seen,
            serving: spawn_http(handler).await,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr
    }

    /// Every request received so far.
    pub fn seen(&self) -> Vec<Seen> {
        self.seen.lock().expect("not poisoned").clone()
    }
}

async fn handle(
    seen: Arc<Mutex<Vec<Seen>>>,
    failing: Option<Failing>,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<ServerBody> {
    let (parts, body) = request.into_parts();
    let collected = body.collect().await.map(|c| c.to_bytes());
    let body_complete = collected.is_ok();
    let bytes = collected.unwrap_or_default();
    seen.lock().expect("not poisoned").push(Seen {
        method: parts.method,
        uri: parts.uri,
        version: parts.version,
        headers: parts.headers,
        body_len: bytes.len(),
        body_complete,
        body_checksum: checksum(&bytes),
    });
    let mut trailers = HeaderMap::new();
    trailers.insert(CUSTOM_TRAILER, HeaderValue::from_static("kept"));
    let frames = if let Some(Failing { left, code }) = failing {
        trailers.insert("grpc-status", code.into());
        trailers.insert(
            "grpc-message",
            format!("failing on purpose, {left} more to fail")
                .parse()
                .expect("a valid header value"),
        );
        vec![Ok(http_body::Frame::trailers(trailers))]
    } else {
        let first = grpc_messages(&bytes).into_iter().next().unwrap_or_default();
        let mut reply = b"reply:".to_vec();
        reply.extend_from_slice(&first);
        trailers.insert("grpc-status", HeaderValue::from_static("0"));
        vec![
            Ok(http_body::Frame::data(grpc_frame(&reply))),
            Ok(http_body::Frame::trailers(trailers)),
        ]
    };
    let body = StreamBody::new(futures_util::stream::iter(frames)).boxed_unsync();
    let mut response = http::Response::new(body);
    response.headers_mut().insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    response
}
