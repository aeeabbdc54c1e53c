//! What a sidecar trusts: the mesh's trust domain and its trust anchors (the bundle), as the
//! control plane sends them with every snapshot and with every certificate.

use convoy_config::wire::Trust;
use convoy_config::TrustDomain;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use std::sync::Arc;

/// Why a trust bundle was refused.
#[derive(Debug, thiserror::Error)]
pub enum TrustError {
    /// The trust domain is not a valid SPIFFE trust domain.
    #[error("bad trust domain: {0}")]
    TrustDomain(String),
    /// The bundle is not PEM certificates.
    #[error("bad trust bundle: {0}")]
    Pem(String),
    /// The bundle holds no certificate.
    #[error("no PEM certificate found")]
    Empty,
    /// A certificate of the bundle cannot be a trust anchor.
    #[error("bad trust anchor in the bundle: {0}")]
    Anchor(#[source] rustls::Error),
}

/// A validated trust domain and bundle, ready for rustls. Cheap to share (`Arc`).
#[derive(Debug)]
pub struct TrustBundle {
    trust_domain: TrustDomain,
    anchors: Vec<CertificateDer<'static>>,
    roots: Arc<RootCertStore>,
}

impl TrustBundle {
    /// Parses `pem` (one or more certificates) as the anchors of `trust_domain`.
    pub fn new(trust_domain: &str, pem: &str) -> Result<Self, TrustError> {
        let trust_domain = TrustDomain::new(trust_domain).map_err(TrustError::TrustDomain)?;
        let anchors = parse_certificates(pem)?;
        let mut roots = RootCertStore::empty();
        for anchor in &anchors {
            roots.add(anchor.clone()).map_err(TrustError::Anchor)?;
        }
        Ok(TrustBundle {
            trust_domain,
            anchors,
            roots: Arc::new(roots),
        })
    }

    /// From a snapshot's `trust` field.
    pub fn from_wire(trust: &Trust) -> Result<Self, TrustError> {
        TrustBundle::new(&trust.trust_domain, &trust.bundle)
    }

    /// The mesh's trust domain.
    pub(crate) fn trust_domain(&self) -> &TrustDomain {
        &self.trust_domain
    }

    /// The anchors, DER.
    pub fn anchors(&self) -> &[CertificateDer<'static>] {
        &self.anchors
    }

    /// The anchors as rustls roots.
    pub(crate) fn roots(&self) -> Arc<RootCertStore> {
        self.roots.clone()
    }

    /// Whether `other` trusts exactly the same (no need to rebuild anything).
    pub(crate) fn same_as(&self, other: &TrustBundle) -> bool {
        self.trust_domain == other.trust_domain && self.anchors == other.anchors
    }
}

/// Every certificate of a PEM text, in order; at least one.
pub fn parse_certificates(pem: &str) -> Result<Vec<CertificateDer<'static>>, TrustError> {
    let certificates = CertificateDer::pem_slice_iter(pem.as_bytes())
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| TrustError::Pem(e.to_string()))?;
    if certificates.is_empty() {
        return Err(TrustError::Empty);
    }
    Ok(certificates)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::TestCa;

    #[test]
    fn a_bundle_of_two_anchors() {
        let (a, b) = (TestCa::new(), TestCa::new());
        let pem = format!("{}{}", a.pem(), b.pem());
        let bundle = TrustBundle::new("demo.convoy", &pem).unwrap();
        assert_eq!(bundle.anchors().len(), 2);
        assert_eq!(bundle.roots().len(), 2);
        assert_eq!(bundle.trust_domain().as_str(), "demo.convoy");
        let same = TrustBundle::new("demo.convoy", &pem).unwrap();
        assert!(bundle.same_as(&same));
        let fewer = TrustBundle::new("demo.convoy", &a.pem()).unwrap();
        assert!(!bundle.same_as(&fewer));
    }

    #[test]
    fn bad_bundles_are_refused() {
        let ca = TestCa::new();
        assert!(matches!(
            TrustBundle::new("Bad Domain", &ca.pem()),
            Err(TrustError::TrustDomain(_))
        ));
        assert!(matches!(
            TrustBundle::new("demo", "no pem here"),
            Err(TrustError::Empty)
        ));
        assert!(TrustBundle::new(
            "demo",
            "-----BEGIN CERTIFICATE-----\n!!!\n-----END CERTIFICATE-----\n"
        )
        .is_err());
    }
}
