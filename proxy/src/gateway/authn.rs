//! The seam to authentication (`crate::gateway::auth`, written apart): the request path calls
//! [`Authenticate::authenticate`] for routes with `auth`, and sets the consumer header from
//! the consumer it returns.
//!
//! Until the authentication module is wired in ([`default_factory`]), a route with `auth`
//! refuses every request with 401: the gateway fails closed.

use super::runtime::Selection;
use super::step::{Before, Step};
use crate::http::error::ProxyError;
use crate::http::Request;
use convoy_config::{Gateway, RouteAuth};
use http::{HeaderMap, HeaderValue};
use std::sync::{Arc, OnceLock};
use std::time::SystemTime;

/// Verifies a request's credentials for a route.
pub trait Authenticate: Send + Sync {
    /// The consumer (API key name or JWT subject) the credentials in `headers` prove, allowed
    /// on `route` by `auth`; else [`ProxyError::Unauthenticated`] (401) or
    /// [`ProxyError::ConsumerForbidden`] (403).
    fn authenticate(
        &self,
        auth: &RouteAuth,
        route: &str,
        headers: &HeaderMap,
        now: SystemTime,
    ) -> Result<String, ProxyError>;
}

/// Builds a gateway's authentication state from its configuration.
pub type Factory = Arc<dyn Fn(&Gateway) -> Arc<dyn Authenticate> + Send + Sync>;

/// The authentication the gateway runs with.
pub fn default_factory() -> Factory {
    Arc::new(|_gateway: &Gateway| refuse_all())
}

/// Refuses every credential (no authentication module, or no gateway).
pub fn refuse_all() -> Arc<dyn Authenticate> {
    Arc::new(RefuseAll)
}

struct RefuseAll;

impl Authenticate for RefuseAll {
    fn authenticate(
        &self,
        _: &RouteAuth,
        _: &str,
        _: &HeaderMap,
        _: SystemTime,
    ) -> Result<String, ProxyError> {
        Err(ProxyError::Unauthenticated {
            reason: "no authentication configured on this gateway".into(),
            challenge: Vec::new(),
        })
    }
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
        let Some(auth) = &route.config.auth else {
            return Before::Continue(request, ());
        };
        match selection.gateway.auth.authenticate(
            auth,
            &route.config.name,
            request.headers(),
            SystemTime::now(),
        ) {
            Ok(consumer) => {
                let Ok(value) = HeaderValue::from_str(&consumer) else {
                    return Before::Refuse(ProxyError::Unauthenticated {
                        reason: "the consumer name cannot be sent in a header".into(),
                        challenge: Vec::new(),
                    });
                };
                request
                    .headers_mut()
                    .insert(selection.consumer_header(), value);
                if let Some(cell) = request.extensions().get::<ConsumerCell>() {
                    let _ = cell.0.set(consumer);
                }
                Before::Continue(request, ())
            }
            Err(error) => Before::Refuse(error),
        }
    }
}
