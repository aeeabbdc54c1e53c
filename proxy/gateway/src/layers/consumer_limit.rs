//! The route's rate limit, per consumer, per client address, or in total.

use crate::runtime::Selection;
use convoy_policy::rate_limit::Caller;
use convoy_proxy_core::admission::Admission;
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::Request;

/// Refuses requests over their route's rate limit with [`ProxyError::RateLimited`] (429); run
/// it with [`convoy_proxy_core::admission::AdmitLayer`]. The key is the consumer header
/// authentication set, else the client's address (per consumer), the client's address, or none
/// (in total). The limiters live in the route: they follow the snapshot the request selected
/// from.
#[derive(Debug, Clone)]
pub(crate) struct ConsumerLimit;

impl Admission for ConsumerLimit {
    fn admit(&self, request: &Request) -> Result<(), ProxyError> {
        let Some(limiter) = Selection::routed(request).and_then(|(_, r)| r.limiter.as_ref()) else {
            return Ok(());
        };
        let caller = Caller {
            identity: None,
            ip: RequestContext::of(request)
                .and_then(|context| context.client_addr)
                .map(|addr| addr.ip()),
        };
        limiter
            .check(request.headers(), caller)
            .map_err(ProxyError::RateLimited)
    }
}
