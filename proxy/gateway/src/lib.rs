//! `convoy-gateway`: gateway mode, the proxy at the edge of the mesh. Clients connect to the gateway's
//! listeners (plaintext or TLS); each request is matched to a route set (BFF) and a route,
//! checked (CORS, body size, authentication, rate limit), rewritten, and sent to the route's
//! mesh service through the outbound calls, so the service's resilience policies and mutual
//! TLS with the gateway's identity apply.

/// `$layer`, the [`tower::Layer`] of `$service`: a gateway service that holds nothing but its
/// inner service (what it needs comes with each request's [`Selection`]).
macro_rules! plain_layer {
    ($layer:ident => $service:ident) => {
        #[doc = concat!("Layer for [`", stringify!($service), "`].")]
        #[derive(Debug, Clone)]
        pub(crate) struct $layer;

        impl<S> tower::Layer<S> for $layer {
            type Service = $service<S>;
            fn layer(&self, inner: S) -> Self::Service {
                $service { inner }
            }
        }
    };
}

pub mod auth;
mod authn;
mod cors;
mod layers;
pub mod observe;
pub mod runtime;
pub mod tls;

pub use runtime::{GatewayRuntime, GatewayState, Selection};

use authn::AuthenticationLayer;
use convoy_config::Limits;
use convoy_proxy_core::admission::AdmitLayer;
use convoy_proxy_core::layers::{ErrorResponseLayer, SanitizeLayer};
use convoy_proxy_core::{authority, path, Request, Response};
use convoy_telemetry::metrics::Metrics;
use convoy_telemetry::trace_context::TraceContextLayer;
use cors::{CorsHeadersLayer, PreflightLayer};
use layers::{BodyLimitLayer, ConsumerLimit, EditsLayer, RequireRoute};
use observe::{GatewayMetrics, GatewayObserveLayer};
use std::convert::Infallible;
use std::sync::Arc;
use tower::util::BoxCloneService;
use tower::ServiceBuilder;

/// Picks the route set and route of a request against the gateway in force.
fn select(state: &GatewayState, mut request: Request) -> Request {
    let runtime = state.runtime();
    let host = authority::of_host_header_first(request.uri(), request.headers());
    let selection = runtime.select(
        request.method(),
        host.as_deref(),
        request.uri().path(),
        request.headers(),
    );
    request.extensions_mut().insert(selection);
    request
}

/// The gateway's request path, outermost first.
pub fn stack(
    state: Arc<GatewayState>,
    limits: &Limits,
    metrics: &Metrics,
    gateway_metrics: GatewayMetrics,
) -> BoxCloneService<Request, Response, Infallible> {
    let service = ServiceBuilder::new()
        // Before routing: routes match the path that is forwarded (a path that cannot be
        // normalized is refused by Sanitize).
        .map_request(path::normalize)
        // One gateway runtime (and snapshot) for the whole request; the route is known to
        // every later layer and to the metrics (a request no route takes is refused below,
        // once errors can be answered).
        .map_request(move |request| select(&state, request))
        // Before observing, so the access log carries the trace id.
        .layer(TraceContextLayer)
        // Outside the error mapping, so the gateway's own answers are counted too.
        .layer(GatewayObserveLayer(gateway_metrics))
        // Outside the error mapping too: every response to an allowed origin gets the route
        // set's CORS headers, the gateway's own answers included.
        .layer(CorsHeadersLayer)
        // The one place errors become responses (as in the sidecar).
        .layer(ErrorResponseLayer)
        // Bad paths, hop-by-hop headers, the header limit, a forged client id.
        .layer(SanitizeLayer {
            max_headers: limits.max_header_count,
        })
        // A forged consumer: only authentication sets it.
        .map_request(layers::strip_consumer)
        // Before the route is required: a preflight only needs the route set (routes rarely
        // list OPTIONS).
        .layer(PreflightLayer)
        .layer(AdmitLayer::new(RequireRoute))
        // Before authentication: an oversized body is refused without verifying anything.
        .layer(BodyLimitLayer)
        .layer(AuthenticationLayer)
        // After authentication: limits per consumer need the consumer.
        .layer(AdmitLayer::new(ConsumerLimit))
        // The route's rewrite and header edits (the service's own routes see the rewritten
        // path).
        .layer(EditsLayer)
        // The route's service, as the outbound direction calls it.
        .map_request(layers::dispatch)
        .service(convoy_stack::outbound::calls(metrics));
    BoxCloneService::new(service)
}

#[cfg(test)]
mod tests;
