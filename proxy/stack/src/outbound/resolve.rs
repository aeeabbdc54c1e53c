//! Resolving an outbound request against one snapshot: which service, which route, which
//! backend, which policies.

use crate::snapshot::{ServiceRuntime, Snapshot};
use arc_swap::ArcSwap;
use convoy_proxy_core::call::{Call, CallPolicy};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::{authority, Request};
use std::sync::Arc;
use std::task::{Context, Poll};

/// What the request asked for, resolved against the snapshot in force when it arrived.
#[derive(Debug, Clone)]
pub struct Target {
    /// Held, not read: the request keeps the snapshot it started with (and the snapshot keeps
    /// its DNS refresh) until the request is done.
    _snapshot: Arc<Snapshot>,
    /// The authority as the client wrote it (`orders`, `orders:8080`), if any.
    pub(crate) authority: Option<String>,
    /// The service whose endpoints receive the request (the service's route may send it to
    /// another one); `None` when the service is unknown.
    pub(crate) backend: Option<Arc<ServiceRuntime>>,
}

impl Target {
    /// The target of `request`, a request for `service` (named `authority`; `None` when it is
    /// unknown), with its backend picked by the service's routes, and the [`Call`] policies:
    /// the picking route's, or `policy` when the caller has its own (a gateway route's timeout
    /// and retry are over the service's). No policies for an unknown service.
    pub fn resolve(
        snapshot: Arc<Snapshot>,
        authority: Option<String>,
        service: Option<Arc<ServiceRuntime>>,
        policy: Option<Arc<CallPolicy>>,
        request: &Request,
    ) -> (Target, Option<Call>) {
        let mut call = None;
        let mut backend = None;
        if let Some(service) = &service {
            let (route, backend_name) = convoy_proxy_core::route::select(
                &service.config,
                request.uri().path(),
                request.headers(),
            );
            // Validation guarantees every backend is a known service.
            let chosen = snapshot
                .service(backend_name.as_str())
                .unwrap_or(service)
                .clone();
            call = Some(Call {
                policy: policy.unwrap_or_else(|| service.policy(route)),
                limits: chosen.limits.clone(),
            });
            backend = Some(chosen);
        }
        let target = Target {
            _snapshot: snapshot,
            authority,
            backend,
        };
        (target, call)
    }
}

/// Puts a [`Target`], the [`Call`] policies and the matching metric handles into the request's
/// extensions.
#[derive(Debug, Clone)]
pub struct Resolve<S> {
    inner: S,
    snapshot: Arc<ArcSwap<Snapshot>>,
}

/// Layer for [`Resolve`].
#[derive(Debug, Clone)]
pub struct ResolveLayer {
    snapshot: Arc<ArcSwap<Snapshot>>,
}

impl ResolveLayer {
    /// Resolves against whatever snapshot is current when each request arrives.
    pub fn new(snapshot: Arc<ArcSwap<Snapshot>>) -> Self {
        ResolveLayer { snapshot }
    }
}

impl<S> tower::Layer<S> for ResolveLayer {
    type Service = Resolve<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Resolve {
            inner,
            snapshot: self.snapshot.clone(),
        }
    }
}

impl<S: tower::Service<Request>> tower::Service<Request> for Resolve<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> S::Future {
        let snapshot = self.snapshot.load_full();
        let authority = authority::of(request.uri(), request.headers());
        let service = authority
            .as_deref()
            .and_then(|a| snapshot.service(&authority::host(a)).cloned());
        let metrics = service
            .as_ref()
            .map_or_else(|| snapshot.unknown_metrics.clone(), |s| s.metrics.clone());
        request.extensions_mut().insert(metrics);
        let (target, call) = Target::resolve(snapshot, authority, service, None, &request);
        if call.is_some() {
            RequestContext::of_mut(&mut request).call = call;
        }
        request.extensions_mut().insert(target);
        self.inner.call(request)
    }
}
