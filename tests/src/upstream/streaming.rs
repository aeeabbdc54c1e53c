//! A server for large bodies, read and written chunk by chunk: `POST /upload` counts and
//! checksums what arrives; `GET /download?bytes=N&seed=S` streams [`crate::data::Pattern`] bytes.

use super::serve::{spawn_http, ServerBody, Serving};
use crate::client::full;
use crate::data::{pattern_body, Checksum};
use http::{StatusCode, Version};
use http_body_util::BodyExt;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

/// The size of each frame the server sends.
pub(crate) const DOWNLOAD_CHUNK: usize = 64 * 1024;

/// What one upload delivered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Upload {
    /// Bytes received.
    pub bytes: u64,
    /// Their checksum.
    pub(crate) checksum: u64,
    /// How many data frames carried them.
    pub frames: usize,
    /// The HTTP version of the hop into this server.
    pub(crate) version: Version,
}

/// The streaming server. `/upload` answers with headers `x-received-bytes` and
/// `x-received-checksum` (hex).
#[derive(Debug)]
pub struct StreamingServer {
    uploads: Arc<Mutex<Vec<Upload>>>,
    serving: Serving,
}

impl StreamingServer {
    /// Starts the server.
    pub async fn start() -> StreamingServer {
        let uploads: Arc<Mutex<Vec<Upload>>> = Arc::default();
        let handler = {
            let uploads = uploads.clone();
            move |request| handle(uploads.clone(), request)
        };
        StreamingServer {
            uploads,
            serving: spawn_http(handler).await,
        }
    }

    /// Where it listens.
    pub fn addr(&self) -> SocketAddr {
        self.serving.addr
    }

    /// Every completed upload.
    pub fn uploads(&self) -> Vec<Upload> {
        self.uploads.lock().expect("not poisoned").clone()
    }
}

fn query_param(uri: &http::Uri, name: &str) -> Option<u64> {
    uri.query()?
        .split('&')
        .filter_map(|kv| kv.split_once('='))
        .find(|(k, _)| *k == name)
        .and_then(|(_, v)| v.parse().ok())
}

async fn handle(
    uploads: Arc<Mutex<Vec<Upload>>>,
    request: http::Request<hyper::body::Incoming>,
) -> http::Response<ServerBody> {
    match request.uri().path() {
        "/upload" => {
            let version = request.version();
            let mut body = request.into_body();
            let (mut bytes, mut frames, mut sum) = (0u64, 0usize, Checksum::default());
            while let Some(frame) = body.frame().await {
                let Ok(frame) = frame else {
                    return status(StatusCode::BAD_REQUEST, "upload body failed");
                };
                if let Some(data) = frame.data_ref() {
                    bytes += data.len() as u64;
                    frames += 1;
                    sum.update(data);
                }
            }
            uploads.lock().expect("not poisoned").push(Upload {
                bytes,
                checksum: sum.value(),
                frames,
                version,
            });
            let mut response = status(StatusCode::OK, "received");
            let headers = response.headers_mut();
            headers.insert("x-received-bytes", bytes.into());
            headers.insert(
                "x-received-checksum",
                format!("{:016x}", sum.value())
                    .parse()
                    .expect("hex is a valid header value"),
            );
            response
        }
        "/download" => {
            let (Some(len), Some(seed)) = (
                query_param(request.uri(), "bytes"),
                query_param(request.uri(), "seed"),
            ) else {
                return status(StatusCode::BAD_REQUEST, "need ?bytes=N&seed=S");
            };
            http::Response::new(pattern_body(seed, len as usize, DOWNLOAD_CHUNK))
        }
        _ => status(StatusCode::NOT_FOUND, "try /upload or /download"),
    }
}

fn status(status: StatusCode, text: &'static str) -> http::Response<ServerBody> {
    let mut response = http::Response::new(full(text));
    *response.status_mut() = status;
    response
}
