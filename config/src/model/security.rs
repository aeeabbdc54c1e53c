//! Who may call a service: its mTLS mode and its authorization policy (enforced by the
//! service's own sidecar, inbound).

use super::service::PathMatch;
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

/// A caller an authorization rule names.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum Principal {
    /// The workloads of this service (`spiffe://<trust domain>/service/<name>`).
    Service(ServiceName),
    /// Any identity of the mesh's trust domain (`"*"` in YAML). Not plaintext callers.
    AnyMeshIdentity,
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
