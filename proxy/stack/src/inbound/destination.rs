//! Choosing the inbound upstream: always the local app of the request's snapshot.

use crate::snapshot::Snapshot;
use convoy_balance::client::UpstreamProtocol;
use convoy_balance::forward::{Destination, Upstream};
use convoy_config::AppProtocol;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::{authority, Request};
use std::sync::Arc;

/// The local app, spoken to as the sidecar config says.
#[derive(Debug, Clone, Default)]
pub(crate) struct LocalApp;

impl Destination for LocalApp {
    fn choose(&self, request: &Request) -> Result<Upstream, ProxyError> {
        let snapshot = request
            .extensions()
            .get::<Arc<Snapshot>>()
            .ok_or(ProxyError::MissingAuthority)?;
        let sidecar = &snapshot.config.sidecar;
        Ok(Upstream {
            service: sidecar.service.clone(),
            in_flight: snapshot.app.start(),
            clients: snapshot.app_clients.clone(),
            authority: authority::of_host_header_first(request.uri(), request.headers()),
            protocol: match sidecar.app_protocol {
                AppProtocol::Http1 => UpstreamProtocol::Http1,
                AppProtocol::Http2 => UpstreamProtocol::Http2,
            },
        })
    }
}
