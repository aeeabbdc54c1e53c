//! The hand-over to the route's service, through the outbound calls.

use crate::runtime::Selection;
use convoy_proxy_core::call::Call;
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::Request;
use convoy_stack::outbound::Target;
use std::task::{Context, Poll};

/// Hands the request to the outbound calls as if the local app had called the route's
/// service: [`Target`] names the service (the upstream's `Host`), [`Call`] carries the
/// policies; the backend is picked by the service's own routes, with the gateway route's
/// timeout and retry over the service's.
#[derive(Debug, Clone)]
pub(crate) struct Dispatch<S> {
    inner: S,
}

/// Layer for [`Dispatch`].
#[derive(Debug, Clone)]
pub(crate) struct DispatchLayer;

impl<S> tower::Layer<S> for DispatchLayer {
    type Service = Dispatch<S>;
    fn layer(&self, inner: S) -> Self::Service {
        Dispatch { inner }
    }
}

/// Where the request goes, and with which policies (none when the service is unknown: the
/// outbound calls refuse it).
fn destination(request: &Request) -> Option<(Target, Option<Call>)> {
    let (selection, route) = Selection::routed(request)?;
    let snapshot = selection.gateway.snapshot.clone();
    let name = route.config.service.as_str();
    let service = snapshot.service(name).cloned();
    let mut backend = None;
    let mut call = None;
    if let Some(service) = &service {
        let (index, backend_name) = convoy_stack::outbound::select(
            &service.config,
            request.uri().path(),
            request.headers(),
        );
        let chosen = snapshot
            .service(backend_name.as_str())
            .unwrap_or(service)
            .clone();
        let policy = route
            .policy
            .clone()
            .unwrap_or_else(|| service.policy(index));
        call = Some(Call {
            policy,
            limits: chosen.limits.clone(),
        });
        backend = Some(chosen);
    }
    let target = Target {
        snapshot,
        authority: Some(name.to_owned()),
        service,
        backend,
    };
    Some((target, call))
}

impl<S: tower::Service<Request>> tower::Service<Request> for Dispatch<S> {
    type Response = S::Response;
    type Error = S::Error;
    type Future = S::Future;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), S::Error>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut request: Request) -> Self::Future {
        if let Some((target, call)) = destination(&request) {
            if call.is_some() {
                RequestContext::of_mut(&mut request).call = call;
            }
            request.extensions_mut().insert(target);
        }
        self.inner.call(request)
    }
}
