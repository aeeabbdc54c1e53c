//! Rate limiting on the inbound side (GCRA via governor): per service, per caller, per route.
//!
//! A sidecar enforces the rules of its own service (`services.<own>.rate_limit`, and
//! `routes[i].rate_limit` for requests whose first matching route is `i`). Each rule is a GCRA
//! limiter: `requests_per_second` sustained, `burst` at once. A `per: caller` rule keeps one
//! limiter per caller, named by the caller's proven identity (its SPIFFE ID, from mTLS), else
//! by the `caller_header` value, else by the client's IP address. A
//! refused request never reaches the app: it is answered 429 with `Retry-After` and the
//! `RateLimit-Policy` / `RateLimit` headers, and counted in `convoy_rate_limited_total`.
//!
//! State lives in [`RateLimits`], built once per listener; it follows each request's snapshot
//! and keeps the limiters of unchanged rules when the configuration changes.

mod limiter;
mod limits;
mod metrics;

pub(crate) use convoy_proxy_core::policy_error::RateLimited;
pub use limiter::{Caller, RuleLimiter};
pub use limits::{RateLimits, EVICTION_INTERVAL};
pub use metrics::RateLimitMetrics;

use convoy_proxy_core::admission::{Admission, Admit};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::peer::Peer;
use convoy_proxy_core::Request;
use std::sync::Arc;

/// Refuses requests over the rate limits of the request's snapshot with
/// [`ProxyError::RateLimited`]; passes the others on untouched.
pub(crate) type RateLimit<S> = Admit<RateLimitCheck, S>;

/// The [`Admission`] of `RateLimit`: the shared limiter state.
#[derive(Debug, Clone)]
pub struct RateLimitCheck {
    limits: Arc<RateLimits>,
}

/// Layer for `RateLimit`, the rate-limiting service: holds the shared limiter state.
#[derive(Debug, Clone)]
pub struct RateLimitLayer {
    limits: Arc<RateLimits>,
}

impl RateLimitLayer {
    /// A layer enforcing `limits` (see [`RateLimits::start`]).
    pub fn new(limits: Arc<RateLimits>) -> Self {
        RateLimitLayer { limits }
    }
}

impl<S> tower::Layer<S> for RateLimitLayer {
    type Service = RateLimit<S>;
    fn layer(&self, inner: S) -> Self::Service {
        let check = RateLimitCheck {
            limits: self.limits.clone(),
        };
        Admit::new(check, inner)
    }
}

impl Admission for RateLimitCheck {
    fn admit(&self, request: &Request) -> Result<(), ProxyError> {
        // Only requests built outside a listener lack a configuration; there are no rules to
        // apply.
        let Some(context) = RequestContext::of(request) else {
            return Ok(());
        };
        let Some(config) = &context.config else {
            return Ok(());
        };
        let caller = Caller {
            identity: context.peer.as_ref().and_then(Peer::identity),
            ip: context.client_addr.map(|addr| addr.ip()),
        };
        self.limits
            .check_caller_for(config, request.uri().path(), request.headers(), caller)
            .map_err(ProxyError::RateLimited)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use convoy_config::parse_proxy_config;
    use convoy_proxy_core::body;
    use std::path::Path;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use tower::{Layer, ServiceExt};

    #[tokio::test]
    async fn a_refused_request_never_reaches_the_inner_service() {
        let yaml = "sidecar: { service: web, app: 127.0.0.1:1 }\nservices:\n  web:\n    rate_limit: { requests_per_second: 1, burst: 2 }\n";
        let config = parse_proxy_config(yaml, Path::new("t.yaml")).unwrap();
        let snapshot = Arc::new(config);
        let registry = prometheus::Registry::new();
        let limits = RateLimits::start(&snapshot, RateLimitMetrics::new(&registry));
        let calls = Arc::new(AtomicUsize::new(0));
        let app = {
            let calls = calls.clone();
            tower::service_fn(move |_: Request| {
                calls.fetch_add(1, Ordering::Relaxed);
                async { Ok::<_, ProxyError>(http::Response::new(body::empty())) }
            })
        };
        let service = RateLimitLayer::new(limits).layer(app);
        let mut refused = Vec::new();
        for _ in 0..5 {
            let mut request = http::Request::new(body::empty());
            RequestContext::of_mut(&mut request).config = Some(snapshot.clone());
            if let Err(error) = service.clone().oneshot(request).await {
                refused.push(error);
            }
        }
        assert_eq!(calls.load(Ordering::Relaxed), 2);
        assert_eq!(refused.len(), 3);
        assert!(matches!(&refused[0], ProxyError::RateLimited(l) if l.rule == "web:total"));
        assert_eq!(refused[0].status(), http::StatusCode::TOO_MANY_REQUESTS);
        // Without a snapshot there are no rules.
        let bare = http::Request::new(body::empty());
        assert!(service.oneshot(bare).await.is_ok());
    }

    #[tokio::test]
    async fn per_caller_rules_count_a_proven_identity_as_the_caller() {
        let yaml = "sidecar: { service: web, app: 127.0.0.1:1 }\nservices:\n  web:\n    rate_limit: { requests_per_second: 1, burst: 1, per: caller, caller_header: x-caller }\n";
        let config = parse_proxy_config(yaml, Path::new("t.yaml")).unwrap();
        let snapshot = Arc::new(config);
        let limits = RateLimits::start(
            &snapshot,
            RateLimitMetrics::new(&prometheus::Registry::new()),
        );
        let app = tower::service_fn(|_: Request| async {
            Ok::<_, ProxyError>(http::Response::new(body::empty()))
        });
        let service = RateLimitLayer::new(limits).layer(app);
        let send = |who: &str, header: &str| {
            let mut request = http::Request::new(body::empty());
            RequestContext::of_mut(&mut request).config = Some(snapshot.clone());
            let id =
                convoy_config::SpiffeId::parse(&format!("spiffe://convoy.local/service/{who}"));
            RequestContext::of_mut(&mut request).peer = Some(Peer::Authenticated(id.unwrap()));
            request
                .headers_mut()
                .insert("x-caller", header.parse().unwrap());
            service.clone().oneshot(request)
        };
        assert!(send("orders", "a").await.is_ok());
        // A new header value does not make a new caller of `orders`.
        let refused = send("orders", "b").await.unwrap_err();
        assert_eq!(
            refused.to_string(),
            "rate limited: 1/s for caller spiffe://convoy.local/service/orders (rule web:caller)"
        );
        assert!(send("billing", "b").await.is_ok(), "another identity");
    }
}
