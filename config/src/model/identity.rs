//! Workload identities: SPIFFE IDs (`spiffe://<trust domain>/service/<name>`) and trust domains.
//!
//! The control plane's CA issues one identity per service; sidecars present it in mTLS and check
//! it on the other side. Both sides parse and print identities here, so they agree on the form.

use super::ServiceName;
use std::fmt;
use std::sync::Arc;

/// The trust domain used when none is configured.
pub const DEFAULT_TRUST_DOMAIN: &str = "convoy.local";

/// A SPIFFE trust domain: lowercase letters, digits, `.`, `-` and `_`, 1 to 255 bytes
/// (the SPIFFE ID specification's rule). Cheap to clone.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct TrustDomain(Arc<str>);

impl TrustDomain {
    /// Validates a trust domain.
    pub fn new(name: &str) -> Result<Self, String> {
        let valid = !name.is_empty()
            && name.len() <= 255
            && name.bytes().all(|b| {
                b.is_ascii_lowercase() || b.is_ascii_digit() || matches!(b, b'.' | b'-' | b'_')
            });
        if valid {
            Ok(TrustDomain(name.into()))
        } else {
            Err(format!(
                "`{name}` is not a valid trust domain: use 1 to 255 lowercase letters, digits, `.`, `-` or `_`"
            ))
        }
    }

    /// The trust domain as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl Default for TrustDomain {
    fn default() -> Self {
        TrustDomain(DEFAULT_TRUST_DOMAIN.into())
    }
}

impl fmt::Display for TrustDomain {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

const SCHEME: &str = "spiffe://";

/// A SPIFFE ID: `spiffe://<trust domain><path>`. Convoy issues `/service/<name>` paths; others
/// (from a foreign CA) can still be parsed and shown, but name no service.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct SpiffeId {
    trust_domain: TrustDomain,
    /// The whole URI, written once (metric labels and the client-id header of every request
    /// use it); the path is what follows the trust domain.
    uri: Arc<str>,
}

impl SpiffeId {
    /// The identity of `service`'s workloads: `spiffe://<trust_domain>/service/<service>`.
    pub fn for_service(trust_domain: &TrustDomain, service: &ServiceName) -> Self {
        SpiffeId::from_parts(trust_domain.clone(), &format!("/service/{service}"))
    }

    fn from_parts(trust_domain: TrustDomain, path: &str) -> Self {
        SpiffeId {
            uri: format!("{SCHEME}{trust_domain}{path}").into(),
            trust_domain,
        }
    }

    /// Parses a URI SAN. Refuses anything that is not a valid SPIFFE ID (scheme, trust domain,
    /// path segments not empty, `.` or `..`, no query or fragment).
    pub fn parse(uri: &str) -> Result<Self, String> {
        let rest = uri
            .strip_prefix(SCHEME)
            .ok_or_else(|| format!("`{uri}` is not a SPIFFE ID (it must start with spiffe://)"))?;
        let (domain, path) = match rest.find('/') {
            Some(i) => rest.split_at(i),
            None => (rest, ""),
        };
        let trust_domain =
            TrustDomain::new(domain).map_err(|e| format!("`{uri}` is not a SPIFFE ID: {e}"))?;
        if !path.is_empty() {
            let segments_ok = path[1..].split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .bytes()
                        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'-' | b'_'))
            });
            if !segments_ok {
                return Err(format!(
                    "`{uri}` is not a SPIFFE ID: its path must be segments of letters, digits, `.`, `-` or `_`"
                ));
            }
        }
        Ok(SpiffeId::from_parts(trust_domain, path))
    }

    /// The trust domain.
    pub fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The whole ID, `spiffe://<trust domain><path>`.
    pub fn as_str(&self) -> &str {
        &self.uri
    }

    /// The path (`/service/orders`), empty for a bare trust domain.
    pub(crate) fn path(&self) -> &str {
        &self.uri[SCHEME.len() + self.trust_domain.as_str().len()..]
    }

    /// The service this identity names, if it is a Convoy service identity.
    pub fn service(&self) -> Option<ServiceName> {
        let name = self.path().strip_prefix("/service/")?;
        ServiceName::new(name).ok()
    }
}

impl fmt::Display for SpiffeId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.uri)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn service_identities_round_trip() {
        let td = TrustDomain::new("demo.convoy").unwrap();
        let orders = ServiceName::new("orders").unwrap();
        let id = SpiffeId::for_service(&td, &orders);
        assert_eq!(id.to_string(), "spiffe://demo.convoy/service/orders");
        let parsed = SpiffeId::parse("spiffe://demo.convoy/service/orders").unwrap();
        assert_eq!(parsed, id);
        assert_eq!(parsed.service(), Some(orders));
        assert_eq!(parsed.trust_domain().as_str(), "demo.convoy");
    }

    #[test]
    fn refuses_what_is_not_a_spiffe_id() {
        for bad in [
            "https://demo/service/orders",
            "spiffe://",
            "spiffe://Demo/service/x",
            "spiffe://demo//x",
            "spiffe://demo/service/../admin",
            "spiffe://demo/service/x?y",
            "spiffe://demo/service/x/",
            "spiffe://user@demo/x",
        ] {
            assert!(SpiffeId::parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn other_paths_name_no_service() {
        let id = SpiffeId::parse("spiffe://demo/ns/default/sa/web").unwrap();
        assert_eq!(id.service(), None);
        assert_eq!(id.to_string(), "spiffe://demo/ns/default/sa/web");
    }
}
