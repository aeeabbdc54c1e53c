//! The validated model: every value here has been checked, so users never re-check it.

mod gateway;
mod identity;
mod matching;
mod names;
mod policy;
mod security;
mod service;
mod sidecar;

pub use gateway::{
    ApiKeyConsumer, AuthMethod, ConsumerKey, ConsumerRateLimit, Cors, Gateway, GatewayListener,
    GatewayPath, GatewayRoute, HeaderEdits, JwtProvider, Rewrite, RouteAuth, RouteSet,
    RouteSetMatch, ServerTls,
};
pub use identity::{SpiffeId, TrustDomain, DEFAULT_TRUST_DOMAIN};
pub use matching::PathMatch;
pub use names::ServiceName;
pub use policy::*;
pub use security::{Authorization, AuthorizationRule, MtlsMode, Principal};
pub use service::{Backend, Endpoint, HeaderMatch, Protocol, Route, Service};
pub use sidecar::{AppProtocol, Limits, Listen, Sidecar};

use serde::Serialize;
use std::collections::BTreeMap;

/// The services of a mesh, by name.
#[derive(Debug, Clone, PartialEq, Serialize, Default)]
pub struct Mesh {
    /// Every service this configuration knows, by name.
    pub services: BTreeMap<ServiceName, Service>,
    /// The gateways of the mesh, by name (a proxy run as gateway `<name>` serves one).
    pub gateways: BTreeMap<ServiceName, Gateway>,
}

/// Everything one sidecar needs: who it is, where it listens, and the mesh it calls into.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct ProxyConfig {
    /// This sidecar: its service, its app and its listeners.
    pub sidecar: Sidecar,
    /// The services this sidecar can route to.
    pub mesh: Mesh,
}
