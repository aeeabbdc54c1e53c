//! Requests no route took, refused with 404.

use crate::runtime::Selection;
use convoy_proxy_core::admission::Admission;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::Request;

/// Refuses requests no route took with [`ProxyError::NoGatewayRoute`], saying what did not
/// match (run it with [`convoy_proxy_core::admission::AdmitLayer`]).
#[derive(Debug, Clone)]
pub(crate) struct RequireRoute;

impl Admission for RequireRoute {
    fn admit(&self, request: &Request) -> Result<(), ProxyError> {
        let Some(selection) = Selection::of(request) else {
            return Err(ProxyError::NoGatewayRoute {
                reason: "no gateway".into(),
            });
        };
        if selection.route().is_some() {
            return Ok(());
        }
        let path: String = request
            .uri()
            .path()
            .chars()
            .filter(|c| c.is_ascii_graphic())
            .take(128)
            .collect();
        let reason = match (&selection.gateway.config, selection.route_set()) {
            (None, _) => format!("gateway {} is not configured", selection.gateway.name),
            (Some(_), None) => format!("no route set matches {path}"),
            (Some(_), Some(set)) => format!(
                "route set {} has no route for {} {path}",
                set.name,
                request.method()
            ),
        };
        Err(ProxyError::NoGatewayRoute { reason })
    }
}
