//! Who may call a service: its mTLS mode and its authorization policy (enforced by the
//! service's own sidecar, inbound).

use super::identity::SpiffeId;
use super::matching::PathMatch;
use super::ServiceName;
use serde::{Serialize, Serializer};

/// What the inbound listener of a service's sidecar accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum MtlsMode {
    /// Only mutual TLS with a mesh identity (the default).
    #[default]
    Strict,
    /// Mutual TLS, and plaintext too (callers without an identity), for moving unmeshed
    /// callers in. Plaintext callers are unauthenticated: no authorization rule allows them.
    Permissive,
}

/// An authorization policy: requests that no rule allows are refused with 403. A service with
/// a policy denies by default; a service without one allows every caller its mTLS mode lets in.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Authorization {
    /// The rules, tried in order; the first that allows decides (`allow[0]` names the first).
    pub allow: Vec<AuthorizationRule>,
}

/// One allow rule: callers, narrowed by path and methods.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AuthorizationRule {
    /// Who: at least one.
    pub from: Vec<Principal>,
    /// Which paths (normalized, without query). Default: any. A prefix matches whole segments:
    /// `/api` matches `/api` and `/api/x`, not `/apix`.
    pub path: PathMatch,
    /// Which methods. Empty: any.
    #[serde(serialize_with = "serialize_methods")]
    pub methods: Vec<http::Method>,
}

impl Authorization {
    /// The index of the first rule that allows `caller` (`None`: unauthenticated) to send
    /// `method` to `path` (normalized, without query); `None` when no rule does.
    pub fn allowing(
        &self,
        caller: Option<&SpiffeId>,
        method: &http::Method,
        path: &str,
    ) -> Option<usize> {
        let caller = caller?;
        self.allow
            .iter()
            .position(|rule| rule.allows(caller, method, path))
    }
}

impl AuthorizationRule {
    /// Whether this rule allows `caller` to send `method` to `path` (normalized, no query).
    pub(crate) fn allows(&self, caller: &SpiffeId, method: &http::Method, path: &str) -> bool {
        self.from.iter().any(|p| p.admits(caller))
            && (self.methods.is_empty() || self.methods.contains(method))
            && match &self.path {
                PathMatch::Any => true,
                PathMatch::Exact(exact) => path == exact,
                PathMatch::Prefix(prefix) => within_prefix(path, prefix),
            }
    }
}

/// Whether `path` lies within `prefix` by whole segments: `/api` covers `/api` and `/api/x` but
/// not `/apix`; `/api/` covers `/api/` and `/api/x`.
fn within_prefix(path: &str, prefix: &str) -> bool {
    match path.strip_prefix(prefix) {
        None => false,
        Some(rest) => rest.is_empty() || prefix.ends_with('/') || rest.starts_with('/'),
    }
}

/// A caller an authorization rule names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The workloads of this service (`spiffe://<trust domain>/service/<name>`).
    Service(ServiceName),
    /// Any identity of the mesh's trust domain (`"*"` in YAML). Not plaintext callers.
    AnyMeshIdentity,
}

impl Principal {
    /// Whether `caller` is this principal. The caller's trust domain is not compared: the
    /// handshake only accepts identities of the mesh's own trust domain.
    pub(crate) fn admits(&self, caller: &SpiffeId) -> bool {
        match self {
            Principal::Service(name) => {
                caller.path().strip_prefix("/service/") == Some(name.as_str())
            }
            Principal::AnyMeshIdentity => true,
        }
    }
}

impl Serialize for Principal {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            Principal::Service(name) => s.serialize_str(name.as_str()),
            Principal::AnyMeshIdentity => s.serialize_str("*"),
        }
    }
}

fn serialize_methods<S: Serializer>(methods: &[http::Method], s: S) -> Result<S::Ok, S::Error> {
    s.collect_seq(methods.iter().map(http::Method::as_str))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TrustDomain;
    use http::Method;

    fn id(service: &str) -> SpiffeId {
        SpiffeId::for_service(&TrustDomain::default(), &ServiceName::new(service).unwrap())
    }

    fn rule(from: &[&str], methods: &[Method], path: PathMatch) -> AuthorizationRule {
        AuthorizationRule {
            from: from
                .iter()
                .map(|f| match *f {
                    "*" => Principal::AnyMeshIdentity,
                    name => Principal::Service(ServiceName::new(name).unwrap()),
                })
                .collect(),
            path,
            methods: methods.to_vec(),
        }
    }

    #[test]
    fn the_first_rule_that_allows_decides() {
        let policy = Authorization {
            allow: vec![
                rule(&["web"], &[Method::GET], PathMatch::Prefix("/api".into())),
                rule(&["*"], &[], PathMatch::Exact("/health".into())),
                rule(&["orders"], &[], PathMatch::Any),
            ],
        };
        let web = id("web");
        assert_eq!(policy.allowing(Some(&web), &Method::GET, "/api"), Some(0));
        assert_eq!(policy.allowing(Some(&web), &Method::GET, "/api/x"), Some(0));
        assert_eq!(policy.allowing(Some(&web), &Method::GET, "/apix"), None);
        assert_eq!(policy.allowing(Some(&web), &Method::POST, "/api/x"), None);
        assert_eq!(
            policy.allowing(Some(&web), &Method::POST, "/health"),
            Some(1)
        );
        assert_eq!(policy.allowing(Some(&web), &Method::GET, "/health/x"), None);
        assert_eq!(
            policy.allowing(Some(&id("orders")), &Method::DELETE, "/x"),
            Some(2)
        );
        assert_eq!(
            policy.allowing(Some(&id("orders-v2")), &Method::GET, "/x"),
            None
        );
        // Unauthenticated callers match no rule, not even `*`.
        assert_eq!(policy.allowing(None, &Method::GET, "/health"), None);
    }

    #[test]
    fn prefixes_cover_whole_segments() {
        assert!(within_prefix("/api/", "/api/"));
        assert!(within_prefix("/api/x", "/api/"));
        assert!(!within_prefix("/api", "/api/"));
        assert!(within_prefix("/", "/"));
        assert!(within_prefix("/anything", "/"));
    }

    #[test]
    fn a_service_principal_names_only_service_identities() {
        let orders = Principal::Service(ServiceName::new("orders").unwrap());
        assert!(orders.admits(&id("orders")));
        assert!(!orders.admits(&SpiffeId::parse("spiffe://convoy.local/orders").unwrap()));
        assert!(!orders.admits(&SpiffeId::parse("spiffe://convoy.local/service/orders/x").unwrap()));
        assert!(Principal::AnyMeshIdentity.admits(&id("orders")));
    }
}
