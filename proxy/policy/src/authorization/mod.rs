//! Authorization on the inbound side: who may call this sidecar's service, on which paths, with
//! which methods.
//!
//! A sidecar enforces the policy of its own service (`services.<own>.authorization`). Without a
//! policy every caller the listener accepted passes. With one, a request passes only when a
//! rule allows it: the rule names the caller's service (or is `*` and the caller has a mesh
//! identity), and the method and the normalized path match. Everything else is refused with
//! 403 ([`Forbidden`]) and never reaches the app. The caller is the [`Peer`] the inbound
//! listener proved for the connection; a request without one (plaintext, or a sidecar that runs
//! without identities) is unauthenticated, and no rule allows it. Each decision is counted in
//! `convoy_authorization_total`.
//!
//! The path is the normalized one ([`convoy_proxy_core::path`] runs first in the stack), which is
//! also the path forwarded to the app.

mod metrics;

pub(crate) use convoy_proxy_core::policy_error::Forbidden;
pub use metrics::AuthorizationMetrics;

use convoy_config::ProxyConfig;
use convoy_proxy_core::admission::{Admission, Admit};
use convoy_proxy_core::context::RequestContext;
use convoy_proxy_core::error::ProxyError;
use convoy_proxy_core::peer::Peer;
use convoy_proxy_core::Request;

/// What the policy of the sidecar's own service says of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Decision {
    /// The service has no policy: every caller passes (and nothing is counted).
    NoPolicy,
    /// Rule `allow[N]` allows it.
    Allow(usize),
    /// No rule allows it.
    Deny,
}

/// The decision of the policy of `config`'s own service on `method` `path` (normalized, no
/// query) from `caller`.
pub(crate) fn decide(
    config: &ProxyConfig,
    caller: &Peer,
    method: &http::Method,
    path: &str,
) -> Decision {
    let policy = config
        .mesh
        .services
        .get(config.sidecar.service.as_str())
        .and_then(|service| service.authorization.as_ref());
    match policy {
        None => Decision::NoPolicy,
        Some(policy) => match policy.allowing(caller.identity(), method, path) {
            Some(index) => Decision::Allow(index),
            None => Decision::Deny,
        },
    }
}

/// Refuses requests that the policy of the request's snapshot does not allow with
/// [`ProxyError::Forbidden`]; passes the others on untouched.
pub(crate) type Authorize<S> = Admit<AuthorizationCheck, S>;

/// The [`Admission`] of `Authorize`: decides and counts.
#[derive(Debug, Clone)]
pub struct AuthorizationCheck {
    metrics: AuthorizationMetrics,
}

/// Layer for `Authorize`, the authorization service.
#[derive(Debug, Clone)]
pub struct AuthorizationLayer {
    metrics: AuthorizationMetrics,
}

impl AuthorizationLayer {
    /// A layer counting its decisions in `metrics`.
    pub fn new(metrics: AuthorizationMetrics) -> Self {
        AuthorizationLayer { metrics }
    }
}

impl<S> tower::Layer<S> for AuthorizationLayer {
    type Service = Authorize<S>;
    fn layer(&self, inner: S) -> Self::Service {
        let check = AuthorizationCheck {
            metrics: self.metrics.clone(),
        };
        Admit::new(check, inner)
    }
}

/// The caller of requests that carry no [`Peer`]: nobody was proven.
static UNAUTHENTICATED_PEER: Peer = Peer::Unauthenticated;

impl Admission for AuthorizationCheck {
    fn admit(&self, request: &Request) -> Result<(), ProxyError> {
        // Only requests built outside a listener lack a configuration; there is no policy to
        // apply.
        let Some(context) = RequestContext::of(request) else {
            return Ok(());
        };
        let Some(config) = context.config.as_deref() else {
            return Ok(());
        };
        let caller = context.peer.as_ref().unwrap_or(&UNAUTHENTICATED_PEER);
        let path = request.uri().path();
        match decide(config, caller, request.method(), path) {
            Decision::NoPolicy => Ok(()),
            Decision::Allow(index) => {
                self.metrics.allowed(caller, index);
                Ok(())
            }
            Decision::Deny => {
                self.metrics.denied(caller);
                Err(ProxyError::Forbidden(Forbidden::no_rule(
                    caller.clone(),
                    request.method().clone(),
                    path,
                    config.sidecar.service.clone(),
                )))
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::metrics::UNAUTHENTICATED;
    use super::*;
    use convoy_config::{parse_proxy_config, SpiffeId};
    use convoy_proxy_core::{body, Response};
    use http::Method;
    use std::path::Path;
    use std::sync::{Arc, Mutex};
    use tower::{Layer, ServiceExt};

    const POLICY: &str = concat!(
        "    authorization:\n",
        "      allow:\n",
        "        - orders\n",
        "        - from: [web, gateway]\n",
        "          methods: [GET]\n",
        "          path_prefix: /api/\n",
        "        - from: [\"*\"]\n",
        "          path_exact: /health\n",
    );

    fn snapshot(payments: &str) -> Arc<ProxyConfig> {
        let yaml = format!(
            "sidecar: {{ service: payments, app: 127.0.0.1:1 }}\nservices:\n  payments:\n{payments}"
        );
        let config = parse_proxy_config(&yaml, Path::new("t.yaml")).unwrap();
        Arc::new(config)
    }

    fn caller(service: &str) -> Option<Peer> {
        Some(Peer::Authenticated(
            SpiffeId::parse(&format!("spiffe://convoy.local/service/{service}")).unwrap(),
        ))
    }

    /// Sends one request through the layer to an app that records the paths it receives.
    struct Harness {
        service: Authorize<tower::util::BoxCloneService<Request, Response, ProxyError>>,
        seen: Arc<Mutex<Vec<String>>>,
        metrics: AuthorizationMetrics,
        snapshot: Arc<ProxyConfig>,
    }

    impl Harness {
        fn new(payments: &str) -> Self {
            let seen = Arc::new(Mutex::new(Vec::new()));
            let app = {
                let seen = seen.clone();
                tower::service_fn(move |request: Request| {
                    seen.lock().unwrap().push(request.uri().path().to_owned());
                    async { Ok::<_, ProxyError>(http::Response::new(body::empty())) }
                })
            };
            let metrics = AuthorizationMetrics::new(&prometheus::Registry::new());
            let layer = AuthorizationLayer::new(metrics.clone());
            Harness {
                service: layer.layer(tower::util::BoxCloneService::new(app)),
                seen,
                metrics,
                snapshot: snapshot(payments),
            }
        }

        async fn send(
            &self,
            peer: Option<Peer>,
            method: Method,
            path: &str,
        ) -> Result<(), ProxyError> {
            let mut request = http::Request::new(body::empty());
            *request.method_mut() = method;
            *request.uri_mut() = path.parse().unwrap();
            let context = RequestContext::of_mut(&mut request);
            context.config = Some(self.snapshot.clone());
            context.peer = peer;
            self.service.clone().oneshot(request).await.map(drop)
        }

        fn counted(&self, caller: &str, rule: &str, result: &str) -> u64 {
            self.metrics.get(caller, rule, result)
        }
    }

    #[tokio::test]
    async fn rules_allow_by_caller_method_and_path() {
        let h = Harness::new(POLICY);
        // `orders` may do anything; `web` may GET under /api/; anyone in the mesh /health.
        h.send(caller("orders"), Method::DELETE, "/anything")
            .await
            .unwrap();
        h.send(caller("web"), Method::GET, "/api/items")
            .await
            .unwrap();
        h.send(caller("gateway"), Method::GET, "/api/")
            .await
            .unwrap();
        h.send(caller("billing"), Method::GET, "/health")
            .await
            .unwrap();
        assert_eq!(
            *h.seen.lock().unwrap(),
            ["/anything", "/api/items", "/api/", "/health"]
        );
        let web = "spiffe://convoy.local/service/web";
        assert_eq!(h.counted(web, "allow[1]", "allow"), 1);
        assert_eq!(
            h.counted("spiffe://convoy.local/service/orders", "allow[0]", "allow"),
            1
        );
        assert_eq!(
            h.counted("spiffe://convoy.local/service/billing", "allow[2]", "allow"),
            1
        );
    }

    #[tokio::test]
    async fn everything_else_is_denied_and_never_reaches_the_app() {
        let h = Harness::new(POLICY);
        let denied = [
            (caller("web"), Method::POST, "/api/items"),
            (caller("web"), Method::GET, "/apix"),
            (caller("web"), Method::GET, "/admin"),
            (caller("billing"), Method::GET, "/health/x"),
            (None, Method::GET, "/health"),
            (Some(Peer::Unauthenticated), Method::GET, "/api/items"),
        ];
        for (peer, method, path) in denied {
            let error = h
                .send(peer.clone(), method.clone(), path)
                .await
                .unwrap_err();
            assert_eq!(
                error.status(),
                http::StatusCode::FORBIDDEN,
                "{peer:?} {method} {path}"
            );
            assert!(matches!(error, ProxyError::Forbidden(_)));
        }
        assert!(h.seen.lock().unwrap().is_empty());
        let error = h
            .send(caller("web"), Method::POST, "/api/items")
            .await
            .unwrap_err();
        assert_eq!(
            error.to_string(),
            "forbidden: caller spiffe://convoy.local/service/web may not POST /api/items on service payments: no rule allows it"
        );
        let error = h.send(None, Method::GET, "/health").await.unwrap_err();
        assert_eq!(
            error.to_string(),
            "forbidden: caller unauthenticated (plaintext) may not GET /health on service payments: no rule allows it"
        );
        assert_eq!(
            h.counted("spiffe://convoy.local/service/web", "default-deny", "deny"),
            4
        );
        assert_eq!(h.counted(UNAUTHENTICATED, "default-deny", "deny"), 3);
    }

    #[tokio::test]
    async fn an_empty_policy_denies_all_and_no_policy_allows_all() {
        let empty = Harness::new("    authorization: { allow: [] }\n");
        assert!(empty
            .send(caller("orders"), Method::GET, "/")
            .await
            .is_err());
        let none = Harness::new("    endpoints: []\n");
        none.send(None, Method::GET, "/").await.unwrap();
        none.send(caller("orders"), Method::GET, "/").await.unwrap();
        assert_eq!(none.seen.lock().unwrap().len(), 2);
        assert_eq!(
            none.counted(UNAUTHENTICATED, "default-deny", "deny")
                + none.counted(UNAUTHENTICATED, "none", "allow"),
            0,
            "no policy, no decisions counted"
        );
    }
}
