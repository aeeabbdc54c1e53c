//! Inbound: other sidecars (and later the gateway) call the local app through this listener.
//! mTLS terminates in front of this stack (in the accept path), which hands each request the
//! connection's proven [`convoy_identity::Peer`].

mod client_id;
mod destination;

pub(crate) use client_id::set_client_id;
pub(crate) use destination::LocalApp;

use crate::snapshot::Snapshot;
use arc_swap::ArcSwap;
use convoy_balance::forward::Forward;
use convoy_config::Limits;
use convoy_policy::authorization::{AuthorizationLayer, AuthorizationMetrics};
use convoy_policy::fault::{FaultLayer, FaultMetrics};
use convoy_policy::rate_limit::{RateLimitLayer, RateLimitMetrics, RateLimits};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::layers::{ErrorResponseLayer, SanitizeLayer};
use convoy_proxy_core::{path, Request};
use convoy_telemetry::metrics::{Direction, Metrics};
use convoy_telemetry::observe::ObserveLayer;
use convoy_telemetry::trace_context::TraceContextLayer;
use std::convert::Infallible;
use std::sync::Arc;
use tower::util::BoxCloneService;
use tower::ServiceBuilder;

/// The inbound request path, outermost first.
pub fn stack(
    snapshot: Arc<ArcSwap<Snapshot>>,
    limits: &Limits,
    metrics: &Metrics,
) -> BoxCloneService<Request, convoy_proxy_core::Response, Infallible> {
    // Limiter state for the listener's life; it follows each request's snapshot.
    let rate_limits = RateLimits::start(
        &snapshot.load().config,
        RateLimitMetrics::new(metrics.registry()),
    );
    let service = ServiceBuilder::new()
        // Before anything reads the path: authorization and rate limits see the path the app
        // gets. A path that cannot be normalized is refused by Sanitize.
        .map_request(path::normalize)
        // Next, so the request keeps one snapshot from start to finish.
        .map_request(move |mut request: Request| {
            let current = snapshot.load_full();
            request
                .extensions_mut()
                .insert(current.inbound_metrics.clone());
            // The inbound policies read the configuration; the app's clients come from the
            // snapshot.
            RequestContext::of_mut(&mut request).config = Some(current.config.clone());
            request.extensions_mut().insert(current);
            request
        })
        .layer(TraceContextLayer)
        .layer(ObserveLayer {
            direction: Direction::Inbound,
        })
        .layer(ErrorResponseLayer)
        // Strips any forged client id before the identity header is set below.
        .layer(SanitizeLayer {
            max_headers: limits.max_header_count,
        })
        // Before the rate limit: a refused caller does not use up the allowed callers' limits.
        .layer(AuthorizationLayer::new(AuthorizationMetrics::new(
            metrics.registry(),
        )))
        .map_request(set_client_id)
        // Before fault injection: a refused request is neither delayed nor sent to the app.
        .layer(RateLimitLayer::new(rate_limits))
        .layer(FaultLayer::new(FaultMetrics::new(metrics.registry())))
        .service(Forward::new(LocalApp));
    BoxCloneService::new(service)
}

#[cfg(test)]
mod tests;
