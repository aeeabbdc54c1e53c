//! The admin listener: `/live`, `/ready`, `/metrics`.

use crate::http::{self, Response};
use crate::metrics::Metrics;
use crate::server::Request;
use ::http::{header, HeaderValue, Method, StatusCode};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the admin endpoints report on.
#[derive(Debug, Clone)]
pub(crate) struct AdminState {
    /// True once the first configuration is loaded and the sidecar API listens; false while
    /// shutting down.
    pub(crate) ready: Arc<AtomicBool>,
    /// Every metric.
    pub(crate) metrics: Metrics,
}

/// Answers one admin request.
pub(crate) async fn handle(state: AdminState, request: Request) -> Response {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return http::text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n");
    }
    match request.uri().path() {
        "/live" => http::text(StatusCode::OK, "live\n"),
        "/ready" if state.ready.load(Ordering::Acquire) => http::text(StatusCode::OK, "ready\n"),
        "/ready" => http::text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        "/metrics" => {
            let mut response = http::text(StatusCode::OK, state.metrics.encode());
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        _ => http::text(
            StatusCode::NOT_FOUND,
            "not found: try /live, /ready or /metrics\n",
        ),
    }
}
