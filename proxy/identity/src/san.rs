//! The identity a certificate names: its URI subject alternative names, read by the mesh's
//! rule (exactly one URI SAN, a SPIFFE ID).

use convoy_config::{SpiffeId, TrustDomain};
use x509_parser::certificate::X509Certificate;
use x509_parser::extensions::GeneralName;
use x509_parser::prelude::FromDer;

/// Why a certificate names no acceptable identity.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum SanError {
    /// Not a DER X.509 certificate, or its SAN extension is malformed or repeated.
    #[error("the certificate cannot be parsed: {0}")]
    Unparsable(String),
    /// No URI SAN (for example DNS names only).
    #[error("the certificate names no SPIFFE ID (no URI SAN)")]
    NoUri,
    /// More than one URI SAN: which identity would it be?
    #[error("the certificate has {0} URI SANs; exactly one SPIFFE ID is allowed")]
    ManyUris(usize),
    /// The URI SAN is not a valid SPIFFE ID.
    #[error("{0}")]
    NotSpiffe(String),
    /// A SPIFFE ID of another trust domain.
    #[error("{id} is not in the trust domain {expected}")]
    OtherTrustDomain {
        /// The identity found.
        id: SpiffeId,
        /// The mesh's trust domain.
        expected: TrustDomain,
    },
}

/// The single SPIFFE ID `der` (an X.509 certificate) names in its URI SANs.
pub fn spiffe_id(der: &[u8]) -> Result<SpiffeId, SanError> {
    let (_, cert) =
        X509Certificate::from_der(der).map_err(|e| SanError::Unparsable(e.to_string()))?;
    let names = cert
        .subject_alternative_name()
        .map_err(|e| SanError::Unparsable(e.to_string()))?
        .map(|ext| ext.value.general_names.as_slice())
        .unwrap_or_default();
    let uris: Vec<&str> = names
        .iter()
        .filter_map(|name| match name {
            GeneralName::URI(uri) => Some(*uri),
            _ => None,
        })
        .collect();
    match uris.as_slice() {
        [] => Err(SanError::NoUri),
        [uri] => SpiffeId::parse(uri).map_err(SanError::NotSpiffe),
        many => Err(SanError::ManyUris(many.len())),
    }
}

/// The single SPIFFE ID `der` names, which must be in `trust_domain`.
pub(crate) fn spiffe_id_in(der: &[u8], trust_domain: &TrustDomain) -> Result<SpiffeId, SanError> {
    let id = spiffe_id(der)?;
    if id.trust_domain() == trust_domain {
        Ok(id)
    } else {
        Err(SanError::OtherTrustDomain {
            id,
            expected: trust_domain.clone(),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::leaf_with_sans;
    use rcgen::SanType;

    fn uri(text: &str) -> SanType {
        SanType::URI(text.try_into().unwrap())
    }

    #[test]
    fn exactly_one_spiffe_uri_in_the_trust_domain() {
        let td = TrustDomain::new("demo.convoy").unwrap();
        let good = leaf_with_sans(vec![
            uri("spiffe://demo.convoy/service/orders"),
            SanType::DnsName("orders".try_into().unwrap()),
        ]);
        let id = spiffe_id_in(&good, &td).unwrap();
        assert_eq!(id.to_string(), "spiffe://demo.convoy/service/orders");

        let dns_only = leaf_with_sans(vec![SanType::DnsName("orders".try_into().unwrap())]);
        assert_eq!(spiffe_id_in(&dns_only, &td), Err(SanError::NoUri));
        let two = leaf_with_sans(vec![
            uri("spiffe://demo.convoy/service/orders"),
            uri("spiffe://demo.convoy/service/admin"),
        ]);
        assert_eq!(spiffe_id_in(&two, &td), Err(SanError::ManyUris(2)));
        let other = leaf_with_sans(vec![uri("spiffe://other.mesh/service/orders")]);
        assert!(matches!(
            spiffe_id_in(&other, &td),
            Err(SanError::OtherTrustDomain { .. })
        ));
        let https = leaf_with_sans(vec![uri("https://demo.convoy/service/orders")]);
        assert!(matches!(
            spiffe_id_in(&https, &td),
            Err(SanError::NotSpiffe(_))
        ));
        assert!(matches!(
            spiffe_id(b"not a certificate"),
            Err(SanError::Unparsable(_))
        ));
    }
}
