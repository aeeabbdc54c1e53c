//! The admin listener: `/live`, `/ready`, `/metrics`, `/config`.

use arc_swap::ArcSwap;
use convoy_control_client::BoundAddrs;
use convoy_identity::{Identity, IdentityView};
use convoy_proxy_core::{body, Request, Response};
use convoy_stack::snapshot::Snapshot;
use convoy_telemetry::metrics::Metrics;
use http::{header, HeaderValue, Method, StatusCode};
use serde::Serialize;
use std::convert::Infallible;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// What the admin endpoints report on.
#[derive(Debug, Clone)]
pub(crate) struct AdminState {
    /// True once every listener is bound and a configuration is in force (with a control
    /// plane: its first snapshot); false while draining.
    pub(crate) ready: Arc<AtomicBool>,
    /// In gateway mode: true once the gateway's listeners are bound (`/ready` needs it too).
    pub(crate) gateway_bound: Option<Arc<AtomicBool>>,
    /// The sidecar's identity (control-plane mode): `/ready` also needs a certificate that has
    /// not expired. `None` in file mode (no identity, plaintext).
    pub(crate) identity: Option<Identity>,
    /// The configuration in force.
    pub(crate) snapshot: Arc<ArcSwap<Snapshot>>,
    /// Every metric.
    pub(crate) metrics: Metrics,
    /// The addresses actually bound (TCP service listeners may be added later).
    pub(crate) listeners: Arc<ArcSwap<BoundAddrs>>,
}

#[derive(Serialize)]
struct ConfigView<'a> {
    version: &'a str,
    source: &'a str,
    listeners: &'a BoundAddrs,
    /// `null` in file mode: no identity, plaintext.
    identity: Option<IdentityView>,
    config: &'a convoy_config::ProxyConfig,
}

impl AdminState {
    /// Ready: a configuration in force and, with an identity, a certificate not expired.
    fn is_ready(&self) -> bool {
        self.ready.load(Ordering::Acquire)
            && self
                .gateway_bound
                .as_ref()
                .is_none_or(|bound| bound.load(Ordering::Acquire))
            && self
                .identity
                .as_ref()
                .is_none_or(|identity| identity.has_valid_certificate(std::time::SystemTime::now()))
    }
}

fn text(status: StatusCode, body: &'static str) -> Response {
    let mut response = http::Response::new(body::full(body));
    *response.status_mut() = status;
    response.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("text/plain; charset=utf-8"),
    );
    response
}

/// Answers one admin request.
pub(crate) async fn handle(state: AdminState, request: Request) -> Result<Response, Infallible> {
    if request.method() != Method::GET && request.method() != Method::HEAD {
        return Ok(text(StatusCode::METHOD_NOT_ALLOWED, "only GET and HEAD\n"));
    }
    let response = match request.uri().path() {
        "/live" => text(StatusCode::OK, "live\n"),
        "/ready" if state.is_ready() => text(StatusCode::OK, "ready\n"),
        "/ready" => text(StatusCode::SERVICE_UNAVAILABLE, "not ready\n"),
        "/metrics" => {
            let mut response = http::Response::new(body::full(state.metrics.encode()));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"),
            );
            response
        }
        "/config" => {
            let snapshot = state.snapshot.load();
            let listeners = state.listeners.load();
            let view = ConfigView {
                version: &snapshot.version,
                source: &snapshot.source,
                listeners: &listeners,
                identity: state.identity.as_ref().map(Identity::view),
                config: &snapshot.config,
            };
            let json = serde_json::to_vec_pretty(&view).unwrap_or_default();
            let mut response = http::Response::new(body::full(json));
            response.headers_mut().insert(
                header::CONTENT_TYPE,
                HeaderValue::from_static("application/json"),
            );
            response
        }
        _ => text(
            StatusCode::NOT_FOUND,
            "not found: try /live, /ready, /metrics or /config\n",
        ),
    };
    Ok(response)
}
