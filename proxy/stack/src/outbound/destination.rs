//! Choosing an outbound upstream: the target service, its route's backend, then an endpoint.

use super::Target;
use convoy_balance::forward::{Destination, Upstream};
use convoy_balance::Unavailable;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{authority, Request};

/// Routes to a backend service and balances over its endpoints.
#[derive(Debug, Clone, Default)]
pub(crate) struct Routed;

/// Shortens a client-supplied name for an error message.
fn shown(name: &str) -> String {
    name.chars()
        .filter(|c| c.is_ascii_graphic())
        .take(128)
        .collect()
}

impl Destination for Routed {
    fn choose(&self, request: &Request) -> Result<Upstream, ProxyError> {
        let target = request
            .extensions()
            .get::<Target>()
            .ok_or(ProxyError::MissingAuthority)?;
        let authority = target
            .authority
            .as_deref()
            .ok_or(ProxyError::MissingAuthority)?;
        let backend = target
            .backend
            .as_ref()
            .ok_or_else(|| ProxyError::UnknownService {
                name: shown(&authority::host(authority)),
            })?;
        let in_flight = backend
            .endpoints
            .choose()
            .map_err(|unavailable| match unavailable {
                Unavailable::NoEndpoints => ProxyError::NoEndpoints {
                    service: backend.config.name.clone(),
                },
                Unavailable::AllEjected { ejected, total } => ProxyError::CircuitOpen {
                    service: backend.config.name.clone(),
                    ejected,
                    total,
                },
            })?;
        Ok(Upstream {
            service: backend.config.name.clone(),
            in_flight,
            clients: backend.clients.clone(),
            authority: Some(authority.to_owned()),
            protocol: backend.protocol,
        })
    }
}
