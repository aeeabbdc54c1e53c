//! The authentication step: for routes with `auth`, [`super::auth::authenticate`] verifies the
//! request's credential against the gateway's [`GatewayAuth`]; the verified consumer goes into
//! the consumer header (Sanitize removed any the client sent) and into the metrics.

use super::auth;
use super::runtime::Selection;
use super::step::{Before, Step};
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::Request;
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

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
