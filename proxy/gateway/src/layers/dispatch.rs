//! The hand-over to the route's service, through the outbound calls.

use crate::runtime::Selection;
use convoy_proxy_core::call::Call;
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::Request;
use convoy_stack::outbound::Target;

/// `request`, handed to the outbound calls as if the local app had called the route's service
/// (a request map: `ServiceBuilder::map_request`): [`Target`] names the service (the upstream's
/// `Host`), [`Call`] carries the policies; the backend is picked by the service's own routes,
/// with the gateway route's timeout and retry over the service's.
pub(crate) fn dispatch(mut request: Request) -> Request {
    if let Some((target, call)) = destination(&request) {
        if call.is_some() {
            RequestContext::of_mut(&mut request).call = call;
        }
        request.extensions_mut().insert(target);
    }
    request
}

/// Where the request goes, and with which policies (none when the service is unknown: the
/// outbound calls refuse it).
fn destination(request: &Request) -> Option<(Target, Option<Call>)> {
    let (selection, route) = Selection::routed(request)?;
    let snapshot = selection.gateway.snapshot.clone();
    let name = route.config.service.as_str();
    let service = snapshot.service(name).cloned();
    let policy = route.policy.clone();
    Some(Target::resolve(
        snapshot,
        Some(name.to_owned()),
        service,
        policy,
        request,
    ))
}
