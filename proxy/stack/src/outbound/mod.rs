//! Outbound: the local app calls other services through this listener.

mod destination;
mod resolve;

pub use convoy_proxy_core::route::{matching_route, select, select_backend};
pub(crate) use destination::Routed;
pub use resolve::{Resolve, ResolveLayer, Target};

use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use convoy_balance::forward::Forward;
use convoy_config::Limits;
use convoy_policy::circuit_breaker::limits::LimitsLayer;
use convoy_policy::retry::RetryLayer;
use convoy_policy::timeout::TimeoutLayer;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::layers::{ErrorResponseLayer, SanitizeLayer};
use convoy_proxy_core::{path, Request};
use convoy_telemetry::metrics::{Direction, Metrics};
use convoy_telemetry::observe::ObserveLayer;
use convoy_telemetry::trace_context::TraceContextLayer;
use std::convert::Infallible;
use std::sync::Arc;
use tower::util::BoxCloneService;
use tower::ServiceBuilder;

/// The outbound request path, outermost first.
pub fn stack(
    snapshot: Arc<ArcSwap<Snapshot>>,
    limits: &Limits,
    metrics: &Metrics,
) -> BoxCloneService<Request, convoy_proxy_core::Response, Infallible> {
    let service = ServiceBuilder::new()
        // Before routing: the route is chosen by the path that is forwarded. A path that cannot
        // be normalized is refused by Sanitize.
        .map_request(path::normalize)
        // Next, so the request keeps one snapshot and every later layer knows the service.
        .layer(ResolveLayer::new(snapshot))
        // Before observing, so the access log carries the trace id.
        .layer(TraceContextLayer)
        // Outside the error mapping, so proxy-made responses are counted and logged too.
        .layer(ObserveLayer {
            direction: Direction::Outbound,
        })
        .layer(ErrorResponseLayer)
        // Refuses bad paths; strips hop-by-hop headers and any client id the app sent.
        .layer(SanitizeLayer {
            max_headers: limits.max_header_count,
        })
        .service(calls(metrics));
    BoxCloneService::new(service)
}

/// The inner part of the outbound path, shared with the gateway: from the request timeout to
/// the endpoint. Requests carry a [`Target`] (the backend) in their extensions and the
/// [`convoy_proxy_core::call::Call`] (the policies in force) in their
/// [`RequestContext`](convoy_proxy_core::context::RequestContext).
pub fn calls(
    metrics: &Metrics,
) -> BoxCloneService<Request, convoy_proxy_core::Response, ProxyError> {
    let service = ServiceBuilder::new()
        // Outside retries: it bounds the request with all its attempts.
        .layer(TimeoutLayer::request(metrics.policy.clone()))
        .layer(RetryLayer {
            metrics: metrics.policy.clone(),
        })
        // Inside retries: a timed-out attempt can be retried.
        .layer(TimeoutLayer::per_try(metrics.policy.clone()))
        // Each attempt takes a request slot of the backend service.
        .layer(LimitsLayer {
            metrics: metrics.policy.clone(),
        })
        .service(Forward::new(Routed));
    BoxCloneService::new(service)
}
