//! The authentication step: for routes with `auth`, [`super::auth::authenticate`] verifies the
//! request's credential against the gateway's [`GatewayAuth`]; the verified consumer goes into
//! the consumer header (Sanitize removed any the client sent) and into the metrics.

use super::auth::{self, GatewayAuth};
use super::runtime::Selection;
use super::step::{Before, Step};
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::Request;
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime};

/// How often JWKS files are checked for changes.
pub const JWKS_RELOAD_INTERVAL: Duration = Duration::from_secs(1);

/// The authentication state of a gateway, with its JWKS files watched while it is in use.
pub fn start(gateway: &convoy_config::Gateway) -> Arc<GatewayAuth> {
    let auth = Arc::new(GatewayAuth::new(gateway));
    if tokio::runtime::Handle::try_current().is_ok() {
        // Ends once the state is dropped (a new configuration built a new one).
        drop(auth.spawn_reloader(JWKS_RELOAD_INTERVAL));
    }
    auth
}

/// Request extension: the consumer the request was authenticated as, for metrics (set once
/// authentication succeeds).
#[derive(Debug, Clone, Default)]
pub struct ConsumerCell(pub Arc<OnceLock<String>>);

/// Authenticates requests of routes with `auth` and puts the consumer in the consumer header.
#[derive(Debug, Clone)]
pub struct Authentication;

impl Step for Authentication {
    type State = ();

    fn before(&self, mut request: Request) -> Before<()> {
        let Some(selection) = request.extensions().get::<Selection>().cloned() else {
            return Before::Continue(request, ());
        };
        let Some(route) = selection.route() else {
            return Before::Continue(request, ());
        };
        match auth::authenticate(
            &route.config,
            &selection.gateway.auth,
            request.headers(),
            SystemTime::now(),
        ) {
            Ok(None) => Before::Continue(request, ()),
            Ok(Some(consumer)) => {
                request
                    .headers_mut()
                    .insert(selection.consumer_header(), consumer.header_value());
                if let Some(cell) = request.extensions().get::<ConsumerCell>() {
                    let _ = cell.0.set(consumer.name);
                }
                Before::Continue(request, ())
            }
            Err(error) => Before::Refuse(ProxyError::Auth(error)),
        }
    }
}
